"""`RiskConfig`: every risk threshold, loaded from the packaged `defaults.yaml` plus a user file.

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

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DEFAULTS_PATH = Path(__file__).with_name("defaults.yaml")


class RiskConfigError(ValueError):
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


class TransactionsConfig(_Section):
    solana_programs: tuple[str, ...]
    solana_trusted_destinations: tuple[str, ...] = ()
    max_sol_out_lamports: int = Field(ge=0)
    max_priority_fee_lamports: int = Field(ge=0)
    max_usdc_per_transfer: Decimal = Field(gt=0)
    evm_chain_ids: tuple[int, ...]
    evm_contracts: tuple[str, ...]
    erc20_destinations: tuple[str, ...]
    hyperliquid_destinations: tuple[str, ...] = ()
    hyperliquid_signature_chain_ids: tuple[int, ...]
    max_token_out_per_transaction: dict[str, Decimal]
    outflow_budget: dict[str, Decimal]
    outflow_budget_window_hours: Decimal = Field(gt=0)
    max_evm_gas: int = Field(gt=0)
    max_evm_fee_per_gas_wei: int = Field(ge=0)
    max_evm_priority_fee_per_gas_wei: int = Field(ge=0)
    max_evm_fee_wei: int = Field(ge=0)
    hyperliquid_assets: tuple[int, ...]
    hyperliquid_max_leverage: int = Field(ge=1)
    hyperliquid_price_band_bps: Decimal = Field(gt=0, lt=10_000)
    hyperliquid_max_order_usd: Decimal = Field(gt=0)

    @field_validator("max_token_out_per_transaction")
    @classmethod
    def _solana_tokens(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        # USDC's cap is max_usdc_per_transfer (every chain); these are the other Solana tokens.
        from shared.assets import LSTS, Asset

        return _asset_amounts(value, {Asset.SOL, *LSTS})

    @field_validator("outflow_budget")
    @classmethod
    def _outflow_assets(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        from shared.transaction_policy import OUTFLOW_ASSETS

        return _asset_amounts(value, set(OUTFLOW_ASSETS))

    @field_validator("solana_programs", "solana_trusted_destinations")
    @classmethod
    def _base58(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # shared.addresses, not solders/eth_utils: same answers, without their import at every start.
        from shared.addresses import is_solana_address

        for text in value:
            if not is_solana_address(text):
                raise ValueError(f"{text!r} is not a Solana address")
        return value

    @field_validator("evm_contracts", "erc20_destinations", "hyperliquid_destinations")
    @classmethod
    def _evm(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from shared.addresses import is_evm_address, to_checksum_address

        out = []
        for text in value:
            if not is_evm_address(text):
                raise ValueError(f"{text!r} is not an EVM address")
            out.append(to_checksum_address(text))
        return tuple(out)


def _asset_amounts(value: dict[str, Decimal], allowed: set[Any]) -> dict[str, Decimal]:
    """`value` keyed by canonical asset names (`jitosol` → `jitoSOL`), each a known, allowed asset
    with an amount of at least zero."""
    from shared.assets import Asset

    out: dict[str, Decimal] = {}
    for name, amount in value.items():
        asset = Asset.parse(name)
        if asset not in allowed:
            names = ", ".join(sorted(a.value for a in allowed))
            raise ValueError(f"{asset.value} cannot be listed here (only {names})")
        if amount < 0:
            raise ValueError(f"{asset.value}: {amount} is negative")
        out[asset.value] = amount
    return out


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
    transactions: TransactionsConfig

    @classmethod
    def defaults(cls) -> RiskConfig:
        return load_risk_config()

    def with_overrides(self, overrides: dict[str, Any]) -> RiskConfig:
        """A copy with some keys changed (nested dicts merge), validated like a file."""
        return _validate(merge(self.model_dump(mode="python"), overrides), "overrides")


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact Decimals (`0.1` → Decimal("0.1"))."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def _read(path: Path) -> dict[str, Any]:
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalLoader)
    except OSError as exc:
        raise RiskConfigError(f"cannot read risk config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise RiskConfigError(f"risk config {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RiskConfigError(f"risk config {path} must be a mapping of sections, not {type(data).__name__}")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s keys changed; nested mappings merge key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _validate(data: dict[str, Any], source: str) -> RiskConfig:
    try:
        return RiskConfig.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            if err["type"] == "extra_forbidden":
                problems.append(f"unknown key {where!r}")
            else:
                problems.append(f"{where}: {err['msg']}")
        raise RiskConfigError(f"invalid risk config ({source}): " + "; ".join(problems)) from None


def load_risk_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> RiskConfig:
    """The packaged defaults, overridden by the YAML file at `path` and then by `overrides`."""
    data = _read(DEFAULTS_PATH)
    sources = ["defaults"]
    if path is not None:
        data = merge(data, _read(Path(path)))
        sources.append(str(path))
    if overrides:
        data = merge(data, overrides)
        sources.append("overrides")
    return _validate(data, " + ".join(sources))
