"""The transaction policy moved to `shared` so the control plane's broker enforces the bot's rules:
it imports nothing from the bot, and the bot's module re-exports the very same classes with the
packaged defaults. The rules themselves are tested in tests/unit/tenant_bot/risk."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal

import pytest

from shared import transaction_policy as shared
from tenant_bot.risk import transaction_validator as bot
from tenant_bot.risk.config import load_risk_config


def test_the_shared_module_does_not_import_the_bot() -> None:
    code = (
        "import sys, shared.transaction_policy as p; "
        "p.TransactionValidator(p.TransactionPolicy(frozenset(), 0, 0, 1)); "
        "print(sorted(m for m in sys.modules if m.startswith('tenant_bot')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_bot_uses_the_same_classes_with_its_defaults() -> None:
    assert bot.TransactionRejected is shared.TransactionRejected
    assert issubclass(bot.TransactionPolicy, shared.TransactionPolicy)
    assert issubclass(bot.TransactionValidator, shared.TransactionValidator)
    config = load_risk_config()
    from_bot = bot.TransactionPolicy.from_config()
    from_shared = shared.TransactionPolicy.from_config(config)
    assert from_bot.solana_programs == from_shared.solana_programs
    assert from_bot.max_usdc_per_transfer == from_shared.max_usdc_per_transfer == Decimal(100000)
    assert shared.TransactionPolicy.from_config(config.transactions) == from_shared
    assert bot.TransactionValidator().policy.solana_programs == from_shared.solana_programs


def test_the_shared_validator_needs_a_policy() -> None:
    with pytest.raises(TypeError):
        shared.TransactionValidator()  # type: ignore[call-arg]
    rules = shared.TransactionValidator(shared.TransactionPolicy(frozenset(), 0, 0, Decimal(1)))
    with pytest.raises(shared.TransactionRejected, match="not allowed"):
        rules.check_evm_transaction({"chainId": 1})
