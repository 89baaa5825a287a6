"""Asgard's markets: one liquidity source per (lending protocol, token A) against USDC, and the
`GET /markets` and `GET /token-metadata` payloads built from the market simulator.

Rates, capacities, LTVs and the active flag are the simulator's `market.lending` state, so what
`/markets` shows is what positions accrue. Token B is always USDC: Basis only opens LONG SOL/LST.

Bank addresses: the lending protocols' real mainnet addresses where they are well attested (the
SOL and USDC banks of Kamino's main market, marginfi's main group and Solend's main pool; Drift's
spot-market accounts, derived from Drift's real seeds). The LST banks of Kamino, marginfi and
Solend are devnet addresses derived from the protocol's program id. Clients must read banks from
`/markets` and pass them back, never hard-code them.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from solders.pubkey import Pubkey

from devnet.market import MarketSimulator, sig
from shared.assets import SOLANA_NATIVE_MINT, TOKENS, Asset, Chain, Protocol

USDC_MINT = TOKENS[(Asset.USDC, Chain.SOLANA)].address or ""

PROGRAM_IDS: dict[Protocol, Pubkey] = {
    Protocol.KAMINO: Pubkey.from_string("KLend2g3cP87fffoy8q1mQqGKjrxjC8boSyAYavgmjD"),
    Protocol.MARGINFI: Pubkey.from_string("MFv2hWf31Z9kbCa1snEPYctwafyhdvnV7FZnsebVacA"),
    Protocol.SOLEND: Pubkey.from_string("So1endDq2YkqhipRh3WViPa8hdiSpxWy6z3Z6tMCpAo"),
    Protocol.DRIFT: Pubkey.from_string("dRiftyHA39MWEi3m9aunc5MzRF1JYuBsbn6VPcn33UH"),
}

MARKET_KEYS = {
    Protocol.KAMINO: "Main Market",
    Protocol.MARGINFI: "Main Group",
    Protocol.SOLEND: "Main Pool",
    Protocol.DRIFT: "Main Market",
}

# (protocol, asset) → bank / reserve address on mainnet.
KNOWN_BANKS: dict[tuple[Protocol, Asset], str] = {
    (Protocol.KAMINO, Asset.SOL): "d4A2prbA2whesmvHaL88BH6Ewn5N4bTSU2Ze8P6Bc4Q",
    (Protocol.KAMINO, Asset.USDC): "D6q6wuQSrifJKZYpR1M8R4YawnLDtDsMmWM1NbBmgJ59",
    (Protocol.MARGINFI, Asset.SOL): "CCKtUs6Cgwo4aaQUmBPmyoApH2gUDErxNZCAntD6LYGh",
    (Protocol.MARGINFI, Asset.USDC): "2s37akK2eyBbp8DZgCm7RtsaEz8eJP3Nxd4urLHQv7yB",
    (Protocol.SOLEND, Asset.SOL): "8PbodeaosQP19SjYFx855UMqWxH2HynZLdBXmsrbac36",
    (Protocol.SOLEND, Asset.USDC): "BgxfHJDzm44T7XG68MYKx7YisTjZu73tVovyZSjJMpmw",
}
# Drift spot market indexes (mainnet); Drift's balances are keyed by these in `/refresh-positions`.
DRIFT_MARKET_INDEX = {Asset.USDC: 0, Asset.SOL: 1, Asset.MSOL: 2, Asset.JITOSOL: 6, Asset.INF: 16}

TOKEN_NAMES = {
    Asset.SOL: "Wrapped SOL",
    Asset.USDC: "USD Coin",
    Asset.JITOSOL: "Jito Staked SOL",
    Asset.MSOL: "Marinade staked SOL",
    Asset.JUPSOL: "Jupiter Staked SOL",
    Asset.INF: "Infinity",
}
STRATEGY_ORDER = (Asset.SOL, Asset.JITOSOL, Asset.MSOL, Asset.JUPSOL, Asset.INF)

USDC_MAX_LTV = 0.80

# Token A (SOL/LST) borrow rates are not simulated (Basis never borrows them): shown as the supply
# rate grossed up by a typical utilisation (75%) and reserve factor (10%).
TOKEN_A_BORROW_FROM_SUPPLY = 1 / (0.75 * 0.9)


def mint_of(asset: Asset) -> str:
    """The SPL mint Asgard names a token by (wrapped SOL for SOL)."""
    if asset is Asset.SOL:
        return SOLANA_NATIVE_MINT
    address = TOKENS[(asset, Chain.SOLANA)].address
    if address is None:
        raise ValueError(f"{asset.value} has no Solana mint")
    return address


def decimals_of(asset: Asset) -> int:
    return TOKENS[(asset, Chain.SOLANA)].decimals


def bank_address(protocol: Protocol, asset: Asset) -> str:
    if protocol is Protocol.DRIFT and asset in DRIFT_MARKET_INDEX:
        index = DRIFT_MARKET_INDEX[asset].to_bytes(2, "little")
        return str(Pubkey.find_program_address([b"spot_market", index], PROGRAM_IDS[protocol])[0])
    known = KNOWN_BANKS.get((protocol, asset))
    if known:
        return known
    seed = Pubkey.from_string(mint_of(asset))
    return str(Pubkey.find_program_address([b"basis-devnet-bank", bytes(seed)], PROGRAM_IDS[protocol])[0])


def balance_key(protocol: Protocol, asset: Asset) -> str:
    """Key of one balance in `booksAndBalances`: the bank address, or Drift's market index."""
    if protocol is Protocol.DRIFT and asset in DRIFT_MARKET_INDEX:
        return str(DRIFT_MARKET_INDEX[asset])
    return bank_address(protocol, asset)


def long_max_leverage(max_ltv: float) -> Decimal:
    """1 / (1 − max LTV), rounded down to 2 decimals (LTV 0.74 → 3.84, as Asgard shows)."""
    exact = Decimal(1) / (Decimal(1) - Decimal(str(max_ltv)))
    return exact.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


@dataclass(frozen=True)
class LiquiditySource:
    protocol: Protocol
    asset: Asset  # token A
    token_a_mint: str
    token_b_mint: str
    token_a_bank: str
    token_b_bank: str
    market_key: str

    @property
    def key(self) -> tuple[Protocol, Asset]:
        return (self.protocol, self.asset)

    @property
    def strategy(self) -> str:
        return f"{self.asset.value}/USDC"


def liquidity_sources(market: MarketSimulator) -> dict[tuple[Protocol, Asset], LiquiditySource]:
    """Every lending market the simulator offers, as Asgard liquidity sources."""
    out: dict[tuple[Protocol, Asset], LiquiditySource] = {}
    for protocol, asset in market.lending:
        out[(protocol, asset)] = LiquiditySource(
            protocol=protocol,
            asset=asset,
            token_a_mint=mint_of(asset),
            token_b_mint=USDC_MINT,
            token_a_bank=bank_address(protocol, asset),
            token_b_bank=bank_address(protocol, Asset.USDC),
            market_key=MARKET_KEYS[protocol],
        )
    return out


def _rate(value: float) -> float:
    return round(value, 6)


def _capacity(value: float) -> str:
    return f"{max(value, 0.0):.2f}"


def markets_payload(
    sources: dict[tuple[Protocol, Asset], LiquiditySource], market: MarketSimulator
) -> dict[str, Any]:
    """`GET /markets`. Reads the simulator's state as it is (the caller has advanced it)."""
    now_ms = market.sim_ms
    strategies: dict[str, Any] = {}
    for asset in STRATEGY_ORDER:
        rows = [s for s in sources.values() if s.asset is asset]
        if not rows:
            continue
        price_a = raw_price_usd(market, asset)
        liquidity = []
        for src in sorted(rows, key=lambda s: s.protocol.value):
            lend = market.lending[src.key]
            spec = lend.spec
            row: dict[str, Any] = {
                "lendingProtocol": src.protocol.value,
                "isActive": lend.active,
                "marketKey": src.market_key,
                "tokenABank": src.token_a_bank,
                "tokenBBank": src.token_b_bank,
                "longMaxLeverage": float(long_max_leverage(spec.max_ltv)),
                # A SHORT holds USDC against a token A debt; shown for completeness (LONGs only here).
                "shortMaxLeverage": float(long_max_leverage(USDC_MAX_LTV)),
                # LONGs deposit token A and borrow token B: those two capacities are simulated; the other
                # two (a SHORT's) are shown as a fixed share of them.
                "tokenAMaxDepositCapacity": _capacity(lend.deposit_capacity),
                "tokenAMaxBorrowCapacity": _capacity(lend.deposit_capacity * 0.5),
                "tokenBMaxDepositCapacity": _capacity(lend.borrow_capacity * 1.25),
                "tokenBMaxBorrowCapacity": _capacity(lend.borrow_capacity),
                "tokenALendingApyRate": _rate(lend.supply_apy),
                "tokenABorrowingApyRate": _rate(lend.supply_apy * TOKEN_A_BORROW_FROM_SUPPLY),
                "tokenBLendingApyRate": _rate(lend.usdc_supply_apy),
                "tokenBBorrowingApyRate": _rate(lend.usdc_borrow_apy),
                # "Oracle Data (Protocol Specific - Treat as opaque/optional)": each protocol's own shape.
                "tokenAOracle": _oracle(src.protocol, src.token_a_bank, price_a, now_ms),
                "tokenBOracle": _oracle(src.protocol, src.token_b_bank, Decimal(1), now_ms),
                "tokenARewardAPY": [],
                "tokenBRewardAPY": [],
            }
            # "... other protocol-specific fields (emissions, staking rates, etc.)".
            if src.protocol is Protocol.KAMINO:
                row["tokenALiquidationThreshold"] = spec.liquidation_threshold
            elif src.protocol is Protocol.MARGINFI:
                row["oracleSetup"] = "SwitchboardPull"
            liquidity.append(row)
        strategies[f"{asset.value}/USDC"] = {
            "name": f"{asset.value}/USDC",
            "description": f"Long {asset.value} against USDC",
            "tokenAMint": mint_of(asset),
            "tokenBMint": USDC_MINT,
            "market": ["MARGIN"],
            "tag": ["TRADING"],
            "liquiditySources": liquidity,
        }
    return {"strategies": strategies, "totalStrategies": len(strategies)}


def _oracle(protocol: Protocol, bank: str, price: Decimal, now_ms: int) -> dict[str, Any]:
    """A bank's oracle as each protocol describes it: different keys, different units."""
    feed = str(
        Pubkey.find_program_address(
            [b"basis-devnet-oracle", bytes(Pubkey.from_string(bank))], Pubkey.default()
        )[0]
    )
    if protocol is Protocol.KAMINO:
        return {
            "pythConfiguration": {"price": feed},
            "scopeConfiguration": None,
            "tokenInfo": {"maxAgePriceSeconds": 180},
        }
    if protocol is Protocol.MARGINFI:
        return {"oracleKeys": [feed], "oracleMaxAge": 60}
    if protocol is Protocol.SOLEND:
        return {"pythOracle": feed, "switchboardOracle": None}
    expo = -8
    return {
        "oracleSource": "PythPull",
        "oracle": feed,
        "price": int(price.scaleb(-expo)),
        "expo": expo,
        "publishTime": now_ms // 1000,
    }


def raw_price_usd(market: MarketSimulator, asset: Asset) -> Decimal:
    """The simulator's USD price of `asset` at its last computed step, without advancing it.

    Same arithmetic as `MarketSimulator.price_usd`, which advances first: that must not happen
    inside a step listener (it would compute later steps in the middle of this one).
    """
    if asset is Asset.USDC:
        return Decimal(1)
    sol = market.perps["SOL"].oracle
    if asset is Asset.SOL:
        return sig(sol)
    state = market.lsts[asset]
    return sig(sol * state.rate * (1 - state.discount))


def raw_price_float(market: MarketSimulator, asset: Asset) -> float:
    """`raw_price_usd` as a float, for the per-step liquidation scan."""
    if asset is Asset.USDC:
        return 1.0
    sol = market.perps["SOL"].oracle
    if asset is Asset.SOL:
        return sol
    state = market.lsts[asset]
    return sol * state.rate * (1 - state.discount)


def token_metadata(market: MarketSimulator) -> list[dict[str, Any]]:
    out = []
    for asset in (Asset.USDC, *STRATEGY_ORDER):
        out.append(
            {
                "symbol": asset.value,
                "name": TOKEN_NAMES[asset],
                "mint": mint_of(asset),
                "decimals": decimals_of(asset),
                "logoURI": "",
                "price": float(raw_price_usd(market, asset)),
            }
        )
    return out
