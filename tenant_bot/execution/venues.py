"""What the execution engine talks to, and how it stops when a venue cannot answer yet."""

from __future__ import annotations

from dataclasses import dataclass

from tenant_bot.chain.solana import SolanaClient
from tenant_bot.signing.signer import Signer
from tenant_bot.venues.asgard import AsgardClient, AsgardPosition
from tenant_bot.venues.hyperliquid import HyperliquidClient

# The perp that hedges every long.
HEDGE_COIN = "SOL"


@dataclass
class Venues:
    hyperliquid: HyperliquidClient
    asgard: AsgardClient
    solana: SolanaClient
    # Every signature goes through this signer (a ValidatingSigner in the bot).
    signer: Signer

    @property
    def owner(self) -> str:
        return self.signer.solana_address

    async def asgard_position(self, pda: str) -> AsgardPosition | None:
        """The wallet's open Asgard position `pda`, or None when Asgard does not list it open."""
        for p in await self.asgard.positions(self.owner):
            if p.position_id == pda and p.is_open:
                return p
        return None

    async def asgard_gone(self, pda: str) -> bool:
        """Asgard's record of `pda` says it is no longer active: closed, or liquidated (state 1, or the
        deprecated 2). A position the listing left out but whose record is still active is not gone."""
        record = await self.asgard.position_record(pda)
        return int(record.get("state") or 0) != 0

    async def sz_decimals(self) -> int:
        """Size decimals of the hedge perp (the client caches the universe)."""
        return (await self.hyperliquid.markets())[HEDGE_COIN].sz_decimals


class Parked(Exception):
    """The execution cannot progress now (a venue is unreachable, an outcome is still unknown)."""
