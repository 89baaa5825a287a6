"""Loading the risk config: packaged defaults, user overrides, exact decimals, clear errors."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from tenant_bot.risk.config import DEFAULTS_PATH, RiskConfigError, load_risk_config


def test_defaults_load_as_exact_decimals() -> None:
    c = load_risk_config()
    assert c.asgard_health.close_below == Decimal("0.05")
    assert type(c.asgard_health.close_below) is Decimal
    assert c.funding.close_after_negative_intervals == 24
    assert c.execution.halt_after_consecutive_failures == 3
    assert "KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD" in c.transactions.solana_programs


def test_every_threshold_is_documented_in_the_yaml() -> None:
    text = DEFAULTS_PATH.read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped.endswith(":") and not stripped.startswith("#") and not line.startswith(" "):
            # Each top-level section is preceded by a comment block.
            assert lines[i - 1].lstrip().startswith("#"), f"section {stripped} has no comment"


def test_a_user_file_overrides_some_keys(tmp_path: Path) -> None:
    user = tmp_path / "risk.yaml"
    user.write_text("asgard_health:\n  close_below: 0.06\nfunding:\n  close_after_negative_intervals: 12\n")
    c = load_risk_config(user)
    assert c.asgard_health.close_below == Decimal("0.06")
    assert c.asgard_health.alert_below == Decimal("0.12")  # untouched keys keep their default
    assert c.funding.close_after_negative_intervals == 12


def test_unknown_keys_are_named(tmp_path: Path) -> None:
    user = tmp_path / "risk.yaml"
    user.write_text("asgard_health:\n  close_bellow: 0.06\nfundng: {}\n")
    with pytest.raises(RiskConfigError) as err:
        load_risk_config(user)
    assert "unknown key 'asgard_health.close_bellow'" in str(err.value)
    assert "unknown key 'fundng'" in str(err.value) and str(user) in str(err.value)


def test_thresholds_must_be_ordered(tmp_path: Path) -> None:
    user = tmp_path / "risk.yaml"
    user.write_text("asgard_health:\n  close_below: 0.2\n")
    with pytest.raises(
        RiskConfigError, match=r"reduce_below \(0.08\) must be greater than close_below \(0.2\)"
    ):
        load_risk_config(user)


def test_bad_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("asgard_health: [unclosed\n")
    with pytest.raises(RiskConfigError, match="not valid YAML"):
        load_risk_config(bad)
    with pytest.raises(RiskConfigError, match="cannot read"):
        load_risk_config(tmp_path / "missing.yaml")
    with pytest.raises(RiskConfigError, match="not an EVM address"):
        load_risk_config(overrides={"transactions": {"erc20_destinations": ["0x123"]}})
