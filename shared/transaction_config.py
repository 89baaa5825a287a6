"""`TransactionsConfig`: the limits of what a wallet of ours may sign, as configured, and their defaults.

The packaged defaults are `transaction_defaults.yaml` beside this module (each key documented there).
Both signing paths load them: the bot as the `transactions` section of its risk config
(`tenant_bot/risk/config.py`), the control plane's signing broker through `load_transactions_config`
with the operator's file. `TransactionPolicy.from_config` (shared/transaction_policy.py) turns a
section into the policy the validator applies.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.config_files import ConfigFileError, merge, problems, read_yaml

TRANSACTION_DEFAULTS_PATH = Path(__file__).with_name("transaction_defaults.yaml")
SECTION = "transactions"


class TransactionsConfig(BaseModel):
    """The `transactions` section of a risk config (see transaction_defaults.yaml for each key)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

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


def transaction_defaults() -> dict[str, Any]:
    """The packaged defaults as a risk config's mapping: `{"transactions": {...}}`."""
    return read_yaml(TRANSACTION_DEFAULTS_PATH, "transaction defaults")


def load_transactions_config(path: Path | None = None) -> TransactionsConfig:
    """The packaged defaults, narrowed by the `transactions` section of the risk-config file at `path`
    (its other sections are the bots' business, not the signing broker's, and are left alone)."""
    data = transaction_defaults()
    source = "transaction defaults"
    if path is not None:
        override = read_yaml(path, "transaction policy")
        data = merge(data, {SECTION: override.get(SECTION) or {}})
        source += f" + {path}"
    try:
        return TransactionsConfig.model_validate(data[SECTION])
    except ValidationError as exc:
        raise ConfigFileError(f"invalid transaction policy ({source}): {problems(exc)}") from None
