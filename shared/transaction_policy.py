"""What a wallet of ours may sign: a `TransactionPolicy` and a `TransactionValidator` that checks payloads
against it before any key sees them, and says what each payload takes out of the user's hands.

Pure code shared by both signing paths, so the rules are written once: the bot wraps every signer in
`tenant_bot.risk.transaction_validator.ValidatingSigner`, and the control plane's signing broker
(`orchestrator.broker`) runs the same checks again before it asks Privy to sign (defence in depth:
a compromised bot still cannot get a drain signed). A venue that builds a transaction for us (Asgard
builds the whole Solana transaction) is checked the same way.

Where money may go. Every check sorts a destination into one of four places (`Destination`):
- OWN: the wallet itself, its associated token accounts (derived from owner + mint + token program;
  the wrapped-SOL one included). Moves between these are free.
- VENUE: an account the policy names as a venue's (`solana_trusted_destinations`, e.g. Asgard's
  custody wallet, whose associated token accounts receive a token deposit; on the devnet its
  Asgard custody, `DEVNET_ASGARD_CUSTODY`), the Hyperliquid bridge (`erc20_destinations`), which
  credits the sender's own perp account. A deposit stays the user's money: capped per transaction,
  not outflow.
- WITHDRAWAL: the address the user registered for withdrawals (`WithdrawalAddresses`, kept by the
  control plane; Solana: the wallet address, whose associated token accounts receive tokens), or an
  operator's allow-listed Hyperliquid destination. Capped per transaction, and outflow.
- ELSEWHERE: anything else. Only SOL may go there (Jito tips, rent of accounts for others), at most
  `max_sol_out_lamports` per transaction, and it is outflow; tokens and USDC never.

Outflow (`Outflow`, per asset in whole units): what leaves the user's accounts for good, i.e. for a
place that is neither theirs nor a venue account credited to them: withdrawals, SOL sent elsewhere,
the Solana priority fee (SOL) and the most an EVM transaction can pay in gas (ETH). Deposits to a
venue, Hyperliquid L1 actions and usdClassTransfer are not outflow. The validator only reports it;
the broker counts it per tenant against `outflow_budget` over `outflow_budget_window` (in its
database, so a restart does not reset it). The bot has no durable counter shared with anyone, so it
enforces the per-transaction rules only.

Solana (`check_solana_message`):
- every instruction's program must be allow-listed, and must be named by a static account key (a
  program id loaded from an address lookup table cannot be checked before the table is read);
- the owner must be one of the required signers (we sign nothing that does not name us);
- SOL leaving the owner (System transfers, new-account funding, rent of an associated token account
  the owner pays for someone else) is sorted as above; SOL sent ELSEWHERE is capped per transaction;
- SPL Token (and Token-2022, if allow-listed) instructions the owner authorises: TransferChecked only
  to OWN, VENUE or WITHDRAWAL token accounts, summed per mint per transaction against the mint's cap
  (a mint without a cap may not leave the wallet at all); Approve, ApproveChecked, SetAuthority,
  Burn, unchecked Transfer and closing an account into anyone else's are refused outright (a
  delegate or a new authority could move the tokens later, past every cap), as is any Token-2022
  extension instruction naming the owner;
- the priority fee (compute-unit price x limit) is capped; Assign of the owner's account is refused.
- Not decoded: the instructions of the allow-listed lending programs. Their deposits and withdrawals
  happen inside the program; a deployment narrows `solana_programs` to the venues it trusts.
EVM (`check_evm_transaction`): only allow-listed chains and contracts, no ETH value, a stated gas
limit and fee within the caps (per gas and in total), and on USDC only `transfer` to an allow-listed
destination (the Hyperliquid bridge: at least its 5 USDC minimum, below which the deposit is lost)
or to the registered withdrawal address.
EIP-712 (`check_typed_data`): Hyperliquid's "HyperliquidSignTransaction" domain for usdClassTransfer,
or for a withdrawal / usdSend only to the bot's own EVM address, the registered withdrawal address
or an allow-listed destination; nothing else. Hyperliquid's phantom `Agent` (the L1 scheme) is
refused here: its connectionId is a hash that could stand for any action, so L1 actions are signed
only from the action itself.
Hyperliquid L1 (`check_hyperliquid_l1`): order, cancel, cancelByCloid and updateLeverage on the
allow-listed perps (`hyperliquid_assets`), leverage at most `hyperliquid_max_leverage`, no vault, no
builder fee. The signature is then made over `shared.hyperliquid_l1.l1_typed_data` of that action.
Given the venue's mark prices (`PerpMarks`: the signing broker reads them from the venue), every order
is also bounded, since an order at an absurd price would hand the difference to whoever rests on the
other side (a counterparty colluding with a compromised bot):
- its limit price may be at most `hyperliquid_price_band_bps` beyond the perp's mark: a buy at most
  that far above it, a sell at most that far below (a limit on the other side of the mark can only
  fill at a better price, so it is left alone);
- an order that may open exposure (not reduce-only) may be worth at most `hyperliquid_max_order_usd`
  at the mark. A reduce-only order is bounded by the position it reduces: the venue refuses one that
  would increase it ("Reduce only order would increase position.") and cuts one larger than it;
- without a mark (the venue could not be read, or lists no price for the perp) only reduce-only orders
  are signed, so a bot can still get out, and cancels; an order that may open exposure is refused,
  with the reason the price could not be read.
Neither bound stops a bot from trading at a loss within the band, again and again: the broker's signing
rate (and the user watching their account) is what limits that.

Each check raises `TransactionRejected` with a sentence naming the program, contract or amount.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.assets import (
    ARBITRUM_CHAIN_ID,
    HYPERLIQUID_BRIDGE,
    LSTS,
    SOLANA_NATIVE_MINT,
    TOKENS,
    Asset,
    Chain,
    token_by_mint,
)
from shared.networks import ARBITRUM_SEPOLIA, network_facts

SYSTEM_PROGRAM = "11111111111111111111111111111111"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
TOKEN_2022_PROGRAM = "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
USDC_MINT = TOKENS[(Asset.USDC, Chain.SOLANA)].address or ""
USDC_ARBITRUM = TOKENS[(Asset.USDC, Chain.ARBITRUM)].address or ""
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ERC20_TRANSFER = bytes.fromhex("a9059cbb")
HYPERLIQUID_L1_CHAIN_ID = 1337
DEFAULT_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000
# Rent of a plain (165-byte) SPL token account: what the payer of an associated token account
# creation gives its owner. A Token-2022 account with extensions costs a little more.
TOKEN_ACCOUNT_RENT_LAMPORTS = 2_039_280
# The devnet's Asgard custody wallet (devnet/asgard/transactions.py `custody_keypair`: a key derived
# from a public string, so anybody can spend from it). A VENUE only when the network is "devnet".
DEVNET_ASGARD_CUSTODY = "B7t5NqZCwH1MjWNWmhtepzXbU8hqaKG2FwQ8ewLC5ReE"
# The swap routers real Asgard transactions call (Asgard's API doc: `swapPlatform: "dflow" | "jupiter"`).
# Jupiter Aggregator v6: `declare_id!` in github.com/jup-ag/jupiter-cpi src/lib.rs.
JUPITER_V6_PROGRAM = "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4"
# DFlow Aggregator v4 ("DFlow Swap Orchestrator"): docs.bitquery.io/docs/blockchain/Solana/dflow-api
# ("The on-chain program is DF1ow4..."), helius.dev/docs/orb/explore-programs (DFlow Aggregator v4).
DFLOW_AGGREGATOR_PROGRAM = "DF1ow4tspfHX9JwWJsAb9epbkA8hmpSEAtxXy1V27QBH"
# Asgard's own margin program: no public source names its id (Asgard's API doc and GitBook do not), so it
# is not allow-listed by default; a deployment adds it to `solana_programs` once read from a real build.
# The devnet's Asgard calls this stand-in (devnet/asgard/transactions.py `asgard_program_id`: derived
# from a public string), allowed only when the network is "devnet", like its custody.
DEVNET_ASGARD_PROGRAM = "AWK8r9338aEpRwHex1MiduTkPFNUHLkEH54eZ6JuPZm7"
# Assets an outflow is counted in (their decimals: `asset_decimals`).
OUTFLOW_ASSETS = (Asset.USDC, Asset.SOL, *sorted(LSTS), Asset.ETH)

# System program instruction indices (u32 little-endian at the start of the data).
_SYS_CREATE_ACCOUNT = 0
_SYS_ASSIGN = 1
_SYS_TRANSFER = 2
_SYS_CREATE_WITH_SEED = 3
_SYS_WITHDRAW_NONCE = 5
_SYS_TRANSFER_WITH_SEED = 11
_SYS_HARMLESS = {4, 6, 7, 8, 9, 10, 12}  # nonce upkeep, allocate, assign-with-seed (a derived account)

# SPL Token instruction indices (first byte), and where each one's authority (then multisig
# signers) starts among its accounts.
_TOKEN_TRANSFER = 3
_TOKEN_CLOSE_ACCOUNT = 9
_TOKEN_TRANSFER_CHECKED = 12
_TOKEN_AUTHORITY_AT = {3: 2, 4: 2, 6: 1, 8: 2, 9: 2, 12: 3, 13: 3, 15: 2}
_TOKEN_REFUSED = {
    3: "an unchecked Transfer (no mint: its amount cannot be bounded)",
    4: "Approve (a delegate could move the wallet's tokens later)",
    13: "ApproveChecked (a delegate could move the wallet's tokens later)",
    6: "SetAuthority (hands a token account or mint to someone else)",
    8: "Burn (destroys the wallet's tokens)",
    15: "BurnChecked (destroys the wallet's tokens)",
}
# Instructions that move nothing out of an account of ours (initialisation, minting, freezing,
# Revoke, SyncNative, size queries): allowed whoever they name.
_TOKEN_HARMLESS = {0, 1, 2, 5, 7, 10, 11, 14, 16, 17, 18, 19, 20, 21, 22, 23, 24}
# Associated Token Account program instructions (first byte; empty data is Create).
_ATA_CREATE, _ATA_CREATE_IDEMPOTENT, _ATA_RECOVER_NESTED = 0, 1, 2

# EIP-712 field lists Hyperliquid signs (hyperliquid-python-sdk `utils/signing.py`).
_HL_USER_ACTIONS: dict[str, list[str]] = {
    "UsdClassTransfer": ["hyperliquidChain", "amount", "toPerp", "nonce"],
    "Withdraw": ["hyperliquidChain", "destination", "amount", "time"],
    "UsdSend": ["hyperliquidChain", "destination", "amount", "time"],
}
# Hyperliquid L1 actions the bot sends, and the keys each may carry (anything else, e.g. a builder
# fee on an order, is refused).
HYPERLIQUID_L1_ACTIONS = ("order", "cancel", "cancelByCloid", "updateLeverage")
_HL_ORDER_KEYS = {"a", "b", "p", "s", "r", "t", "c"}
_HL_TIFS = ("Ioc", "Gtc", "Alo")


class TransactionRejected(Exception):
    """A payload the policy does not allow; `reason` is a sentence safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Destination(enum.Enum):
    """Where a movement of the wallet's money goes (see the module doc)."""

    OWN = "own"
    VENUE = "venue"
    WITHDRAWAL = "withdrawal"
    ELSEWHERE = "elsewhere"


@dataclass(frozen=True)
class WithdrawalAddresses:
    """The addresses the user registered for withdrawals that are usable now (None: none)."""

    solana: str | None = None
    evm: str | None = None


@dataclass(frozen=True)
class Outflow:
    """What one payload takes out of the user's hands for good, per asset, in whole units."""

    amounts: Mapping[Asset, Decimal] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.amounts.values())


NO_OUTFLOW = Outflow()


@dataclass(frozen=True)
class PerpMarks:
    """The venue's mark prices (USD) by perp asset id, as read from the venue itself; `unreadable` says
    why there are none (the venue did not answer, or answered something else)."""

    prices: Mapping[int, Decimal] = field(default_factory=dict)
    unreadable: str | None = None


def asset_decimals(asset: Asset) -> int:
    """Decimals of an asset's smallest unit as outflow counts it (lamports, micro-USDC, wei)."""
    if asset is Asset.ETH:
        return TOKENS[(Asset.ETH, Chain.ARBITRUM)].decimals
    return TOKENS[(asset, Chain.SOLANA)].decimals


def _checksum(address: str) -> str:
    # Not eth_utils: the same EIP-55 answer without its slow import at every bot start.
    from shared.addresses import to_checksum_address

    return to_checksum_address(address)


@dataclass(frozen=True)
class TransactionPolicy:
    solana_programs: frozenset[str]
    max_sol_out_lamports: int
    max_priority_fee_lamports: int
    # The most USDC one transaction may move out of the wallet, summed (any chain).
    max_usdc_per_transfer: Decimal
    evm_chain_ids: frozenset[int] = frozenset({ARBITRUM_CHAIN_ID})
    evm_contracts: frozenset[str] = frozenset({USDC_ARBITRUM})
    erc20_destinations: frozenset[str] = frozenset({HYPERLIQUID_BRIDGE})
    # The network's native USDC on Arbitrum (whose transfers are decoded and capped) and Hyperliquid's
    # Bridge2 there (whose minimum deposit is enforced): shared/networks.py, by `from_config`.
    evm_usdc: str = USDC_ARBITRUM
    hyperliquid_bridge: str = HYPERLIQUID_BRIDGE
    hyperliquid_destinations: frozenset[str] = frozenset()
    hyperliquid_signature_chain_ids: frozenset[int] = frozenset({ARBITRUM_SEPOLIA, ARBITRUM_CHAIN_ID})
    # The `hyperliquidChain` a user-signed action must name: the network's ("Mainnet" or "Testnet",
    # shared/networks.py), so no signature is made for the other network. None: either (no network).
    hyperliquid_chain: str | None = None
    # Venue accounts on Solana (VENUE in the module doc).
    solana_trusted_destinations: frozenset[str] = frozenset()
    # The bridge loses deposits below this (Hyperliquid Bridge2 doc).
    min_bridge_deposit_usdc: Decimal = Decimal(5)
    # Per-transaction caps of the other Solana tokens (SOL counts native and wrapped SOL together).
    # A Solana token without a cap (here or USDC's above) may not leave the wallet.
    max_token_out_per_transaction: Mapping[Asset, Decimal] = field(default_factory=dict)
    # Outflow allowed per tenant over the window; an asset without a budget may not flow out at all.
    outflow_budget: Mapping[Asset, Decimal] = field(default_factory=dict)
    outflow_budget_window: timedelta = timedelta(hours=24)
    # EVM gas: limit, fee per gas (maxFeePerGas or gasPrice), priority fee, and gas x fee per gas.
    max_evm_gas: int = 2_000_000
    max_evm_fee_per_gas_wei: int = 10_000_000_000
    max_evm_priority_fee_per_gas_wei: int = 1_000_000_000
    max_evm_fee_wei: int = 2_000_000_000_000_000
    # Hyperliquid perps (asset ids) the L1 actions may name, and the highest leverage they may set.
    hyperliquid_assets: frozenset[int] = frozenset({5})
    hyperliquid_max_leverage: int = 4
    # Orders, given the venue's marks: how far beyond the mark a limit price may be (basis points), and
    # the most an order that may open exposure may be worth at the mark (USD).
    hyperliquid_price_band_bps: Decimal = Decimal(300)
    hyperliquid_max_order_usd: Decimal = Decimal(250_000)

    def __post_init__(self) -> None:
        # EVM addresses are compared checksummed, whatever case the caller used.
        for name in ("evm_contracts", "erc20_destinations", "hyperliquid_destinations"):
            object.__setattr__(self, name, frozenset(_checksum(a) for a in getattr(self, name)))
        for name in ("evm_usdc", "hyperliquid_bridge"):
            object.__setattr__(self, name, _checksum(getattr(self, name)))

    @classmethod
    def from_config(cls, config: Any, *, network: str | None = None) -> TransactionPolicy:
        """From a `transactions` config section (the bot's `TransactionsConfig`), or from any object
        holding one as its `transactions` attribute (a `RiskConfig`). `network` "devnet" also makes
        the devnet's Asgard custody a venue (`DEVNET_ASGARD_CUSTODY`) and its Asgard program callable
        (`DEVNET_ASGARD_PROGRAM`); nowhere else are they. Any `network` fixes the `hyperliquidChain`
        user-signed actions must name (shared/networks.py). The network's Arbitrum chain, its native
        USDC and Hyperliquid's Bridge2 there are always allowed (the devnet's, Arbitrum One's, without
        a network); the config's EVM lists add to them."""
        t = getattr(config, "transactions", config)
        facts = network_facts(network or "devnet")
        venues = frozenset(t.solana_trusted_destinations)
        programs = frozenset(t.solana_programs)
        if network == "devnet":
            venues |= {DEVNET_ASGARD_CUSTODY}
            programs |= {DEVNET_ASGARD_PROGRAM}
        return cls(
            solana_programs=programs,
            solana_trusted_destinations=venues,
            max_sol_out_lamports=t.max_sol_out_lamports,
            max_priority_fee_lamports=t.max_priority_fee_lamports,
            max_usdc_per_transfer=t.max_usdc_per_transfer,
            evm_chain_ids=frozenset(t.evm_chain_ids) | {facts.arbitrum_chain_id},
            evm_contracts=frozenset(t.evm_contracts) | {facts.arbitrum_usdc},
            erc20_destinations=frozenset(t.erc20_destinations) | {facts.hyperliquid_bridge},
            evm_usdc=facts.arbitrum_usdc,
            hyperliquid_bridge=facts.hyperliquid_bridge,
            hyperliquid_destinations=frozenset(t.hyperliquid_destinations),
            hyperliquid_signature_chain_ids=frozenset(t.hyperliquid_signature_chain_ids),
            hyperliquid_chain=network_facts(network).hyperliquid_chain if network is not None else None,
            max_token_out_per_transaction={
                Asset.parse(k): Decimal(v) for k, v in t.max_token_out_per_transaction.items()
            },
            outflow_budget={Asset.parse(k): Decimal(v) for k, v in t.outflow_budget.items()},
            outflow_budget_window=timedelta(hours=float(t.outflow_budget_window_hours)),
            max_evm_gas=t.max_evm_gas,
            max_evm_fee_per_gas_wei=t.max_evm_fee_per_gas_wei,
            max_evm_priority_fee_per_gas_wei=t.max_evm_priority_fee_per_gas_wei,
            max_evm_fee_wei=t.max_evm_fee_wei,
            hyperliquid_assets=frozenset(t.hyperliquid_assets),
            hyperliquid_max_leverage=t.hyperliquid_max_leverage,
            hyperliquid_price_band_bps=Decimal(t.hyperliquid_price_band_bps),
            hyperliquid_max_order_usd=Decimal(t.hyperliquid_max_order_usd),
        )

    def trusting(self, *solana_destinations: str) -> TransactionPolicy:
        """A copy with these accounts as venues (e.g. a venue's custody wallet)."""
        return replace(
            self,
            solana_trusted_destinations=self.solana_trusted_destinations | frozenset(solana_destinations),
        )

    def allowing_programs(self, *program_ids: str) -> TransactionPolicy:
        return replace(self, solana_programs=self.solana_programs | frozenset(program_ids))

    def cap(self, asset: Asset) -> Decimal | None:
        """The most of `asset` one transaction may move out of the wallet; None: none may."""
        if asset is Asset.USDC:
            return self.max_usdc_per_transfer
        return self.max_token_out_per_transaction.get(asset)


@dataclass
class _SolanaTally:
    """What one Solana message moves out of the wallet, in raw units per asset."""

    moved: dict[Asset, int] = field(default_factory=dict)  # to VENUE, WITHDRAWAL or ELSEWHERE
    outflow: dict[Asset, int] = field(default_factory=dict)  # to WITHDRAWAL or ELSEWHERE
    lamports_elsewhere: int = 0
    unit_limit: int | None = None
    unit_price_micro: int = 0
    instructions: int = 0

    def add(self, asset: Asset, raw: int, where: Destination) -> None:
        if where is Destination.OWN:
            return
        self.moved[asset] = self.moved.get(asset, 0) + raw
        if where is not Destination.VENUE:
            self.outflow[asset] = self.outflow.get(asset, 0) + raw
        if where is Destination.ELSEWHERE and asset is Asset.SOL:
            self.lamports_elsewhere += raw


class _SolanaPlaces:
    """Sorts Solana accounts into `Destination`s for one owner, one policy, one registered address."""

    def __init__(self, owner: str, venues: frozenset[str], registered: str | None) -> None:
        self.owner = owner
        self.venues = venues
        self.registered = registered
        self.wsol = _ata(owner, SOLANA_NATIVE_MINT, TOKEN_PROGRAM)

    def is_ours(self, account: str | None) -> bool:
        """Whether SOL taken from `account` is the owner's (the wallet or its wrapped SOL)."""
        return account in (self.owner, self.wsol)

    def of_sol(self, account: str | None) -> Destination:
        """Where lamports sent to `account` end up."""
        if self.is_ours(account):
            return Destination.OWN
        if account in self.venues:
            return Destination.VENUE
        if self.registered is not None and account == self.registered:
            return Destination.WITHDRAWAL
        return Destination.ELSEWHERE

    def of_tokens(self, account: str | None, mint: str, program: str) -> Destination:
        """Where tokens of `mint` sent to the token account `account` end up."""
        if account is None:
            return Destination.ELSEWHERE
        if account == _ata(self.owner, mint, program):
            return Destination.OWN
        if account in self.venues or any(account == _ata(v, mint, program) for v in self.venues):
            return Destination.VENUE
        if self.registered is not None and account == _ata(self.registered, mint, program):
            return Destination.WITHDRAWAL
        return Destination.ELSEWHERE


class TransactionValidator:
    """Checks payloads against `policy`; every check returns the payload's `Outflow` or raises
    `TransactionRejected`."""

    def __init__(self, policy: TransactionPolicy) -> None:
        self.policy = policy

    # ================================================================== Solana
    def check_solana_message(
        self, message: bytes, *, owner: str, withdrawal: WithdrawalAddresses | None = None
    ) -> Outflow:
        """Refuse a serialized message (legacy, or v0 with its 0x80 prefix) the policy does not allow."""
        msg, lookups = _parse_message(message)
        keys = [str(k) for k in msg.account_keys]
        signers = keys[: msg.header.num_required_signatures]
        if owner not in signers:
            raise TransactionRejected(
                f"the transaction does not ask the wallet {owner} to sign (signers: {', '.join(signers)})"
            )
        policy = self.policy
        places = _SolanaPlaces(owner, policy.solana_trusted_destinations, (withdrawal or _NONE).solana)
        tally = _SolanaTally()
        for n, ix in enumerate(msg.instructions):
            if ix.program_id_index >= len(keys):
                raise TransactionRejected(
                    f"instruction {n} takes its program id from an address lookup table "
                    f"({lookups} table{'s' if lookups != 1 else ''} referenced); program ids must be "
                    "static account keys so they can be checked"
                )
            program = keys[ix.program_id_index]
            if program not in policy.solana_programs:
                raise TransactionRejected(
                    f"instruction {n} calls program {program}, which is not on the allow-list of programs "
                    "this wallet may invoke"
                )
            accounts = [keys[i] if i < len(keys) else None for i in bytes(ix.accounts)]
            data = bytes(ix.data)
            if program == SYSTEM_PROGRAM:
                self._system(n, data, accounts, places, tally)
            elif program in (TOKEN_PROGRAM, TOKEN_2022_PROGRAM):
                self._token(n, program, data, accounts, places, tally)
            elif program == ATA_PROGRAM:
                self._associated_account(n, data, accounts, places, tally)
            elif program == COMPUTE_BUDGET_PROGRAM:
                self._compute_budget(n, data, tally)
                continue
            tally.instructions += 1

        if tally.lamports_elsewhere > policy.max_sol_out_lamports:
            raise TransactionRejected(
                f"the transaction moves {_sol(tally.lamports_elsewhere)} SOL from the wallet to accounts "
                f"that are not ours, more than the {_sol(policy.max_sol_out_lamports)} SOL allowed per "
                "transaction"
            )
        for asset, raw in tally.moved.items():
            self._within_cap(asset, _whole(raw, asset), "the transaction moves")
        units = tally.unit_limit
        if units is None:
            units = min(MAX_COMPUTE_UNITS, DEFAULT_UNITS_PER_INSTRUCTION * max(1, tally.instructions))
        fee = units * tally.unit_price_micro // 1_000_000
        if fee > policy.max_priority_fee_lamports:
            raise TransactionRejected(
                f"the priority fee is {_sol(fee)} SOL ({tally.unit_price_micro} micro-lamports x {units} "
                f"compute units), more than the {_sol(policy.max_priority_fee_lamports)} SOL allowed"
            )
        outflow = dict(tally.outflow)
        if fee:
            outflow[Asset.SOL] = outflow.get(Asset.SOL, 0) + fee
        return Outflow({asset: _whole(raw, asset) for asset, raw in outflow.items() if raw})

    def _within_cap(self, asset: Asset, amount: Decimal, what: str) -> None:
        cap = self.policy.cap(asset)
        if cap is None:
            raise TransactionRejected(
                f"{what} {amount} {asset.value} out of the wallet; {asset.value} may not leave it (the "
                "policy sets no per-transaction cap for it)"
            )
        if amount > cap:
            raise TransactionRejected(
                f"{what} {amount} {asset.value} out of the wallet, more than the {cap} {asset.value} "
                "allowed per transaction"
            )

    def _system(
        self, n: int, data: bytes, accounts: list[str | None], places: _SolanaPlaces, tally: _SolanaTally
    ) -> None:
        if len(data) < 4:
            raise TransactionRejected(f"instruction {n}: a System instruction too short to read")
        (index,) = struct.unpack_from("<I", data)

        def out(source: str | None, destination: str | None, lamports: int) -> None:
            if places.is_ours(source):  # else not our money (e.g. a custody wallet paying us)
                tally.add(Asset.SOL, lamports, places.of_sol(destination))

        try:
            if index in (_SYS_TRANSFER, _SYS_CREATE_ACCOUNT):
                (lamports,) = struct.unpack_from("<Q", data, 4)
                out(_at(accounts, 0), _at(accounts, 1), lamports)
            elif index == _SYS_CREATE_WITH_SEED:
                (seed_len,) = struct.unpack_from("<Q", data, 36)
                (lamports,) = struct.unpack_from("<Q", data, 44 + seed_len)
                out(_at(accounts, 0), _at(accounts, 1), lamports)
            elif index == _SYS_TRANSFER_WITH_SEED:
                (lamports,) = struct.unpack_from("<Q", data, 4)
                out(_at(accounts, 1), _at(accounts, 2), lamports)  # funded from a base-derived account
            elif index == _SYS_WITHDRAW_NONCE:
                (lamports,) = struct.unpack_from("<Q", data, 4)
                out(_at(accounts, 4), _at(accounts, 1), lamports)
            elif index == _SYS_ASSIGN:
                if places.is_ours(_at(accounts, 0)):
                    raise TransactionRejected(
                        f"instruction {n} assigns the wallet {places.owner} to another program (it would "
                        "lose control of its SOL)"
                    )
            elif index not in _SYS_HARMLESS:
                raise TransactionRejected(f"instruction {n}: System instruction {index} is not allowed")
        except (struct.error, OverflowError):  # OverflowError: a seed length past any offset
            raise TransactionRejected(f"instruction {n}: System instruction {index} is malformed") from None

    def _token(
        self,
        n: int,
        program: str,
        data: bytes,
        accounts: list[str | None],
        places: _SolanaPlaces,
        tally: _SolanaTally,
    ) -> None:
        if not data:
            raise TransactionRejected(f"instruction {n}: an empty SPL Token instruction")
        index = data[0]
        if index in _TOKEN_HARMLESS:
            return
        at = _TOKEN_AUTHORITY_AT.get(index)
        if at is None:  # a Token-2022 extension (or unknown) instruction: not with our signature
            if places.owner in accounts:
                raise TransactionRejected(
                    f"instruction {n}: token instruction {index} names the wallet and is not one the "
                    "policy reads (only TransferChecked moves the wallet's tokens)"
                )
            return
        if places.owner not in accounts[at:]:
            return  # another authority's tokens (e.g. a custody paying us): not ours to bound
        if index in _TOKEN_REFUSED:
            raise TransactionRejected(f"instruction {n}: SPL Token {_TOKEN_REFUSED[index]} is not allowed")
        if index == _TOKEN_CLOSE_ACCOUNT:
            destination = _at(accounts, 1)
            if places.of_sol(destination) is not Destination.OWN:
                raise TransactionRejected(
                    f"instruction {n} closes a token account of the wallet into {destination}, "
                    "which is not ours"
                )
            return
        # TransferChecked: source, mint, destination, authority.
        try:
            amount, decimals = struct.unpack_from("<QB", data, 1)
        except struct.error:
            raise TransactionRejected(f"instruction {n}: a malformed TransferChecked") from None
        mint, destination = _at(accounts, 1) or "", _at(accounts, 2)
        where = places.of_tokens(destination, mint, program)
        if where is Destination.OWN:
            return
        asset = _asset_of_mint(mint)
        if asset is None:
            raise TransactionRejected(
                f"instruction {n} sends tokens of mint {mint} out of the wallet; only the tokens the "
                "policy caps may leave it"
            )
        if decimals != asset_decimals(asset):
            raise TransactionRejected(
                f"instruction {n}: TransferChecked of {asset.value} with {decimals} decimals (the mint has "
                f"{asset_decimals(asset)})"
            )
        if where is Destination.ELSEWHERE:
            raise TransactionRejected(
                f"instruction {n} transfers {_whole(amount, asset)} {asset.value} to {destination}, which is "
                "not a token account of the wallet, of a venue, or of the registered withdrawal address"
            )
        tally.add(asset, amount, where)

    def _associated_account(
        self, n: int, data: bytes, accounts: list[str | None], places: _SolanaPlaces, tally: _SolanaTally
    ) -> None:
        index = data[0] if data else _ATA_CREATE
        if index in (_ATA_CREATE, _ATA_CREATE_IDEMPOTENT):
            # payer, the new account, its wallet, mint, System, token program: the payer funds its rent.
            if places.is_ours(_at(accounts, 0)):
                tally.add(Asset.SOL, TOKEN_ACCOUNT_RENT_LAMPORTS, places.of_sol(_at(accounts, 2)))
        elif index != _ATA_RECOVER_NESTED:  # RecoverNested pays into the wallet's own account
            raise TransactionRejected(f"instruction {n}: Associated Token Account instruction {index}")

    @staticmethod
    def _compute_budget(n: int, data: bytes, tally: _SolanaTally) -> None:
        try:
            if data[:1] == b"\x02":
                (tally.unit_limit,) = struct.unpack_from("<I", data, 1)
            elif data[:1] == b"\x03":
                (tally.unit_price_micro,) = struct.unpack_from("<Q", data, 1)
        except struct.error:
            raise TransactionRejected(f"instruction {n}: a malformed Compute Budget instruction") from None

    # ================================================================== EIP-712
    def check_typed_data(
        self,
        typed_data: dict[str, Any],
        *,
        owner_evm: str | None = None,
        withdrawal: WithdrawalAddresses | None = None,
    ) -> Outflow:
        """Refuse EIP-712 typed data outside Hyperliquid's allowed user-signed actions.

        `owner_evm`: the bot's own EVM address, always an allowed withdrawal / usdSend destination.
        """
        if not isinstance(typed_data, dict):
            raise TransactionRejected(
                "typed data must be an object with domain, types, primaryType and message"
            )
        domain = typed_data.get("domain") or {}
        primary = str(typed_data.get("primaryType", ""))
        message = typed_data.get("message") or {}
        types = typed_data.get("types") or {}
        name = domain.get("name")
        chain_id = _int_or_none(domain.get("chainId"))
        contract = str(domain.get("verifyingContract", ""))
        shown_contract = _shown(contract or "none")
        what = f"EIP-712 domain {_shown(name)} (chainId {chain_id}, verifyingContract {shown_contract})"
        if contract.lower() != ZERO_ADDRESS or domain.get("version") != "1":
            raise TransactionRejected(f"{what} is not allowed: only Hyperliquid's domains may be signed")
        if name == "Exchange":
            if chain_id != HYPERLIQUID_L1_CHAIN_ID:
                raise TransactionRejected(
                    f"{what} is not allowed: Hyperliquid's Exchange domain has chainId 1337"
                )
            raise TransactionRejected(
                "Hyperliquid's phantom Agent is not signed as typed data: its connectionId could be the "
                "hash of any action; L1 actions are signed from the action itself (hyperliquid_l1)"
            )
        if name != "HyperliquidSignTransaction":
            raise TransactionRejected(f"{what} is not allowed: only Hyperliquid's domains may be signed")
        if chain_id not in self.policy.hyperliquid_signature_chain_ids:
            raise TransactionRejected(f"{what} is not allowed: signature chain id {chain_id} is not accepted")
        action = primary.removeprefix("HyperliquidTransaction:")
        expected = _HL_USER_ACTIONS.get(action) if primary.startswith("HyperliquidTransaction:") else None
        if expected is None:
            raise TransactionRejected(
                f"Hyperliquid user-signed action {_shown(primary)} is not allowed (only UsdClassTransfer, "
                "and Withdraw / UsdSend to the wallet itself or the registered withdrawal address)"
            )
        if _field_names(types, primary) != expected:
            raise TransactionRejected(
                f"{primary}: the signed fields {_shown(_field_names(types, primary))} are not {expected}"
            )
        chain = self.policy.hyperliquid_chain
        if chain is not None and message.get("hyperliquidChain") != chain:
            raise TransactionRejected(
                f"{primary} for hyperliquidChain {_shown(message.get('hyperliquidChain'))} is not allowed: "
                f"this network signs for {chain} only"
            )
        amount = self._usdc_amount(message.get("amount"), primary)
        if action == "UsdClassTransfer":
            return NO_OUTFLOW  # between the account's own spot and perp balances
        destination = str(message.get("destination", "")).lower()
        if owner_evm and destination == owner_evm.lower():
            return NO_OUTFLOW
        registered = (withdrawal or _NONE).evm
        allowed = {a.lower() for a in self.policy.hyperliquid_destinations}
        if (registered is None or destination != registered.lower()) and destination not in allowed:
            shown = _shown(message.get("destination") or "no destination")
            raise TransactionRejected(
                f"{primary} of {amount} USDC to {shown}, which is not the bot's own address, the registered "
                "withdrawal address or an allow-listed destination"
            )
        return Outflow({Asset.USDC: amount})

    def _usdc_amount(self, raw: Any, what: str) -> Decimal:
        text = str(raw or "").strip()
        if " " in text:  # "1 subaccount:0x…": a transfer to a subaccount
            raise TransactionRejected(f"{what}: transfers to subaccounts are not allowed ({_shown(text)})")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise TransactionRejected(f"{what}: amount {_shown(text)} is not a number") from None
        if not amount.is_finite() or amount <= 0:
            raise TransactionRejected(f"{what}: amount {_shown(text)} must be positive")
        if amount > self.policy.max_usdc_per_transfer:
            raise TransactionRejected(
                f"{what} of {amount} USDC is more than the {self.policy.max_usdc_per_transfer} USDC allowed "
                "per transfer"
            )
        return amount

    # ================================================================== Hyperliquid L1
    def check_hyperliquid_l1(
        self,
        action: dict[str, Any],
        *,
        nonce: int,
        vault_address: str | None = None,
        expires_after: int | None = None,
        marks: PerpMarks | None = None,
    ) -> Outflow:
        """Refuse a Hyperliquid L1 action (the thing a phantom agent's connectionId hashes) the policy
        does not allow: only the bot's own kinds of action, on allow-listed perps, for no vault. With
        `marks`, orders are also bounded in price and size (see the module doc); without (the bot's own
        check of orders it priced itself from the venue), they are not."""
        if vault_address is not None:
            raise TransactionRejected(
                f"Hyperliquid actions for a vault or subaccount ({_shown(vault_address)}) are not signed"
            )
        for label, number in (("nonce", nonce), ("expiresAfter", expires_after)):
            if number is not None and (not _is_int(number) or not 0 <= number < 2**64):
                raise TransactionRejected(
                    f"the Hyperliquid {label} {_shown(number)} is not a 64-bit unsigned integer"
                )
        if not isinstance(action, dict):
            raise TransactionRejected("a Hyperliquid action is an object with a type")
        kind = action.get("type")
        checks: dict[str, Callable[[dict[str, Any]], None]] = {
            "order": lambda a: self._hl_order(a, marks),
            "cancel": lambda a: self._hl_cancels(a, "a", "o"),
            "cancelByCloid": lambda a: self._hl_cancels(a, "asset", "cloid"),
            "updateLeverage": self._hl_leverage,
        }
        check = checks.get(kind) if isinstance(kind, str) else None
        if check is None:
            raise TransactionRejected(
                f"Hyperliquid action {_shown(kind)} is not allowed (only {', '.join(HYPERLIQUID_L1_ACTIONS)})"
            )
        check(action)
        return NO_OUTFLOW

    def _hl_asset(self, asset: Any, what: str) -> None:
        if not _is_int(asset) or asset not in self.policy.hyperliquid_assets:
            allowed = ", ".join(str(a) for a in sorted(self.policy.hyperliquid_assets))
            raise TransactionRejected(
                f"{what} names perp {_shown(asset)}; only perps {allowed} may be traded"
            )

    @staticmethod
    def _hl_keys(item: Any, allowed: set[str], what: str) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise TransactionRejected(f"{what} is not an object")
        extra = sorted(set(item) - allowed)
        if extra:
            raise TransactionRejected(
                f"{what} carries {_shown(', '.join(extra))}, which the policy does not sign"
            )
        return item

    def _hl_order(self, action: dict[str, Any], marks: PerpMarks | None) -> None:
        self._hl_keys(action, {"type", "orders", "grouping"}, "the order action")
        if action.get("grouping") != "na":
            raise TransactionRejected(
                f"order grouping {_shown(action.get('grouping'))} is not allowed (only 'na')"
            )
        orders = action.get("orders")
        if not isinstance(orders, list) or not orders:
            raise TransactionRejected("the order action has no orders")
        for i, order in enumerate(orders):
            self._hl_keys(order, _HL_ORDER_KEYS, f"order {i}")
            self._hl_asset(order.get("a"), f"order {i}")
            kind = order.get("t")
            limit = kind.get("limit") if isinstance(kind, dict) and set(kind) == {"limit"} else None
            tif = limit.get("tif") if isinstance(limit, dict) and set(limit) == {"tif"} else None
            if tif not in _HL_TIFS:
                raise TransactionRejected(f"order {i} is not a plain limit order (type {_shown(kind)})")
            if marks is not None:
                self._hl_order_bounds(i, order, marks)

    def _hl_order_bounds(self, i: int, order: dict[str, Any], marks: PerpMarks) -> None:
        """The order's limit price within the band around the perp's mark, and (when it may open
        exposure) its worth at the mark within the cap; without a mark, only a reduce-only order."""
        asset, is_buy, reduce_only = order.get("a"), order.get("b"), order.get("r")
        if not isinstance(is_buy, bool) or not isinstance(reduce_only, bool):
            raise TransactionRejected(
                f"order {i}: its side (b) and reduce-only flag (r) must be true or false"
            )
        price = _positive(order.get("p"), f"order {i}'s price")
        size = _positive(order.get("s"), f"order {i}'s size")
        mark = marks.prices.get(asset)
        if mark is None or mark <= 0:
            if reduce_only:
                return  # it can only shrink the position (the venue's rule): a bot can always get out
            why = marks.unreadable or f"it lists no price for perp {asset}"
            raise TransactionRejected(
                f"order {i} may open exposure on perp {asset}, and the venue's mark price cannot be read "
                f"({why}): until it can, only reduce-only orders and cancels are signed"
            )
        band = self.policy.hyperliquid_price_band_bps
        beyond = (price - mark if is_buy else mark - price) / mark * 10_000
        if beyond > band:
            side, where = ("buys", "above") if is_buy else ("sells", "below")
            raise TransactionRejected(
                f"order {i} {side} perp {asset} at {_plain(price)} USD, {beyond:.0f} bps {where} its mark of "
                f"{_plain(mark)} USD; orders are signed at most {_plain(band)} bps beyond the mark"
            )
        worth = size * mark
        if not reduce_only and worth > self.policy.hyperliquid_max_order_usd:
            raise TransactionRejected(
                f"order {i} of {_plain(size)} on perp {asset} is worth {worth:.2f} USD at the mark, more "
                f"than the {_plain(self.policy.hyperliquid_max_order_usd)} USD an order that may open "
                "exposure may be worth"
            )

    def _hl_cancels(self, action: dict[str, Any], asset_key: str, ref_key: str) -> None:
        self._hl_keys(action, {"type", "cancels"}, f"the {action['type']} action")
        cancels = action.get("cancels")
        if not isinstance(cancels, list) or not cancels:
            raise TransactionRejected(f"the {action['type']} action cancels nothing")
        for i, cancel in enumerate(cancels):
            self._hl_keys(cancel, {asset_key, ref_key}, f"cancel {i}")
            self._hl_asset(cancel.get(asset_key), f"cancel {i}")

    def _hl_leverage(self, action: dict[str, Any]) -> None:
        self._hl_keys(action, {"type", "asset", "isCross", "leverage"}, "the updateLeverage action")
        self._hl_asset(action.get("asset"), "updateLeverage")
        leverage = action.get("leverage")
        if not _is_int(leverage) or not 1 <= leverage <= self.policy.hyperliquid_max_leverage:
            raise TransactionRejected(
                f"leverage {_shown(leverage)} is outside 1 to {self.policy.hyperliquid_max_leverage}"
            )

    # ================================================================== EVM
    def check_evm_transaction(
        self, tx: dict[str, Any], *, withdrawal: WithdrawalAddresses | None = None
    ) -> Outflow:
        """Refuse an EVM transaction dict (chainId, to, value, data/input, gas, fees) the policy does not
        allow. Outflow: the most it can pay in gas (ETH), and USDC sent to the registered address."""
        chain_id = _int_or_none(tx.get("chainId"))
        if chain_id not in self.policy.evm_chain_ids:
            raise TransactionRejected(f"EVM chain id {chain_id} is not allowed")
        to = tx.get("to")
        if not to:
            raise TransactionRejected("contract creation is not allowed")
        try:
            contract = _checksum(str(to))
        except ValueError:
            raise TransactionRejected(f"{_shown(to)} is not an EVM address") from None
        if contract not in self.policy.evm_contracts:
            raise TransactionRejected(f"EVM transaction to {contract}, which is not an allow-listed contract")
        value = _int_or_none(tx.get("value")) or 0
        if value:
            raise TransactionRejected(
                f"the transaction sends {value} wei of ETH to {contract}; none is allowed"
            )
        fee = self._evm_fee(tx)
        outflow = {Asset.ETH: _whole(fee, Asset.ETH)}
        data = _bytes(tx.get("data", tx.get("input")))
        if contract != self.policy.evm_usdc:
            return Outflow(
                outflow
            )  # an allow-listed contract we have no decoder for: the allow-list is the check
        if data[:4] != ERC20_TRANSFER or len(data) != 68:
            raise TransactionRejected(
                f"USDC call 0x{data[:4].hex()} is not allowed: only transfer(address,uint256) to an "
                "allow-listed destination"
            )
        from eth_abi import decode

        destination, raw = decode(["address", "uint256"], data[4:])
        destination = _checksum(destination)
        amount = _plain(Decimal(raw).scaleb(-6))
        registered = (withdrawal or _NONE).evm
        to_registered = registered is not None and destination == _checksum(registered)
        if destination not in self.policy.erc20_destinations and not to_registered:
            raise TransactionRejected(
                f"USDC transfer of {amount} to {destination}, which is not an allow-listed destination or "
                "the registered withdrawal address"
            )
        if amount > self.policy.max_usdc_per_transfer:
            raise TransactionRejected(
                f"USDC transfer of {amount} is more than the {self.policy.max_usdc_per_transfer} USDC allowed"
            )
        if destination == self.policy.hyperliquid_bridge and amount < self.policy.min_bridge_deposit_usdc:
            raise TransactionRejected(
                f"USDC transfer of {amount} to the Hyperliquid bridge is below its "
                f"{self.policy.min_bridge_deposit_usdc} USDC minimum: the deposit would be lost"
            )
        if to_registered and destination not in self.policy.erc20_destinations:
            outflow[Asset.USDC] = amount
        return Outflow(outflow)

    def _evm_fee(self, tx: dict[str, Any]) -> int:
        """The most the transaction can pay in gas (wei), within every cap."""
        p = self.policy
        gas = _int_or_none(tx.get("gas"))
        max_fee, gas_price = _int_or_none(tx.get("maxFeePerGas")), _int_or_none(tx.get("gasPrice"))
        priority = _int_or_none(tx.get("maxPriorityFeePerGas"))
        if gas is None or gas <= 0:
            raise TransactionRejected("the transaction does not state its gas limit, so its fee has no bound")
        if (max_fee is None) == (gas_price is None):
            raise TransactionRejected(
                "the transaction must state either maxFeePerGas or gasPrice (one of them)"
            )
        per_gas = max_fee if max_fee is not None else gas_price
        assert per_gas is not None
        if gas > p.max_evm_gas:
            raise TransactionRejected(f"the gas limit {gas} is more than the {p.max_evm_gas} allowed")
        if per_gas > p.max_evm_fee_per_gas_wei:
            raise TransactionRejected(
                f"the fee of {per_gas} wei per gas is more than the {p.max_evm_fee_per_gas_wei} wei allowed"
            )
        if priority is not None and priority > p.max_evm_priority_fee_per_gas_wei:
            raise TransactionRejected(
                f"the priority fee of {priority} wei per gas is more than the "
                f"{p.max_evm_priority_fee_per_gas_wei} wei allowed"
            )
        if gas * per_gas > p.max_evm_fee_wei:
            raise TransactionRejected(
                f"the transaction may pay {_whole(gas * per_gas, Asset.ETH)} ETH in gas ({gas} x {per_gas} "
                f"wei), more than the {_whole(p.max_evm_fee_wei, Asset.ETH)} ETH allowed"
            )
        return gas * per_gas


_NONE = WithdrawalAddresses()


# ---------------------------------------------------------------------- parsing helpers
def _parse_message(raw: bytes) -> tuple[Any, int]:
    """(message, number of address lookup tables) from legacy or versioned message bytes."""
    from solders.message import Message, MessageV0

    if not raw:
        raise TransactionRejected("an empty Solana message")
    try:
        if raw[0] & 0x80:
            version = raw[0] & 0x7F
            if version != 0:
                raise TransactionRejected(f"Solana message version {version} is not supported")
            msg = MessageV0.from_bytes(bytes(raw[1:]))
            return msg, len(msg.address_table_lookups)
        return Message.from_bytes(bytes(raw)), 0
    except ValueError as exc:
        raise TransactionRejected(f"not a Solana transaction message: {exc}") from None


def _ata(wallet: str, mint: str, program: str) -> str | None:
    """The associated token account of `wallet` for `mint` under `program`; None if not addresses."""
    from solders.pubkey import Pubkey
    from solders.token.associated import get_associated_token_address

    try:
        return str(
            get_associated_token_address(
                Pubkey.from_string(wallet), Pubkey.from_string(mint), Pubkey.from_string(program)
            )
        )
    except ValueError:
        return None


def _asset_of_mint(mint: str) -> Asset | None:
    if mint == SOLANA_NATIVE_MINT:
        return Asset.SOL
    token = token_by_mint(mint)
    return token.asset if token is not None else None


def _whole(raw: int, asset: Asset) -> Decimal:
    return _plain(Decimal(raw).scaleb(-asset_decimals(asset)))


def _at(accounts: list[str | None], i: int) -> str | None:
    return accounts[i] if i < len(accounts) else None


def _sol(lamports: int) -> str:
    return format(Decimal(lamports).scaleb(-9).normalize(), "f")


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros or an exponent, so a sentence reads "1 USDC", not "1.000000"."""
    return Decimal(format(value.normalize(), "f"))


def _shown(value: Any, limit: int = 80) -> str:
    """A value the payload chose, as a sentence quotes it: addresses as they are, anything else as its
    repr, cut short (a 60 KiB "action type" must not become a 60 KiB reason or log line)."""
    text = value if isinstance(value, str) and value.startswith("0x") else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _positive(text: Any, what: str) -> Decimal:
    """A positive decimal written as a string (the venue's wire form of prices and sizes)."""
    try:
        value = Decimal(text) if isinstance(text, str) else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite() or value <= 0:
        raise TransactionRejected(f"{what} {_shown(text)} is not a positive number written as a string")
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            return None
    return None


def _bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    text = str(value)
    try:
        return bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise TransactionRejected(f"transaction data {text[:20]!r}… is not hex") from None


def _field_names(types: dict[str, Any], primary: str) -> list[str]:
    fields = types.get(primary) or []
    return [f.get("name") for f in fields if isinstance(f, dict)]
