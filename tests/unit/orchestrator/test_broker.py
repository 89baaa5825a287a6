"""The signing broker's pure parts: the bot's environment per tenant, the broker's own address, the
rate limit, and the checks of what Privy answered (a signature that does not verify is never
returned). Privy here is a stand-in that answers with the wrong key or a tampered transaction: the
real one is exercised in tests/integration/orchestrator/test_broker.py."""

from __future__ import annotations

import base64
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from fastapi import Request
from hyperliquid.utils.signing import recover_agent_or_user_from_l1_action
from pydantic import SecretStr
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.system_program import TransferParams, transfer
from solders.transaction import VersionedTransaction

from orchestrator.broker import (
    MAX_BODY_BYTES,
    Refusal,
    SigningBroker,
    SignRequest,
    _RateLimiter,
    _signed_evm_mismatch,
    load_policy,
    read_body,
)
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import Tenant, User
from orchestrator.database.session import open_database
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from shared.assets import HYPERLIQUID_BRIDGE
from shared.launch import bot_secret, bot_token
from shared.transaction_policy import USDC_ARBITRUM, PerpMarks

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


# ---------------------------------------------------------------------- what Privy answers
class FakePrivy:
    """Answers like Privy, with keys of the test's choosing (to prove answers are verified)."""

    def __init__(self, solana: Keypair, evm: Any, tamper: bool = False) -> None:
        self.solana, self.evm, self.tamper = solana, evm, tamper
        self.calls: list[str] = []

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


def _broker(tmp_path: Path, privy: FakePrivy, marks: PerpMarks = SOL_MARK) -> tuple[SigningBroker, Tenant]:
    svc = _service(tmp_path)
    tenant = _user(svc)
    broker = SigningBroker(svc.settings, svc.sessions, privy, marks=FixedMarks(marks))  # type: ignore[arg-type]
    return broker, tenant


def _message(owner: Keypair) -> bytes:
    ix = transfer(TransferParams(from_pubkey=owner.pubkey(), to_pubkey=Keypair().pubkey(), lamports=5000))
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
