"""Runtimes run the bots: one small interface (`base.Runtime`), one implementation per engine."""

from __future__ import annotations

from orchestrator.runtimes.base import BotSpec, BotStatus, Runtime

__all__ = ["BotSpec", "BotStatus", "Runtime"]
