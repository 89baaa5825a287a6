"""An open as asked for, and the position row it starts (one builder for the engine and the shadow)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from shared.assets import Asset, Protocol
from tenant_bot.execution.states import PositionStatus
from tenant_bot.storage.models import Position


@dataclass(frozen=True)
class OpenRequest:
    asset: Asset
    protocol: Protocol
    leverage: Decimal
    # USDC the Asgard leg puts up as margin (its notional is leverage × this).
    collateral_usdc: Decimal
    # LST/SOL exchange rate at planning time (1 for SOL), to size the hedge in SOL.
    lst_sol_rate: Decimal = Decimal(1)

    def new_position(self, status: PositionStatus, **fields: Any) -> Position:
        """A new position row for this request (a fresh id); `fields` fill in what is known."""
        return Position(
            id=str(uuid.uuid4()),
            status=status,
            asset=self.asset.value,
            protocol=self.protocol.name.lower(),
            leverage=self.leverage,
            collateral_usdc=self.collateral_usdc,
            **fields,
        )
