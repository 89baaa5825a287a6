"""Snapshots and config shared by the risk unit tests: a healthy position and a calm market."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from shared.assets import Asset
from tenant_bot.risk.circuit_breakers import MarketRisk, PositionRisk
from tenant_bot.risk.config import RiskConfig, load_risk_config

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def D(text: str) -> Decimal:
    return Decimal(text)


def position(position_id: str = "p1", **changes: Any) -> PositionRisk:
    """A healthy 3x SOL position: nothing trips."""
    fields: dict[str, Any] = {
        "position_id": position_id,
        "asset": Asset.SOL,
        "asgard_health_factor": D("0.21"),
        "hl_margin_ratio": D("0.075"),
        "hl_liquidation_distance": D("0.29"),
        "long_sol_equivalent": D("10"),
        "short_sol": D("10"),
        "lst_discount": None,
        **changes,
    }
    return PositionRisk(**fields)


def market(**changes: Any) -> MarketRisk:
    fields: dict[str, Any] = {
        "funding_history": (),
        "price_divergence_bps": D("3"),
        "outages": {},
        "consecutive_failures": 0,
        **changes,
    }
    return MarketRisk(**fields)


CONFIG: RiskConfig = load_risk_config()
