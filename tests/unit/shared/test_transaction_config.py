"""The transaction limits' defaults live beside the policy (shared/transaction_defaults.yaml): the bot's
risk config and the signing broker load the same numbers, and the operator's file narrows the broker's."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from shared.config_files import ConfigFileError
from shared.transaction_config import TRANSACTION_DEFAULTS_PATH, load_transactions_config
from tenant_bot.risk.config import load_risk_config


def test_the_bot_and_the_broker_start_from_the_same_limits() -> None:
    shared = load_transactions_config()
    assert load_risk_config().transactions == shared
    assert shared.max_usdc_per_transfer == Decimal(100_000) and type(shared.max_usdc_per_transfer) is Decimal
    assert "KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD" in shared.solana_programs


def test_the_section_is_documented_where_it_is_declared() -> None:
    lines = TRANSACTION_DEFAULTS_PATH.read_text().splitlines()
    at = lines.index("transactions:")
    assert lines[at - 1].startswith("#"), "the transactions section needs its comment"
    # Each key of the section comes under a comment (its own, or its group's), or carries one.
    keys = [line for line in lines[at + 1 :] if line.startswith("  ") and not line.startswith("   ")]
    assert keys and all(":" in k or k.strip().startswith(("#", "-")) for k in keys)
    first_key = next(i for i, line in enumerate(lines[at + 1 :], at + 1) if not line.strip().startswith("#"))
    assert lines[first_key - 1].strip().startswith("#")


def test_the_operators_file_narrows_the_brokers_limits_and_only_its_transactions(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    # A whole risk config: its other sections are the bots' business, and are left alone here.
    policy.write_text("asgard_health:\n  close_bellow: 1\ntransactions:\n  max_usdc_per_transfer: 5\n")
    narrowed = load_transactions_config(policy)
    assert narrowed.max_usdc_per_transfer == 5
    assert narrowed.outflow_budget == load_transactions_config().outflow_budget  # the rest as packaged


def test_a_bad_policy_file_says_which_file_and_which_key(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("transactions:\n  max_usdc_per_transfr: 5\n")
    with pytest.raises(ConfigFileError) as err:
        load_transactions_config(policy)
    assert "unknown key 'max_usdc_per_transfr'" in str(err.value) and str(policy) in str(err.value)
    with pytest.raises(ConfigFileError, match="cannot read transaction policy"):
        load_transactions_config(tmp_path / "missing.yaml")
