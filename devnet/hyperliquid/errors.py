"""The venue's error shapes and texts.

Three shapes, as on Hyperliquid:
- a body the venue cannot read (unknown `type`, a missing or mistyped field): HTTP 422, plain text
  `Failed to deserialize the JSON body into the target type`;
- an action refused as a whole: HTTP 200 `{"status": "err", "response": "<text>"}`;
- one order of a batch refused: `{"error": "<text>"}` in `response.data.statuses`.

Texts and where they were checked (live captures quoted in public code and issues; the gitbook
page "Error responses" for the order table). Order errors from the matching engine end in
" asset=N" as on the live venue; wire-level ones (invalid price/size) do not.
- "Price must be divisible by tick size. asset=N" (gitbook table; live captures with the suffix)
- "Order must have minimum value of $10. asset=N" (gitbook table; live capture with the suffix)
- "Insufficient margin to place order. asset=N", "Reduce only order would increase position.
  asset=N" (gitbook table; testnet transcript with the suffix)
- "Post only order would have immediately matched, bbo was {bid}@{ask}. asset=N",
  "Order could not immediately match against any resting orders. asset=N" (gitbook table)
- "Order has invalid price.", "Order has invalid size.", "Order has zero size." (live captures)
- "Order price cannot be more than 80% away from the reference price" (testnet measurement)
- "Order was never placed, already canceled, or filled. asset=N" (cancel; live captures)
- "User or API Wallet 0x… does not exist." (L1 action whose signer is unknown; live capture)
- "Must deposit before performing actions. User: 0x…" (user-signed action from an address with no
  account, e.g. an agent signing a withdrawal; testnet transcript)
- "Invalid nonce: duplicate nonce N", "Invalid nonce: nonce too low N < M" (live captures)
- "Unable to recover signer.", "Action already expired" (live captures)
- "Cannot switch leverage type with open position.", "Position does not use isolated margin."
  (testnet transcript), "Invalid leverage value" (quoted by a bot's changelog)
- "Insufficient balance for withdrawal." (live capture), "Extra agent already used.",
  "Too many extra agents for cumulative volume traded. Current limit is 3" (testnet transcript)
- "Agent valid_until already expired." (testnet transcript)
Texts without a public capture (chosen to read like the venue): "Invalid nonce: nonce too high
N > M", "Insufficient balance for token transfer.", "Order has invalid asset.", "Invalid amount.",
"Invalid destination address.", "Invalid nonce: the action's nonce N is not the nonce M" (user-signed
envelope mismatch), "User-signed actions do not support expiresAfter.", and the devnet's own
sentences for what it does not emulate (trigger orders, sub-accounts, builder fees, other actions).
"""

from __future__ import annotations

DESERIALIZE = "Failed to deserialize the JSON body into the target type"


class Undeserializable(Exception):
    """The body does not match the venue's types: HTTP 422 with the plain-text message."""


class ActionError(Exception):
    """The action is refused as a whole: `{"status": "err", "response": message}`."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OrderRejected(Exception):
    """One order of a batch is refused; `status` is what orderStatus then reports for it."""

    def __init__(self, message: str, status: str = "rejected") -> None:
        super().__init__(message)
        self.message = message
        self.status = status


# Per-order texts from the matching engine (they carry the asset index, as live). One small function
# per text, alike on purpose: each holds the venue's exact wording, and a call site names the one it means.
def tick(asset: int) -> str:
    return f"Price must be divisible by tick size. asset={asset}"


def min_notional(asset: int) -> str:
    return f"Order must have minimum value of $10. asset={asset}"


def margin(asset: int) -> str:
    return f"Insufficient margin to place order. asset={asset}"


def reduce_only(asset: int) -> str:
    return f"Reduce only order would increase position. asset={asset}"


def bad_alo(bid: str, ask: str, asset: int) -> str:
    return f"Post only order would have immediately matched, bbo was {bid}@{ask}. asset={asset}"


def ioc_cancel(asset: int) -> str:
    return f"Order could not immediately match against any resting orders. asset={asset}"


def no_liquidity(asset: int) -> str:
    return f"No liquidity available for market order. asset={asset}"


def too_far_from_oracle(asset: int) -> str:
    return f"Order price cannot be more than 80% away from the reference price asset={asset}"


def never_placed(asset: int) -> str:
    return f"Order was never placed, already canceled, or filled. asset={asset}"


INVALID_PRICE = "Order has invalid price."
INVALID_SIZE = "Order has invalid size."
ZERO_SIZE = "Order has zero size."
TRADING_HALTED = "Trading is halted."
INVALID_ASSET = "Order has invalid asset."
TRIGGERS_NOT_EMULATED = "Trigger orders are not supported on the Basis devnet."


# Whole-action texts.
def unknown_signer(address: str) -> str:
    return f"User or API Wallet {address} does not exist."


def must_deposit(address: str) -> str:
    return f"Must deposit before performing actions. User: {address}"


def duplicate_nonce(nonce: int) -> str:
    return f"Invalid nonce: duplicate nonce {nonce}"


def nonce_too_low(nonce: int, least: int) -> str:
    return f"Invalid nonce: nonce too low {nonce} < {least}"


def nonce_too_high(nonce: int, most: int) -> str:
    return f"Invalid nonce: nonce too high {nonce} > {most}"


def vault_not_registered(address: str) -> str:
    return f"Vault not registered: {address}"


UNRECOVERABLE = "Unable to recover signer."
EXPIRED = "Action already expired"
INVALID_LEVERAGE = "Invalid leverage value"
SWITCH_LEVERAGE_TYPE = "Cannot switch leverage type with open position."
CROSS_DECREASE = "Cross position does not have sufficient margin available to decrease leverage."
ISOLATED_DECREASE = "Isolated position does not have sufficient margin available to decrease leverage."
NOT_ISOLATED = "Position does not use isolated margin."
INSUFFICIENT_ISOLATED = "Insufficient margin available to remove from isolated position."
NO_POSITION = "No position to add isolated margin to."
WITHDRAW_BALANCE = "Insufficient balance for withdrawal."
TRANSFER_BALANCE = "Insufficient balance for token transfer."
AGENT_USED = "Extra agent already used."
TOO_MANY_AGENTS = "Too many extra agents for cumulative volume traded. Current limit is 3"
SUBACCOUNTS = "Sub-accounts are not available on the Basis devnet."
BUILDER_NOT_APPROVED = "Builder fee has not been approved."
