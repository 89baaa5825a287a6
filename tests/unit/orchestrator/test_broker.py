"""The signing broker's pure parts: the bot's environment per tenant, the broker's own address, the
rate limit, and the checks of what Privy answered (a signature that does not verify is never
returned). Privy here is a stand-in that answers with the wrong key or a tampered transaction: the
real one is exercised in tests/integration/orchestrator/test_broker.py."""

from __future__ import annotations

import base64
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.messages import encode_typed_data
from fastapi import Request
from hyperliquid.utils.signing import (
    USD_CLASS_TRANSFER_SIGN_TYPES,
    USD_SEND_SIGN_TYPES,
    WITHDRAW_SIGN_TYPES,
    recover_agent_or_user_from_l1_action,
    user_signed_payload,
)
from pydantic import SecretStr
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction
from structlog.testing import capture_logs

from orchestrator.auth.privy import PrivyError
from orchestrator.broker import (
    MAX_BODY_BYTES,
    Kind,
    Refusal,
    SigningBroker,
    SignRequest,
    _is_hex,
    _quantity,
    _RateLimiter,
    _same_address,
    _signed_evm_mismatch,
    load_policy,
    read_body,
    refuse_too_large,
)
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import Tenant, User
from orchestrator.database.session import open_database
from orchestrator.marks import VenueMarks
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from shared.assets import HYPERLIQUID_BRIDGE, Asset
from shared.launch import bot_secret, bot_token
from shared.transaction_policy import USDC_ARBITRUM, PerpMarks, TransactionPolicy

PRIVY_SECRET = "privy-app-secret-for-unit-tests"
SERVER_SECRET = "unit-server-secret-0123456789"


def _settings(tmp_path: Path, **extra: Any) -> ControlPlaneSettings:
    return ControlPlaneSettings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=f"sqlite:///{tmp_path / 'cp.sqlite3'}",
        data_root=tmp_path / "tenants",
        server_secret=SecretStr(SERVER_SECRET),
        privy_app_secret=SecretStr(PRIVY_SECRET),
        broker_port=8123,  # the internal listener's: what bots are told
        **extra,
    )


def _service(tmp_path: Path, **extra: Any) -> TenantService:
    settings = _settings(tmp_path, **extra)
    return TenantService(settings, open_database(settings.database_url), ProcessRuntime(settings.data_root))


SOLANA = Keypair()
EVM = Account.create()


def _user(svc: TenantService, *, wallets: bool = True, tenant_id: str = "t-one") -> Tenant:
    with svc.sessions.begin() as s:
        user = User(id=f"u-{tenant_id}", email=f"{tenant_id}@example.com", privy_user_id=f"did:{tenant_id}")
        if wallets:
            user.solana_wallet_id, user.solana_address = "w-sol", str(SOLANA.pubkey())
            user.evm_wallet_id, user.evm_address = "w-evm", EVM.address
        s.add(user)
        s.flush()  # no ORM relationship orders the two inserts
        s.add(Tenant(id=tenant_id, user_id=user.id, version="0.1.0", limits={}, port=30000))
    return svc.get(tenant_id)


# ---------------------------------------------------------------------- the bot's environment
def test_a_signed_in_users_bot_gets_the_broker_and_no_secret_of_the_control_plane(tmp_path: Path) -> None:
    svc = _service(tmp_path, bot_env={"BASIS_SIGNER": "local"})
    env = svc.spec(_user(svc)).env
    assert env["BASIS_SIGNER"] == "broker"
    assert env["BASIS_BROKER_URL"] == "http://127.0.0.1:8123"
    assert (env["BASIS_SOLANA_ADDRESS"], env["BASIS_EVM_ADDRESS"]) == (str(SOLANA.pubkey()), EVM.address)
    assert env["BASIS_API_TOKEN"] == bot_token(SecretStr(SERVER_SECRET), "t-one").get_secret_value()
    values = "\n".join(env.values())
    assert PRIVY_SECRET not in values
    # The control plane's secret derives every tenant's token: a bot gets a secret of its own.
    assert SERVER_SECRET not in values
    assert env["BASIS_SERVER_SECRET"] == bot_secret(SecretStr(SERVER_SECRET), "t-one").get_secret_value()
    assert env["BASIS_SERVER_SECRET"] != bot_secret(SecretStr(SERVER_SECRET), "t-two").get_secret_value()


def test_tenants_without_privy_wallets_keep_their_own_keys(tmp_path: Path) -> None:
    svc = _service(tmp_path, bot_env={"BASIS_SIGNER": "broker", "BASIS_BROKER_URL": "http://x"})
    for tenant in (_user(svc, wallets=False, tenant_id="t-nowallet"),):
        env = svc.spec(tenant).env
        assert "BASIS_SIGNER" not in env and "BASIS_BROKER_URL" not in env
    with svc.sessions.begin() as s:
        s.add(Tenant(id="t-operator", user_id=None, version="0.1.0", limits={}, port=30001))
    env = svc.spec(svc.get("t-operator")).env
    assert "BASIS_SIGNER" not in env and "BASIS_SOLANA_ADDRESS" not in env


@pytest.mark.parametrize(
    ("host", "broker_url", "expected"),
    [
        ("127.0.0.1", None, "http://127.0.0.1:8123"),
        ("0.0.0.0", None, "http://127.0.0.1:8123"),
        ("::1", None, "http://[::1]:8123"),
        ("0.0.0.0", "https://cp.internal:9443/", "https://cp.internal:9443"),
    ],
)
def test_the_broker_url_bots_are_given(
    tmp_path: Path, host: str, broker_url: str | None, expected: str
) -> None:
    assert _settings(tmp_path, broker_host=host, broker_url=broker_url).broker_url_value() == expected


# ---------------------------------------------------------------------- rate limit
def test_the_rate_limit_is_a_token_bucket_per_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("orchestrator.broker.time.monotonic", lambda: now[0])
    limiter = _RateLimiter(rate=2.0, burst=3)
    assert [limiter.retry_after("a") for _ in range(3)] == [None, None, None]
    wait = limiter.retry_after("a")
    assert wait is not None and 0 < wait <= 0.5
    assert limiter.retry_after("b") is None  # another tenant has its own bucket
    now[0] += 0.5
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") is not None


def test_the_bucket_refills_at_its_rate_up_to_its_burst(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("orchestrator.broker.time.monotonic", lambda: now[0])
    limiter = _RateLimiter(rate=2.0, burst=2)
    assert [limiter.retry_after("a"), limiter.retry_after("a")] == [None, None]
    now[0] += 0.2  # 0.4 of a token back
    assert limiter.retry_after("a") == pytest.approx(0.3)
    now[0] += 0.2  # 0.8
    assert limiter.retry_after("a") == pytest.approx(0.1)
    now[0] += 0.1  # 1.0: one more
    assert limiter.retry_after("a") is None
    assert limiter.retry_after("a") == pytest.approx(0.5)
    now[0] += 1000.0  # a long rest refills the bucket, to its burst and no more
    assert [limiter.retry_after("a"), limiter.retry_after("a")] == [None, None]
    assert limiter.retry_after("a") == pytest.approx(0.5)


@pytest.mark.parametrize(("network", "mainnet"), [("devnet", False), ("testnet", False), ("mainnet", True)])
async def test_the_broker_reads_marks_from_and_signs_l1_actions_for_its_own_network(
    tmp_path: Path, network: str, mainnet: bool
) -> None:
    settings = _settings(tmp_path, network=network, broker_mark_max_age_seconds=7.0)
    svc = TenantService(settings, open_database(settings.database_url), ProcessRuntime(settings.data_root))
    broker = SigningBroker(settings, svc.sessions, FakePrivy(SOLANA, EVM))  # type: ignore[arg-type]
    assert isinstance(broker.marks, VenueMarks)
    assert (broker.marks.url, broker.marks.max_age) == (settings.hyperliquid_url.rstrip("/") + "/info", 7.0)
    assert broker.hyperliquid_mainnet is mainnet
    broker.marks = FixedMarks(SOL_MARK)
    cancel = {"type": "cancel", "cancels": [{"a": 5, "o": 1}]}
    rsv = await broker.sign(_user(svc), _l1(cancel))
    signature = {"r": rsv["r"], "s": rsv["s"], "v": rsv["v"]}
    recovered = recover_agent_or_user_from_l1_action(
        cancel, signature, None, 1_700_000_000_000, None, mainnet
    )
    assert recovered == EVM.address


# ---------------------------------------------------------------------- what Privy answers
class FakePrivy:
    """Answers like Privy, with keys of the test's choosing (to prove answers are verified)."""

    def __init__(self, solana: Keypair, evm: Any, tamper: bool = False) -> None:
        self.solana, self.evm, self.tamper = solana, evm, tamper
        self.calls: list[str] = []
        self.transactions: list[dict[str, Any]] = []  # what eth_signTransaction was given

    async def sign_solana_transaction(self, wallet_id: str, tx_b64: str) -> str:
        self.calls.append(wallet_id)
        tx = VersionedTransaction.from_bytes(base64.b64decode(tx_b64))
        sigs = list(tx.signatures)
        sigs[0] = self.solana.sign_message(to_bytes_versioned(tx.message))
        return base64.b64encode(bytes(VersionedTransaction.populate(tx.message, sigs))).decode()

    async def sign_typed_data(self, wallet_id: str, typed: dict[str, Any]) -> str:
        self.calls.append(wallet_id)
        return "0x" + bytes(Account.sign_typed_data(self.evm.key, full_message=typed).signature).hex()

    async def sign_evm_transaction(self, wallet_id: str, tx: dict[str, Any]) -> str:
        self.calls.append(wallet_id)
        self.transactions.append(dict(tx))
        fields = {
            "type": 2,
            "chainId": tx["chain_id"],
            "nonce": tx["nonce"] + (1 if self.tamper else 0),
            "to": tx["to"],
            "value": tx.get("value", 0),
            "data": tx["data"],
            "gas": tx["gas_limit"],
            "maxFeePerGas": tx["max_fee_per_gas"],
            "maxPriorityFeePerGas": tx["max_priority_fee_per_gas"],
        }
        return "0x" + bytes(Account.sign_transaction(fields, self.evm.key).raw_transaction).hex()


class FixedMarks:
    """The venue's mark prices, as the test sets them (the real reads: tests/security/
    test_broker_order_prices.py); counts how often the broker asked."""

    def __init__(self, marks: PerpMarks) -> None:
        self.marks = marks
        self.reads = 0

    async def current(self) -> PerpMarks:
        self.reads += 1
        return self.marks


SOL_MARK = PerpMarks({5: Decimal("150")})


def _broker(
    tmp_path: Path,
    privy: FakePrivy,
    marks: PerpMarks = SOL_MARK,
    policy: TransactionPolicy | None = None,
    **extra: Any,
) -> tuple[SigningBroker, Tenant]:
    svc = _service(tmp_path, **extra)
    tenant = _user(svc)
    broker = SigningBroker(svc.settings, svc.sessions, privy, policy, FixedMarks(marks))  # type: ignore[arg-type]
    return broker, tenant


def _message(owner: Keypair, to: Pubkey | None = None, lamports: int = 5000) -> bytes:
    to = to or Keypair().pubkey()
    ix = transfer(TransferParams(from_pubkey=owner.pubkey(), to_pubkey=to, lamports=lamports))
    return to_bytes_versioned(MessageV0.try_compile(owner.pubkey(), [ix], [], Hash.default()))


def _usdc_to_bridge() -> dict[str, Any]:
    data = "0xa9059cbb" + encode(["address", "uint256"], [HYPERLIQUID_BRIDGE, 10 * 10**6]).hex()
    return {
        "type": 2,
        "chainId": 42161,
        "nonce": 4,
        "to": USDC_ARBITRUM,
        "value": 0,
        "data": data,
        "gas": 90000,
        "maxFeePerGas": 10,
        "maxPriorityFeePerGas": 0,
    }


ORDER = {
    "type": "order",
    "orders": [{"a": 5, "b": False, "p": "150", "s": "1", "r": False, "t": {"limit": {"tif": "Ioc"}}}],
    "grouping": "na",
}


def _l1(action: dict[str, Any] = ORDER, nonce: int = 1_700_000_000_000) -> SignRequest:
    payload = {"action": action, "nonce": nonce, "vaultAddress": None, "expiresAfter": None}
    return SignRequest(kind="hyperliquid_l1", payload=payload)


async def test_answers_from_the_right_keys_are_returned(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM))
    message = _message(SOLANA)
    answer = await broker.sign(
        tenant, SignRequest(kind="solana_message", payload=base64.b64encode(message).decode())
    )
    assert len(base64.b64decode(answer["signature"])) == 64
    # An L1 action: the broker hashed it itself, for its own network (devnet: testnet's source "b").
    rsv = await broker.sign(tenant, _l1())
    signature = {"r": rsv["r"], "s": rsv["s"], "v": rsv["v"]}
    assert recover_agent_or_user_from_l1_action(ORDER, signature, None, 1_700_000_000_000, None, False) == (
        EVM.address
    )
    assert recover_agent_or_user_from_l1_action(ORDER, signature, None, 1_700_000_000_000, None, True) != (
        EVM.address
    )
    raw = await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()))
    assert Account.recover_transaction(raw["raw_transaction"]) == EVM.address


async def test_a_signature_from_another_key_is_never_returned(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(Keypair(), Account.create()))
    requests = [
        SignRequest(kind="solana_message", payload=base64.b64encode(_message(SOLANA)).decode()),
        _l1(),
        SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()),
    ]
    for request in requests:
        with pytest.raises(Refusal) as err:
            await broker.sign(tenant, request)
        assert err.value.status == 502 and err.value.outcome == "bad_signature"


async def test_a_transaction_privy_changed_is_never_returned(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM, tamper=True))
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()))
    assert err.value.status == 502 and "nonce" in err.value.detail


async def test_policy_and_ownership_are_checked_before_privy_is_asked(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    stranger = Keypair()
    with pytest.raises(Refusal) as err:
        await broker.sign(
            tenant, SignRequest(kind="solana_message", payload=base64.b64encode(_message(stranger)).decode())
        )
    assert err.value.status == 403
    with pytest.raises(Refusal) as err:
        await broker.sign(
            tenant, SignRequest(kind="typed_data", address="0x" + "ab" * 20, payload={"domain": {}})
        )
    assert err.value.status == 403 and "not this tenant's EVM wallet" in err.value.detail
    assert privy.calls == []


def test_authentication_refuses_everything_but_the_tenants_token(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM))
    token = bot_token(SecretStr(SERVER_SECRET), tenant.id).get_secret_value()
    assert broker.authenticate(f"Bearer {token}", tenant.id).id == tenant.id
    assert broker.authenticate(f"bearer  {token} ", tenant.id).id == tenant.id
    for header, tenant_id in [
        ("", tenant.id),
        (token, tenant.id),
        (f"Basic {token}", tenant.id),
        (f"Bearer {token}x", tenant.id),
        (f"Bearer {token}", "t-other"),
        (f"Bearer {token}", "T-ONE"),
    ]:
        with pytest.raises(Refusal) as err:
            broker.authenticate(header, tenant_id)
        assert err.value.status == 401


def test_signed_evm_mismatch_names_what_differs() -> None:
    tx = _usdc_to_bridge()
    raw = "0x" + bytes(Account.sign_transaction(tx, EVM.key).raw_transaction).hex()
    wanted = {k: tx[k] for k in ("chainId", "nonce", "gas", "value", "maxFeePerGas", "maxPriorityFeePerGas")}
    assert _signed_evm_mismatch(raw, EVM.address, tx, wanted, tx["data"]) is None
    assert (
        _signed_evm_mismatch(raw, Account.create().address, tx, wanted, tx["data"]) == "signed by another key"
    )
    assert (
        _signed_evm_mismatch(raw, EVM.address, {**tx, "to": HYPERLIQUID_BRIDGE}, wanted, tx["data"])
        == "recipient"
    )
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "gas": 1}, tx["data"]) == "gas"
    assert _signed_evm_mismatch("0x1234", EVM.address, tx, wanted, tx["data"]) == "not a signed transaction"


async def test_the_operator_can_narrow_the_brokers_policy(tmp_path: Path) -> None:
    narrow = tmp_path / "policy.yaml"
    narrow.write_text("transactions:\n  max_usdc_per_transfer: 5\n")
    settings = _settings(tmp_path, broker_policy_file=narrow)
    assert load_policy(settings).max_usdc_per_transfer == 5
    assert load_policy(_settings(tmp_path)).max_usdc_per_transfer == 100_000
    svc = TenantService(settings, open_database(settings.database_url), ProcessRuntime(settings.data_root))
    privy = FakePrivy(SOLANA, EVM)
    broker = SigningBroker(settings, svc.sessions, privy, marks=FixedMarks(SOL_MARK))  # type: ignore[arg-type]
    with pytest.raises(Refusal) as err:
        await broker.sign(_user(svc), SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()))
    assert err.value.status == 403 and "5 USDC allowed" in err.value.detail
    assert privy.calls == []


# ---------------------------------------------------------------------- the body
def _streamed(chunks: int, size: int = 16 * 1024) -> tuple[Request, list[int]]:
    """A request whose body arrives in `chunks` pieces (as a chunked upload does), counting each pull."""
    pulled: list[int] = []

    async def receive() -> dict[str, Any]:
        pulled.append(size)
        return {"type": "http.request", "body": b"x" * size, "more_body": len(pulled) < chunks}

    return Request(
        {"type": "http", "method": "POST", "path": "/internal/sign", "headers": []}, receive
    ), pulled


async def test_the_body_is_read_up_to_64_kib_and_no_further() -> None:
    request, pulled = _streamed(chunks=64)  # a megabyte, if it were all read
    with pytest.raises(Refusal) as err:
        await read_body(request)
    assert err.value.status == 413 and "64 KiB" in err.value.detail
    assert sum(pulled) == MAX_BODY_BYTES + 16 * 1024  # the chunk that passed the limit, then nothing
    request, pulled = _streamed(chunks=4)
    assert len(await read_body(request)) == sum(pulled) == 64 * 1024  # exactly the limit is fine


async def test_an_l1_action_outside_policy_or_unreadable_never_reaches_privy(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    for request, status in [
        (_l1({"type": "withdraw3", "destination": "0x" + "12" * 20, "amount": "1"}), 403),
        (_l1({**ORDER, "orders": [{**ORDER["orders"][0], "a": 0}]}), 403),  # type: ignore[dict-item]
        (SignRequest(kind="hyperliquid_l1", payload={"action": ORDER, "nonce": "1"}), 422),
        (SignRequest(kind="hyperliquid_l1", payload={"action": ORDER, "nonce": 1, "extra": 1}), 422),
        (SignRequest(kind="hyperliquid_l1", payload="text"), 422),
        (_l1(nonce=2**64), 422),
    ]:
        with pytest.raises(Refusal) as err:
            await broker.sign(tenant, request)
        assert err.value.status == status, (request, err.value.detail)
    vault = {"action": ORDER, "nonce": 1, "vaultAddress": "0x" + "12" * 20}
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, SignRequest(kind="hyperliquid_l1", payload=vault))
    assert err.value.status == 403 and "vault" in err.value.detail
    assert privy.calls == []


async def test_orders_are_bounded_by_the_marks_the_broker_reads_and_only_orders_read_them(
    tmp_path: Path,
) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    marks = broker.marks
    assert isinstance(marks, FixedMarks)
    await broker.sign(tenant, _l1())  # a sell at 150, the mark
    far = {**ORDER, "orders": [{**ORDER["orders"][0], "p": "75"}]}  # type: ignore[dict-item]
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, _l1(far))
    assert err.value.status == 403 and "5000 bps below its mark of 150 USD" in err.value.detail
    assert marks.reads == 2 and len(privy.calls) == 1
    await broker.sign(tenant, _l1({"type": "cancel", "cancels": [{"a": 5, "o": 1}]}))
    assert marks.reads == 2  # nothing else has a price to bound
    # The venue unreadable: exits still signed, an order that may open exposure refused with why.
    broker.marks = FixedMarks(PerpMarks(unreadable="http://127.0.0.1:9/info answered HTTP 500"))
    reduce = {**ORDER, "orders": [{**ORDER["orders"][0], "b": True, "r": True}]}  # type: ignore[dict-item]
    await broker.sign(tenant, _l1(reduce))
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, _l1())
    assert err.value.status == 403 and "HTTP 500" in err.value.detail and "reduce-only" in err.value.detail


async def test_a_failed_privy_call_gives_the_outflow_back(tmp_path: Path) -> None:
    class DownPrivy(FakePrivy):
        async def sign_evm_transaction(self, wallet_id: str, tx: dict[str, Any]) -> str:
            from orchestrator.auth.privy import PrivyError

            raise PrivyError(503, "privy is down")

    broker, tenant = _broker(tmp_path, DownPrivy(SOLANA, EVM))
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()))
    assert err.value.status == 502
    assert broker.budget.used(tenant.id) == {}
    broker.privy = FakePrivy(SOLANA, EVM)  # type: ignore[assignment]
    await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=_usdc_to_bridge()))
    assert broker.budget.used(tenant.id)  # the gas it may pay counts once it is signed


# ---------------------------------------------------------------------- every refusal, as the bot gets it
STRANGER_EVM = "0x" + "12" * 20
WITHDRAWAL_EVM = Account.create().address
WITHDRAWAL_SOLANA = Keypair().pubkey()


async def _refusal(broker: SigningBroker, tenant: Tenant, request: SignRequest) -> Refusal:
    with pytest.raises(Refusal) as err:
        await broker.sign(tenant, request)
    return err.value


def _solana_request(message: bytes | str, address: str | None = None) -> SignRequest:
    payload = message if isinstance(message, str) else base64.b64encode(message).decode()
    return SignRequest(kind="solana_message", address=address, payload=payload)


def _user_action(action: str, destination: str, amount: str = "10", **extra: Any) -> dict[str, Any]:
    """Hyperliquid's Withdraw or UsdSend, as its SDK builds them for the bot to sign (on testnet)."""
    message = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": 1_700_000_000_000,
        **extra,
    }
    types = WITHDRAW_SIGN_TYPES if action == "Withdraw" else USD_SEND_SIGN_TYPES
    return user_signed_payload(f"HyperliquidTransaction:{action}", types, message)


def _class_transfer(amount: str = "5") -> dict[str, Any]:
    message = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "amount": amount,
        "toPerp": True,
        "nonce": 1_700_000_000_000,
    }
    return user_signed_payload(
        "HyperliquidTransaction:UsdClassTransfer", USD_CLASS_TRANSFER_SIGN_TYPES, message
    )


def _usdc_transfer(to: str, usdc: int) -> dict[str, Any]:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, usdc * 10**6]).hex()
    return {**_usdc_to_bridge(), "data": data}


def _user_id(tenant: Tenant) -> str:
    assert tenant.user_id is not None
    return tenant.user_id


def _recovered(typed: dict[str, Any], answer: dict[str, Any]) -> str:
    vrs = (answer["v"], int(answer["r"], 16), int(answer["s"], 16))
    return str(Account.recover_message(encode_typed_data(full_message=typed), vrs=vrs))


@pytest.mark.parametrize(
    ("header", "tenant_id", "detail"),
    [
        ("", "t-one", "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant."),
        (
            "{token}",
            "t-one",
            "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant.",
        ),
        (
            "Bearer   ",
            "t-one",
            "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant.",
        ),
        (
            "Basic {token}",
            "t-one",
            "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant.",
        ),
        (
            "Bearer {token}",
            "T-ONE",
            "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant.",
        ),
        (
            "Bearer {token}",
            "t/one",
            "Send the tenant's token as Authorization: Bearer, and its id as X-Basis-Tenant.",
        ),
        ("Bearer {token}x", "t-one", "This token is not the tenant's."),
        ("Bearer {token}", "t-other", "This token is not the tenant's."),
        # The right token for a tenant id that does not exist (deleted, or never made): still refused.
        ("Bearer {ghost}", "t-ghost", "This token is not the tenant's."),
    ],
)
def test_each_authentication_failure_is_a_401_with_its_sentence(
    tmp_path: Path, header: str, tenant_id: str, detail: str
) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM))
    token = bot_token(SecretStr(SERVER_SECRET), tenant.id).get_secret_value()
    ghost = bot_token(SecretStr(SERVER_SECRET), "t-ghost").get_secret_value()
    with pytest.raises(Refusal) as err:
        broker.authenticate(header.format(token=token, ghost=ghost), tenant_id)
    assert (err.value.status, err.value.detail, err.value.outcome) == (401, detail, "unauthenticated")


async def test_a_named_wallet_must_be_the_tenants_own_on_that_chain(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    message = _message(SOLANA)
    ours = str(SOLANA.pubkey())
    # Solana addresses are base58: another case is another address. EVM ones are hex: case is a checksum.
    for address in (ours.lower(), ours.upper(), str(Keypair().pubkey()), EVM.address):
        refusal = await _refusal(broker, tenant, _solana_request(message, address))
        assert (refusal.status, refusal.outcome) == (403, "foreign_wallet")
        assert refusal.detail == f"The wallet {address} is not this tenant's Solana wallet."
    assert "signature" in await broker.sign(tenant, _solana_request(message, ours))
    typed = _user_action("Withdraw", EVM.address)
    for address in (ours, STRANGER_EVM):
        refusal = await _refusal(
            broker, tenant, SignRequest(kind="typed_data", address=address, payload=typed)
        )
        assert (refusal.status, refusal.outcome) == (403, "foreign_wallet")
        assert refusal.detail == f"The wallet {address} is not this tenant's EVM wallet."
    for address in (EVM.address, EVM.address.lower(), "0x" + EVM.address[2:].upper()):
        await broker.sign(tenant, SignRequest(kind="typed_data", address=address, payload=typed))
    assert privy.calls == ["w-sol"] + ["w-evm"] * 3


@pytest.mark.parametrize(
    ("given", "ours", "kind", "same"),
    [
        ("AbC", "AbC", "solana_message", True),
        ("abc", "AbC", "solana_message", False),
        ("AbD", "AbC", "solana_message", False),
        ("0xAbC", "0xabc", "typed_data", True),
        ("0xAbC", "0xABC", "evm_transaction", True),
        ("0xAbC", "0xabc", "hyperliquid_l1", True),
        ("0xAbD", "0xabc", "evm_transaction", False),
    ],
)
def test_addresses_compare_as_their_chain_writes_them(given: str, ours: str, kind: Kind, same: bool) -> None:
    assert _same_address(given, ours, kind) is same


# ---------------------------------------------------------------------- Solana
async def test_solana_payloads_that_cannot_be_read_are_a_422(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    encoded = base64.b64encode(_message(SOLANA)).decode()
    for payload, detail in [
        ({"message": encoded}, "A solana_message payload is the serialized message, base64."),
        ("not base64!", "The solana_message payload is not valid base64."),
        (encoded[:-1], "The solana_message payload is not valid base64."),
        # Characters outside the alphabet are not skipped: what is checked is what was sent.
        (encoded[:8] + "*" + encoded[8:], "The solana_message payload is not valid base64."),
    ]:
        refusal = await _refusal(broker, tenant, SignRequest(kind="solana_message", payload=payload))
        assert (refusal.status, refusal.detail, refusal.outcome) == (422, detail, "malformed")
    assert privy.calls == []


async def test_a_payload_the_validator_cannot_read_is_a_422_naming_what_it_should_be(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)

    def unreadable(*args: Any, **kwargs: Any) -> Any:
        raise IndexError("out of range")

    monkeypatch.setattr(broker.validator, "check_solana_message", unreadable)
    refusal = await _refusal(broker, tenant, _solana_request(_message(SOLANA)))
    assert (refusal.status, refusal.outcome) == (422, "malformed")
    assert refusal.detail == "The payload cannot be read as a Solana message (IndexError)."
    # A typed-data domain that is not an object; a USDC transfer whose recipient word is not an address.
    refusal = await _refusal(broker, tenant, SignRequest(kind="typed_data", payload={"domain": ["x"]}))
    assert (refusal.status, refusal.outcome) == (422, "malformed")
    assert refusal.detail == "The payload cannot be read as EIP-712 typed data (AttributeError)."
    bad_recipient = "0xa9059cbb" + "ff" * 32 + encode(["uint256"], [10 * 10**6]).hex()
    refusal = await _refusal(
        broker,
        tenant,
        SignRequest(kind="evm_transaction", payload={**_usdc_to_bridge(), "data": bad_recipient}),
    )
    assert (refusal.status, refusal.outcome) == (422, "malformed")
    assert refusal.detail.startswith("The payload cannot be read as an EVM transaction (")
    assert privy.calls == []


async def test_a_solana_message_the_signer_cannot_rebuild_is_a_422(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Should solders' reading of the message for Privy ever disagree with the validator's, the request
    is refused, not answered with a 500."""
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)

    def unreadable(message: bytes) -> Any:
        raise ValueError("cannot read")

    monkeypatch.setattr("solders.message.from_bytes_versioned", unreadable)
    refusal = await _refusal(broker, tenant, _solana_request(_message(SOLANA)))
    assert (refusal.status, refusal.outcome) == (422, "malformed")
    assert refusal.detail == "The Solana message cannot be read (ValueError)."
    assert privy.calls == []
    assert broker.budget.used(tenant.id) == {}  # the fee it would have paid is given back


class AnsweringPrivy(FakePrivy):
    """Privy answering `answer` (a function of what the real one would) to the Solana signing."""

    def __init__(self, answer: Any) -> None:
        super().__init__(SOLANA, EVM)
        self.answer = answer

    async def sign_solana_transaction(self, wallet_id: str, tx_b64: str) -> str:
        return str(self.answer(await super().sign_solana_transaction(wallet_id, tx_b64)))


@pytest.mark.parametrize(
    "answer",
    [
        lambda good: "AAAA",  # base64, not a transaction
        lambda good: "not base64 at all",
        lambda good: good[:10] + "*" + good[10:],  # base64 only once the stray character is skipped
        lambda good: base64.b64encode(base64.b64decode(good)[:-1]).decode(),  # cut short
    ],
)
async def test_a_solana_answer_that_is_not_the_signed_message_is_a_502(tmp_path: Path, answer: Any) -> None:
    privy = AnsweringPrivy(answer)
    broker, tenant = _broker(tmp_path, privy)
    refusal = await _refusal(broker, tenant, _solana_request(_message(SOLANA)))
    assert (refusal.status, refusal.outcome) == (502, "bad_signature")
    assert refusal.detail == f"Privy's signature does not verify for the wallet {SOLANA.pubkey()}."
    assert privy.calls == ["w-sol"]
    assert broker.budget.used(tenant.id) == {}


async def test_trailing_bytes_privy_would_drop_are_never_signed(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    refusal = await _refusal(broker, tenant, _solana_request(_message(SOLANA) + b"\x00\x01"))
    assert (refusal.status, refusal.outcome) == (502, "bad_signature")


async def test_sol_may_go_to_the_registered_withdrawal_address_and_counts_as_outflow(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, withdrawal_delay_seconds=0)
    lamports = load_policy(broker.settings).max_sol_out_lamports + 1  # more than may go elsewhere
    refusal = await _refusal(broker, tenant, _solana_request(_message(SOLANA, WITHDRAWAL_SOLANA, lamports)))
    assert (refusal.status, refusal.outcome) == (403, "refused")
    broker.withdrawals.register(_user_id(tenant), "solana", str(WITHDRAWAL_SOLANA))
    message = _message(SOLANA, WITHDRAWAL_SOLANA, lamports)
    answer = await broker.sign(tenant, _solana_request(message))
    assert Signature.from_bytes(base64.b64decode(answer["signature"])).verify(SOLANA.pubkey(), message)
    assert broker.budget.used(tenant.id)[Asset.SOL] == Decimal(lamports) / 10**9


# ---------------------------------------------------------------------- EIP-712 (Hyperliquid's user actions)
async def test_typed_data_is_signed_end_to_end_for_hyperliquids_user_signed_actions(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, withdrawal_delay_seconds=0)
    broker.withdrawals.register(_user_id(tenant), "evm", WITHDRAWAL_EVM)
    for typed in (
        _user_action("Withdraw", EVM.address.lower()),  # to the wallet itself, whatever the case
        _user_action("UsdSend", EVM.address),
        _class_transfer(),  # between its own spot and perp balances
        _user_action("Withdraw", WITHDRAWAL_EVM, amount="7"),  # to the registered address
    ):
        answer = await broker.sign(tenant, SignRequest(kind="typed_data", payload=typed))
        assert set(answer) == {"r", "s", "v"} and answer["v"] in (27, 28)
        assert answer["r"].startswith("0x") and answer["s"].startswith("0x")
        assert _recovered(typed, answer) == EVM.address
    assert privy.calls == ["w-evm"] * 4
    # Only the withdrawal to the registered address took money out of the user's hands.
    assert broker.budget.used(tenant.id) == {Asset.USDC: Decimal("7")}


async def test_a_v_of_0_or_1_is_answered_as_27_or_28(tmp_path: Path) -> None:
    class ZeroOnePrivy(FakePrivy):
        async def sign_typed_data(self, wallet_id: str, typed: dict[str, Any]) -> str:
            raw = bytes.fromhex((await super().sign_typed_data(wallet_id, typed))[2:])
            return (raw[:64] + bytes([raw[64] - 27])).hex()  # and no 0x

    broker, tenant = _broker(tmp_path, ZeroOnePrivy(SOLANA, EVM))
    seen = set()
    for amount in range(1, 40):  # until both recovery ids came up
        typed = _user_action("Withdraw", EVM.address, amount=str(amount))
        answer = await broker.sign(tenant, SignRequest(kind="typed_data", payload=typed))
        assert answer["v"] in (27, 28) and _recovered(typed, answer) == EVM.address
        seen.add(answer["v"])
        if seen == {27, 28}:
            break
    assert seen == {27, 28}


async def test_typed_data_outside_policy_or_unreadable_never_reaches_privy(tmp_path: Path) -> None:
    from eth_account.messages import encode_typed_data as encode

    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    unencodable = _user_action("Withdraw", EVM.address, time="soon")
    with pytest.raises(Exception) as why:
        encode(full_message=unencodable)
    for payload, status, outcome, detail in [
        (
            "text",
            422,
            "malformed",
            "A typed_data payload is an object with domain, types, primaryType and message.",
        ),
        (
            _user_action("Withdraw", STRANGER_EVM),
            403,
            "refused",
            f"HyperliquidTransaction:Withdraw of 10 USDC to {STRANGER_EVM}, which is not the bot's own "
            "address, the registered withdrawal address or an allow-listed destination",
        ),
        (
            # A withdrawal address registered but not usable yet (the default delay is a day).
            _user_action("UsdSend", WITHDRAWAL_EVM),
            403,
            "refused",
            f"HyperliquidTransaction:UsdSend of 10 USDC to {WITHDRAWAL_EVM}, which is not the bot's own "
            "address, the registered withdrawal address or an allow-listed destination",
        ),
        (
            _user_action("UsdSend", EVM.address, hyperliquidChain="Mainnet"),
            403,
            "refused",
            "HyperliquidTransaction:UsdSend for hyperliquidChain 'Mainnet' is not allowed: this network "
            "signs for Testnet only",
        ),
        (
            unencodable,
            422,
            "malformed",
            f"The typed data cannot be encoded as EIP-712 ({type(why.value).__name__}).",
        ),
    ]:
        broker.withdrawals.register(_user_id(tenant), "evm", WITHDRAWAL_EVM)
        refusal = await _refusal(broker, tenant, SignRequest(kind="typed_data", payload=payload))
        assert (refusal.status, refusal.outcome, refusal.detail) == (status, outcome, detail)
    assert privy.calls == []


@pytest.mark.parametrize(
    "answer",
    [
        "0x",
        "0x" + "00" * 65,
        "not hex",
        "0x" + "11" * 64,  # one byte short
    ],
)
async def test_a_typed_data_answer_that_does_not_verify_is_a_502(tmp_path: Path, answer: str) -> None:
    class BadPrivy(FakePrivy):
        async def sign_typed_data(self, wallet_id: str, typed: dict[str, Any]) -> str:
            self.calls.append(wallet_id)
            return answer

    privy = BadPrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    refusal = await _refusal(broker, tenant, SignRequest(kind="typed_data", payload=_class_transfer()))
    assert (refusal.status, refusal.outcome) == (502, "bad_signature")
    assert refusal.detail == f"Privy's signature does not verify for the wallet {EVM.address}."
    assert privy.calls == ["w-evm"]


# ---------------------------------------------------------------------- EVM transactions
async def test_privy_is_asked_for_exactly_the_transaction_requested(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    tx = {**_usdc_to_bridge(), "nonce": "0x4", "gas": "90000", "from": EVM.address.lower()}
    answer = await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=tx))
    assert Account.recover_transaction(answer["raw_transaction"]) == EVM.address
    asked = {
        "from": EVM.address,
        "to": USDC_ARBITRUM,
        "chain_id": 42161,
        "nonce": 4,
        "gas_limit": 90000,
        "max_fee_per_gas": 10,
        "max_priority_fee_per_gas": 0,
        "value": 0,
        "type": 2,
        "data": tx["data"],
    }
    assert privy.transactions == [asked]
    # eth_account also calls the data `input`.
    via_input = {k: v for k, v in _usdc_to_bridge().items() if k != "data"} | {"input": tx["data"]}
    await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=via_input))
    assert privy.transactions[-1] == asked
    assert privy.calls == ["w-evm"] * 2


async def test_a_call_with_no_data_to_an_allowed_contract_is_signed_with_empty_data(tmp_path: Path) -> None:
    other = Account.create().address
    policy = load_policy(_settings(tmp_path))
    policy = replace(policy, evm_contracts=policy.evm_contracts | {other})
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, policy=policy)
    for extra in ({}, {"data": None}, {"data": ""}, {"input": ""}):
        tx = {k: v for k, v in _usdc_to_bridge().items() if k != "data"} | {"to": other, **extra}
        answer = await broker.sign(tenant, SignRequest(kind="evm_transaction", payload=tx))
        assert Account.recover_transaction(answer["raw_transaction"]) == EVM.address
        assert privy.transactions[-1]["data"] == "0x"


async def test_a_legacy_transaction_is_checked_and_answered_with_its_0x(tmp_path: Path) -> None:
    class LegacyPrivy(FakePrivy):
        """Signs a legacy (EIP-155) transaction, and answers its hex without the 0x."""

        async def sign_evm_transaction(self, wallet_id: str, tx: dict[str, Any]) -> str:
            self.calls.append(wallet_id)
            self.transactions.append(dict(tx))
            fields = {
                "chainId": tx["chain_id"],
                "nonce": tx["nonce"],
                "to": tx["to"],
                "value": tx["value"],
                "data": tx["data"],
                "gas": tx["gas_limit"],
                "gasPrice": tx["gas_price"] + (1 if self.tamper else 0),
            }
            return bytes(Account.sign_transaction(fields, self.evm.key).raw_transaction).hex()

    legacy = {k: v for k, v in _usdc_to_bridge().items() if not k.startswith("max")} | {
        "type": 0,
        "gasPrice": 10,
    }
    broker, tenant = _broker(tmp_path, LegacyPrivy(SOLANA, EVM))
    for nonce in range(4):  # both parities of v
        answer = await broker.sign(
            tenant, SignRequest(kind="evm_transaction", payload={**legacy, "nonce": nonce})
        )
        assert answer["raw_transaction"].startswith("0x")
        assert Account.recover_transaction(answer["raw_transaction"]) == EVM.address
    broker, tenant = _broker(tmp_path / "tampered", LegacyPrivy(SOLANA, EVM, tamper=True))
    refusal = await _refusal(broker, tenant, SignRequest(kind="evm_transaction", payload=legacy))
    assert (refusal.status, refusal.outcome) == (502, "bad_signature")
    assert refusal.detail == "Privy's signed transaction does not match the request (gasPrice)."


async def test_evm_transactions_the_broker_cannot_forward_are_refused_before_privy(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    tx = _usdc_to_bridge()
    spaced = tx["data"][:10] + " " + tx["data"][10:]  # hex to Python's fromhex, not to Privy
    for payload, status, outcome, detail in [
        ("0x02f8", 422, "malformed", "An evm_transaction payload is a transaction object."),
        (
            {**tx, "from": STRANGER_EVM},
            403,
            "foreign_wallet",
            f"The transaction's sender {STRANGER_EVM} is not this tenant's wallet.",
        ),
        ({**tx, "nonce": "four"}, 422, "malformed", "The transaction's nonce is not a number."),
        ({**tx, "nonce": -1}, 422, "malformed", "The transaction's nonce is not a number."),
        ({**tx, "nonce": "-1"}, 422, "malformed", "The transaction's nonce is not a number."),
        ({**tx, "nonce": True}, 422, "malformed", "The transaction's nonce is not a number."),
        ({**tx, "nonce": 4.0}, 422, "malformed", "The transaction's nonce is not a number."),
        ({**tx, "type": "two"}, 422, "malformed", "The transaction's type is not a number."),
        ({**tx, "data": spaced}, 422, "malformed", "The transaction's data is not 0x-hex."),
    ]:
        refusal = await _refusal(broker, tenant, SignRequest(kind="evm_transaction", payload=payload))
        assert (refusal.status, refusal.outcome, refusal.detail) == (status, outcome, detail)
    assert privy.calls == []


async def test_usdc_may_go_to_the_registered_withdrawal_address_and_counts_as_outflow(tmp_path: Path) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, withdrawal_delay_seconds=0)
    request = SignRequest(kind="evm_transaction", payload=_usdc_transfer(WITHDRAWAL_EVM, 12))
    refusal = await _refusal(broker, tenant, request)
    assert (refusal.status, refusal.outcome) == (403, "refused")
    broker.withdrawals.register(_user_id(tenant), "evm", WITHDRAWAL_EVM)
    await broker.sign(tenant, request)
    assert broker.budget.used(tenant.id)[Asset.USDC] == Decimal("12")


async def test_a_rejected_evm_answer_is_logged_with_the_wallet_and_what_differed(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM, tamper=True))
    with capture_logs() as logs:
        refusal = await _refusal(
            broker, tenant, SignRequest(kind="evm_transaction", payload=_usdc_to_bridge())
        )
    assert refusal.detail == "Privy's signed transaction does not match the request (nonce)."
    warning = next(e for e in logs if e["log_level"] == "warning")
    assert {"event": "privy evm signature rejected", "wallet": EVM.address, "problem": "nonce"}.items() <= (
        warning.items()
    )


def _signed(key: Any, **fields: Any) -> str:
    return "0x" + bytes(Account.sign_transaction(fields, key).raw_transaction).hex()


def _legacy_with_v_parity(parity: int, chain_id: int | None = 42161) -> tuple[str, dict[str, Any]]:
    """A legacy transaction whose v - 35 has the given parity (the signature's recovery id)."""
    for nonce in range(64):
        tx = {"nonce": nonce, "to": USDC_ARBITRUM, "value": 0, "data": "0x", "gas": 90000, "gasPrice": 10}
        if chain_id is not None:
            tx["chainId"] = chain_id
        raw = _signed(EVM.key, **tx)
        v = LegacyTransaction.from_bytes(bytes.fromhex(raw[2:])).as_dict()["v"]
        if (v - 35) % 2 == parity:
            return raw, tx
    raise AssertionError("no nonce gave that parity")


@pytest.mark.parametrize("parity", [0, 1])
def test_a_legacy_transactions_chain_id_is_read_from_v(parity: int) -> None:
    raw, tx = _legacy_with_v_parity(parity)
    wanted = {"chainId": 42161, "nonce": tx["nonce"], "gas": 90000, "value": 0, "gasPrice": 10}
    assert _signed_evm_mismatch(raw, EVM.address, tx, wanted, "0x") is None
    # A field a legacy transaction does not carry is not a difference.
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "maxPriorityFeePerGas": 0}, "0x") is None
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "chainId": 42162}, "0x") == "chainId"
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "chainId": 42160}, "0x") == "chainId"
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "gasPrice": 11}, "0x") == "gasPrice"
    other, _ = _legacy_with_v_parity(parity, chain_id=1)  # signed for another chain
    assert _signed_evm_mismatch(other, EVM.address, tx, wanted, "0x") == "chainId"


@pytest.mark.parametrize("parity", [0, 1])
def test_a_legacy_transaction_for_chain_id_0_reads_as_chain_0(parity: int) -> None:
    raw, tx = _legacy_with_v_parity(parity, chain_id=0)  # v is 35 or 36
    wanted = {"chainId": 0, "nonce": tx["nonce"], "gas": 90000, "value": 0, "gasPrice": 10}
    assert _signed_evm_mismatch(raw, EVM.address, tx, wanted, "0x") is None


def test_a_legacy_transaction_without_a_chain_id_matches_no_chain() -> None:
    raw, tx = _legacy_with_v_parity(0, chain_id=None)
    wanted = {"nonce": tx["nonce"], "gas": 90000, "value": 0, "gasPrice": 10}
    assert _signed_evm_mismatch(raw, EVM.address, tx, wanted, "0x") is None
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, "chainId": 42161}, "0x") == "chainId"


@pytest.mark.parametrize("name", ["chainId", "nonce", "gas", "value", "maxFeePerGas", "maxPriorityFeePerGas"])
def test_each_field_privy_changed_is_named(name: str) -> None:
    tx = _usdc_to_bridge()
    raw = _signed(EVM.key, **tx)
    wanted = {k: tx[k] for k in ("chainId", "nonce", "gas", "value", "maxFeePerGas", "maxPriorityFeePerGas")}
    assert _signed_evm_mismatch(raw, EVM.address, tx, wanted, tx["data"]) is None
    assert _signed_evm_mismatch(raw, EVM.address, tx, {**wanted, name: wanted[name] + 1}, tx["data"]) == name


def test_the_recipient_and_data_privy_signed_are_compared() -> None:
    tx = _usdc_to_bridge()
    raw = _signed(EVM.key, **tx)
    assert _signed_evm_mismatch(raw, EVM.address, tx, {}, tx["data"][:-2] + "00") == "data"
    assert _signed_evm_mismatch(raw, EVM.address, tx, {}, "0x") == "data"
    lower = {**tx, "to": tx["to"].lower()}
    assert _signed_evm_mismatch(raw, EVM.address, lower, {}, tx["data"]) is None
    bare = {**tx, "to": tx["to"][2:]}  # a recipient written without its 0x
    assert _signed_evm_mismatch(raw, EVM.address, bare, {}, tx["data"]) is None
    # No data signed matches no data asked; a transaction with no recipient matches only a request
    # with none.
    empty = {**tx, "data": "0x"}
    assert _signed_evm_mismatch(_signed(EVM.key, **empty), EVM.address, empty, {}, "0x") is None
    creation = {k: v for k, v in tx.items() if k != "to"}
    signed_creation = _signed(EVM.key, **creation)
    assert _signed_evm_mismatch(signed_creation, EVM.address, creation, {}, tx["data"]) is None
    assert _signed_evm_mismatch(signed_creation, EVM.address, tx, {}, tx["data"]) == "recipient"
    assert _signed_evm_mismatch(raw, EVM.address, creation, {}, tx["data"]) == "recipient"


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (0, 0),
        (7, 7),
        (-1, None),
        (True, None),
        (1.0, None),
        (None, None),
        ("0", 0),
        ("10", 10),
        ("0x10", 16),
        ("0X1f", 31),
        ("0x0", 0),
        ("-1", None),
        ("-0x1", None),
        ("ten", None),
        ("0xg", None),
        ("", None),
    ],
)
def test_transaction_quantities_are_non_negative_integers(value: Any, number: int | None) -> None:
    assert _quantity(value) == number


@pytest.mark.parametrize(
    ("text", "hex_"),
    [("0x", True), ("", True), ("0xa9059cbb", True), ("a9059cbb", True), ("0xabc", False), ("0xzz", False)],
)
def test_data_is_hex_of_whole_bytes(text: str, hex_: bool) -> None:
    assert _is_hex(text) is hex_


# ---------------------------------------------------------------------- the body's size
async def test_a_body_over_the_limit_is_a_413_that_closes_the_connection() -> None:
    request, _ = _streamed(chunks=2, size=1024)
    with pytest.raises(Refusal) as err:
        await read_body(request, limit=2047)
    refusal = err.value
    assert (refusal.status, refusal.outcome, refusal.headers) == (413, "too_large", {"Connection": "close"})
    assert refusal.detail == "The signing request is larger than 1 KiB; a signing request is far smaller."
    request, _ = _streamed(chunks=2, size=1024)
    assert len(await read_body(request, limit=2048)) == 2048  # exactly the limit is fine
    with pytest.raises(Refusal) as err:
        refuse_too_large()
    assert err.value.detail == "The signing request is larger than 64 KiB; a signing request is far smaller."


# ---------------------------------------------------------------------- Hyperliquid L1
async def test_an_l1_action_is_signed_with_its_expiry_for_the_brokers_own_network(tmp_path: Path) -> None:
    broker, tenant = _broker(tmp_path, FakePrivy(SOLANA, EVM))
    nonce, expires = 1_700_000_000_000, 1_700_000_060_000
    payload = {"action": ORDER, "nonce": nonce, "vaultAddress": None, "expiresAfter": expires}
    rsv = await broker.sign(tenant, SignRequest(kind="hyperliquid_l1", payload=payload))
    signature = {"r": rsv["r"], "s": rsv["s"], "v": rsv["v"]}
    assert recover_agent_or_user_from_l1_action(ORDER, signature, None, nonce, expires, False) == EVM.address
    assert recover_agent_or_user_from_l1_action(ORDER, signature, None, nonce, None, False) != EVM.address
    broker.hyperliquid_mainnet = True  # a mainnet control plane: source "a"
    rsv = await broker.sign(tenant, _l1())
    signature = {"r": rsv["r"], "s": rsv["s"], "v": rsv["v"]}
    assert recover_agent_or_user_from_l1_action(ORDER, signature, None, nonce, None, True) == EVM.address


L1_SHAPE = (
    "A hyperliquid_l1 payload is {action: object, nonce: integer, vaultAddress: null, "
    "expiresAfter: integer or null}."
)


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ("text", L1_SHAPE),
        ({"action": ORDER, "nonce": "1"}, L1_SHAPE),
        ({"action": ORDER, "nonce": 1, "extra": 1}, L1_SHAPE),
        ({"action": ORDER, "nonce": -1}, L1_SHAPE),
        ({"action": ORDER, "nonce": 2**64}, L1_SHAPE),
        ({"action": ORDER, "nonce": 1, "expiresAfter": -1}, L1_SHAPE),
        ({"action": ORDER, "nonce": 1, "expiresAfter": 1.5}, L1_SHAPE),
        ({"action": [ORDER], "nonce": 1}, L1_SHAPE),
        (
            # A price the validator cannot compare with the mark (its arithmetic overflows).
            {"action": {**ORDER, "orders": [{**ORDER["orders"][0], "p": "1e999999"}]}, "nonce": 1},  # type: ignore[dict-item]
            "The payload cannot be read as a Hyperliquid action (Overflow).",
        ),
        (
            # Allowed by the policy, but no 64-bit integer: msgpack cannot hash it.
            {"action": {"type": "cancel", "cancels": [{"a": 5, "o": 2**70}]}, "nonce": 1},
            "The Hyperliquid action cannot be hashed (OverflowError).",
        ),
    ],
)
async def test_an_l1_payload_that_cannot_be_read_is_a_422(tmp_path: Path, payload: Any, detail: str) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    refusal = await _refusal(broker, tenant, SignRequest(kind="hyperliquid_l1", payload=payload))
    assert (refusal.status, refusal.outcome, refusal.detail) == (422, "malformed", detail)
    assert privy.calls == []


# ---------------------------------------------------------------------- wallets, rate, budget, Privy down
@pytest.mark.parametrize(
    "missing", ["user", "solana_wallet_id", "solana_address", "evm_wallet_id", "evm_address"]
)
async def test_a_tenant_without_privy_wallets_is_told_it_signs_with_its_own_keys(
    tmp_path: Path, missing: str
) -> None:
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy)
    with broker.sessions.begin() as s:
        if missing == "user":
            s.get(Tenant, tenant.id).user_id = None  # type: ignore[union-attr]  # the operator's own tenant
        else:
            setattr(s.get(User, tenant.user_id), missing, None)
    with broker.sessions() as s:
        tenant = s.get(Tenant, tenant.id)  # type: ignore[assignment]
    for request in (_solana_request(_message(SOLANA)), _l1()):
        refusal = await _refusal(broker, tenant, request)
        assert (refusal.status, refusal.outcome) == (403, "no_wallets")
        assert refusal.detail == (
            "Tenant t-one has no Privy wallets: its bot signs with its own keys, not through the broker."
        )
    assert privy.calls == []


@pytest.mark.parametrize(("rate", "retry_after"), [(0.25, "4"), (0.4, "2"), (10.0, "1")])
async def test_a_tenant_over_its_signing_rate_gets_a_429_with_retry_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rate: float, retry_after: str
) -> None:
    monkeypatch.setattr("orchestrator.broker.time.monotonic", lambda: 1000.0)
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, broker_rate_per_second=rate, broker_burst=1)
    await broker.sign(tenant, _l1())
    refusal = await _refusal(broker, tenant, _l1())
    assert (refusal.status, refusal.outcome, refusal.headers) == (
        429,
        "rate_limited",
        {"Retry-After": retry_after},
    )
    assert refusal.detail == "Too many signing requests from this tenant; retry shortly."
    assert len(privy.calls) == 1
    # Another tenant has a bucket of its own.
    with broker.sessions.begin() as s:
        other = User(id="u-t-two", email="t-two@example.com", privy_user_id="did:t-two")
        other.solana_wallet_id, other.solana_address = "w-sol", str(SOLANA.pubkey())
        other.evm_wallet_id, other.evm_address = "w-evm", EVM.address
        s.add(other)
        s.flush()
        s.add(Tenant(id="t-two", user_id=other.id, version="0.1.0", limits={}, port=30001))
    with broker.sessions() as s:
        second = s.get(Tenant, "t-two")
    assert second is not None
    await broker.sign(second, _l1())
    assert len(privy.calls) == 2


async def test_an_outflow_over_the_tenants_budget_is_refused_with_when_to_retry(tmp_path: Path) -> None:
    policy = replace(load_policy(_settings(tmp_path)), outflow_budget={Asset.USDC: Decimal("15")})
    privy = FakePrivy(SOLANA, EVM)
    broker, tenant = _broker(tmp_path, privy, policy=policy, withdrawal_delay_seconds=0)
    broker.withdrawals.register(_user_id(tenant), "evm", WITHDRAWAL_EVM)

    def withdraw(amount: str) -> SignRequest:
        return SignRequest(kind="typed_data", payload=_user_action("Withdraw", WITHDRAWAL_EVM, amount=amount))

    # More than the whole budget: no wait would help, so no Retry-After.
    refusal = await _refusal(broker, tenant, withdraw("20"))
    assert (refusal.status, refusal.outcome, refusal.headers) == (403, "over_budget", None)
    assert refusal.detail == (
        "Refused: this would let 20 USDC flow out of the user's accounts, more than the tenant's whole "
        "outflow budget of 15 USDC per 24 h."
    )
    assert str(refusal) == refusal.detail
    await broker.sign(tenant, withdraw("10"))
    refusal = await _refusal(broker, tenant, withdraw("10"))
    assert (refusal.status, refusal.outcome) == (403, "over_budget")
    assert refusal.headers is not None and set(refusal.headers) == {"Retry-After"}
    wait = int(refusal.headers["Retry-After"])
    assert 24 * 3600 - 60 < wait <= 24 * 3600 + 1
    assert refusal.detail == (
        "Refused: this would let 10 USDC flow out of the user's accounts, after 10 USDC in the last 24 h: "
        f"more than the tenant's outflow budget of 15 USDC (it frees up in {wait} s)."
    )
    assert len(privy.calls) == 1
    assert broker.budget.used(tenant.id) == {Asset.USDC: Decimal("10")}


@pytest.mark.parametrize(
    ("error", "detail"),
    [
        (PrivyError(503, "Privy answered 503"), "Privy could not sign: Privy answered 503"),
        (ValueError("bad wallet id"), "The tenant's Privy wallet id is not valid."),
    ],
)
async def test_privy_failing_is_a_502_and_the_outflow_is_given_back(
    tmp_path: Path, error: Exception, detail: str
) -> None:
    class FailingPrivy(FakePrivy):
        async def sign_typed_data(self, wallet_id: str, typed: dict[str, Any]) -> str:
            self.calls.append(wallet_id)
            raise error

    broker, tenant = _broker(tmp_path, FailingPrivy(SOLANA, EVM), withdrawal_delay_seconds=0)
    broker.withdrawals.register(_user_id(tenant), "evm", WITHDRAWAL_EVM)
    refusal = await _refusal(
        broker, tenant, SignRequest(kind="typed_data", payload=_user_action("Withdraw", WITHDRAWAL_EVM))
    )
    assert (refusal.status, refusal.outcome, refusal.detail) == (502, "privy_error", detail)
    assert broker.budget.used(tenant.id) == {}
