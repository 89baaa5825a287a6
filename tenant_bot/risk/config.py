"""`RiskConfig`: every risk threshold, loaded from the packaged `defaults.yaml` plus a user file.

Its `transactions` section (what the bot may sign) is `shared.transaction_config.TransactionsConfig`,
with defaults the control plane's signing broker shares (`shared/transaction_defaults.yaml`).

The YAML is the documentation: each threshold there carries a comment saying what it measures and
why its default is what it is. Numbers are read as exact `Decimal`s (a YAML float never becomes a
Python float), unknown keys are errors, and the thresholds of one breaker must be ordered
(alert before reduce before close), so a bad file fails at start-up with a sentence, not at 3 a.m.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shared.config_files import ConfigFileError, merge, problems, read_yaml
from shared.transaction_config import TransactionsConfig, transaction_defaults

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class RiskConfigError(ConfigFileError):
    """A risk config file that cannot be used; the message names the file and the keys."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _pairs(model: BaseModel, names: tuple[str, ...]) -> list[tuple[str, Decimal, str, Decimal]]:
    return [(a, getattr(model, a), b, getattr(model, b)) for a, b in pairwise(names)]


def _descending(model: BaseModel, *names: str) -> None:
    """`names` must be strictly decreasing: alert_below > reduce_below > close_below."""
    for a, va, b, vb in _pairs(model, names):
        if not va > vb:
            raise ValueError(f"{a} ({va}) must be greater than {b} ({vb})")


def _ascending(model: BaseModel, *names: str) -> None:
    for a, va, b, vb in _pairs(model, names):
        if not va < vb:
            raise ValueError(f"{a} ({va}) must be less than {b} ({vb})")


Fraction = Field(ge=0, le=1)


class AsgardHealthConfig(_Section):
    alert_below: Decimal = Fraction
    reduce_below: Decimal = Fraction
    close_below: Decimal = Fraction
    reduce_fraction: Decimal = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> AsgardHealthConfig:
        _descending(self, "alert_below", "reduce_below", "close_below")
        return self


class HyperliquidMarginConfig(_Section):
    margin_ratio_alert_above: Decimal = Fraction
    margin_ratio_reduce_above: Decimal = Fraction
    margin_ratio_close_above: Decimal = Fraction
    liquidation_distance_alert_below: Decimal = Fraction
    liquidation_distance_reduce_below: Decimal = Fraction
    liquidation_distance_close_below: Decimal = Fraction
    reduce_fraction: Decimal = Field(gt=0, lt=1)

    @model_validator(mode="after")
    def _ordered(self) -> HyperliquidMarginConfig:
        _ascending(self, "margin_ratio_alert_above", "margin_ratio_reduce_above", "margin_ratio_close_above")
        _descending(
            self,
            "liquidation_distance_alert_below",
            "liquidation_distance_reduce_below",
            "liquidation_distance_close_below",
        )
        return self


class DeltaDriftConfig(_Section):
    rebalance_above: Decimal = Fraction
    close_above: Decimal = Fraction
    min_rebalance_sol: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> DeltaDriftConfig:
        _ascending(self, "rebalance_above", "close_above")
        return self


class FundingConfig(_Section):
    alert_after_negative_intervals: int = Field(ge=1)
    close_after_negative_intervals: int = Field(ge=1)
    close_when_streak_cost_above: Decimal = Field(gt=0)
    min_predicted_apr: Decimal

    @model_validator(mode="after")
    def _ordered(self) -> FundingConfig:
        _ascending(self, "alert_after_negative_intervals", "close_after_negative_intervals")
        return self


class LstDepegConfig(_Section):
    alert_above: Decimal = Fraction
    close_above: Decimal = Fraction

    @model_validator(mode="after")
    def _ordered(self) -> LstDepegConfig:
        _ascending(self, "alert_above", "close_above")
        return self


class PriceDivergenceConfig(_Section):
    pause_entries_above_bps: Decimal = Field(gt=0)


class OutageConfig(_Section):
    pause_entries_after_seconds: Decimal = Field(ge=0)
    alert_after_seconds: Decimal = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> OutageConfig:
        _ascending(self, "pause_entries_after_seconds", "alert_after_seconds")
        return self


class ExecutionFailureConfig(_Section):
    """The `execution` section: how many failed executions in a row halt the bot."""

    halt_after_consecutive_failures: int = Field(ge=1)


class RiskConfig(_Section):
    asgard_health: AsgardHealthConfig
    hyperliquid_margin: HyperliquidMarginConfig
    delta_drift: DeltaDriftConfig
    funding: FundingConfig
    lst_depeg: LstDepegConfig
    price_divergence: PriceDivergenceConfig
    outage: OutageConfig
    execution: ExecutionFailureConfig
    reduce_cooldown_seconds: Decimal = Field(ge=0)
    # The oldest market data (its prices: Hyperliquid's asset contexts, Asgard's token prices) and
    # account data (the Hyperliquid account) an entry may be decided on, in seconds (see the YAML).
    max_market_data_age_s: Decimal = Field(gt=0)
    max_account_data_age_s: Decimal = Field(gt=0)
    transactions: TransactionsConfig

    @classmethod
    def defaults(cls) -> RiskConfig:
        return load_risk_config()

    def with_overrides(self, overrides: dict[str, Any]) -> RiskConfig:
        """A copy with some keys changed (nested dicts merge), validated like a file."""
        return _validate(merge(self.model_dump(mode="python"), overrides), "overrides")


def _validate(data: dict[str, Any], source: str) -> RiskConfig:
    try:
        return RiskConfig.model_validate(data)
    except ValidationError as exc:
        raise RiskConfigError(f"invalid risk config ({source}): {problems(exc)}") from None


def _read(path: Path) -> dict[str, Any]:
    return read_yaml(path, "risk config", RiskConfigError)


def load_risk_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RiskConfig:
    """The packaged defaults (with the shared transaction defaults as their `transactions` section),
    overridden by the YAML file at `path` and then by `overrides`."""
    data = merge(transaction_defaults(), _read(DEFAULTS_PATH))
    sources = ["defaults"]
    if path is not None:
        data = merge(data, _read(Path(path)))
        sources.append(str(path))
    if overrides:
        data = merge(data, overrides)
        sources.append("overrides")
    return _validate(data, " + ".join(sources))
