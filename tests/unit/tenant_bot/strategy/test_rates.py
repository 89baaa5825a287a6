from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D

import pytest

from shared.assets import Asset, Protocol
from shared.rates import HOUR, Apy, FundingRate
from tenant_bot.strategy.rates import RatesSnapshot

from .snapshots import AT, snapshot


def _with_history(history: tuple[FundingRate, ...], predicted: FundingRate | None) -> RatesSnapshot:
    return RatesSnapshot(
        at=AT,
        funding=FundingRate.hourly("0.00009"),
        predicted_funding=predicted,
        funding_history=history,
        lending=(),
    )


def test_planning_rate_blends_the_last_day_with_the_prediction() -> None:
    # 30 settled hours: the 6 oldest (0.001) fall outside the 24 h window.
    history = (FundingRate.hourly("0.001"),) * 6 + (FundingRate.hourly("0.00001"),) * 23
    history += (FundingRate.hourly("0.00004"),)
    snap = _with_history(history, FundingRate.hourly("0.00002"))
    # mean of the window = (23 × 0.00001 + 0.00004) / 24 = 0.00027 / 24 = 0.00001125
    # blended = 0.75 × 0.00001125 + 0.25 × 0.00002 = 0.0000084375 + 0.000005 = 0.0000134375
    planned = snap.planning_funding()
    assert planned.interval == HOUR
    assert planned.rate == D("0.0000134375")
    assert planned.apr == D("0.0000134375") * 8760


def test_planning_rate_converts_other_intervals_to_hourly() -> None:
    # 0.0001 per 8 h is 0.0000125 per hour; mixed with a native hourly rate of 0.0000375.
    history = (FundingRate.every("0.0001", 8), FundingRate.hourly("0.0000375"))
    snap = _with_history(history, None)
    assert snap.planning_funding().rate == D("0.000025")


def test_planning_rate_without_history_uses_the_current_rate() -> None:
    snap = _with_history((), None)
    assert snap.planning_funding().rate == D("0.00009")
    # with a prediction: 0.5 × 0.00009 + 0.5 × 0.00001 = 0.00005
    snap = _with_history((), FundingRate.hourly("0.00001"))
    assert snap.planning_funding(predicted_weight=D("0.5")).rate == D("0.00005")


def test_planning_rate_arguments_are_checked() -> None:
    snap = _with_history((), None)
    with pytest.raises(ValueError, match="window"):
        snap.planning_funding(window_hours=0)
    with pytest.raises(ValueError, match="weight"):
        snap.planning_funding(predicted_weight=D("1.5"))


def test_lending_lookup_and_staking() -> None:
    snap = snapshot()
    rate = snap.lending_for(Protocol.KAMINO, Asset.JITOSOL)
    assert rate is not None and rate.supply == Apy(D("0.002"))
    assert snap.lending_for(Protocol.SOLEND, Asset.SOL) is None
    assert snap.staking_for(Asset.JITOSOL).value == D("0.08")
    assert snap.staking_for(Asset.SOL).value == 0
    assert snap.staking_for(Asset.MSOL).value == 0  # not reported → no credit taken


def test_a_snapshot_needs_an_aware_timestamp() -> None:
    with pytest.raises(ValueError, match="timezone"):
        RatesSnapshot(
            at=datetime(2026, 1, 1),
            funding=FundingRate.hourly(0),
            predicted_funding=None,
            funding_history=(),
            lending=(),
        )
