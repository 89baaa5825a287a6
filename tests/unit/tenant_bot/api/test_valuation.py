"""The dashboard's valuation of an open position, by hand: funding that accrued while it was open, the
estimate's total, and its health against the risk thresholds (exactly one of ok, warning, danger).

The valuer reads the journal (a real SQLite), the last observation and its cache of Hyperliquid
payments; those two are built here from round numbers, as a tick and a refresh would leave them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from shared.assets import Asset, Protocol
from shared.rates import FundingRate
from tenant_bot.api.valuation import Valuer, VenueCache
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.pnl import opened_ms
from tenant_bot.execution.states import Flow, State
from tenant_bot.observer import Observation
from tenant_bot.storage.database import open_database
from tenant_bot.storage.models import Position
from tenant_bot.venues.asgard_models import AsgardPosition
from tenant_bot.venues.hyperliquid_models import FundingPayment, PerpPosition, UserState
from tests.unit.tenant_bot.risk.inputs import CONFIG
from tests.unit.tenant_bot.strategy.snapshots import AT, snapshot

HOUR_MS = 3_600_000


def _observation(*, health: str = "0.21", liquidation_px: str = "200", tokens: str = "10") -> Observation:
    """Hyperliquid: short 10 SOL at mark 150 (liquidation at `liquidation_px`); Asgard: `tokens` SOL long
    on 500 USDC collateral and 1,000 USDC debt, at health `health`; Asgard's SOL price 149.98."""
    perp = PerpPosition("SOL", D(-10), D(150), D(1500), D(0), D(liquidation_px), D(500), 3, True, D(0))
    state = UserState(D(10_000), D(500), D(100), D(5000), {"SOL": perp}, 0)
    long = AsgardPosition(
        position_id="pda-p1",
        protocol=Protocol.KAMINO,
        asset=Asset.SOL,
        token_size=D(tokens),
        collateral_usdc=D(500),
        debt_usdc=D(1000),
        entry_price=D(150),
        health_factor=D(health),
        liquidation_price=None,
        opened_at_ms=None,
        is_open=True,
        # Asgard's record of the open, from which the long's stretch is valued (execution/pnl.py
        # `opening`): 10 SOL bought at 150 for 1,500 USDC (no swap metadata yet: no impact), 500 put in.
        raw={
            "record": {
                "tokenAAmountUIEntry": "10",
                "tokenAEntryPriceUSD": "150",
                "tokenBAmountUIEntry": "1000",
                "collateralAmountUI": "500",
                "openFeesMetadata": {"asgardFeeUsd": "0"},
            }
        },
    )
    return Observation(at=AT, snapshot=snapshot(), hl_state=state, asgard_positions={"pda-p1": long})


def _valuer(tmp_path: Path, obs: Observation) -> tuple[Valuer, Position]:
    journal = Journal(open_database(tmp_path / "bot.sqlite3"))
    position = Position(
        id="p1",
        status="open",
        asset="SOL",
        protocol="kamino",
        leverage=D(3),
        shadow=False,
        asgard_position_id="pda-p1",
        long_token_size=D(10),
        long_entry_price=D(150),
        collateral_usdc=D(500),
        debt_usdc=D(1000),
        short_size=D(10),
        short_entry_px=D(150),
        opened_at=AT,
    )
    journal.begin(position, Flow.OPEN, State.DONE, {}, requested_by="test")
    services: Any = SimpleNamespace(journal=journal, risk=SimpleNamespace(config=CONFIG))
    observer: Any = SimpleNamespace(latest=obs)
    return Valuer(services, observer), journal.position("p1")


def _payment(at_ms: int, rate: str, oracle: str = "150") -> FundingPayment:
    """What Hyperliquid pays a 10 SOL short at an hourly settlement: the rate times the notional at the
    oracle price; a positive rate means longs pay shorts, so the short receives it."""
    short = D(10)
    return FundingPayment("SOL", at_ms, short * D(oracle) * D(rate), -short, FundingRate.hourly(D(rate)))


def test_funding_accrued_while_open_is_in_the_estimate(tmp_path: Path) -> None:
    valuer, position = _valuer(tmp_path, _observation())
    opened = opened_ms(position)
    valuer.cache = VenueCache(
        fills=[],
        funding=[
            _payment(opened - HOUR_MS, "0.0005"),  # before the open: not this position's
            _payment(opened + HOUR_MS, "0.0001"),  # 10 × 150 × 0.0001 = +0.15 received
            _payment(opened + 2 * HOUR_MS, "0.0001"),  # +0.15
            _payment(opened + 3 * HOUR_MS, "-0.00005"),  # shorts pay: −0.075
        ],
    )
    [view] = valuer.positions()
    pnl = {k: D(v) for k, v in view["pnl"].items()}
    assert pnl["funding"] == D("0.225")
    # Long equity 10 × 149.98 − 1,000 − 500 = −0.2; the short at its entry mark, no fees: the total
    # is the funding and the long's price difference, and the price part is that difference.
    assert pnl["total"] == D("0.025")
    assert pnl["price"] == D("-0.2")
    assert pnl["fees"] == 0 and pnl["interest"] == 0 and pnl["staking"] == 0
    assert valuer.open_total() == D("0.025")


@pytest.mark.parametrize(
    ("changes", "health"),
    [
        ({}, "ok"),  # health 0.21, liquidation 33 % away, no drift
        ({"health": "0.11"}, "warning"),  # under alert_below 0.12
        ({"liquidation_px": "170"}, "warning"),  # 13 % away: under alert_below 0.15
        ({"tokens": "10.6"}, "warning"),  # 5.7 % drift, above rebalance_above 3 %
        ({"health": "0.07"}, "danger"),  # under reduce_below 0.08
        ({"liquidation_px": "160"}, "danger"),  # 6.7 % away: under reduce_below 0.10
    ],
)
def test_health_is_exactly_the_level_the_thresholds_give(
    tmp_path: Path, changes: dict[str, str], health: str
) -> None:
    valuer, _ = _valuer(tmp_path, _observation(**changes))
    [view] = valuer.positions()
    assert view["health"] == health


def test_a_position_without_venue_figures_is_ok_not_danger(tmp_path: Path) -> None:
    obs = replace(_observation(), hl_state=None, asgard_positions=None)
    valuer, _ = _valuer(tmp_path, obs)
    [view] = valuer.positions()
    assert view["health"] == "ok"


def test_a_long_found_gone_is_valued_at_nothing_and_the_position_is_unhedged(tmp_path: Path) -> None:
    """Asgard no longer lists the long and the bot recorded it gone: the card says unhedged (not
    healthy), the long holds nothing, and the estimate counts its 500 USDC margin as lost."""
    obs = _observation()
    assert obs.asgard_positions is not None
    obs.asgard_positions.clear()
    valuer, _ = _valuer(tmp_path, obs)
    valuer.journal.update_position("p1", long_lost_at=AT)
    [view] = valuer.positions()
    assert view["health"] == "unhedged"
    assert view["long"]["lost"] is True and view["long"]["token_size"] == "0"
    assert view["long"]["value_usd"] is None and view["delta"]["long_sol"] == "0"
    pnl = {k: D(v) for k, v in view["pnl"].items()}
    # The short at its entry mark (150): the total is the margin lost, within fees.
    assert pnl["total"] == D(-500) and pnl["fees"] == D(-500) and pnl["price"] == 0
    # Closing, until the close records its split: still unhedged.
    valuer.journal.update_position("p1", status="closing")
    [view] = valuer.positions()
    assert view["health"] == "unhedged"


def test_the_lifetime_pnl_counts_every_closed_position_not_only_the_listed_ones(tmp_path: Path) -> None:
    valuer, position = _valuer(tmp_path, _observation())
    ledger = {"funding": "2", "interest": "0", "staking": "0", "fees": "-0.5", "price": "-0.5", "total": "1"}
    for i in range(60):
        closed = Position(
            id=f"c{i}", status="closed", asset="SOL", protocol="kamino", leverage=D(3), shadow=False
        )
        valuer.journal.begin(closed, Flow.OPEN, State.DONE, {}, requested_by="test")
        valuer.journal.update_position(f"c{i}", status="closed", ledger=ledger)
    listing = valuer.listing()
    assert len(listing["positions"]) == 1 + 50  # the open one, the 50 latest closed
    [open_view] = [v for v in listing["positions"] if v["id"] == position.id]
    lifetime = {k: D(v) for k, v in listing["lifetime"].items()}
    assert lifetime["total"] == 60 + D(open_view["pnl"]["total"])
    assert lifetime["funding"] == 120 + D(open_view["pnl"]["funding"])
    assert lifetime["fees"] == -30 + D(open_view["pnl"]["fees"])
