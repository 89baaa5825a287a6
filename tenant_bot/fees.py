"""The fee model the bot decides with: Hyperliquid's rates for this account, read from the venue.

Hyperliquid charges each account by its own tier (14-day volume) less its staking and referral
discounts; `userFees` says what that comes to (`userCrossRate` for the taker fills the bot makes).
The rate is read at start and then once an hour (it moves with volume, over days), and cached.
When the venue cannot answer, the last rate read stays in use; before any was read, the documented
base tier (0.045 % taker, shared/research/venues.md §1.10) is used, and `source` says so.
"""

from __future__ import annotations

import dataclasses
import time

from shared.logging import get_logger
from tenant_bot.strategy.opportunity import FeeModel
from tenant_bot.venues.hyperliquid import HyperliquidClient, HyperliquidError
from tenant_bot.venues.outages import UNREACHABLE

log = get_logger("tenant_bot.fees")

REFRESH_S = 3600.0  # a fee tier follows 14 days of volume: hourly is plenty
RETRY_S = 60.0  # after a failed read, try again sooner
BASE_TIER = "Hyperliquid's base tier (0.045 % taker): userFees has not answered"


class VenueFees:
    """The current `FeeModel`, with Hyperliquid's taker rate as the venue reports it for the account."""

    def __init__(self, base: FeeModel | None = None) -> None:
        self._base = base or FeeModel()
        self.model = self._base
        self.source = BASE_TIER
        self._next_read = 0.0  # time.monotonic()

    async def refresh(self, hl: HyperliquidClient) -> FeeModel:
        """Read the account's rates when due; keep what is cached when the venue cannot answer."""
        now = time.monotonic()
        if now < self._next_read:
            return self.model
        try:
            rates = await hl.fee_rates()
        except (*UNREACHABLE, HyperliquidError) as exc:
            self._next_read = now + RETRY_S
            log.warning("hyperliquid fee rates unavailable", using=self.source, error=type(exc).__name__)
            return self.model
        self.model = dataclasses.replace(self._base, hl_taker_fee=rates.taker)
        self.source = "Hyperliquid userFees"
        self._next_read = now + REFRESH_S
        return self.model
