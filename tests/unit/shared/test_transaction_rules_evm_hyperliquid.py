"""Every rule of the shared transaction policy on EVM transactions, Hyperliquid typed data and L1 actions,
and how a policy is built: each refusal with the whole sentence the operator and the user read, each
allowed boundary (exactly at a cap, chain ids written as hex, addresses in another letter case), and
the `Outflow` each allowed payload returns."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi import encode

from shared.assets import HYPERLIQUID_BRIDGE, Asset
from shared.networks import (
    ARBITRUM_SEPOLIA,
    ARBITRUM_SEPOLIA_BRIDGE,
    ARBITRUM_SEPOLIA_USDC,
)
from shared.transaction_policy import (
    DEVNET_ASGARD_CUSTODY,
    DEVNET_ASGARD_PROGRAM,
    NO_OUTFLOW,
    USDC_ARBITRUM,
    ZERO_ADDRESS,
    Outflow,
    PerpMarks,
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    WithdrawalAddresses,
    asset_decimals,
)

BRIDGE = HYPERLIQUID_BRIDGE
POLICY = TransactionPolicy(frozenset(), 10**7, 5 * 10**6, Decimal(100_000))
VALIDATOR = TransactionValidator(POLICY)
REGISTERED_EVM = "0x" + "ee" * 20
REGISTERED = WithdrawalAddresses(evm=REGISTERED_EVM)
OWN_EVM = "0x" + "ab" * 20
STRANGER_EVM = "0x" + "12" * 20
ALLOWED_EVM = "0x" + "cd" * 20


def checksum(address: str) -> str:
    from shared.addresses import to_checksum_address

    return to_checksum_address(address)


# ---------------------------------------------------------------------- the policy itself
def _section(**changes: Any) -> SimpleNamespace:
    values: dict[str, Any] = {
        "solana_programs": ("Prog1111111111111111111111111111111111111111",),
        "solana_trusted_destinations": ("Venue111111111111111111111111111111111111111",),
        "max_sol_out_lamports": 11,
        "max_priority_fee_lamports": 12,
        "max_usdc_per_transfer": Decimal(13),
        "evm_chain_ids": (14,),
        "evm_contracts": (STRANGER_EVM,),
        "erc20_destinations": (ALLOWED_EVM,),
        "hyperliquid_destinations": (OWN_EVM,),
        "hyperliquid_signature_chain_ids": (15,),
        "max_token_out_per_transaction": {"jitoSOL": 16, "SOL": "17.5"},
        "outflow_budget": {"USDC": 18, "ETH": "0.5"},
        "outflow_budget_window_hours": Decimal("1.5"),
        "max_evm_gas": 19,
        "max_evm_fee_per_gas_wei": 20,
        "max_evm_priority_fee_per_gas_wei": 21,
        "max_evm_fee_wei": 22,
        "hyperliquid_assets": (23, 24),
        "hyperliquid_max_leverage": 25,
        "hyperliquid_price_band_bps": 26,
        "hyperliquid_max_order_usd": 27,
    }
    return SimpleNamespace(**{**values, **changes})


def _expected(**changes: Any) -> TransactionPolicy:
    values: dict[str, Any] = {
        "solana_programs": frozenset({"Prog1111111111111111111111111111111111111111"}),
        "solana_trusted_destinations": frozenset({"Venue111111111111111111111111111111111111111"}),
        "max_sol_out_lamports": 11,
        "max_priority_fee_lamports": 12,
        "max_usdc_per_transfer": Decimal(13),
        "evm_chain_ids": frozenset({14, 42161}),
        "evm_contracts": frozenset({STRANGER_EVM, USDC_ARBITRUM}),
        "erc20_destinations": frozenset({ALLOWED_EVM, BRIDGE}),
        "evm_usdc": USDC_ARBITRUM,
        "hyperliquid_bridge": BRIDGE,
        "hyperliquid_destinations": frozenset({OWN_EVM}),
        "hyperliquid_signature_chain_ids": frozenset({15}),
        "hyperliquid_chain": None,
        "max_token_out_per_transaction": {Asset.JITOSOL: Decimal(16), Asset.SOL: Decimal("17.5")},
        "outflow_budget": {Asset.USDC: Decimal(18), Asset.ETH: Decimal("0.5")},
        "outflow_budget_window": timedelta(minutes=90),
        "max_evm_gas": 19,
        "max_evm_fee_per_gas_wei": 20,
        "max_evm_priority_fee_per_gas_wei": 21,
        "max_evm_fee_wei": 22,
        "hyperliquid_assets": frozenset({23, 24}),
        "hyperliquid_max_leverage": 25,
        "hyperliquid_price_band_bps": Decimal(26),
        "hyperliquid_max_order_usd": Decimal(27),
    }
    return TransactionPolicy(**{**values, **changes})


def test_a_policy_is_built_field_by_field_from_its_section() -> None:
    section = _section()
    assert TransactionPolicy.from_config(section) == _expected()
    assert TransactionPolicy.from_config(SimpleNamespace(transactions=section)) == _expected()


@pytest.mark.parametrize(
    ("network", "changes"),
    [
        (
            "devnet",
            {
                "solana_programs": frozenset(
                    {"Prog1111111111111111111111111111111111111111", DEVNET_ASGARD_PROGRAM}
                ),
                "solana_trusted_destinations": frozenset(
                    {"Venue111111111111111111111111111111111111111", DEVNET_ASGARD_CUSTODY}
                ),
                "hyperliquid_chain": "Testnet",
            },
        ),
        (
            "testnet",
            {
                "evm_chain_ids": frozenset({14, ARBITRUM_SEPOLIA}),
                "evm_contracts": frozenset({STRANGER_EVM, ARBITRUM_SEPOLIA_USDC}),
                "erc20_destinations": frozenset({ALLOWED_EVM, ARBITRUM_SEPOLIA_BRIDGE}),
                "evm_usdc": ARBITRUM_SEPOLIA_USDC,
                "hyperliquid_bridge": ARBITRUM_SEPOLIA_BRIDGE,
                "hyperliquid_chain": "Testnet",
            },
        ),
        ("mainnet", {"hyperliquid_chain": "Mainnet"}),
    ],
)
def test_the_network_adds_its_facts_to_the_policy(network: str, changes: dict[str, Any]) -> None:
    assert TransactionPolicy.from_config(_section(), network=network) == _expected(**changes)


def test_evm_addresses_are_kept_checksummed_whatever_their_case() -> None:
    lower = TransactionPolicy(
        frozenset(),
        0,
        0,
        Decimal(1),
        evm_contracts=frozenset({USDC_ARBITRUM.lower()}),
        erc20_destinations=frozenset({BRIDGE.lower()}),
        hyperliquid_destinations=frozenset({ALLOWED_EVM.upper().replace("0X", "0x")}),
        evm_usdc=USDC_ARBITRUM.lower(),
        hyperliquid_bridge=BRIDGE.lower(),
    )
    assert lower.evm_contracts == frozenset({USDC_ARBITRUM})
    assert lower.erc20_destinations == frozenset({BRIDGE})
    assert lower.hyperliquid_destinations == frozenset({checksum(ALLOWED_EVM)})
    assert (lower.evm_usdc, lower.hyperliquid_bridge) == (USDC_ARBITRUM, BRIDGE)
    assert checksum(ALLOWED_EVM) != ALLOWED_EVM  # the case really changed


def test_trusting_and_allowing_add_to_the_policy_and_caps_are_per_asset() -> None:
    policy = TransactionPolicy(
        frozenset({"A"}),
        0,
        0,
        Decimal(7),
        solana_trusted_destinations=frozenset({"V"}),
        max_token_out_per_transaction={Asset.SOL: Decimal(3)},
    )
    assert policy.trusting("W", "X").solana_trusted_destinations == frozenset({"V", "W", "X"})
    assert policy.trusting("W").solana_programs == frozenset({"A"})
    assert policy.allowing_programs("B").solana_programs == frozenset({"A", "B"})
    assert (policy.cap(Asset.USDC), policy.cap(Asset.SOL), policy.cap(Asset.JITOSOL)) == (Decimal(7), 3, None)


def test_outflow_is_true_only_when_something_leaves_and_decimals_are_the_smallest_units() -> None:
    assert not NO_OUTFLOW and not Outflow({Asset.SOL: Decimal(0)})
    assert Outflow({Asset.USDC: Decimal(0), Asset.SOL: Decimal("0.1")})
    assert [asset_decimals(a) for a in (Asset.USDC, Asset.SOL, Asset.JITOSOL, Asset.ETH)] == [6, 9, 9, 18]


# ---------------------------------------------------------------------- EVM
def tx(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "chainId": 42161,
        "to": USDC_ARBITRUM,
        "value": 0,
        "data": transfer(BRIDGE, 10 * 10**6),
        "gas": 100_000,
        "maxFeePerGas": 20_000_000,
    }
    return {k: v for k, v in {**base, **fields}.items() if v is not ...}


def transfer(to: str, raw: int) -> str:
    return "0xa9059cbb" + encode(["address", "uint256"], [to, raw]).hex()


def evm(payload: dict[str, Any], validator: TransactionValidator = VALIDATOR) -> Outflow:
    return validator.check_evm_transaction(payload, withdrawal=REGISTERED)


def evm_refused(payload: dict[str, Any], validator: TransactionValidator = VALIDATOR) -> str:
    with pytest.raises(TransactionRejected) as err:
        evm(payload, validator)
    return err.value.reason


GAS_ONLY = {Asset.ETH: Decimal("0.000002")}  # 100k gas x 0.02 gwei


@pytest.mark.parametrize(
    ("payload", "outflow"),
    [
        (tx(), GAS_ONLY),
        (tx(chainId="0xa4b1"), GAS_ONLY),
        (tx(chainId="42161"), GAS_ONLY),
        (tx(to=USDC_ARBITRUM.lower()), GAS_ONLY),
        (tx(value="0x0"), GAS_ONLY),
        (tx(value=None), GAS_ONLY),
        (tx(value=...), GAS_ONLY),
        (tx(data=..., input=transfer(BRIDGE, 10 * 10**6)), GAS_ONLY),
        (tx(data=bytes.fromhex(transfer(BRIDGE, 10 * 10**6)[2:])), GAS_ONLY),
        (tx(gas="0x186a0"), GAS_ONLY),
        (tx(gas=1), {Asset.ETH: Decimal("0.00000000002")}),  # the least gas limit there is
        (tx(maxFeePerGas=..., gasPrice=20_000_000), GAS_ONLY),
        (tx(maxPriorityFeePerGas=10**9), GAS_ONLY),  # exactly the priority cap
        # Exactly at the caps: 2M gas (the limit) at 1 gwei is 0.002 ETH (the total).
        (tx(gas=2_000_000, maxFeePerGas=10**9), {Asset.ETH: Decimal("0.002")}),
        (tx(gas=200_000, maxFeePerGas=10**10), {Asset.ETH: Decimal("0.002")}),  # 10 gwei: the per-gas cap
        # The bridge's minimum and the per-transfer cap, both exactly.
        (tx(data=transfer(BRIDGE, 5 * 10**6)), GAS_ONLY),
        (tx(data=transfer(BRIDGE.lower(), 100_000 * 10**6)), GAS_ONLY),
        # The registered address, in any case: a withdrawal, outflow.
        (tx(data=transfer(REGISTERED_EVM, 1_500_000)), {**GAS_ONLY, Asset.USDC: Decimal("1.5")}),
        (tx(data=transfer(checksum(REGISTERED_EVM), 10**6)), {**GAS_ONLY, Asset.USDC: Decimal(1)}),
    ],
)
def test_allowed_evm_transactions_and_their_outflow(
    payload: dict[str, Any], outflow: dict[Asset, Decimal]
) -> None:
    assert evm(payload) == Outflow(outflow)


def test_a_registered_address_that_is_also_allow_listed_is_a_deposit() -> None:
    both = WithdrawalAddresses(evm=BRIDGE.lower())
    assert VALIDATOR.check_evm_transaction(tx(), withdrawal=both) == Outflow(GAS_ONLY)
    # Below the bridge's minimum it is lost, whoever registered it.
    with pytest.raises(TransactionRejected, match="below its 5 USDC minimum"):
        VALIDATOR.check_evm_transaction(tx(data=transfer(BRIDGE, 4_999_999)), withdrawal=both)


def test_a_contract_without_a_decoder_is_checked_by_the_allow_list_only() -> None:
    other = TransactionValidator(
        TransactionPolicy(
            frozenset(), 0, 0, Decimal(1), evm_contracts=frozenset({USDC_ARBITRUM, STRANGER_EVM})
        )
    )
    assert evm(tx(to=STRANGER_EVM, data="0x095ea7b3"), other) == Outflow(GAS_ONLY)


STRANGER_SUM = checksum(STRANGER_EVM)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (tx(chainId=1), "EVM chain id 1 is not allowed"),
        (tx(chainId=...), "EVM chain id None is not allowed"),
        (tx(chainId=True), "EVM chain id None is not allowed"),
        (tx(chainId="0xzz"), "EVM chain id None is not allowed"),
        (tx(chainId=42161.0), "EVM chain id None is not allowed"),
        (tx(to=...), "contract creation is not allowed"),
        (tx(to=""), "contract creation is not allowed"),
        (tx(to="xyz"), "'xyz' is not an EVM address"),
        (tx(to=STRANGER_EVM), f"EVM transaction to {STRANGER_SUM}, which is not an allow-listed contract"),
        (tx(value=1), f"the transaction sends 1 wei of ETH to {USDC_ARBITRUM}; none is allowed"),
        (tx(value="0x10"), f"the transaction sends 16 wei of ETH to {USDC_ARBITRUM}; none is allowed"),
        (tx(gas=...), "the transaction does not state its gas limit, so its fee has no bound"),
        (tx(gas=0), "the transaction does not state its gas limit, so its fee has no bound"),
        (tx(gas=-1), "the transaction does not state its gas limit, so its fee has no bound"),
        (tx(maxFeePerGas=...), "the transaction must state either maxFeePerGas or gasPrice (one of them)"),
        (tx(gasPrice=1), "the transaction must state either maxFeePerGas or gasPrice (one of them)"),
        (tx(gas=2_000_001), "the gas limit 2000001 is more than the 2000000 allowed"),
        (
            tx(maxFeePerGas=10**10 + 1),
            "the fee of 10000000001 wei per gas is more than the 10000000000 wei allowed",
        ),
        (
            tx(maxFeePerGas=..., gasPrice=10**10 + 1),
            "the fee of 10000000001 wei per gas is more than the 10000000000 wei allowed",
        ),
        (
            tx(maxPriorityFeePerGas=10**9 + 1),
            "the priority fee of 1000000001 wei per gas is more than the 1000000000 wei allowed",
        ),
        (
            tx(gas=2_000_000, maxFeePerGas=10**9 + 1),
            "the transaction may pay 0.002000000002 ETH in gas (2000000 x 1000000001 wei), more than the "
            "0.002 ETH "
            "allowed",
        ),
        (
            tx(data="0x095ea7b3" + "00" * 64),
            "USDC call 0x095ea7b3 is not allowed: only transfer(address,uint256) to an allow-listed "
            "destination",
        ),
        (
            tx(data=transfer(BRIDGE, 10**7) + "00"),
            "USDC call 0xa9059cbb is not allowed: only transfer(address,uint256) to an allow-listed "
            "destination",
        ),
        (
            tx(data=transfer(BRIDGE, 10**7)[:-2]),
            "USDC call 0xa9059cbb is not allowed: only transfer(address,uint256) to an allow-listed "
            "destination",
        ),
        (
            tx(data=...),
            "USDC call 0x is not allowed: only transfer(address,uint256) to an allow-listed destination",
        ),
        (tx(data="0xzz" + "00" * 30), "transaction data '0xzz0000000000000000'… is not hex"),
        (
            tx(data=transfer(STRANGER_EVM, 1_500_000)),
            f"USDC transfer of 1.5 to {STRANGER_SUM}, which is not an allow-listed destination or the "
            "registered "
            "withdrawal address",
        ),
        (
            tx(data=transfer(BRIDGE, 100_000 * 10**6 + 1)),
            "USDC transfer of 100000.000001 is more than the 100000 USDC allowed",
        ),
        (
            tx(data=transfer(REGISTERED_EVM, 100_000 * 10**6 + 1)),
            "USDC transfer of 100000.000001 is more than the 100000 USDC allowed",
        ),
        (
            tx(data=transfer(BRIDGE, 4_999_999)),
            "USDC transfer of 4.999999 to the Hyperliquid bridge is below its 5 USDC minimum: the "
            "deposit would "
            "be lost",
        ),
    ],
)
def test_evm_transactions_outside_the_policy_are_refused(payload: dict[str, Any], reason: str) -> None:
    assert evm_refused(payload) == reason


def test_without_a_registered_address_usdc_goes_to_allow_listed_destinations_only() -> None:
    with pytest.raises(TransactionRejected, match="not an allow-listed destination"):
        VALIDATOR.check_evm_transaction(tx(data=transfer(REGISTERED_EVM, 10**6)))
    assert VALIDATOR.check_evm_transaction(tx()) == Outflow(GAS_ONLY)


# ---------------------------------------------------------------------- Hyperliquid typed data
FIELDS = {
    "HyperliquidTransaction:Withdraw": ["hyperliquidChain", "destination", "amount", "time"],
    "HyperliquidTransaction:UsdSend": ["hyperliquidChain", "destination", "amount", "time"],
    "HyperliquidTransaction:UsdClassTransfer": ["hyperliquidChain", "amount", "toPerp", "nonce"],
}


def typed(
    primary: str = "HyperliquidTransaction:Withdraw",
    *,
    fields: list[str] | None = None,
    domain: dict[str, Any] | None = None,
    **message: Any,
) -> dict[str, Any]:
    names = fields if fields is not None else FIELDS.get(primary, FIELDS["HyperliquidTransaction:Withdraw"])
    body: dict[str, Any] = {"hyperliquidChain": "Testnet", "destination": OWN_EVM, "amount": "250", "time": 1}
    base_domain = {"name": "HyperliquidSignTransaction", "version": "1", "chainId": 421614}
    return {
        "domain": {
            k: v
            for k, v in {**base_domain, "verifyingContract": ZERO_ADDRESS, **(domain or {})}.items()
            if v is not ...
        },
        "types": {primary: [{"name": n, "type": "string"} for n in names]},
        "primaryType": primary,
        "message": {k: v for k, v in {**body, **message}.items() if v is not ...},
    }


def signed(payload: Any, validator: TransactionValidator = VALIDATOR, **kwargs: Any) -> Outflow:
    return validator.check_typed_data(payload, owner_evm=OWN_EVM, withdrawal=REGISTERED, **kwargs)


def typed_refused(payload: Any, validator: TransactionValidator = VALIDATOR) -> str:
    with pytest.raises(TransactionRejected) as err:
        signed(payload, validator)
    return err.value.reason


ALLOWING = TransactionValidator(
    TransactionPolicy(frozenset(), 0, 0, Decimal(100_000), hyperliquid_destinations=frozenset({ALLOWED_EVM}))
)
ON_MAINNET = TransactionValidator(
    TransactionPolicy(frozenset(), 0, 0, Decimal(100_000), hyperliquid_chain="Mainnet")
)


@pytest.mark.parametrize(
    ("payload", "validator", "outflow"),
    [
        (typed(), VALIDATOR, {}),
        (typed(destination=OWN_EVM.upper().replace("0X", "0x")), VALIDATOR, {}),
        (typed("HyperliquidTransaction:UsdSend", destination=OWN_EVM), VALIDATOR, {}),
        (typed(destination=REGISTERED_EVM), VALIDATOR, {Asset.USDC: Decimal(250)}),
        (typed(destination=checksum(REGISTERED_EVM), amount="0.5"), VALIDATOR, {Asset.USDC: Decimal("0.5")}),
        (typed(destination=ALLOWED_EVM, amount="1"), ALLOWING, {Asset.USDC: Decimal(1)}),
        (typed(destination=ALLOWED_EVM.upper().replace("0X", "0x")), ALLOWING, {Asset.USDC: Decimal(250)}),
        (typed(destination=REGISTERED_EVM, amount="100000"), VALIDATOR, {Asset.USDC: Decimal(100_000)}),
        (typed(destination=REGISTERED_EVM, amount=" 2 "), VALIDATOR, {Asset.USDC: Decimal(2)}),
        (typed(domain={"chainId": "0xa4b1"}), VALIDATOR, {}),
        (typed(domain={"verifyingContract": ZERO_ADDRESS.upper().replace("0X", "0x")}), VALIDATOR, {}),
        (typed(hyperliquidChain="Mainnet"), ON_MAINNET, {}),
        # Between the account's own balances: no destination at all, and no outflow.
        (
            typed("HyperliquidTransaction:UsdClassTransfer", destination=..., toPerp=True, nonce=1),
            VALIDATOR,
            {},
        ),
    ],
)
def test_allowed_user_signed_actions_and_their_outflow(
    payload: dict[str, Any], validator: TransactionValidator, outflow: dict[Asset, Decimal]
) -> None:
    assert signed(payload, validator) == Outflow(outflow)


DOMAIN = (
    "EIP-712 domain 'HyperliquidSignTransaction' (chainId 421614, verifyingContract "
    "0x0000000000000000000000000000000000000000)"
)
NOT_OURS = (
    "which is not the bot's own address, the registered withdrawal address or an allow-listed destination"
)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (["domain"], "typed data must be an object with domain, types, primaryType and message"),
        (
            typed(domain={"verifyingContract": STRANGER_EVM}),
            "EIP-712 domain 'HyperliquidSignTransaction' (chainId 421614, verifyingContract "
            f"{STRANGER_EVM}) is not "
            "allowed: only Hyperliquid's domains may be signed",
        ),
        (
            typed(domain={"verifyingContract": ...}),
            "EIP-712 domain 'HyperliquidSignTransaction' (chainId 421614, verifyingContract 'none') is "
            "not allowed: "
            "only Hyperliquid's domains may be signed",
        ),
        (
            typed(domain={"version": "2"}),
            f"{DOMAIN} is not allowed: only Hyperliquid's domains may be signed",
        ),
        (
            typed(domain={"name": "Exchange", "chainId": 1337}),
            "Hyperliquid's phantom Agent is not signed as typed data: its connectionId could be the hash "
            "of any "
            "action; L1 actions are signed from the action itself (hyperliquid_l1)",
        ),
        (
            typed(domain={"name": "Exchange", "chainId": 1}),
            f"EIP-712 domain 'Exchange' (chainId 1, verifyingContract {ZERO_ADDRESS}) is not allowed: "
            "Hyperliquid's "
            "Exchange domain has chainId 1337",
        ),
        (
            typed(domain={"name": "exchange", "chainId": 1337}),
            f"EIP-712 domain 'exchange' (chainId 1337, verifyingContract {ZERO_ADDRESS}) is not allowed: "
            "only "
            "Hyperliquid's domains may be signed",
        ),
        (
            typed(domain={"name": ...}),
            f"EIP-712 domain None (chainId 421614, verifyingContract {ZERO_ADDRESS}) is not allowed: only "
            "Hyperliquid's domains may be signed",
        ),
        (
            typed(domain={"chainId": 1}),
            f"EIP-712 domain 'HyperliquidSignTransaction' (chainId 1, verifyingContract {ZERO_ADDRESS}) "
            "is not "
            "allowed: signature chain id 1 is not accepted",
        ),
        (
            typed("Withdraw"),
            "Hyperliquid user-signed action 'Withdraw' is not allowed (only UsdClassTransfer, and "
            "Withdraw / UsdSend "
            "to the wallet itself or the registered withdrawal address)",
        ),
        (
            typed("HyperliquidTransaction:Agent"),
            "Hyperliquid user-signed action 'HyperliquidTransaction:Agent' is not allowed (only "
            "UsdClassTransfer, "
            "and Withdraw / UsdSend to the wallet itself or the registered withdrawal address)",
        ),
        (
            {k: v for k, v in typed().items() if k != "primaryType"},
            "Hyperliquid user-signed action '' is not allowed (only UsdClassTransfer, and Withdraw / "
            "UsdSend to the "
            "wallet itself or the registered withdrawal address)",
        ),
        (
            typed(fields=["hyperliquidChain", "amount", "destination", "time"]),
            "HyperliquidTransaction:Withdraw: the signed fields ['hyperliquidChain', 'amount', "
            "'destination', "
            "'time'] are not ['hyperliquidChain', 'destination', 'amount', 'time']",
        ),
        (
            typed(amount="1 subaccount:0x12"),
            "HyperliquidTransaction:Withdraw: transfers to subaccounts are not allowed ('1 subaccount:0x12')",
        ),
        (typed(amount="abc"), "HyperliquidTransaction:Withdraw: amount 'abc' is not a number"),
        (typed(amount=...), "HyperliquidTransaction:Withdraw: amount '' is not a number"),
        (typed(amount="0"), "HyperliquidTransaction:Withdraw: amount '0' must be positive"),
        (typed(amount="-1"), "HyperliquidTransaction:Withdraw: amount '-1' must be positive"),
        (typed(amount="NaN"), "HyperliquidTransaction:Withdraw: amount 'NaN' must be positive"),
        (typed(amount="Infinity"), "HyperliquidTransaction:Withdraw: amount 'Infinity' must be positive"),
        (
            typed(amount="100000.000001"),
            "HyperliquidTransaction:Withdraw of 100000.000001 USDC is more than the 100000 USDC allowed "
            "per transfer",
        ),
        (
            typed(destination=STRANGER_EVM),
            f"HyperliquidTransaction:Withdraw of 250 USDC to {STRANGER_EVM}, {NOT_OURS}",
        ),
        (
            typed("HyperliquidTransaction:UsdSend", destination=STRANGER_EVM, amount="1.50"),
            f"HyperliquidTransaction:UsdSend of 1.50 USDC to {STRANGER_EVM}, {NOT_OURS}",
        ),
        (
            typed(destination=...),
            f"HyperliquidTransaction:Withdraw of 250 USDC to 'no destination', {NOT_OURS}",
        ),
    ],
)
def test_typed_data_outside_the_policy_is_refused(payload: Any, reason: str) -> None:
    assert typed_refused(payload) == reason


def test_typed_data_names_the_networks_chain_only() -> None:
    assert typed_refused(typed(), ON_MAINNET) == (
        "HyperliquidTransaction:Withdraw for hyperliquidChain 'Testnet' is not allowed: this network "
        "signs for "
        "Mainnet only"
    )
    assert typed_refused(typed(hyperliquidChain=...), ON_MAINNET) == (
        "HyperliquidTransaction:Withdraw for hyperliquidChain None is not allowed: this network signs "
        "for Mainnet only"
    )


def test_without_an_own_or_registered_address_a_withdrawal_needs_the_allow_list() -> None:
    with pytest.raises(TransactionRejected) as err:
        VALIDATOR.check_typed_data(typed(destination=OWN_EVM))
    assert err.value.reason == f"HyperliquidTransaction:Withdraw of 250 USDC to {OWN_EVM}, {NOT_OURS}"
    assert ALLOWING.check_typed_data(typed(destination=ALLOWED_EVM)) == Outflow({Asset.USDC: Decimal(250)})


# ---------------------------------------------------------------------- Hyperliquid L1 actions
def order(**changes: Any) -> dict[str, Any]:
    one = {"a": 5, "b": True, "p": "200", "s": "1", "r": False, "t": {"limit": {"tif": "Ioc"}}}
    return {k: v for k, v in {**one, **changes}.items() if v is not ...}


def orders(*items: dict[str, Any], **action: Any) -> dict[str, Any]:
    return {"type": "order", "orders": list(items), "grouping": "na", **action}


MARK = PerpMarks({5: Decimal(200)})


def l1(action: Any, validator: TransactionValidator = VALIDATOR, **kwargs: Any) -> Outflow:
    return validator.check_hyperliquid_l1(action, nonce=kwargs.pop("nonce", 1), **kwargs)


def l1_refused(action: Any, validator: TransactionValidator = VALIDATOR, **kwargs: Any) -> str:
    with pytest.raises(TransactionRejected) as err:
        l1(action, validator, **kwargs)
    return err.value.reason


@pytest.mark.parametrize(
    ("action", "kwargs"),
    [
        (orders(order()), {"nonce": 0}),
        (orders(order()), {"nonce": 2**64 - 1, "expires_after": 0}),
        (
            orders(order(t={"limit": {"tif": "Gtc"}}), order(t={"limit": {"tif": "Alo"}}, c="0x" + "1" * 32)),
            {},
        ),
        ({"type": "cancel", "cancels": [{"a": 5, "o": 1}, {"a": 5, "o": 2}]}, {}),
        ({"type": "cancelByCloid", "cancels": [{"asset": 5, "cloid": "0x" + "1" * 32}]}, {}),
        ({"type": "updateLeverage", "asset": 5, "isCross": False, "leverage": 1}, {}),
        ({"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 4}, {}),
        # Within the band and the cap at the mark; on a mark of 1, a price of 1.
        (orders(order(p="206", s="1250")), {"marks": MARK}),
        (orders(order(p="1", s="1")), {"marks": PerpMarks({5: Decimal(1)})}),
        (orders(order(p="194", b=False)), {"marks": MARK}),
        # Without a (positive) mark, reduce-only orders still pass.
        (orders(order(r=True)), {"marks": PerpMarks({5: Decimal(0)})}),
    ],
)
def test_the_bots_l1_actions_pass_at_their_bounds(action: dict[str, Any], kwargs: dict[str, Any]) -> None:
    assert l1(action, **kwargs) is NO_OUTFLOW


TWO_PERPS = TransactionValidator(
    TransactionPolicy(frozenset(), 0, 0, Decimal(1), hyperliquid_assets=frozenset({5, 0}))
)


@pytest.mark.parametrize(
    ("action", "kwargs", "reason"),
    [
        (
            orders(order()),
            {"vault_address": STRANGER_EVM},
            f"Hyperliquid actions for a vault or subaccount ({STRANGER_EVM}) are not signed",
        ),
        (orders(order()), {"nonce": -1}, "the Hyperliquid nonce -1 is not a 64-bit unsigned integer"),
        (orders(order()), {"nonce": True}, "the Hyperliquid nonce True is not a 64-bit unsigned integer"),
        (
            orders(order()),
            {"expires_after": 2**64},
            "the Hyperliquid expiresAfter 18446744073709551616 is not a 64-bit unsigned integer",
        ),
        ("order", {}, "a Hyperliquid action is an object with a type"),
        (
            {"type": "withdraw3"},
            {},
            "Hyperliquid action 'withdraw3' is not allowed (only order, cancel, cancelByCloid, "
            "updateLeverage)",
        ),
        (
            {"type": ["order"]},
            {},
            "Hyperliquid action ['order'] is not allowed (only order, cancel, cancelByCloid, updateLeverage)",
        ),
        (
            {"type": "cancel", "cancels": [{"a": 0, "o": 1}]},
            {},
            "cancel 0 names perp 0; only perps 5 may be traded",
        ),
        (
            {
                "type": "cancelByCloid",
                "cancels": [{"asset": 5, "cloid": "0x1"}, {"asset": 4, "cloid": "0x2"}],
            },
            {},
            "cancel 1 names perp 4; only perps 5 may be traded",
        ),
        (
            {"type": "cancelByCloid", "cancels": [{"asset": 5, "o": 1}]},
            {},
            "cancel 0 carries 'o', which the policy does not sign",
        ),
        ({"type": "cancel", "cancels": ["x"]}, {}, "cancel 0 is not an object"),
        ({"type": "cancel", "cancels": []}, {}, "the cancel action cancels nothing"),
        ({"type": "cancelByCloid", "cancels": {"a": 5}}, {}, "the cancelByCloid action cancels nothing"),
        (
            {"type": "cancel", "cancels": [{"a": 5, "o": 1}], "vault": 1, "expires": 2},
            {},
            "the cancel action carries 'expires, vault', which the policy does not sign",
        ),
        (
            {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 3, "x": 1},
            {},
            "the updateLeverage action carries 'x', which the policy does not sign",
        ),
        (
            {"type": "updateLeverage", "asset": 0, "isCross": True, "leverage": 3},
            {},
            "updateLeverage names perp 0; only perps 5 may be traded",
        ),
        (
            {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 0},
            {},
            "leverage 0 is outside 1 to 4",
        ),
        (
            {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": 5},
            {},
            "leverage 5 is outside 1 to 4",
        ),
        (
            {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": True},
            {},
            "leverage True is outside 1 to 4",
        ),
        (
            {"type": "updateLeverage", "asset": 5, "isCross": True, "leverage": "3"},
            {},
            "leverage '3' is outside 1 to 4",
        ),
        (orders(order(a=True)), {}, "order 0 names perp True; only perps 5 may be traded"),
        (orders(order(), order(a=6)), {}, "order 1 names perp 6; only perps 5 may be traded"),
        (
            orders(order(), builder={"b": STRANGER_EVM, "f": 1}),
            {},
            "the order action carries 'builder', which the policy does not sign",
        ),
        (
            orders(order(), grouping="normalTpsl"),
            {},
            "order grouping 'normalTpsl' is not allowed (only 'na')",
        ),
        ({"type": "order", "orders": [order()]}, {}, "order grouping None is not allowed (only 'na')"),
        (orders(), {}, "the order action has no orders"),
        ({"type": "order", "orders": order(), "grouping": "na"}, {}, "the order action has no orders"),
        (orders("x"), {}, "order 0 is not an object"),
        (orders(order(x=1)), {}, "order 0 carries 'x', which the policy does not sign"),
        (
            orders(order(t={"limit": {"tif": "Fok"}})),
            {},
            "order 0 is not a plain limit order (type {'limit': {'tif': 'Fok'}})",
        ),
        (
            orders(order(t={"limit": {"tif": "Ioc", "x": 1}})),
            {},
            "order 0 is not a plain limit order (type {'limit': {'tif': 'Ioc', 'x': 1}})",
        ),
        (
            orders(order(t={"limit": {"tif": "Ioc"}, "trigger": {}})),
            {},
            "order 0 is not a plain limit order (type {'limit': {'tif': 'Ioc'}, 'trigger': {}})",
        ),
        (orders(order(t=...)), {}, "order 0 is not a plain limit order (type None)"),
        (orders(order(t={"limit": "Ioc"})), {}, "order 0 is not a plain limit order (type {'limit': 'Ioc'})"),
        (
            orders(order(b="true")),
            {"marks": MARK},
            "order 0: its side (b) and reduce-only flag (r) must be true or false",
        ),
        (
            orders(order(r=...)),
            {"marks": MARK},
            "order 0: its side (b) and reduce-only flag (r) must be true or false",
        ),
        (
            orders(order(p="abc")),
            {"marks": MARK},
            "order 0's price 'abc' is not a positive number written as a string",
        ),
        (
            orders(order(p=200)),
            {"marks": MARK},
            "order 0's price 200 is not a positive number written as a string",
        ),
        (
            orders(order(p="Infinity")),
            {"marks": MARK},
            "order 0's price 'Infinity' is not a positive number written as a string",
        ),
        (
            orders(order(s="0")),
            {"marks": MARK},
            "order 0's size '0' is not a positive number written as a string",
        ),
        (
            orders(order()),
            {"marks": PerpMarks({5: Decimal(0)})},
            "order 0 may open exposure on perp 5, and the venue's mark price cannot be read (it lists no "
            "price for "
            "perp 5): until it can, only reduce-only orders and cancels are signed",
        ),
        (
            orders(order()),
            {"marks": PerpMarks(unreadable="the venue did not answer")},
            "order 0 may open exposure on perp 5, and the venue's mark price cannot be read (the venue "
            "did not "
            "answer): until it can, only reduce-only orders and cancels are signed",
        ),
        (
            orders(order(p="206.02")),
            {"marks": MARK},
            "order 0 buys perp 5 at 206.02 USD, 301 bps above its mark of 200 USD; orders are signed at "
            "most 300 bps "
            "beyond the mark",
        ),
        (
            orders(order(p="193.90", b=False, r=True)),
            {"marks": MARK},
            "order 0 sells perp 5 at 193.9 USD, 305 bps below its mark of 200 USD; orders are signed at "
            "most 300 bps "
            "beyond the mark",
        ),
        (
            orders(order(s="1250.010")),
            {"marks": MARK},
            "order 0 of 1250.01 on perp 5 is worth 250002.00 USD at the mark, more than the 250000 USD "
            "an order "
            "that may open exposure may be worth",
        ),
    ],
)
def test_l1_actions_outside_the_policy_are_refused(action: Any, kwargs: dict[str, Any], reason: str) -> None:
    assert l1_refused(action, **kwargs) == reason


def test_the_perps_allowed_are_listed_in_order() -> None:
    assert l1_refused(orders(order(a=7)), TWO_PERPS) == "order 0 names perp 7; only perps 0, 5 may be traded"


def test_what_a_payload_chose_is_quoted_cut_short() -> None:
    """Quoted values are cut to 80 characters, the last an ellipsis; 0x addresses are quoted as they are."""
    at_limit = "x" * 78  # its repr, with quotes, is 80 characters: shown whole
    assert l1_refused({"type": at_limit}) == (
        f"Hyperliquid action '{at_limit}' is not allowed (only order, cancel, cancelByCloid, updateLeverage)"
    )
    past = "y" * 79
    assert l1_refused({"type": past}) == (
        f"Hyperliquid action '{'y' * 78}… is not allowed (only order, cancel, cancelByCloid, updateLeverage)"
    )
    long_address = "0x" + "12" * 60
    assert l1_refused(orders(order()), vault_address=long_address) == (
        f"Hyperliquid actions for a vault or subaccount ({long_address[:79]}…) are not signed"
    )
    assert l1_refused(orders(order()), vault_address="0X12") == (
        "Hyperliquid actions for a vault or subaccount ('0X12') are not signed"
    )
