"""Configuration files: YAML whose numbers are exact Decimals, merged key by key over their defaults.

The risk thresholds (`tenant_bot/risk/defaults.yaml`) and the transaction policy's limits
(`shared/transaction_defaults.yaml`) are read this way, and so are the files that override them (a
bot's `BASIS_RISK_FILE`, the control plane's `BASIS_CP_BROKER_POLICY_FILE`).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml


class ConfigFileError(ValueError):
    """A configuration file that cannot be used; the message names the file and what is wrong."""


class _DecimalLoader(yaml.SafeLoader):
    """YAML loader that reads floats as exact Decimals (`0.1` → Decimal("0.1"))."""


def _decimal(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Decimal:
    return Decimal(loader.construct_scalar(node).replace("_", ""))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal)


def read_yaml(path: Path, what: str, error: type[ConfigFileError] = ConfigFileError) -> dict[str, Any]:
    """The mapping of sections in the YAML file at `path` (empty for an empty file); `error`, naming
    the file as `what` ("risk config"), when it cannot be read, is not YAML or is not a mapping."""
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_DecimalLoader)
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise error(f"{what} {path} is not valid YAML: {exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise error(f"{what} {path} must be a mapping of sections, not {type(data).__name__}")
    return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`base` with `override`'s keys changed; nested mappings merge key by key (lists are replaced)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def problems(exc: Any) -> str:
    """A pydantic ValidationError as one line: each unknown key named, each other error with its place."""
    found = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            found.append(f"unknown key {where!r}")
        else:
            found.append(f"{where}: {err['msg']}")
    return "; ".join(found)
