"""The tick's decision with no venue and no database: entries, exits, and the reconciliation."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path

from shared.assets import Asset, Protocol
from shared.rates import FundingRate
from tenant_bot.decision import EntryRules, Holdings, decide
from tenant_bot.observer import Observation
from tenant_bot.risk.engine import RiskEngine
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.states import TradingState
from tenant_bot.storage.models import Execution, Position
from tenant_bot.strategy.lst import LstMonitor
from tenant_bot.strategy.opportunity import FeeModel
from tenant_bot.venues.asgard_models import AsgardPosition, parse_position
from tenant_bot.venues.hyperliquid_models import PerpPosition, UserState
from tests.unit.tenant_bot.risk.inputs import CONFIG
from tests.unit.tenant_bot.strategy.snapshots import AT, snapshot

WSOL = "So11111111111111111111111111111111111111112"
RULES = EntryRules(
    leverage=D(3),
    auto_entry=True,
    entry_capital_usd=D(1000),
    min_entry_net_apy=D(-1),
    max_position_usd=D(250_000),
    allowed_protocols=None,
    allowed_assets=None,
)


def _position(pid: str = "p1", protocol: str = "kamino", short: str = "10", long: str = "10") -> Position:
    return Position(
        id=pid,
        status="open",
        asset="SOL",
        protocol=protocol,
        leverage=D(3),
        shadow=False,
        asgard_position_id=f"pda-{pid}",
        long_token_size=D(long),
        short_size=D(short),
    )


def _observation(positions: list[Position], *, short: D | None = None, health: str = "0.21") -> Observation:
    total = sum((p.short_size or D(0) for p in positions), D(0)) if short is None else short
    perp = PerpPosition("SOL", -total, D(150), total * 150, D(0), D(200), D(500), 3, True, D(0))
    state = UserState(D(10_000), D(500), D(100), D(5000), {"SOL": perp} if total else {}, 0)
    asgard = {
        p.asgard_position_id or "": AsgardPosition(
            position_id=p.asgard_position_id or "",
            protocol=Protocol.KAMINO,
            asset=Asset.SOL,
            token_size=p.long_token_size or D(0),
            collateral_usdc=D(500),
            debt_usdc=D(1000),
            entry_price=D(150),
            health_factor=D(health),
            liquidation_price=None,
            opened_at_ms=None,
            is_open=True,
            raw={},
        )
        for p in positions
    }
    return Observation(at=AT, snapshot=snapshot(), hl_state=state, asgard_positions=asgard, sz_decimals=2)


def _decide(positions: list[Position], obs: Observation, risk: RiskEngine, rules: EntryRules = RULES):
    holdings = Holdings(tuple(positions), unfinished=(), consecutive_failures=0)
    return decide(obs, holdings, rules, risk, LstMonitor(), FeeModel())


def test_a_calm_market_with_nothing_open_enters() -> None:
    decision = _decide([], _observation([]), RiskEngine(CONFIG))
    assert decision.state is TradingState.ACTIVE and decision.best is not None
    assert decision.enter and decision.no_entry is None
    assert not (decision.closes or decision.reductions or decision.rebalances)


def test_a_paused_bot_says_it_is_paused_not_that_trading_is_active(tmp_path: Path) -> None:
    """The copy of this check in the bot said "trading state is active" for a paused bot."""
    risk = RiskEngine(CONFIG, kill_switch=KillSwitch(tmp_path / "KILL"))
    risk.pause_entries("lunch", "user")
    decision = _decide([], _observation([]), risk)
    assert not decision.enter
    assert decision.no_entry == "paused by user: lunch"
    assert "active" not in decision.no_entry
    # The same sentences the dashboard's status shows, from the same place.
    assert [b.reason for b in risk.entry_blockers()] == ["paused by user: lunch"]
    assert risk.manual_refusal() == "the bot is paused; resume it before opening"
    (tmp_path / "KILL").touch()
    decision = _decide([], _observation([]), risk)
    assert decision.no_entry == f"paused by user: lunch; the kill switch file {tmp_path / 'KILL'} is present"


def test_an_open_position_or_a_low_apy_keeps_auto_entry_out() -> None:
    p = _position()
    decision = _decide([p], _observation([p]), RiskEngine(CONFIG))
    assert not decision.enter and decision.no_entry == "a position is already open or in flight"
    strict = replace(RULES, min_entry_net_apy=D(1))
    decision = _decide([], _observation([]), RiskEngine(CONFIG), strict)
    assert not decision.enter and decision.no_entry is not None and "below 1" in decision.no_entry
    off = replace(RULES, auto_entry=False)
    decision = _decide([], _observation([]), RiskEngine(CONFIG), off)
    assert not decision.enter and decision.no_entry is None


def test_a_short_the_journal_does_not_know_halts_and_nothing_automatic_follows() -> None:
    p = _position()
    risk = RiskEngine(CONFIG)
    decision = _decide([p], _observation([p], short=D(4)), risk)
    assert decision.state is TradingState.HALTED and risk.halt_reason is not None
    assert "holds a SOL short of 4" in risk.halt_reason
    assert not (decision.closes or decision.reductions or decision.rebalances or decision.enter)


def test_a_running_execution_skips_the_reconciliation() -> None:
    p = _position()
    risk = RiskEngine(CONFIG)
    running = Execution(id="e1", kind="open", state="long_sent", position_id="p9", plan={})
    holdings = Holdings((p,), unfinished=(running,), consecutive_failures=0)
    decision = decide(_observation([p], short=D(4)), holdings, RULES, risk, LstMonitor(), FeeModel())
    assert decision.state is TradingState.ACTIVE


def test_a_reduction_where_asgard_cannot_partially_close_is_a_close() -> None:
    kamino, marginfi = _position("k", "kamino"), _position("m", "marginfi")
    obs = _observation([kamino, marginfi], health="0.07")  # below the reduce threshold
    decision = _decide([kamino, marginfi], obs, RiskEngine(CONFIG))
    assert [e.position_id for e in decision.reductions] == ["k"]
    assert decision.reductions[0].fraction == CONFIG.asgard_health.reduce_fraction
    assert [e.position_id for e in decision.closes] == ["m"]
    assert "health factor" in decision.closes[0].reason


def test_a_drift_is_rebalanced_by_the_gap_and_a_tiny_one_waits() -> None:
    drifted = _position(short="9.5")
    decision = _decide([drifted], _observation([drifted]), RiskEngine(CONFIG))
    [rebalance] = decision.rebalances
    assert rebalance.short_change == D("0.5")  # sell 0.5 SOL more
    over = _position(short="10.5")
    [rebalance] = _decide([over], _observation([over]), RiskEngine(CONFIG)).rebalances
    assert rebalance.short_change == D("-0.5")
    # 5 % apart, but 0.01 SOL at $150 is under Hyperliquid's $10 minimum order: it waits.
    small = _position(short="0.19", long="0.2")
    decision = _decide([small], _observation([small]), RiskEngine(CONFIG))
    assert [t.breaker for t in decision.risk.trips] == ["delta_drift"] and decision.rebalances == ()


def test_a_position_whose_health_is_unknown_is_neither_closed_nor_reduced() -> None:
    """Issue 15: a position missing from Asgard's refresh was read as health 0 and closed; an
    outage never closes. The record without a refresh is what the client makes of it."""
    p = _position()
    obs = _observation([p])
    record = {"positionPda": "pda-p1", "protocol": 1, "state": 0, "tokenATokenMint": WSOL}
    unknown = parse_position(record, None)
    assert unknown is not None and unknown.health_factor is None
    assert obs.asgard_positions is not None
    obs.asgard_positions["pda-p1"] = replace(unknown, token_size=D(10))
    decision = _decide([p], obs, RiskEngine(CONFIG))
    assert decision.state is TradingState.ACTIVE
    assert not (decision.closes or decision.reductions)
    assert not any(t.breaker == "asgard_health" for t in decision.risk.trips)


def test_a_negative_funding_forecast_blocks_an_automatic_entry() -> None:
    """Issue 15: the forecast breaker never received Hyperliquid's predicted rate."""
    obs = _observation([])
    assert obs.snapshot is not None
    obs = replace(obs, snapshot=replace(obs.snapshot, predicted_funding=FundingRate.hourly("-0.00001")))
    decision = _decide([], obs, RiskEngine(CONFIG))
    assert [t.breaker for t in decision.risk.trips] == ["funding_forecast"]
    assert not decision.enter
    assert decision.no_entry is not None and "predicted SOL-PERP funding" in decision.no_entry


def test_an_account_carried_from_an_earlier_tick_is_not_compared_with_the_journal() -> None:
    """The gateway down: the last account answer is carried with its date; the journal may have moved
    since (a close that went through directly), so a difference is no mismatch and halts nothing."""
    p = _position()
    carried = replace(_observation([p], short=D(4)), account_fresh=False)
    assert _decide([p], carried, RiskEngine(CONFIG)).state is TradingState.ACTIVE
    fresh = replace(carried, account_fresh=True)
    assert _decide([p], fresh, RiskEngine(CONFIG)).state is TradingState.HALTED


def test_a_long_asgard_no_longer_lists_halts_once_and_is_named_for_the_trader_to_ask_about() -> None:
    gone, kept = _position("g"), _position("k")
    obs = _observation([gone, kept])
    assert obs.asgard_positions is not None
    del obs.asgard_positions["pda-g"]
    risk = RiskEngine(CONFIG)
    decision = _decide([gone, kept], obs, risk)
    assert decision.missing_longs == ("g",)
    assert risk.halt_reason is not None and "pda-g" in risk.halt_reason
    # Named again each tick (the trader asks Asgard until it answers), though halted by then.
    assert _decide([gone, kept], obs, risk).missing_longs == ("g",)
    # Once recorded as gone, it is neither named nor a mismatch: its short is what is left.
    gone.long_lost_at = AT
    fresh = RiskEngine(CONFIG)
    decision = _decide([gone, kept], obs, fresh)
    assert decision.missing_longs == () and fresh.halt_reason is None
    # A long in an execution, or an Asgard that could not be read, names nothing.
    gone.long_lost_at = None
    running = Execution(id="e1", kind="close", state="short_closed", position_id="g", plan={})
    holdings = Holdings((gone, kept), unfinished=(running,), consecutive_failures=0)
    assert decide(obs, holdings, RULES, RiskEngine(CONFIG), LstMonitor(), FeeModel()).missing_longs == ()
    unread = replace(obs, asgard_positions=None)
    assert _decide([gone, kept], unread, RiskEngine(CONFIG)).missing_longs == ()


def test_a_decision_without_positions_the_trader_closes_keeps_the_rest() -> None:
    k, m = _position("k", "kamino"), _position("m", "marginfi")
    obs = _observation([k, m], health="0.07")
    decision = _decide([k, m], obs, RiskEngine(CONFIG))
    assert {e.position_id for e in decision.closes + decision.reductions} == {"k", "m"}
    rest = decision.without(["m"])
    assert {e.position_id for e in rest.closes + rest.reductions} == {"k"}
    assert decision.without([]) is decision
