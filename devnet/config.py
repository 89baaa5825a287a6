"""Devnet configuration: ports, seed, speed and the knobs each emulator reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

DEFAULT_PORTS = {
    "admin": 3000,
    "hyperliquid": 3001,
    "asgard": 3002,
    "privy": 3003,
    "solana": 8899,
    "arbitrum": 8547,
}
# With --base-port B the six services take B .. B+5 in this order, so several devnets can run
# side by side (tests give each its own block of ports).
PORT_ORDER = ("admin", "hyperliquid", "asgard", "privy", "solana", "arbitrum")

SCENARIOS = ("calm", "funding_flip", "lst_depeg", "flash_crash", "venue_outage")
VENUES = ("hyperliquid", "asgard", "privy", "solana", "arbitrum")


@dataclass(frozen=True)
class Ports:
    admin: int
    hyperliquid: int
    asgard: int
    privy: int
    solana: int
    arbitrum: int

    @classmethod
    def default(cls) -> Ports:
        return cls(**DEFAULT_PORTS)

    @classmethod
    def from_base(cls, base: int) -> Ports:
        if not 1024 <= base <= 65535 - len(PORT_ORDER):
            raise ValueError(f"--base-port must be between 1024 and {65535 - len(PORT_ORDER)}, got {base}")
        return cls(**{name: base + i for i, name in enumerate(PORT_ORDER)})

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in PORT_ORDER}


@dataclass(frozen=True)
class DevnetConfig:
    # Seed of every random process (prices, rates, faults, keys the devnet generates).
    seed: int = 7
    # Simulated seconds per real second. 360 = one simulated hour every 10 real seconds, so
    # hourly funding shows in a demo. 1 = real time.
    speed: float = 360.0
    # Scenario at start: calm, funding_flip, lst_depeg, flash_crash, venue_outage.
    scenario: str = "calm"
    # The clock's speed while a flash crash falls. The market steps once a simulated minute; at 12 a
    # step lasts 5 real seconds, one tick of a bot at its default cadence, so its breakers see every
    # step of the fall (at the default speed 360 a 10-minute crash is over in 1.7 s, between two
    # ticks). The devnet's own speed comes back when the fall ends; a slower devnet keeps its speed.
    crash_speed: float = 12.0
    # Only loopback: the devnet is never reachable from another machine.
    host: str = "127.0.0.1"
    ports: Ports = field(default_factory=Ports.default)
    # SOL oracle price at start, in USD.
    sol_price: Decimal = Decimal("150")
    # The Hyperliquid emulator verifies signatures as mainnet (L1 source "a", hyperliquidChain
    # "Mainnet") rather than testnet. The official SDK signs as testnet for any URL but
    # api.hyperliquid.xyz, so a loopback devnet is a testnet by default; `--hyperliquid-network
    # mainnet` serves bots run with BASIS_NETWORK=mainnet (shared/networks.py).
    hyperliquid_mainnet: bool = False
    # Solana slot time in real milliseconds (blockhashes expire after 150 blocks: ~60 s at 400 ms).
    slot_ms: int = 400
    # REST weight each client IP may spend on the Hyperliquid emulator in any 60 s; over it, HTTP 429.
    # 1,200 as on the venue (devnet/hyperliquid/limits.py has the weights). Loopback clients share
    # one address, as bots on one host share an IP; raise it only where the limit is not the point.
    hyperliquid_weight_per_minute: int = 1200
    # Real seconds between a USDC transfer to the Hyperliquid bridge and the credit on Hyperliquid.
    bridge_delay_s: float = 1.0
    # A folder of recorded history (shared/market_history.py's four files): SOL's price, funding and
    # Kamino's SOL rates follow it, its first hour replayed at the devnet's start hour
    # (devnet/replay.py), at `speed` (3600: one recorded hour per real second). None: the seeded
    # random market.
    history: Path | None = None
    # The recorded days to replay, both included (None: from the first, to the last).
    history_from: date | None = None
    history_to: date | None = None
    # Origins Privy's client API (/api/v1) answers, as a production app's "allowed origins": the
    # control plane's page under `make run`. Anything else, or no Origin, gets 403
    # (devnet/privy/origins.py, which checks each).
    privy_allowed_origins: tuple[str, ...] = ("http://127.0.0.1:8000", "http://localhost:8000")

    def __post_init__(self) -> None:
        if self.speed <= 0:
            raise ValueError(f"--speed must be positive, got {self.speed}")
        if not self.crash_speed > 0:
            raise ValueError(f"--crash-speed must be positive, got {self.crash_speed}")
        if self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}")
        if self.host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the devnet binds to loopback only")
        if self.hyperliquid_weight_per_minute < 1:
            raise ValueError("--hyperliquid-weight-per-minute must be at least 1")
        if not self.bridge_delay_s >= 0:
            raise ValueError(f"--bridge-delay-s must not be negative, got {self.bridge_delay_s}")
        if self.slot_ms < 10:
            raise ValueError("slot_ms must be at least 10")
        if self.history is None and (self.history_from or self.history_to):
            raise ValueError("--history-from and --history-to need --history DIR")

    def url(self, service: str) -> str:
        return f"http://{self.host}:{getattr(self.ports, service)}"
