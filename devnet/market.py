"""The seeded market simulator every emulator reads from.

One simulated minute per step. Each step moves the perp oracle prices (correlated random walks with
jumps), each perp's premium (mean-reverting), the lending rates of each protocol, and the LST/SOL
exchange rates (growing with staking yield, with a market discount that a depeg widens). At every
simulated hour it computes Hyperliquid's funding rate for the hour that ended, from the premium
averaged over that hour, the interest rate, the ±0.05% clamp and the 4%/h cap, and tells its
listeners (the Hyperliquid emulator pays funding; the Asgard emulator accrues interest each step).

The path depends only on the seed and the scenario changes, never on when clients poll: steps are
on a fixed grid of simulated time and are computed lazily up to "now".

With a `Replay` (devnet/replay.py) SOL follows recorded history instead: its price on the recorded
candle path (mark = oracle), its funding as recorded, Kamino's SOL supply and USDC borrow APY as
recorded; the other lending markets are inactive (the record holds Kamino SOL only), the other perps
walk as before. Scenarios that move SOL (funding_flip, flash_crash) are refused during a replay.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from devnet.clock import SimClock
from devnet.replay import Replay
from shared.assets import LSTS, Asset, Protocol

STEP_MS = 60_000
HOUR_MS = 3_600_000
YEAR_S = 365 * 24 * 3600
STEP_YEARS = STEP_MS / 1000 / YEAR_S
STEP_HOURS = STEP_MS / HOUR_MS

# Hyperliquid funding: 8-hour interest rate 0.01%, premium clamp ±0.05%, paid hourly at 1/8, capped 4%/h.
HL_INTEREST_8H = 0.0001
HL_CLAMP = 0.0005
HL_HOURLY_CAP = 0.04

FUNDING_HISTORY_LIMIT = 24 * 90  # 90 simulated days of hourly records per coin


def sig(value: float, figures: int = 6) -> Decimal:
    """A float rounded to `figures` significant figures, as an exact Decimal."""
    if value == 0 or not math.isfinite(value):
        return Decimal(0)
    return Decimal(f"{value:.{figures}g}")


def hourly_funding(avg_premium: float) -> float:
    """Hyperliquid's hourly rate from the hour's average premium (a fraction of the oracle price)."""
    eight_hour = avg_premium + max(-HL_CLAMP, min(HL_CLAMP, HL_INTEREST_8H - avg_premium))
    return max(-HL_HOURLY_CAP, min(HL_HOURLY_CAP, eight_hour / 8))


@dataclass(frozen=True)
class PerpSpec:
    name: str
    sz_decimals: int
    max_leverage: int
    margin_table_id: int
    start_px: float
    vol: float  # annualised volatility of the oracle price
    delisted: bool = False


# Universe in mainnet order: an asset id is its index, delisted entries keep theirs (SOL is 5).
def perp_specs(sol_price: Decimal) -> list[PerpSpec]:
    return [
        PerpSpec("BTC", 5, 40, 56, 92000.0, 0.45),
        PerpSpec("ETH", 4, 25, 55, 3100.0, 0.60),
        PerpSpec("ATOM", 2, 5, 5, 4.6, 0.90),
        PerpSpec("MATIC", 1, 20, 20, 0.38, 0.0, delisted=True),
        PerpSpec("DYDX", 1, 10, 10, 0.62, 0.95),
        PerpSpec("SOL", 2, 20, 54, float(sol_price), 0.70),
    ]


@dataclass
class PerpState:
    spec: PerpSpec
    oracle: float
    premium: float
    premium_mean: float
    premium_sum: float = 0.0
    premium_n: int = 0
    prev_day_px: float = 0.0
    day_volume_base: float = 0.0
    open_interest: float = 0.0
    # (time_ms, hourly rate, average premium)
    funding: list[tuple[int, float, float]] = field(default_factory=list)
    replayed: bool = False  # a recorded rate settles each hour; the forecast is the last settled

    @property
    def predicted_rate(self) -> float:
        if self.replayed:
            return self.funding[-1][1] if self.funding else 0.0
        avg = self.premium_sum / self.premium_n if self.premium_n else self.premium
        return hourly_funding(avg)


@dataclass(frozen=True)
class LendingSpec:
    """What a lending protocol offers for one collateral (token A) against USDC (token B)."""

    supply_apy: float  # token A supply (lending) APY, excluding staking yield
    usdc_borrow_apy: float
    usdc_supply_apy: float
    max_ltv: float
    liquidation_threshold: float
    deposit_capacity: float  # token A units still depositable
    borrow_capacity: float  # USDC still borrowable


def _lending_table() -> dict[tuple[Protocol, Asset], LendingSpec]:
    # Base levels from public data (Kamino/marginfi 2025–26: SOL supply ~4–6%, USDC borrow ~5–8%).
    usdc = {
        Protocol.KAMINO: (0.068, 0.055),
        Protocol.MARGINFI: (0.072, 0.058),
        Protocol.SOLEND: (0.079, 0.061),
        Protocol.DRIFT: (0.065, 0.050),
    }
    sol_supply = {
        Protocol.KAMINO: 0.052,
        Protocol.MARGINFI: 0.048,
        Protocol.SOLEND: 0.041,
        Protocol.DRIFT: 0.045,
    }
    lst_supply = {Asset.JITOSOL: 0.0020, Asset.MSOL: 0.0015, Asset.JUPSOL: 0.0025, Asset.INF: 0.0010}
    table: dict[tuple[Protocol, Asset], LendingSpec] = {}
    for proto, (borrow, usdc_supply) in usdc.items():
        table[(proto, Asset.SOL)] = LendingSpec(
            sol_supply[proto], borrow, usdc_supply, 0.78, 0.85, 250_000.0, 8_000_000.0
        )
        for lst, supply in lst_supply.items():
            # Solend lists only jitoSOL and mSOL of the LSTs; Drift only jitoSOL and INF.
            if proto is Protocol.SOLEND and lst not in (Asset.JITOSOL, Asset.MSOL):
                continue
            if proto is Protocol.DRIFT and lst not in (Asset.JITOSOL, Asset.INF):
                continue
            table[(proto, lst)] = LendingSpec(supply, borrow, usdc_supply, 0.76, 0.82, 120_000.0, 8_000_000.0)
    return table


@dataclass
class LendingState:
    spec: LendingSpec
    supply_apy: float
    usdc_borrow_apy: float
    usdc_supply_apy: float
    deposit_capacity: float
    borrow_capacity: float
    active: bool = True


# LST: (SOL per LST at start, staking APY)
LST_START: dict[Asset, tuple[float, float]] = {
    Asset.JITOSOL: (1.2543, 0.0755),
    Asset.MSOL: (1.3102, 0.0720),
    Asset.JUPSOL: (1.1205, 0.0790),
    Asset.INF: (1.3450, 0.0740),
}


@dataclass
class LstState:
    rate: float  # fundamental SOL per LST (stake pool exchange rate)
    staking_apy: float
    discount: float = 0.0005  # market discount to the fundamental rate
    discount_target: float = 0.0005


@dataclass(frozen=True)
class Scenario:
    name: str
    params: dict[str, Any]
    started_ms: int


# The one lending market the record holds (Kamino's SOL supply and USDC borrow).
REPLAYED_MARKET = (Protocol.KAMINO, Asset.SOL)

StepListener = Callable[[int], None]
HourListener = Callable[[int, dict[str, float]], None]


class MarketSimulator:
    def __init__(
        self, seed: int, clock: SimClock, sol_price: Decimal = Decimal("150"), replay: Replay | None = None
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.replay = replay
        self._rng = random.Random(f"market:{seed}")
        self._advancing = False
        now = clock.now_ms()
        self._step_ms = now - now % STEP_MS  # last step computed
        if replay is not None:
            sol_price = replay.price(self._step_ms)
        self.perps: dict[str, PerpState] = {}
        for spec in perp_specs(sol_price):
            mean = 0.0002 if not spec.delisted else 0.0
            self.perps[spec.name] = PerpState(
                spec,
                spec.start_px,
                premium=mean,
                premium_mean=mean,
                prev_day_px=spec.start_px,
                open_interest=self._rng.uniform(2e5, 6e6) / max(spec.start_px, 1e-9) * 100,
            )
        self.lending: dict[tuple[Protocol, Asset], LendingState] = {
            key: LendingState(
                spec,
                spec.supply_apy,
                spec.usdc_borrow_apy,
                spec.usdc_supply_apy,
                spec.deposit_capacity,
                spec.borrow_capacity,
            )
            for key, spec in _lending_table().items()
        }
        self.lsts: dict[Asset, LstState] = {a: LstState(r, y) for a, (r, y) in LST_START.items()}
        if replay is not None:
            self._start_replay(replay)
        self.scenario = Scenario("calm", {}, now)
        self._crash: dict[str, Any] | None = None
        self._step_listeners: list[StepListener] = []
        self._hour_listeners: list[HourListener] = []
        self._hour_start = self._step_ms - self._step_ms % HOUR_MS
        self._seed_history(now)

    # ----------------------------------------------------------------- listeners
    def on_step(self, listener: StepListener) -> None:
        """`listener(step_time_ms)` after every simulated minute."""
        self._step_listeners.append(listener)

    def on_hour(self, listener: HourListener) -> None:
        """`listener(funding_time_ms, {coin: hourly rate})` when an hour's funding is settled."""
        self._hour_listeners.append(listener)

    # ----------------------------------------------------------------- time
    def advance(self) -> None:
        """Compute every step up to the clock's now.

        Re-entrant calls (a step listener reading a price) return at once: the listener sees the
        step being computed, never a later one.
        """
        if self._advancing:
            return
        self._advancing = True
        try:
            target = self.clock.now_ms()
            while self._step_ms + STEP_MS <= target:
                self._step_ms += STEP_MS
                self._step(self._step_ms)
        finally:
            self._advancing = False

    @property
    def sim_ms(self) -> int:
        """Time of the last computed step."""
        return self._step_ms

    # ----------------------------------------------------------------- reads
    def oracle_px(self, coin: str) -> Decimal:
        self.advance()
        return sig(self.perps[coin].oracle)

    def mark_px(self, coin: str) -> Decimal:
        """Perp mark price: oracle moved by the current premium."""
        self.advance()
        p = self.perps[coin]
        return sig(p.oracle * (1 + p.premium))

    def premium(self, coin: str) -> Decimal:
        self.advance()
        return Decimal(f"{self.perps[coin].premium:.10f}")

    def predicted_funding(self, coin: str) -> Decimal:
        """Hourly rate the current hour would settle at, from the premium averaged so far."""
        self.advance()
        return Decimal(f"{self.perps[coin].predicted_rate:.10f}")

    def next_funding_ms(self) -> int:
        self.advance()
        return self._hour_start + HOUR_MS

    def funding_history(
        self, coin: str, start_ms: int = 0, end_ms: int | None = None
    ) -> list[tuple[int, Decimal, Decimal]]:
        self.advance()
        out = []
        for t, rate, prem in self.perps[coin].funding:
            if t < start_ms or (end_ms is not None and t > end_ms):
                continue
            out.append((t, Decimal(f"{rate:.10f}"), Decimal(f"{prem:.10f}")))
        return out

    def sol_price(self) -> Decimal:
        return self.oracle_px("SOL")

    def lst_rate(self, asset: Asset) -> Decimal:
        """Fundamental SOL per LST (the stake pool's exchange rate)."""
        self.advance()
        return sig(self.lsts[asset].rate, 10)

    def lst_market_rate(self, asset: Asset) -> Decimal:
        """SOL per LST on the market: the fundamental rate less the market discount."""
        self.advance()
        s = self.lsts[asset]
        return sig(s.rate * (1 - s.discount), 10)

    def staking_apy(self, asset: Asset) -> Decimal:
        self.advance()
        return Decimal(f"{self.lsts[asset].staking_apy:.6f}")

    def price_usd(self, asset: Asset) -> Decimal:
        """USD price of any asset Basis holds (USDC is 1)."""
        self.advance()
        if asset is Asset.USDC:
            return Decimal(1)
        if asset is Asset.SOL:
            return sig(self.perps["SOL"].oracle)
        if asset is Asset.ETH:
            return sig(self.perps["ETH"].oracle)
        if asset in LSTS:
            s = self.lsts[asset]
            return sig(self.perps["SOL"].oracle * s.rate * (1 - s.discount))
        raise ValueError(f"no price for {asset}")

    def lending_state(self, protocol: Protocol, asset: Asset) -> LendingState | None:
        self.advance()
        return self.lending.get((protocol, asset))

    # ----------------------------------------------------------------- replay
    def _start_replay(self, replay: Replay) -> None:
        sol = self.perps["SOL"]
        sol.replayed = True
        sol.premium = sol.premium_mean = 0.0
        for key, lend in self.lending.items():
            lend.active = key == REPLAYED_MARKET
        self._follow_record(self._step_ms)

    def _follow_record(self, t: int) -> None:
        """SOL's price and Kamino SOL's rates at step `t`, from the record."""
        assert self.replay is not None
        sol = self.perps["SOL"]
        sol.oracle = float(self.replay.price(t))
        sol.premium = 0.0
        kamino = self.lending[REPLAYED_MARKET]
        kamino.supply_apy = float(self.replay.supply(t).value)
        kamino.usdc_borrow_apy = float(self.replay.borrow(t).value)

    # ----------------------------------------------------------------- scenarios
    def set_scenario(self, name: str, params: dict[str, Any] | None = None) -> Scenario:
        """Change the market regime. Outages are handled by the fault book, not here."""
        self.advance()
        if self.replay is not None and name in ("funding_flip", "flash_crash"):
            raise ValueError(f"the devnet is replaying recorded history: SOL follows the record, not {name}")
        params = dict(params or {})
        now = self._step_ms
        sol = self.perps["SOL"]
        if name == "calm":
            sol.premium_mean = 0.0002
            for lst in self.lsts.values():
                lst.discount_target = 0.0005
            self._crash = None
        elif name == "funding_flip":
            # Shorts pay: the perp trades below the oracle, beyond the clamp.
            sol.premium_mean = float(params.get("premium", -0.0012))
        elif name == "lst_depeg":
            asset = Asset.parse(str(params.get("asset", "jitoSOL")))
            if asset not in LSTS:
                raise ValueError(f"{asset.value} is not an LST")
            params["asset"] = asset.value
            self.lsts[asset].discount_target = float(params.get("discount", 0.08))
        elif name == "flash_crash":
            drop = float(params.get("drop", 0.30))
            if not 0 < drop < 0.95:
                raise ValueError("flash_crash drop must be between 0 and 0.95")
            params["drop"] = drop
            minutes = int(params.get("minutes", 10))
            self._crash = {
                "start_px": sol.oracle,
                "per_step": (1 - drop) ** (1 / max(minutes, 1)),
                "steps_left": max(minutes, 1),
                "recover_to": sol.oracle * (1 - drop * 0.6),
                "recover_steps": int(params.get("recover_minutes", 120)),
            }
            sol.premium = -0.003
        elif name == "venue_outage":
            pass  # the server marks the venue down in the fault book; prices carry on
        else:
            raise ValueError(f"unknown scenario {name!r}")
        self.scenario = Scenario(name, params, now)
        return self.scenario

    # ----------------------------------------------------------------- the step
    def _step(self, t: int) -> None:
        rng = self._rng
        market_z = rng.gauss(0, 1)
        for p in self.perps.values():
            spec = p.spec
            if spec.delisted:
                continue
            z = 0.7 * market_z + math.sqrt(1 - 0.49) * rng.gauss(0, 1)
            log_ret = -0.5 * spec.vol**2 * STEP_YEARS + spec.vol * math.sqrt(STEP_YEARS) * z
            if rng.random() < 2.0 / (24 * 60):  # about two jumps a day
                log_ret += rng.gauss(0, 0.012)
            p.oracle *= math.exp(log_ret)
            # Premium: Ornstein–Uhlenbeck around its mean, reverting in about half an hour.
            theta = 2.0 * STEP_HOURS
            p.premium += theta * (p.premium_mean - p.premium) + 0.0008 * math.sqrt(STEP_HOURS) * rng.gauss(
                0, 1
            )
            p.premium_sum += p.premium
            p.premium_n += 1
            p.day_volume_base += abs(rng.gauss(0, 1)) * 2e6 / max(spec.start_px, 1e-9) / 1440 * 100
        self._apply_crash()
        for lend in self.lending.values():
            base = lend.spec
            for attr, level in (
                ("supply_apy", base.supply_apy),
                ("usdc_borrow_apy", base.usdc_borrow_apy),
                ("usdc_supply_apy", base.usdc_supply_apy),
            ):
                value = getattr(lend, attr)
                value += 0.5 * STEP_HOURS * (level - value) + 0.002 * math.sqrt(STEP_HOURS) * rng.gauss(0, 1)
                setattr(lend, attr, max(0.0001, value))
        for lst in self.lsts.values():
            lst.rate *= math.exp(math.log1p(lst.staking_apy) * STEP_YEARS)
            # The market discount drifts to its target within about an hour.
            lst.discount += 3.0 * STEP_HOURS * (lst.discount_target - lst.discount)
            lst.discount += 0.0001 * math.sqrt(STEP_HOURS) * rng.gauss(0, 1)
            lst.discount = max(-0.002, min(0.5, lst.discount))
        if self.replay is not None:
            self._follow_record(t)
        if t % (24 * HOUR_MS) == 0:
            for p in self.perps.values():
                p.prev_day_px = p.oracle
                p.day_volume_base = 0.0
        for listener in self._step_listeners:
            listener(t)
        if t % HOUR_MS == 0:
            self._settle_hour(t)

    @property
    def crash_falling(self) -> bool:
        """A flash crash is still falling (its recovery, slow, does not count)."""
        return self._crash is not None and self._crash["steps_left"] > 0

    def _apply_crash(self) -> None:
        crash = self._crash
        if not crash:
            return
        sol = self.perps["SOL"]
        if crash["steps_left"] > 0:
            sol.oracle *= crash["per_step"]
            sol.premium = min(sol.premium, -0.002)
            crash["steps_left"] -= 1
        elif crash["recover_steps"] > 0:
            gap = crash["recover_to"] - sol.oracle
            sol.oracle += gap / crash["recover_steps"]
            crash["recover_steps"] -= 1
        else:
            self._crash = None

    def _settle_hour(self, t: int) -> None:
        rates: dict[str, float] = {}
        # Settlement stamps land a few milliseconds after the hour, as on the venue. A separate
        # generator, so the price path does not depend on where in the hour the devnet started.
        stamp = t + random.Random(f"stamp:{self.seed}:{t}").randint(3, 60)
        for name, p in self.perps.items():
            if p.spec.delisted:
                continue
            avg = p.premium_sum / p.premium_n if p.premium_n else p.premium
            rate = (
                float(self.replay.funding(t))
                if p.replayed and self.replay is not None
                else hourly_funding(avg)
            )
            p.funding.append((stamp, rate, avg))
            if len(p.funding) > FUNDING_HISTORY_LIMIT:
                del p.funding[: len(p.funding) - FUNDING_HISTORY_LIMIT]
            p.premium_sum, p.premium_n = 0.0, 0
            rates[name] = rate
        self._hour_start = t
        for listener in self._hour_listeners:
            listener(stamp, rates)

    def _seed_history(self, now: int) -> None:
        """Three simulated days of past hourly funding, so history charts are not empty at start."""
        hour0 = now - now % HOUR_MS
        hist_rng = random.Random(f"history:{self.seed}")
        for p in self.perps.values():
            if p.spec.delisted:
                continue
            if p.replayed and self.replay is not None:
                p.funding = [(t + 37, float(rate), 0.0) for t, rate in self.replay.lead_in()]
                continue
            prem = p.premium_mean
            for h in range(72, 0, -1):
                prem += 0.5 * (p.premium_mean - prem) + hist_rng.gauss(0, 0.0004)
                p.funding.append((hour0 - h * HOUR_MS + hist_rng.randint(3, 60), hourly_funding(prem), prem))

    # ----------------------------------------------------------------- state
    def snapshot(self) -> dict[str, Any]:
        self.advance()
        sol = self.perps["SOL"]
        return {
            "sim_time_ms": self.clock.now_ms(),
            "replay": self.replay.snapshot(self._step_ms) if self.replay is not None else None,
            "speed": self.clock.speed,
            "scenario": {
                "name": self.scenario.name,
                "params": self.scenario.params,
                "started_ms": self.scenario.started_ms,
            },
            "prices_usd": {a.value: str(self.price_usd(a)) for a in (Asset.SOL, Asset.ETH, *sorted(LSTS))},
            "perps": {
                name: {
                    "oracle_px": str(sig(p.oracle)),
                    "mark_px": str(sig(p.oracle * (1 + p.premium))),
                    "premium": f"{p.premium:.10f}",
                    "predicted_hourly_funding": f"{p.predicted_rate:.10f}",
                    "last_hourly_funding": f"{p.funding[-1][1]:.10f}" if p.funding else None,
                }
                for name, p in self.perps.items()
                if not p.spec.delisted
            },
            "sol_funding_apr": f"{sol.predicted_rate * 24 * 365:.6f}",
            "lending": {
                f"{proto.label}:{asset.value}": {
                    "supply_apy": f"{s.supply_apy:.6f}",
                    "usdc_borrow_apy": f"{s.usdc_borrow_apy:.6f}",
                    "usdc_supply_apy": f"{s.usdc_supply_apy:.6f}",
                    "deposit_capacity": f"{s.deposit_capacity:.2f}",
                    "borrow_capacity": f"{s.borrow_capacity:.2f}",
                    "active": s.active,
                }
                for (proto, asset), s in self.lending.items()
            },
            "lsts": {
                a.value: {
                    "sol_per_lst": str(sig(s.rate, 10)),
                    "market_sol_per_lst": str(sig(s.rate * (1 - s.discount), 10)),
                    "discount": f"{s.discount:.6f}",
                    "staking_apy": f"{s.staking_apy:.6f}",
                }
                for a, s in self.lsts.items()
            },
        }
