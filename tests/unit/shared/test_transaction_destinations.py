"""Where the shared transaction policy lets money go, on hand-built payloads: token transfers only to
the wallet's own accounts, a venue's or the registered withdrawal address, every mint capped per
transaction (summed), what counts as outflow, EVM gas caps, Hyperliquid L1 actions checked and signed
from the action itself, orders bounded around the venue's mark. The attacks themselves are replayed end
to end in tests/security/test_broker_drains.py and test_broker_order_prices.py."""

from __future__ import annotations

import struct
from decimal import Decimal
from typing import Any

import pytest
from eth_abi import encode
from eth_account import Account
from hyperliquid.utils.signing import (
    WITHDRAW_SIGN_TYPES,
    recover_agent_or_user_from_l1_action,
    sign_l1_action,
    user_signed_payload,
)
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.system_program import TransferParams, transfer
from solders.token.associated import get_associated_token_address

from shared.assets import HYPERLIQUID_BRIDGE, SOLANA_NATIVE_MINT, TOKENS, Asset, Chain
from shared.hyperliquid_l1 import l1_typed_data
from shared.transaction_policy import (
    ATA_PROGRAM,
    DEVNET_ASGARD_CUSTODY,
    TOKEN_2022_PROGRAM,
    TOKEN_PROGRAM,
    USDC_ARBITRUM,
    USDC_MINT,
    Outflow,
    PerpMarks,
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    WithdrawalAddresses,
)
from tenant_bot.risk.config import RiskConfigError, load_risk_config

OWNER = Keypair().pubkey()
STRANGER = Keypair().pubkey()
VENUE = Keypair().pubkey()
MINE = Keypair().pubkey()  # the user's own wallet elsewhere, registered for withdrawals
USDC = Pubkey.from_string(USDC_MINT)
JITOSOL = Pubkey.from_string(TOKENS[(Asset.JITOSOL, Chain.SOLANA)].address or "")
WSOL = Pubkey.from_string(SOLANA_NATIVE_MINT)
TOKEN = Pubkey.from_string(TOKEN_PROGRAM)
TOKEN_2022 = Pubkey.from_string(TOKEN_2022_PROGRAM)
POLICY = TransactionPolicy.from_config(load_risk_config()).trusting(str(VENUE))
VALIDATOR = TransactionValidator(POLICY)
REGISTERED = WithdrawalAddresses(solana=str(MINE), evm="0x" + "ee" * 20)
OWN_EVM = "0x" + "ab" * 20


def message(*ixs: Instruction) -> bytes:
    return to_bytes_versioned(MessageV0.try_compile(OWNER, list(ixs), [], Hash.default()))


def ata(wallet: Pubkey, mint: Pubkey = USDC, program: Pubkey = TOKEN) -> Pubkey:
    return get_associated_token_address(wallet, mint, program)


def send(
    raw: int,
    to: Pubkey,
    mint: Pubkey = USDC,
    decimals: int = 6,
    authority: Pubkey = OWNER,
    program: Pubkey = TOKEN,
    *,
    to_account: Pubkey | None = None,
) -> Instruction:
    """SPL TransferChecked of `raw` units from the authority's account to `to`'s associated account."""
    return Instruction(
        program,
        bytes([12]) + struct.pack("<QB", raw, decimals),
        [
            AccountMeta(ata(authority, mint, program), False, True),
            AccountMeta(mint, False, False),
            AccountMeta(to_account or ata(to, mint, program), False, True),
            AccountMeta(authority, True, False),
        ],
    )


def token_ix(index: int, *accounts: Pubkey, data: bytes = b"", program: Pubkey = TOKEN) -> Instruction:
    return Instruction(program, bytes([index]) + data, [AccountMeta(a, False, True) for a in accounts])


def sol(to: Pubkey, lamports: int) -> Instruction:
    return transfer(TransferParams(from_pubkey=OWNER, to_pubkey=to, lamports=lamports))


def check(*ixs: Instruction, validator: TransactionValidator = VALIDATOR) -> Outflow:
    return validator.check_solana_message(message(*ixs), owner=str(OWNER), withdrawal=REGISTERED)


def refused(*ixs: Instruction, validator: TransactionValidator = VALIDATOR) -> str:
    with pytest.raises(TransactionRejected) as err:
        check(*ixs, validator=validator)
    return err.value.reason


# ---------------------------------------------------------------------- Solana: where tokens may go
def test_tokens_to_an_outside_address_are_refused_whatever_the_amount() -> None:
    reason = refused(send(4_000 * 10**6, STRANGER))
    assert "4000 USDC" in reason and str(ata(STRANGER)) in reason and "registered withdrawal" in reason
    reason = refused(send(10 * 10**9, STRANGER, JITOSOL, 9))
    assert "10 jitoSOL" in reason
    assert "USDC" in refused(send(1, STRANGER))  # one micro-USDC is a drain too
    # Straight to the stranger's wallet address (not a token account) is no better.
    assert str(STRANGER) in refused(send(10**6, STRANGER, to_account=STRANGER))


def test_tokens_to_our_own_a_venues_or_the_registered_account_pass_and_only_withdrawals_are_outflow() -> None:
    assert check(send(4_000 * 10**6, OWNER)) == Outflow({})
    assert check(send(4_000 * 10**6, VENUE)) == Outflow({})  # a deposit stays the user's money
    assert check(send(4_000 * 10**6, MINE)) == Outflow({Asset.USDC: Decimal(4000)})
    assert check(send(10 * 10**9, MINE, JITOSOL, 9)).amounts == {Asset.JITOSOL: Decimal(10)}
    # Without a registration, the same withdrawal is a transfer to a stranger.
    with pytest.raises(TransactionRejected):
        VALIDATOR.check_solana_message(message(send(10**6, MINE)), owner=str(OWNER))


def test_every_mint_is_capped_per_transaction_summed_over_instructions() -> None:
    check(send(100_000 * 10**6, VENUE))
    reason = refused(*[send(100_000 * 10**6, VENUE) for _ in range(8)])
    assert "moves 800000 USDC" in reason and "100000 USDC allowed per transaction" in reason
    # Split between a venue and the withdrawal address: still one sum.
    assert "100000.000001 USDC" in refused(send(50_000 * 10**6, VENUE), send(50_000 * 10**6 + 1, MINE))
    # wrapped SOL and native SOL share SOL's cap.
    check(send(600 * 10**9, VENUE, WSOL, 9), sol(VENUE, 400 * 10**9))
    assert "1000.000000001 SOL" in refused(send(600 * 10**9, VENUE, WSOL, 9), sol(VENUE, 400 * 10**9 + 1))


def test_an_unknown_mint_may_not_leave_but_may_move_between_our_accounts() -> None:
    mint = Keypair().pubkey()
    reason = refused(send(1, VENUE, mint, 6))
    assert str(mint) in reason and "only the tokens the policy caps" in reason
    check(send(10**9, OWNER, mint, 6))
    # A known mint the policy gives no cap may not leave either.
    uncapped = TransactionValidator(
        TransactionPolicy(POLICY.solana_programs, 10**7, 5 * 10**6, Decimal(100)).trusting(str(VENUE))
    )
    assert "no per-transaction cap" in refused(send(10**9, VENUE, JITOSOL, 9), validator=uncapped)


def test_decimals_that_are_not_the_mints_are_refused() -> None:
    assert "with 6 decimals (the mint has 9)" in refused(send(10**6, VENUE, JITOSOL, 6))


def test_handing_over_control_of_our_tokens_is_refused_outright() -> None:
    source = ata(OWNER)
    cases = {
        "Approve": token_ix(4, source, STRANGER, OWNER, data=struct.pack("<Q", 1)),
        "ApproveChecked": token_ix(13, source, USDC, VENUE, OWNER, data=struct.pack("<QB", 1, 6)),
        "SetAuthority": token_ix(6, source, OWNER, data=bytes([2, 1]) + bytes(STRANGER)),
        "Burn": token_ix(8, source, USDC, OWNER, data=struct.pack("<Q", 1)),
        "unchecked Transfer": token_ix(3, source, ata(VENUE), OWNER, data=struct.pack("<Q", 1)),
    }
    for name, ix in cases.items():
        assert name in refused(ix), name
    # Closing one of our accounts returns its rent (and wrapped SOL): only to us.
    assert str(MINE) in refused(token_ix(9, source, MINE, OWNER))
    assert str(VENUE) in refused(token_ix(9, source, VENUE, OWNER))
    check(token_ix(9, source, OWNER, OWNER))
    # As one signer of a multisig authority, the wallet is authorising just the same.
    multisig = Keypair().pubkey()
    ix = Instruction(
        TOKEN,
        bytes([12]) + struct.pack("<QB", 10**6, 6),
        [
            AccountMeta(ata(multisig), False, True),
            AccountMeta(USDC, False, False),
            AccountMeta(ata(STRANGER), False, True),
            AccountMeta(multisig, False, False),
            AccountMeta(OWNER, True, False),
        ],
    )
    assert str(ata(STRANGER)) in refused(ix)


def test_what_another_authority_signs_is_not_ours_to_bound() -> None:
    """Asgard's custody paying the proceeds of a close to us (it signs; we co-sign the transaction)."""
    custody = VENUE
    check(
        send(10**12, OWNER, authority=custody), token_ix(4, ata(custody), STRANGER, custody, data=b"\x01" * 8)
    )


def test_token_2022_when_allow_listed_follows_the_same_rules() -> None:
    with2022 = TransactionValidator(POLICY.allowing_programs(TOKEN_2022_PROGRAM))
    check(send(10**6, VENUE, program=TOKEN_2022), validator=with2022)
    assert "USDC" in refused(send(10**6, STRANGER, program=TOKEN_2022), validator=with2022)
    # An extension instruction naming the wallet (TransferCheckedWithFee here) is not read: refused.
    fee_transfer = token_ix(26, ata(OWNER, USDC, TOKEN_2022), USDC, ata(STRANGER), OWNER, program=TOKEN_2022)
    assert "token instruction 26" in refused(fee_transfer, validator=with2022)
    # Not allow-listed by default at all.
    assert "not on the allow-list" in refused(send(10**6, VENUE, program=TOKEN_2022))


def test_sol_elsewhere_is_capped_and_outflow_to_the_registered_address_is_not_capped_as_a_tip() -> None:
    out = check(set_compute_unit_limit(400_000), set_compute_unit_price(10_000), sol(STRANGER, 10_000))
    assert out.amounts == {Asset.SOL: Decimal("0.000014")}  # a Jito tip and the priority fee
    assert "0.01 SOL allowed" in refused(sol(STRANGER, 10**7 + 1))
    assert check(sol(MINE, 5 * 10**9)).amounts == {Asset.SOL: Decimal(5)}
    assert check(sol(VENUE, 5 * 10**9)) == Outflow({})


def test_paying_rent_for_others_token_accounts_counts_as_sol_sent_elsewhere() -> None:
    def create_for(wallet: Pubkey) -> Instruction:
        return Instruction(
            Pubkey.from_string(ATA_PROGRAM),
            b"\x01",
            [
                AccountMeta(OWNER, True, True),
                AccountMeta(ata(wallet), False, True),
                AccountMeta(wallet, False, False),
                AccountMeta(USDC, False, False),
            ],
        )

    assert check(create_for(OWNER)) == Outflow({})
    assert check(create_for(STRANGER)).amounts == {Asset.SOL: Decimal("0.00203928")}
    # Five accounts for strangers are 0.0102 SOL: past the 0.01 SOL a transaction may send elsewhere.
    assert "0.0101964 SOL" in refused(*[create_for(Keypair().pubkey()) for _ in range(5)])


def test_the_devnet_custody_is_a_venue_only_on_the_devnet() -> None:
    config = load_risk_config()
    assert (
        DEVNET_ASGARD_CUSTODY
        in TransactionPolicy.from_config(config, network="devnet").solana_trusted_destinations
    )
    for network in (None, "testnet", "mainnet"):
        assert (
            DEVNET_ASGARD_CUSTODY
            not in TransactionPolicy.from_config(config, network=network).solana_trusted_destinations
        )


def test_the_devnet_custody_constant_is_the_devnets_key() -> None:
    from devnet.asgard.transactions import custody_keypair

    assert str(custody_keypair().pubkey()) == DEVNET_ASGARD_CUSTODY


# ---------------------------------------------------------------------- EVM
def usdc_transfer(to: str, raw: int, **fees: int) -> dict[str, Any]:
    data = "0xa9059cbb" + encode(["address", "uint256"], [to, raw]).hex()
    tx = {"chainId": 42161, "nonce": 0, "to": USDC_ARBITRUM, "value": 0, "data": data, "type": 2}
    return {**tx, "gas": 100_000, "maxFeePerGas": 20_000_000, "maxPriorityFeePerGas": 0, **fees}


def evm_refused(tx: dict[str, Any]) -> str:
    with pytest.raises(TransactionRejected) as err:
        VALIDATOR.check_evm_transaction(tx, withdrawal=REGISTERED)
    return err.value.reason


def test_evm_gas_and_fees_are_capped() -> None:
    out = VALIDATOR.check_evm_transaction(usdc_transfer(HYPERLIQUID_BRIDGE, 10**7), withdrawal=REGISTERED)
    assert out.amounts == {Asset.ETH: Decimal("0.000002")}  # 100k gas x 0.02 gwei; the deposit is not outflow
    assert "gas limit 30000000" in evm_refused(usdc_transfer(HYPERLIQUID_BRIDGE, 10**7, gas=30_000_000))
    assert "per gas" in evm_refused(usdc_transfer(HYPERLIQUID_BRIDGE, 10**7, maxFeePerGas=10**12))
    assert "priority fee" in evm_refused(
        usdc_transfer(HYPERLIQUID_BRIDGE, 10**7, maxPriorityFeePerGas=10**10)
    )
    # Each within its own cap, together too much: 1.9M gas at 5 gwei is 0.0095 ETH.
    reason = evm_refused(usdc_transfer(HYPERLIQUID_BRIDGE, 10**7, gas=1_900_000, maxFeePerGas=5 * 10**9))
    assert "0.0095 ETH in gas" in reason and "0.002 ETH allowed" in reason
    legacy = {k: v for k, v in usdc_transfer(HYPERLIQUID_BRIDGE, 10**7).items() if not k.startswith("max")}
    assert "per gas" in evm_refused({**legacy, "type": 0, "gasPrice": 10**12})
    VALIDATOR.check_evm_transaction({**legacy, "type": 0, "gasPrice": 10**8})
    assert "gas limit" in evm_refused({k: v for k, v in legacy.items() if k != "gas"})
    assert "maxFeePerGas or gasPrice" in evm_refused(legacy)
    assert "maxFeePerGas or gasPrice" in evm_refused(
        {**usdc_transfer(HYPERLIQUID_BRIDGE, 10**7), "gasPrice": 1}
    )


def test_evm_usdc_goes_to_the_bridge_or_the_registered_address() -> None:
    out = VALIDATOR.check_evm_transaction(usdc_transfer(REGISTERED.evm or "", 10**9), withdrawal=REGISTERED)
    assert out.amounts == {Asset.ETH: Decimal("0.000002"), Asset.USDC: Decimal(1000)}
    assert "registered withdrawal address" in evm_refused(usdc_transfer("0x" + "12" * 20, 10**6))


# ---------------------------------------------------------------------- Hyperliquid user-signed
def withdraw(destination: str, amount: str = "250") -> dict[str, Any]:
    action = {
        "hyperliquidChain": "Testnet",
        "signatureChainId": "0x66eee",
        "destination": destination,
        "amount": amount,
        "time": 1,
    }
    return user_signed_payload("HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, action)


def test_hyperliquid_withdrawals_only_to_the_owner_or_the_registered_address() -> None:
    assert VALIDATOR.check_typed_data(withdraw(OWN_EVM), owner_evm=OWN_EVM) == Outflow({})
    registered = VALIDATOR.check_typed_data(
        withdraw(REGISTERED.evm or ""), owner_evm=OWN_EVM, withdrawal=REGISTERED
    )
    assert registered.amounts == {Asset.USDC: Decimal(250)}
    with pytest.raises(TransactionRejected, match="0x1212"):
        VALIDATOR.check_typed_data(withdraw("0x" + "12" * 20), owner_evm=OWN_EVM, withdrawal=REGISTERED)


# ---------------------------------------------------------------------- Hyperliquid L1
ORDER = {
    "type": "order",
    "orders": [
        {
            "a": 5,
            "b": False,
            "p": "150",
            "s": "1",
            "r": False,
            "t": {"limit": {"tif": "Ioc"}},
            "c": "0x" + "1" * 32,
        }
    ],
    "grouping": "na",
}


def l1_refused(action: dict[str, Any], **kwargs: Any) -> str:
    with pytest.raises(TransactionRejected) as err:
        VALIDATOR.check_hyperliquid_l1(action, nonce=kwargs.pop("nonce", 1), **kwargs)
    return err.value.reason


def test_the_bots_l1_actions_pass() -> None:
    for action in (
        ORDER,
        {"type": "cancel", "cancels": [{"a": 5, "o": 77}]},
        {"type": "cancelByCloid", "cancels": [{"asset": 5, "cloid": "0x" + "1" * 32}]},
        {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 3},
    ):
        assert VALIDATOR.check_hyperliquid_l1(action, nonce=1_700_000_000_000) == Outflow({})
    VALIDATOR.check_hyperliquid_l1(ORDER, nonce=1, expires_after=1_700_000_000_000)


def test_l1_actions_outside_the_list_or_its_shape_are_refused() -> None:
    for kind in ("withdraw3", "usdSend", "approveAgent", "vaultTransfer", "spotSend", "modify", None):
        assert "is not allowed" in l1_refused({"type": kind}), kind
    assert "vault" in l1_refused(ORDER, vault_address="0x" + "12" * 20)
    other_coin = {**ORDER, "orders": [{**ORDER["orders"][0], "a": 0}]}  # type: ignore[dict-item]
    assert "perp 0" in l1_refused(other_coin)
    assert "builder" in l1_refused({**ORDER, "builder": {"b": "0x" + "12" * 20, "f": 100}})
    trigger = {**ORDER["orders"][0], "t": {"trigger": {"isMarket": True, "triggerPx": "1", "tpsl": "tp"}}}  # type: ignore[dict-item]
    assert "plain limit order" in l1_refused({**ORDER, "orders": [trigger]})
    assert "grouping" in l1_refused({**ORDER, "grouping": "normalTpsl"})
    assert "leverage 20" in l1_refused(
        {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 20}
    )
    assert "nonce" in l1_refused(ORDER, nonce=2**64)
    assert "nonce" in l1_refused(ORDER, nonce=True)
    # What the payload chose is quoted cut short: the reason is shown and logged.
    assert len(l1_refused({"type": "x" * 60_000})) < 200
    assert len(l1_refused({**ORDER, "x" * 60_000: 1})) < 200


def order(price: str, size: str = "1", *, buy: bool = True, reduce_only: bool = False) -> dict[str, Any]:
    one = {"a": 5, "b": buy, "p": price, "s": size, "r": reduce_only, "t": {"limit": {"tif": "Ioc"}}}
    return {"type": "order", "orders": [one], "grouping": "na"}


MARK = PerpMarks({5: Decimal("200")})


def test_orders_are_bounded_by_the_band_around_the_mark_on_their_costly_side() -> None:
    """The default band is 300 bps: a buy up to 206 and a sell down to 194 at a mark of 200."""
    assert POLICY.hyperliquid_price_band_bps == 300
    for ok in (order("206"), order("194", buy=False), order("201.5"), order("198.9", buy=False)):
        VALIDATOR.check_hyperliquid_l1(ok, nonce=1, marks=MARK)
    detail = l1_refused(order("206.01"), marks=MARK)
    assert "buys perp 5 at 206.01 USD, 300 bps above its mark of 200 USD" in detail, detail
    assert "at most 300 bps beyond the mark" in detail
    assert "sells perp 5 at 100 USD, 5000 bps below" in l1_refused(order("100", buy=False), marks=MARK)
    # The absurd price of the attack: twice the mark, crossing a colluder's ask.
    assert "10000 bps above" in l1_refused(order("400"), marks=MARK)
    # Reduce-only orders are bounded in price too: an exit at an absurd price drains the same way.
    assert "bps above" in l1_refused(order("400", reduce_only=True), marks=MARK)
    # On the harmless side of the mark the limit only ever fills at a better price.
    VALIDATOR.check_hyperliquid_l1(order("1"), nonce=1, marks=MARK)
    VALIDATOR.check_hyperliquid_l1(order("100000", buy=False), nonce=1, marks=MARK)
    # The bot's own check, which priced the order itself, does not bound it.
    VALIDATOR.check_hyperliquid_l1(order("400"), nonce=1)


def test_orders_that_may_open_exposure_are_capped_in_worth_at_the_mark() -> None:
    """250,000 USD by default: 1250 SOL at a mark of 200; an exit is bounded by its position instead."""
    VALIDATOR.check_hyperliquid_l1(order("200", "1250"), nonce=1, marks=MARK)
    detail = l1_refused(order("200", "1250.01"), marks=MARK)
    assert "worth 250002.00 USD at the mark, more than the 250000 USD" in detail, detail
    # Priced far below the mark, it is still worth what the mark says.
    assert "250002.00 USD" in l1_refused(order("1", "1250.01"), marks=MARK)
    VALIDATOR.check_hyperliquid_l1(order("200", "5000", buy=True, reduce_only=True), nonce=1, marks=MARK)


def test_without_a_mark_only_reduce_only_orders_and_cancels_are_signed() -> None:
    down = PerpMarks(unreadable="http://127.0.0.1:9/info did not answer: ConnectError")
    for marks, why in ((down, "ConnectError"), (PerpMarks({0: Decimal(1)}), "lists no price for perp 5")):
        detail = l1_refused(order("200"), marks=marks)
        assert "may open exposure on perp 5" in detail and why in detail, detail
        assert "only reduce-only orders and cancels are signed" in detail
        VALIDATOR.check_hyperliquid_l1(order("200", reduce_only=True), nonce=1, marks=marks)
        VALIDATOR.check_hyperliquid_l1(
            {"type": "cancelByCloid", "cancels": [{"asset": 5, "cloid": "0x" + "1" * 32}]},
            nonce=1,
            marks=marks,
        )


def test_an_order_whose_numbers_cannot_be_read_is_refused_when_bounded() -> None:
    for bad, what in (
        ({"p": "abc"}, "price"),
        ({"p": "-1"}, "price"),
        ({"p": "NaN"}, "price"),
        ({"p": 200}, "price"),  # the venue's wire form is a string
        ({"s": "0"}, "size"),
        ({"b": "true"}, "side (b)"),
        ({"r": 1}, "reduce-only flag (r)"),
    ):
        one = {**order("200")["orders"][0], **bad}
        assert what in l1_refused({"type": "order", "orders": [one], "grouping": "na"}, marks=MARK), bad
    # Every order of the action is bounded, not only the first.
    two = {
        "type": "order",
        "orders": [order("200")["orders"][0], order("300")["orders"][0]],
        "grouping": "na",
    }
    assert l1_refused(two, marks=MARK).startswith("order 1 buys")


def test_the_band_and_the_cap_come_from_the_transactions_section() -> None:
    narrow = TransactionPolicy.from_config(
        load_risk_config(
            overrides={"transactions": {"hyperliquid_price_band_bps": 50, "hyperliquid_max_order_usd": 1000}}
        )
    )
    validator = TransactionValidator(narrow)
    with pytest.raises(TransactionRejected, match="at most 50 bps"):
        validator.check_hyperliquid_l1(order("201.01"), nonce=1, marks=MARK)
    with pytest.raises(TransactionRejected, match="the 1000 USD"):
        validator.check_hyperliquid_l1(order("200", "5.01"), nonce=1, marks=MARK)
    for section in ({"hyperliquid_price_band_bps": 0}, {"hyperliquid_max_order_usd": -1}):
        with pytest.raises(RiskConfigError):
            load_risk_config(overrides={"transactions": section})


def test_what_is_signed_for_an_l1_action_is_what_the_sdk_signs() -> None:
    key = Account.create()
    for mainnet in (False, True):
        typed = l1_typed_data(ORDER, 42, mainnet=mainnet, expires_after=99)
        ours = Account.sign_typed_data(key.key, full_message=typed)
        sdk = sign_l1_action(key, ORDER, None, 42, 99, mainnet)
        assert (ours.r, ours.s, ours.v) == (int(sdk["r"], 16), int(sdk["s"], 16), sdk["v"])
        signature = {"r": hex(ours.r), "s": hex(ours.s), "v": ours.v}
        assert recover_agent_or_user_from_l1_action(ORDER, signature, None, 42, 99, mainnet) == key.address
        assert typed["message"]["source"] == ("a" if mainnet else "b")


# ---------------------------------------------------------------------- the policy's numbers
def test_caps_and_budgets_name_known_assets_only() -> None:
    for section in (
        {"max_token_out_per_transaction": {"BONK": 1}},
        {"max_token_out_per_transaction": {"USDC": 1}},  # USDC's cap is max_usdc_per_transfer
        {"outflow_budget": {"SOL": -1}},
        {"outflow_budget_window_hours": 0},
    ):
        with pytest.raises(RiskConfigError):
            load_risk_config(overrides={"transactions": section})
    policy = TransactionPolicy.from_config(
        load_risk_config(overrides={"transactions": {"outflow_budget": {"jitosol": 1}}})
    )
    assert policy.outflow_budget[Asset.JITOSOL] == Decimal(1) and policy.outflow_budget[Asset.USDC] == 25_000
