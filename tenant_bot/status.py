"""The bot as people see it: one read-only view for the dashboard API, the notifications and the CLI.

`trading()` is the trading state as one dictionary (state, halt, pauses, kill switch, the breakers'
trips of the last tick, outages, and why entries are blocked); the API's `/status`, the daily
summary and the metrics all read it from here. `report()` is the CLI's `basis-bot status`: the
database alone (positions, executions with their journal, events), which `read_report` also
builds for a bot that is not running. Nothing here changes anything; venue reads (balances,
funding) are reads.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import text

from shared.assets import SOLANA_MIN_FEE_SOL, Asset
from tenant_bot.cadence import TickStats
from tenant_bot.config import BotSettings
from tenant_bot.errors import NotFound
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import PositionStatus
from tenant_bot.execution.venues import HEDGE_COIN
from tenant_bot.observer import Observer, age_s
from tenant_bot.risk.engine import Halt, RiskEngine
from tenant_bot.risk.states import TradingState
from tenant_bot.services import Services
from tenant_bot.storage.database import open_database
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Position
from tenant_bot.storage.state import KeyValueStore
from tenant_bot.venues.outages import SOURCES

# Less than this on either venue cannot make a position (Hyperliquid's minimum order is $10).
MIN_USDC = Decimal(10)
# SOL kept for Solana transaction fees and account rent.
MIN_SOL = SOLANA_MIN_FEE_SOL
LSTS = (Asset.JITOSOL, Asset.MSOL, Asset.JUPSOL, Asset.INF)
# The events `report` shows, newest last.
REPORT_EVENTS = 200


class StatusView:
    def __init__(self, services: Services, observer: Observer, stats: TickStats) -> None:
        self._s = services
        self._observer = observer
        self.stats = stats

    @property
    def tenant_id(self) -> str:
        return self._s.settings.tenant_id

    @property
    def network(self) -> str:
        return self._s.settings.network

    @property
    def state(self) -> TradingState:
        return self._s.risk.state

    # ------------------------------------------------------------------ the trading state
    def trading(self) -> dict[str, Any]:
        """The trading state: pauses, halt and kill switch as they are now; trips as the last tick
        saw them."""
        risk = self._s.risk
        now = datetime.now(UTC)
        return {
            "trading_state": risk.state.value,
            "halt_reason": risk.halt_reason,
            "paused": risk.pause.paused,
            "pause_reasons": [
                {"key": r.key, "reason": r.reason, "by": r.by, "at": r.at.isoformat()}
                for r in risk.pause.reasons
            ],
            "kill_switch": risk.kill_switch is not None and risk.kill_switch.engaged,
            "breakers": [
                {
                    "breaker": t.breaker,
                    "reason": t.reason,
                    "action": t.action.value,
                    "position_id": t.position_id,
                    "at": t.at.isoformat(),
                }
                for t in risk.trips
            ],
            "outages": [
                {"source": o.source, "reason": o.reason, "since": o.since.isoformat()}
                for o in self._s.outages.outages(now).values()
            ],
            "entry_blockers": [b.reason for b in risk.entry_blockers()],
            "data": self.data_age(now),
        }

    def data_age(self, now: datetime) -> dict[str, Any]:
        """How the last tick read the venues ("direct", "gateway", or "fallback": the gateway down),
        the SOL mark it decided on, and how old its data is now, in seconds from when the venues gave
        it, with the limits past which entries stop (None: no such data yet)."""
        obs = self._observer.latest
        config = self._s.risk.config

        def seconds(then: datetime | None) -> float | None:
            age = age_s(now, then)
            return round(float(age), 1) if age is not None else None

        mark = obs.mark if obs else None
        return {
            "reads": obs.reads.value if obs else None,
            "mark": str(mark) if mark is not None else None,
            "market_age_s": seconds(obs.market_at if obs else None),
            "account_age_s": seconds(obs.account_at if obs else None),
            "max_market_data_age_s": float(config.max_market_data_age_s),
            "max_account_data_age_s": float(config.max_account_data_age_s),
        }

    def status(self) -> dict[str, Any]:
        """The trading state, with how the bot runs: shadow, auto-entry, wallets, last tick."""
        s = self._s
        last = self.stats.last_at
        return {
            **self.trading(),
            "shadow": s.settings.shadow,
            "auto_entry": s.preferences.current.auto_entry,
            # Who signs ("local" keys or the control plane's "broker") and for which addresses.
            "wallets": {
                "signer": s.settings.signer,
                "solana": s.wallet_signer.solana_address,
                "evm": s.wallet_signer.evm_address,
            },
            "last_tick_at": last.isoformat() if last else None,
            "deposits": self.deposits(),
        }

    def deposits(self) -> dict[str, Any]:
        """USDC bridged from Arbitrum to Hyperliquid: why some waits, each transfer in flight,
        credited or not credited in time (`DepositEngine.view`)."""
        return self._s.deposits.view()

    def positions(self, *statuses: PositionStatus) -> list[Position]:
        return self._s.journal.positions(*statuses)

    def position(self, position_id: str) -> Position:
        try:
            return self._s.journal.position(position_id)
        except KeyError:
            raise NotFound(f"no position {position_id}") from None

    def ready(self) -> tuple[bool, dict[str, Any]]:
        """Whether the database answers, and which venues the last tick could not reach."""
        database = "ok"
        try:
            with self._s.db() as session:
                session.execute(text("SELECT 1"))
        except Exception as exc:
            database = f"down: {type(exc).__name__}"
        outages = self._s.outages.outages(datetime.now(UTC))
        latest = self._observer.latest
        errors = latest.errors if latest else {}
        venues: dict[str, Any] = {}
        for source in SOURCES:
            if source in outages:
                venues[source] = f"down: {outages[source].reason}"
            elif source in errors:
                venues[source] = f"down: {errors[source]}"
            else:
                venues[source] = "ok"
        return database == "ok", {"database": database, "venues": venues}

    # ------------------------------------------------------------------ venue reads
    async def funding_paid(self, since_ms: int, timeout: float) -> Decimal | None:
        """SOL funding Hyperliquid paid the account since `since_ms`; None in shadow mode or unreadable."""
        if self._s.shadow is not None:
            # Shadow positions accrue hypothetical funding in their ledger; no venue record exists.
            return None
        payments = await asyncio.wait_for(self._s.hl.user_funding(since_ms), timeout)
        return sum((p.usdc for p in payments if p.coin == HEDGE_COIN), Decimal(0))

    async def balances(self) -> dict[str, Any]:
        """Balances per chain and venue (one that cannot be read says so), and whether they allow an open."""
        s = self._s
        me = s.wallet_signer
        sol, eth, usdc, hl = await asyncio.gather(
            s.solana.balances(me.solana_address),
            s.arbitrum.eth_balance(me.evm_address),
            s.arbitrum.usdc_balance(me.evm_address),
            s.hl.user_state(),
            return_exceptions=True,
        )
        out: dict[str, Any] = {}
        blocked: list[str] = []
        if isinstance(sol, BaseException):
            out["solana"] = {"address": me.solana_address, **_unreadable(sol)}
            blocked.append("the Solana wallet cannot be read")
        else:
            usdc_sol = sol.tokens.get(Asset.USDC, Decimal(0))
            out["solana"] = {"address": me.solana_address, "SOL": _amount(sol.sol), "USDC": _amount(usdc_sol)}
            out["solana"].update({lst.value: _amount(sol.tokens.get(lst, Decimal(0))) for lst in LSTS})
            if usdc_sol < MIN_USDC:
                blocked.append(f"the Solana wallet holds less than {MIN_USDC} USDC for the Asgard leg")
            if sol.sol < MIN_SOL:
                blocked.append(f"the Solana wallet needs at least {MIN_SOL} SOL for transaction fees")
        failed = next((x for x in (eth, usdc) if isinstance(x, BaseException)), None)
        if failed is not None:
            out["arbitrum"] = {"address": me.evm_address, **_unreadable(failed)}
        else:
            out["arbitrum"] = {"address": me.evm_address, "USDC": _amount(usdc), "ETH": _amount(eth)}  # type: ignore[arg-type]
        if isinstance(hl, BaseException):
            out["hyperliquid"] = {"address": me.evm_address, **_unreadable(hl)}
            blocked.append("the Hyperliquid account cannot be read")
        else:
            out["hyperliquid"] = {
                "address": me.evm_address,
                "account_value": _amount(hl.account_value),
                "withdrawable": _amount(hl.withdrawable),
                "margin_used": _amount(hl.total_margin_used),
            }
            if hl.withdrawable < MIN_USDC:
                blocked.append(
                    f"the Hyperliquid account has less than {MIN_USDC} USDC free for the short leg"
                )
        out["can_open"] = not blocked
        out["blocked"] = ("; ".join(blocked).capitalize() + ".") if blocked else None
        return out

    # ------------------------------------------------------------------ the CLI's report
    def report(self) -> dict[str, Any]:
        return report(self._s.journal, self._s.events, self._s.risk.halted)


def read_report(settings: BotSettings) -> dict[str, Any]:
    """`report` of a bot from its database alone (no venue, no key), for `basis-bot status`."""
    db = open_database(settings.database_path)
    return report(Journal(db), EventLog(db), RiskEngine.saved_halt(KeyValueStore(db)))


def report(journal: Journal, events: EventLog, halted: Halt | None) -> dict[str, Any]:
    """Positions, executions with their journal steps, the latest events, and the halt if any."""
    return {
        "halted": halted.to_json() if halted is not None else None,
        "positions": [
            {
                **p.header(),
                "asgard_position_id": p.asgard_position_id,
                "long_token_size": _text(p.long_token_size),
                "short_size": _text(p.short_size),
                "ledger": p.ledger,
            }
            for p in journal.positions()
        ],
        "executions": [
            {
                "id": e.id,
                "kind": e.kind,
                "state": e.state,
                "outcome": e.outcome,
                "position_id": e.position_id,
                "error": e.error,
                "plan": e.plan,
                "steps": [
                    {
                        "name": st.name,
                        "attempt": st.attempt,
                        "status": st.status,
                        "key": st.key,
                        "result": st.result,
                    }
                    for st in journal.steps(e.id)
                ],
            }
            for e in journal.executions()
        ],
        "events": [
            {
                "id": ev.id,
                "at": ev.at.isoformat(),
                "kind": ev.kind,
                "severity": ev.severity,
                "message": ev.message,
            }
            for ev in events.since(0, limit=10_000)[-REPORT_EVENTS:]
        ],
    }


def _text(value: Decimal | None) -> str | None:
    return str(value) if value is not None else None


def _amount(value: Decimal) -> str:
    # An empty account reads 0E-9 from its decimals; show it as 0.
    return "0" if value == 0 else str(value)


def _unreadable(exc: BaseException) -> dict[str, str]:
    return {"error": f"cannot be read now ({type(exc).__name__})"}
