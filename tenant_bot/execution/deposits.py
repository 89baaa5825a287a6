"""The deposit bridge: USDC that arrives at the user's Arbitrum address goes on to Hyperliquid.

The dashboard's deposit dialog shows the bot's EVM address; whatever native USDC lands there is the
user's margin for the short. Each `poll` (every `deposit_poll_seconds`):

1. Finish the transfer in flight, if any. A transfer is journaled (key `deposits`, `Transfer`)
   after it is signed and before it is sent: its raw bytes, hash and nonce. On a restart the
   journal says SIGNED or SENT and the chain decides: a receipt means it was mined; no receipt and
   the nonce still free means it was never sent, or dropped, and the same bytes go again (one nonce:
   the money moves at most once, however often they are sent); the nonce taken by another
   transaction means this one never will be mined (FAILED).
2. With nothing in flight: the whole USDC balance is bridged when it is at least Hyperliquid's
   minimum (5 USDC; less is kept by the bridge and lost) and the address holds `deposit_min_gas_eth`
   for gas. Otherwise nothing is sent and `notice` says why (shown on the dashboard, and an event
   and a notification when it changes).
3. Match the mined transfers against Hyperliquid's ledger (`userNonFundingLedgerUpdates`, entries
   of type `deposit`): an entry of the same amount that was not in the ledger when the transfer was
   signed credits it. Times are not compared (the venue's clock is its own); entries already there,
   or claimed by an earlier transfer, are never claimed again. A transfer mined more than
   `deposit_credit_timeout_seconds` ago and not credited is flagged, once, as a warning.

In shadow mode nothing is signed or sent; the notice says so.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Any

import structlog

from shared.assets import HYPERLIQUID_MIN_DEPOSIT_USDC
from shared.money import wire
from tenant_bot.chain.arbitrum import ArbitrumClient, ArbitrumRpcError
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.signing.signer import Signer
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.state import KeyValueStore
from tenant_bot.venues.hyperliquid import HyperliquidClient

log = structlog.get_logger("basis.bot.deposits")

STORE_KEY = "deposits"
# Transfers the journal keeps (the newest; finished ones beyond this are dropped).
KEEP_TRANSFERS = 50
MIN_DEPOSIT = Decimal(HYPERLIQUID_MIN_DEPOSIT_USDC)
LEDGER_LOOKBACK = timedelta(days=1)


class TransferState(StrEnum):
    SIGNED = "signed"  # journaled, maybe sent: the chain decides on recovery
    SENT = "sent"  # the node accepted it; waiting for the receipt
    BRIDGING = "bridging"  # mined: the bridge holds it until Hyperliquid credits it
    CREDITED = "credited"  # Hyperliquid's ledger shows the deposit
    FAILED = "failed"  # reverted, or its nonce went to another transaction: nothing moved


IN_FLIGHT = (TransferState.SIGNED, TransferState.SENT)


class Notice(StrEnum):
    """Why the bot is not bridging what it holds on Arbitrum (NONE: nothing is waiting)."""

    NONE = "none"
    BELOW_MINIMUM = "below_minimum"
    NO_GAS = "no_gas"
    SHADOW = "shadow"


@dataclass
class Transfer:
    id: str  # the transaction hash
    amount_usdc: str
    nonce: int
    raw: str  # 0x-hex of the signed bytes: public once mined, and what a recovery sends again
    state: TransferState
    signed_at: str
    mined_at: str | None = None
    credited_at: str | None = None
    overdue: bool = False  # flagged: not credited `deposit_credit_timeout_seconds` after mining
    ledger_before: list[str] = field(default_factory=list)  # deposit entries present when signed

    @property
    def amount(self) -> str:
        """As people read it (the journal keeps it exact: `amount_usdc`)."""
        return wire(Decimal(self.amount_usdc))


@dataclass
class DepositBook:
    """What the journal key `deposits` holds."""

    transfers: list[Transfer] = field(default_factory=list)
    claimed: list[str] = field(default_factory=list)  # ledger entries matched to a transfer
    notice: Notice = Notice.NONE
    notice_text: str = ""

    @classmethod
    def load(cls, value: Any) -> DepositBook:
        if not isinstance(value, dict):
            return cls()
        transfers = [
            Transfer(**{**t, "state": TransferState(t["state"])}) for t in value.get("transfers", [])
        ]
        return cls(
            transfers=transfers,
            claimed=list(value.get("claimed", [])),
            notice=Notice(value.get("notice", Notice.NONE)),
            notice_text=str(value.get("notice_text", "")),
        )

    def dump(self) -> dict[str, Any]:
        keep = self.transfers[-KEEP_TRANSFERS:]
        return {
            "transfers": [{**asdict(t), "state": t.state.value} for t in keep],
            "claimed": self.claimed[-4 * KEEP_TRANSFERS :],
            "notice": self.notice.value,
            "notice_text": self.notice_text,
        }


@dataclass(frozen=True)
class DepositConfig:
    credit_timeout_seconds: float
    min_gas_eth: Decimal
    shadow: bool = False


def ledger_key(entry: dict[str, Any]) -> str:
    """One ledger entry, as the book remembers it."""
    delta = entry.get("delta") or {}
    return f"{entry.get('time')}:{entry.get('hash')}:{delta.get('usdc')}"


def _now() -> datetime:
    return datetime.now(UTC)


class DepositEngine:
    def __init__(
        self,
        store: KeyValueStore,
        events: EventLog,
        arbitrum: ArbitrumClient,
        hl: HyperliquidClient,
        signer: Signer,
        config: DepositConfig,
        crash: CrashPoints,
    ) -> None:
        self._store = store
        self._events = events
        self._arbitrum = arbitrum
        self._hl = hl
        self._signer = signer
        self._config = config
        self._crash = crash
        self._lock = asyncio.Lock()
        # Polls finished since start (the deposits view shows it: proof the poller had its chances).
        self.polls = 0

    @property
    def address(self) -> str:
        return self._signer.evm_address

    def book(self) -> DepositBook:
        return DepositBook.load(self._store.get(STORE_KEY))

    def _save(self, book: DepositBook) -> None:
        self._store.set(STORE_KEY, book.dump())

    # ------------------------------------------------------------------ the loop
    async def run(self, stop: asyncio.Event, every_seconds: float) -> None:
        """Poll until `stop`; a failed poll is logged and tried again at the next."""
        while not stop.is_set():
            try:
                await self.poll()
            except Exception as exc:
                log.warning("deposit poll failed", error=str(exc) or type(exc).__name__)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=every_seconds)

    async def poll(self) -> None:
        """One pass: finish the transfer in flight, start one if USDC waits, match credits."""
        async with self._lock:
            book = self.book()
            if any(t.state in IN_FLIGHT for t in book.transfers):
                await self._resolve(book)
            else:
                await self._maybe_bridge(book)
            if any(t.state is TransferState.BRIDGING for t in book.transfers):
                await self._match_credits(book)
            self.polls += 1

    # ------------------------------------------------------------------ 1. the transfer in flight
    async def _resolve(self, book: DepositBook) -> None:
        for t in book.transfers:
            if t.state not in IN_FLIGHT:
                continue
            receipt = await self._arbitrum.receipt(t.id)
            if receipt is not None:
                self._mined(book, t, receipt)
                continue
            if await self._arbitrum.nonce(self.address) > t.nonce:
                receipt = await self._arbitrum.receipt(t.id)  # mined between the two reads?
                if receipt is not None:
                    self._mined(book, t, receipt)
                    continue
                t.state = TransferState.FAILED
                self._save(book)
                self._events.emit(
                    "deposit.failed",
                    f"Bridge transfer of {t.amount} USDC was replaced by another transaction: "
                    "nothing moved; the bot will try again",
                    severity="warning",
                    tx=t.id,
                )
                continue
            await self._send(book, t)  # never sent, or dropped: the same bytes, the same nonce

    async def _send(self, book: DepositBook, t: Transfer) -> None:
        try:
            await self._arbitrum.send_raw_transaction(bytes.fromhex(t.raw.removeprefix("0x")))
        except ArbitrumRpcError as exc:
            # "nonce too low": mined meanwhile (the receipt says so at the next poll).
            log.info("bridge transfer not accepted now", tx=t.id, error=str(exc))
            return
        self._crash.reached("deposit.sent")
        if t.state is TransferState.SIGNED:
            t.state = TransferState.SENT
            self._save(book)

    def _mined(self, book: DepositBook, t: Transfer, receipt: dict[str, Any]) -> None:
        t.mined_at = _now().isoformat()
        if str(receipt.get("status")) in ("0x1", "1"):
            t.state = TransferState.BRIDGING
            self._save(book)
            self._events.emit(
                "deposit.bridging",
                f"{t.amount} USDC sent to Hyperliquid's bridge; waiting for the credit",
                tx=t.id,
                amount_usdc=t.amount,
            )
        else:
            t.state = TransferState.FAILED
            self._save(book)
            self._events.emit(
                "deposit.failed",
                f"Bridge transfer of {t.amount} USDC reverted: nothing moved (gas was spent)",
                severity="warning",
                tx=t.id,
            )

    # ------------------------------------------------------------------ 2. a new transfer
    async def _maybe_bridge(self, book: DepositBook) -> None:
        usdc = await self._arbitrum.usdc_balance(self.address)
        if usdc <= 0:
            self._notice(book, Notice.NONE, "")
            return
        if usdc < MIN_DEPOSIT:
            self._notice(
                book,
                Notice.BELOW_MINIMUM,
                f"{wire(usdc)} USDC waits on Arbitrum: Hyperliquid's bridge keeps deposits under "
                f"{MIN_DEPOSIT} USDC, so it is bridged once the address holds at least {MIN_DEPOSIT} USDC",
            )
            return
        if self._config.shadow:
            text = f"{wire(usdc)} USDC waits on Arbitrum: shadow mode sends nothing"
            self._notice(book, Notice.SHADOW, text)
            return
        eth = await self._arbitrum.eth_balance(self.address)
        if eth < self._config.min_gas_eth:
            self._notice(
                book,
                Notice.NO_GAS,
                f"{wire(usdc)} USDC waits on Arbitrum but the address holds {wire(eth)} ETH: send at "
                f"least {wire(self._config.min_gas_eth)} ETH (Arbitrum One) to {self.address} to pay "
                "the bridge transfer's gas",
            )
            return
        self._notice(book, Notice.NONE, "")
        before = [ledger_key(e) for e in await self._deposit_entries()]
        signed = await self._arbitrum.sign_hyperliquid_deposit(self._signer, usdc)
        t = Transfer(
            id=signed.tx_hash,
            amount_usdc=wire(usdc),
            nonce=signed.nonce,
            raw="0x" + signed.raw.hex(),
            state=TransferState.SIGNED,
            signed_at=_now().isoformat(),
            ledger_before=before,
        )
        book.transfers.append(t)
        self._save(book)  # the intent, before anything leaves
        self._crash.reached("deposit.signed")
        await self._send(book, t)

    def _notice(self, book: DepositBook, notice: Notice, text: str) -> None:
        if book.notice is notice and book.notice_text == text:
            return
        changed = book.notice is not notice
        book.notice, book.notice_text = notice, text
        self._save(book)
        if changed and notice is not Notice.NONE:
            severity = "warning" if notice is Notice.NO_GAS else "info"
            self._events.emit(f"deposit.{notice.value}", text, severity=severity)

    # ------------------------------------------------------------------ 3. credits
    async def _deposit_entries(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """The ledger's deposit entries from a day before `since` (now by default): wide enough for
        any clock difference with the venue, narrow enough to be one page."""
        start = (since or _now()) - LEDGER_LOOKBACK
        entries = await self._hl.ledger_updates(int(start.timestamp() * 1000), self.address)
        return [e for e in entries if (e.get("delta") or {}).get("type") == "deposit"]

    async def _match_credits(self, book: DepositBook) -> None:
        bridging = [t for t in book.transfers if t.state is TransferState.BRIDGING]
        entries = await self._deposit_entries(min(datetime.fromisoformat(t.signed_at) for t in bridging))
        claimed = set(book.claimed)
        now = _now()
        for t in book.transfers:
            if t.state is not TransferState.BRIDGING:
                continue
            before = set(t.ledger_before)
            for e in entries:
                key = ledger_key(e)
                if key in claimed or key in before:
                    continue
                if Decimal(str((e.get("delta") or {}).get("usdc"))) == Decimal(t.amount_usdc):
                    claimed.add(key)
                    book.claimed.append(key)
                    t.state, t.credited_at = TransferState.CREDITED, now.isoformat()
                    self._save(book)
                    self._events.emit(
                        "deposit.credited",
                        f"{t.amount} USDC credited on Hyperliquid",
                        tx=t.id,
                        amount_usdc=t.amount,
                    )
                    break
            else:
                waited = (now - datetime.fromisoformat(t.mined_at or t.signed_at)).total_seconds()
                if not t.overdue and waited > self._config.credit_timeout_seconds:
                    t.overdue = True
                    self._save(book)
                    self._events.emit(
                        "deposit.not_credited",
                        f"{t.amount} USDC sent to Hyperliquid's bridge {waited / 60:.1f} minutes ago is "
                        f"not credited on Hyperliquid yet (transaction {t.id})",
                        severity="warning",
                        tx=t.id,
                    )

    # ------------------------------------------------------------------ what people see
    def view(self) -> dict[str, Any]:
        """The dashboard's deposits panel: the notice and the latest transfers, newest first."""
        book = self.book()
        minutes = self._config.credit_timeout_seconds / 60
        transfers = []
        for t in reversed(book.transfers[-10:]):
            shown = t.state.value
            if t.state is TransferState.BRIDGING and t.overdue:
                shown = "not_credited"
            transfers.append(
                {
                    "tx": t.id,
                    "amount_usdc": t.amount_usdc,
                    "state": shown,
                    "signed_at": t.signed_at,
                    "mined_at": t.mined_at,
                    "credited_at": t.credited_at,
                }
            )
        return {
            "address": self.address,
            "minimum_usdc": str(MIN_DEPOSIT),
            "credit_timeout_minutes": round(minutes, 2),
            "notice": book.notice.value,
            "notice_text": book.notice_text,
            "transfers": transfers,
            "polls": self.polls,
        }
