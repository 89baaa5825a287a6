"""What a wallet of ours may sign: a `TransactionPolicy` and a `TransactionValidator` that checks payloads
against it before any key sees them.

Pure code shared by both signing paths, so the rules are written once: the bot wraps every signer in
`tenant_bot.risk.transaction_validator.ValidatingSigner`, and the control plane's signing broker
(`orchestrator.broker`) runs the same checks again before it asks Privy to sign (defence in depth:
a compromised bot still cannot get a drain signed). A venue that builds a transaction for us (Asgard
builds the whole Solana transaction) is checked the same way.

Solana (`check_solana_message`):
- every instruction's program must be allow-listed, and must be named by a static account key (a
  program id loaded from an address lookup table cannot be checked before the table is read);
- the owner must be one of the required signers (we sign nothing that does not name us);
- SOL leaving the owner for accounts that are not ours (System transfers, new-account funding) is
  summed per transaction and capped, unless the destination is trusted by the policy;
- SPL Token instructions that hand over control of our tokens are refused outright (Approve,
  SetAuthority, Burn, plain unchecked Transfer, closing our account into someone else's); a
  TransferChecked of USDC is capped at the per-transfer USDC limit;
- the priority fee (compute-unit price × limit) is capped; Assign of the owner's account is refused.
EVM (`check_evm_transaction`): only allow-listed chains and contracts, no ETH value, and on USDC only
`transfer` to an allow-listed destination (the Hyperliquid bridge), within bounds (at least the
bridge's 5 USDC minimum, below which the deposit is lost).
EIP-712 (`check_typed_data`): Hyperliquid's "Exchange" domain (chainId 1337, L1 actions as a phantom
agent), and "HyperliquidSignTransaction" for usdClassTransfer, or for a withdrawal / usdSend only to
the bot's own EVM address or an allow-listed destination; nothing else.

Each check raises `TransactionRejected` with a sentence naming the program, contract or amount.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.assets import ARBITRUM_CHAIN_ID, HYPERLIQUID_BRIDGE, SOLANA_NATIVE_MINT, TOKENS, Asset, Chain

SYSTEM_PROGRAM = "11111111111111111111111111111111"
COMPUTE_BUDGET_PROGRAM = "ComputeBudget111111111111111111111111111111"
TOKEN_PROGRAM = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA"
ATA_PROGRAM = "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL"
USDC_MINT = TOKENS[(Asset.USDC, Chain.SOLANA)].address or ""
USDC_ARBITRUM = TOKENS[(Asset.USDC, Chain.ARBITRUM)].address or ""
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ERC20_TRANSFER = bytes.fromhex("a9059cbb")
HYPERLIQUID_L1_CHAIN_ID = 1337
DEFAULT_UNITS_PER_INSTRUCTION = 200_000
MAX_COMPUTE_UNITS = 1_400_000

# System program instruction indices (u32 little-endian at the start of the data).
_SYS_CREATE_ACCOUNT = 0
_SYS_ASSIGN = 1
_SYS_TRANSFER = 2
_SYS_CREATE_WITH_SEED = 3
_SYS_WITHDRAW_NONCE = 5
_SYS_TRANSFER_WITH_SEED = 11
_SYS_HARMLESS = {4, 6, 7, 8, 9, 10, 12}  # nonce upkeep, allocate, assign-with-seed (a derived account)

# SPL Token instruction indices (first byte).
_TOKEN_TRANSFER = 3
_TOKEN_APPROVE = 4
_TOKEN_SET_AUTHORITY = 6
_TOKEN_BURN = 8
_TOKEN_CLOSE_ACCOUNT = 9
_TOKEN_TRANSFER_CHECKED = 12
_TOKEN_APPROVE_CHECKED = 13
_TOKEN_BURN_CHECKED = 15
_TOKEN_REFUSED = {
    _TOKEN_TRANSFER: "an unchecked Transfer (no mint: its amount cannot be bounded)",
    _TOKEN_APPROVE: "Approve (a delegate could move our tokens later)",
    _TOKEN_APPROVE_CHECKED: "ApproveChecked (a delegate could move our tokens later)",
    _TOKEN_SET_AUTHORITY: "SetAuthority (hands a token account to someone else)",
    _TOKEN_BURN: "Burn (destroys our tokens)",
    _TOKEN_BURN_CHECKED: "BurnChecked (destroys our tokens)",
}

# EIP-712 field lists Hyperliquid signs (hyperliquid-python-sdk `utils/signing.py`).
_HL_AGENT_FIELDS = ["source", "connectionId"]
_HL_USER_ACTIONS: dict[str, list[str]] = {
    "UsdClassTransfer": ["hyperliquidChain", "amount", "toPerp", "nonce"],
    "Withdraw": ["hyperliquidChain", "destination", "amount", "time"],
    "UsdSend": ["hyperliquidChain", "destination", "amount", "time"],
}


class TransactionRejected(Exception):
    """A payload the policy does not allow; `reason` is a sentence safe to show and log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _checksum(address: str) -> str:
    # Not eth_utils: the same EIP-55 answer without its slow import at every bot start.
    from shared.addresses import to_checksum_address

    return to_checksum_address(address)


@dataclass(frozen=True)
class TransactionPolicy:
    solana_programs: frozenset[str]
    max_sol_out_lamports: int
    max_priority_fee_lamports: int
    max_usdc_per_transfer: Decimal
    evm_chain_ids: frozenset[int] = frozenset({ARBITRUM_CHAIN_ID})
    evm_contracts: frozenset[str] = frozenset({USDC_ARBITRUM})
    erc20_destinations: frozenset[str] = frozenset({HYPERLIQUID_BRIDGE})
    hyperliquid_destinations: frozenset[str] = frozenset()
    hyperliquid_signature_chain_ids: frozenset[int] = frozenset({421614, ARBITRUM_CHAIN_ID})
    solana_trusted_destinations: frozenset[str] = frozenset()
    # The bridge loses deposits below this (Hyperliquid Bridge2 doc).
    min_bridge_deposit_usdc: Decimal = Decimal(5)

    def __post_init__(self) -> None:
        # EVM addresses are compared checksummed, whatever case the caller used.
        for name in ("evm_contracts", "erc20_destinations", "hyperliquid_destinations"):
            object.__setattr__(self, name, frozenset(_checksum(a) for a in getattr(self, name)))

    @classmethod
    def from_config(cls, config: Any) -> TransactionPolicy:
        """From a `transactions` config section (the bot's `TransactionsConfig`), or from any object
        holding one as its `transactions` attribute (a `RiskConfig`)."""
        t = getattr(config, "transactions", config)
        return cls(
            solana_programs=frozenset(t.solana_programs),
            solana_trusted_destinations=frozenset(t.solana_trusted_destinations),
            max_sol_out_lamports=t.max_sol_out_lamports,
            max_priority_fee_lamports=t.max_priority_fee_lamports,
            max_usdc_per_transfer=t.max_usdc_per_transfer,
            evm_chain_ids=frozenset(t.evm_chain_ids),
            evm_contracts=frozenset(t.evm_contracts),
            erc20_destinations=frozenset(t.erc20_destinations),
            hyperliquid_destinations=frozenset(t.hyperliquid_destinations),
            hyperliquid_signature_chain_ids=frozenset(t.hyperliquid_signature_chain_ids),
        )

    def trusting(self, *solana_destinations: str) -> TransactionPolicy:
        """A copy that also lets SOL go, uncapped, to these accounts (e.g. a venue's custody wallet)."""
        return replace(
            self,
            solana_trusted_destinations=self.solana_trusted_destinations | frozenset(solana_destinations),
        )

    def allowing_programs(self, *program_ids: str) -> TransactionPolicy:
        return replace(self, solana_programs=self.solana_programs | frozenset(program_ids))


@dataclass
class _SolanaTally:
    lamports_out: int = 0
    unit_limit: int | None = None
    unit_price_micro: int = 0
    instructions: int = 0


class TransactionValidator:
    """Checks payloads against `policy`; every method returns None or raises `TransactionRejected`."""

    def __init__(self, policy: TransactionPolicy) -> None:
        self.policy = policy

    # ================================================================== Solana
    def check_solana_message(self, message: bytes, *, owner: str) -> None:
        """Refuse a serialized message (legacy, or v0 with its 0x80 prefix) the policy does not allow."""
        from solders.pubkey import Pubkey
        from solders.token.associated import get_associated_token_address

        msg, lookups = _parse_message(message)
        keys = [str(k) for k in msg.account_keys]
        signers = keys[: msg.header.num_required_signatures]
        if owner not in signers:
            raise TransactionRejected(
                f"the transaction does not ask the wallet {owner} to sign (signers: {', '.join(signers)})"
            )
        wsol = str(
            get_associated_token_address(Pubkey.from_string(owner), Pubkey.from_string(SOLANA_NATIVE_MINT))
        )
        ours = {owner, wsol}
        policy = self.policy
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
                self._system(n, data, accounts, owner, ours, tally)
            elif program == TOKEN_PROGRAM:
                self._token(n, data, accounts, owner, ours)
            elif program == COMPUTE_BUDGET_PROGRAM:
                self._compute_budget(n, data, tally)
                continue
            tally.instructions += 1

        if tally.lamports_out > policy.max_sol_out_lamports:
            raise TransactionRejected(
                f"the transaction moves {_sol(tally.lamports_out)} SOL from the wallet to accounts that are "
                f"not ours, more than the {_sol(policy.max_sol_out_lamports)} SOL allowed per transaction"
            )
        units = tally.unit_limit
        if units is None:
            units = min(MAX_COMPUTE_UNITS, DEFAULT_UNITS_PER_INSTRUCTION * max(1, tally.instructions))
        fee = units * tally.unit_price_micro // 1_000_000
        if fee > policy.max_priority_fee_lamports:
            raise TransactionRejected(
                f"the priority fee is {_sol(fee)} SOL ({tally.unit_price_micro} micro-lamports x {units} "
                f"compute units), more than the {_sol(policy.max_priority_fee_lamports)} SOL allowed"
            )

    def _system(
        self, n: int, data: bytes, accounts: list[str | None], owner: str, ours: set[str], tally: _SolanaTally
    ) -> None:
        if len(data) < 4:
            raise TransactionRejected(f"instruction {n}: a System instruction too short to read")
        (index,) = struct.unpack_from("<I", data)

        def out(source: str | None, destination: str | None, lamports: int) -> None:
            if source not in ours:
                return  # not our money (e.g. a custody wallet paying us)
            if destination in ours or destination in self.policy.solana_trusted_destinations:
                return
            tally.lamports_out += lamports

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
                if _at(accounts, 0) in ours:
                    raise TransactionRejected(
                        f"instruction {n} assigns the wallet {owner} to another program (it would lose "
                        "control of its SOL)"
                    )
            elif index not in _SYS_HARMLESS:
                raise TransactionRejected(f"instruction {n}: System instruction {index} is not allowed")
        except struct.error:
            raise TransactionRejected(f"instruction {n}: System instruction {index} is malformed") from None

    def _token(self, n: int, data: bytes, accounts: list[str | None], owner: str, ours: set[str]) -> None:
        if not data:
            raise TransactionRejected(f"instruction {n}: an empty SPL Token instruction")
        index = data[0]
        if index in _TOKEN_REFUSED and owner in accounts:
            raise TransactionRejected(f"instruction {n}: SPL Token {_TOKEN_REFUSED[index]} is not allowed")
        if index == _TOKEN_CLOSE_ACCOUNT and _at(accounts, 2) in ours and _at(accounts, 1) not in ours:
            raise TransactionRejected(
                f"instruction {n} closes a token account of the wallet into {_at(accounts, 1)}, "
                "which is not ours"
            )
        if index == _TOKEN_TRANSFER_CHECKED and _at(accounts, 3) in ours:
            try:
                amount, decimals = struct.unpack_from("<QB", data, 1)
            except struct.error:
                raise TransactionRejected(f"instruction {n}: a malformed TransferChecked") from None
            if _at(accounts, 1) == USDC_MINT:
                usdc = _plain(Decimal(amount).scaleb(-decimals))
                if usdc > self.policy.max_usdc_per_transfer:
                    raise TransactionRejected(
                        f"instruction {n} transfers {usdc} USDC from the wallet, more than the "
                        f"{self.policy.max_usdc_per_transfer} USDC allowed per transfer"
                    )

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
    def check_typed_data(self, typed_data: dict[str, Any], *, owner_evm: str | None = None) -> None:
        """Refuse EIP-712 typed data outside Hyperliquid's allowed domains and actions.

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
        what = f"EIP-712 domain {name!r} (chainId {chain_id}, verifyingContract {contract or 'none'})"
        if contract.lower() != ZERO_ADDRESS or domain.get("version") != "1":
            raise TransactionRejected(f"{what} is not allowed: only Hyperliquid's domains may be signed")
        if name == "Exchange":
            if chain_id != HYPERLIQUID_L1_CHAIN_ID:
                raise TransactionRejected(
                    f"{what} is not allowed: Hyperliquid's Exchange domain has chainId 1337"
                )
            if primary != "Agent" or _field_names(types, primary) != _HL_AGENT_FIELDS:
                raise TransactionRejected(
                    f"{what}: primary type {primary!r} is not Hyperliquid's phantom Agent"
                )
            return
        if name != "HyperliquidSignTransaction":
            raise TransactionRejected(f"{what} is not allowed: only Hyperliquid's domains may be signed")
        if chain_id not in self.policy.hyperliquid_signature_chain_ids:
            raise TransactionRejected(f"{what} is not allowed: signature chain id {chain_id} is not accepted")
        action = primary.removeprefix("HyperliquidTransaction:")
        expected = _HL_USER_ACTIONS.get(action) if primary.startswith("HyperliquidTransaction:") else None
        if expected is None:
            raise TransactionRejected(
                f"Hyperliquid user-signed action {primary!r} is not allowed (only UsdClassTransfer, and "
                "Withdraw / UsdSend to allow-listed destinations)"
            )
        if _field_names(types, primary) != expected:
            raise TransactionRejected(
                f"{primary}: the signed fields {_field_names(types, primary)} are not {expected}"
            )
        amount = self._usdc_amount(message.get("amount"), primary)
        if action != "UsdClassTransfer":
            destination = str(message.get("destination", ""))
            allowed = {a.lower() for a in self.policy.hyperliquid_destinations}
            if owner_evm:
                allowed.add(owner_evm.lower())
            if destination.lower() not in allowed:
                raise TransactionRejected(
                    f"{primary} of {amount} USDC to {destination or 'no destination'}, which is not the "
                    "bot's own address or an allow-listed destination"
                )

    def _usdc_amount(self, raw: Any, what: str) -> Decimal:
        text = str(raw or "").strip()
        if " " in text:  # "1 subaccount:0x…": a transfer to a subaccount
            raise TransactionRejected(f"{what}: transfers to subaccounts are not allowed ({text!r})")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise TransactionRejected(f"{what}: amount {text!r} is not a number") from None
        if not amount.is_finite() or amount <= 0:
            raise TransactionRejected(f"{what}: amount {text!r} must be positive")
        if amount > self.policy.max_usdc_per_transfer:
            raise TransactionRejected(
                f"{what} of {amount} USDC is more than the {self.policy.max_usdc_per_transfer} USDC allowed "
                "per transfer"
            )
        return amount

    # ================================================================== EVM
    def check_evm_transaction(self, tx: dict[str, Any]) -> None:
        """Refuse an EVM transaction dict (chainId, to, value, data/input, ...) the policy does not allow."""
        chain_id = _int_or_none(tx.get("chainId"))
        if chain_id not in self.policy.evm_chain_ids:
            raise TransactionRejected(f"EVM chain id {chain_id} is not allowed")
        to = tx.get("to")
        if not to:
            raise TransactionRejected("contract creation is not allowed")
        try:
            contract = _checksum(str(to))
        except ValueError:
            raise TransactionRejected(f"{to!r} is not an EVM address") from None
        if contract not in self.policy.evm_contracts:
            raise TransactionRejected(f"EVM transaction to {contract}, which is not an allow-listed contract")
        value = _int_or_none(tx.get("value", 0)) or 0
        if value:
            raise TransactionRejected(
                f"the transaction sends {value} wei of ETH to {contract}; none is allowed"
            )
        data = _bytes(tx.get("data", tx.get("input")))
        if contract != _checksum(USDC_ARBITRUM):
            return  # an allow-listed contract we have no decoder for: the allow-list is the check
        if data[:4] != ERC20_TRANSFER or len(data) != 68:
            raise TransactionRejected(
                f"USDC call 0x{data[:4].hex()} is not allowed: only transfer(address,uint256) to an "
                "allow-listed destination"
            )
        from eth_abi import decode

        destination, raw = decode(["address", "uint256"], data[4:])
        destination = _checksum(destination)
        amount = _plain(Decimal(raw).scaleb(-6))
        if destination not in self.policy.erc20_destinations:
            raise TransactionRejected(
                f"USDC transfer of {amount} to {destination}, which is not an allow-listed destination"
            )
        if amount > self.policy.max_usdc_per_transfer:
            raise TransactionRejected(
                f"USDC transfer of {amount} is more than the {self.policy.max_usdc_per_transfer} USDC allowed"
            )
        if destination == _checksum(HYPERLIQUID_BRIDGE) and amount < self.policy.min_bridge_deposit_usdc:
            raise TransactionRejected(
                f"USDC transfer of {amount} to the Hyperliquid bridge is below its "
                f"{self.policy.min_bridge_deposit_usdc} USDC minimum: the deposit would be lost"
            )


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


def _at(accounts: list[str | None], i: int) -> str | None:
    return accounts[i] if i < len(accounts) else None


def _sol(lamports: int) -> str:
    return format(Decimal(lamports).scaleb(-9).normalize(), "f")


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros or an exponent, so a sentence reads "1 USDC", not "1.000000"."""
    return Decimal(format(value.normalize(), "f"))


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
