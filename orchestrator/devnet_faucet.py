"""Test funds on the devnet: what the portal's "Get test funds" button puts in a user's wallets.

On the devnet nothing is worth anything, and a new user needs money in both wallets to try Basis:
USDC and SOL (for fees) on Solana for the Asgard leg, USDC and ETH (for the bridge transfer's gas) on
Arbitrum for the Hyperliquid leg. The button asks the devnet's admin faucet (`POST /faucet`) for
`TEST_FUNDS`, to the signed-in user's own addresses only, at most once per `COOLDOWN_SECONDS`.
Outside the devnet there is no faucet (`DevnetFaucet` is not built) and the route says so.
"""

from __future__ import annotations

import time
from decimal import Decimal

import httpx

from shared.assets import ARBITRUM_MIN_GAS_ETH, HYPERLIQUID_MIN_DEPOSIT_USDC, SOLANA_MIN_FEE_SOL

# (chain, asset, amount): comfortably above every minimum, enough for a few positions.
TEST_FUNDS: tuple[tuple[str, str, str], ...] = (
    ("solana", "USDC", "1000"),
    ("solana", "SOL", "1"),
    ("arbitrum", "USDC", "1000"),
    ("arbitrum", "ETH", "0.01"),
)
# One press per user this often: a second one while the first is landing would only double it.
COOLDOWN_SECONDS = 30.0
FAUCET_TIMEOUT_SECONDS = 10.0


def deposit_minimums() -> dict[str, dict[str, str]]:
    """What each wallet needs at least, by chain and asset, as the deposit dialog shows it (the bot
    refuses or waits below these): SOL for Solana's fees, 5 USDC for Hyperliquid's bridge (less is
    lost), ETH for the bridge transfer's gas."""
    return {
        "solana": {"SOL": str(SOLANA_MIN_FEE_SOL)},
        "evm": {"USDC": str(Decimal(HYPERLIQUID_MIN_DEPOSIT_USDC)), "ETH": str(ARBITRUM_MIN_GAS_ETH)},
    }


class TestFundsRefused(Exception):
    """Why no test funds were sent, in a sentence; `status` is the HTTP status to answer with."""

    __test__ = False  # not a pytest class, whatever its name

    def __init__(self, status: int, sentence: str) -> None:
        super().__init__(sentence)
        self.status = status


class DevnetFaucet:
    """The devnet's admin faucet, asked on a user's behalf."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self._last: dict[str, float] = {}  # user id → when they were last sent funds (monotonic)

    async def send(
        self, user_id: str, solana_address: str | None, evm_address: str | None
    ) -> list[dict[str, str]]:
        """Send `TEST_FUNDS` to the user's two addresses; what was sent, one row each."""
        if not solana_address or not evm_address:
            raise TestFundsRefused(409, "Your wallets are still being created; try again in a moment.")
        last, now = self._last, time.monotonic()
        wait = COOLDOWN_SECONDS - (now - last.get(user_id, -COOLDOWN_SECONDS))
        if wait > 0:
            raise TestFundsRefused(429, f"Test funds were just sent; try again in {wait:.0f} s.")
        last[user_id] = now
        sent = []
        async with httpx.AsyncClient(base_url=self.admin_url, timeout=FAUCET_TIMEOUT_SECONDS) as client:
            for chain, asset, amount in TEST_FUNDS:
                address = solana_address if chain == "solana" else evm_address
                body = {"chain": chain, "asset": asset, "address": address, "amount": amount}
                try:
                    r = await client.post("/faucet", json=body)
                except httpx.HTTPError as exc:
                    raise TestFundsRefused(
                        502, f"The devnet's faucet did not answer ({type(exc).__name__}); is the devnet up?"
                    ) from None
                if r.status_code != 200:
                    why = r.text[:200]
                    raise TestFundsRefused(502, f"The devnet's faucet refused {amount} {asset}: {why}")
                sent.append({"chain": chain, "asset": asset, "amount": amount})
        return sent
