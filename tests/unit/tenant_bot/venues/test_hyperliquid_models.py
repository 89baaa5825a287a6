from datetime import timedelta
from decimal import Decimal

import pytest
from hyperliquid.utils.signing import float_to_wire

from shared.rates import FundingRate
from tenant_bot.venues.hyperliquid_models import (
    OrderState,
    average_fill,
    check_cloid,
    cloid_for,
    outcome_from_status,
    parse_asset_contexts,
    parse_book,
    parse_fill,
    parse_funding_payment,
    parse_markets,
    parse_predicted_funding,
    parse_user_state,
    state_from_order_status,
    wire_number,
)

D = Decimal


@pytest.mark.parametrize(
    "value, expected",
    [
        ("150.10", "150.1"),
        ("1.0", "1"),
        ("100", "100"),
        ("1E+2", "100"),
        ("0.00010", "0.0001"),
        ("0", "0"),
        ("-0", "0"),
        ("0.000", "0"),
        ("12.34567800", "12.345678"),
        ("1E-7", "0.0000001"),
    ],
)
def test_wire_numbers_are_plain_and_without_trailing_zeros(value: str, expected: str) -> None:
    assert wire_number(D(value)) == expected


@pytest.mark.parametrize("text", ["150.1", "150.12", "0.5", "1", "20000", "0.0012", "123.45678"])
def test_wire_numbers_match_the_sdk_for_what_a_float_can_carry(text: str) -> None:
    assert wire_number(D(text)) == float_to_wire(float(text))


def test_wire_numbers_refuse_floats_and_non_finite() -> None:
    with pytest.raises(TypeError):
        wire_number(150.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        wire_number(D("NaN"))


def test_cloid_is_deterministic_and_distinct_per_input() -> None:
    a = cloid_for("exec-1", "short", 0)
    assert a == cloid_for("exec-1", "short", 0)
    assert a.startswith("0x") and len(a) == 34 and a == a.lower()
    int(a, 16)
    import hashlib

    assert a == "0x" + hashlib.sha256(b"exec-1/short/0").digest()[:16].hex()
    others = {
        cloid_for("exec-1", "short", 1),
        cloid_for("exec-1", "long", 0),
        cloid_for("exec-2", "short", 0),
    }
    assert a not in others and len(others) == 3


def test_check_cloid_normalises_and_refuses_bad_ids() -> None:
    assert check_cloid("0x" + "AB" * 16) == "0x" + "ab" * 16
    for bad in ("0x123", "ab" * 16, "0x" + "g" * 32, "0x" + "a" * 33):
        with pytest.raises(ValueError):
            check_cloid(bad)


META = {
    "universe": [
        {"szDecimals": 5, "name": "BTC", "maxLeverage": 40, "marginTableId": 56},
        {"szDecimals": 1, "name": "MATIC", "maxLeverage": 20, "marginTableId": 20, "isDelisted": True},
        {"szDecimals": 2, "name": "SOL", "maxLeverage": 20, "marginTableId": 54},
    ]
}


def test_markets_keep_universe_indices_and_skip_delisted() -> None:
    markets = parse_markets(META)
    assert set(markets) == {"BTC", "SOL"}
    assert markets["SOL"].asset == 2 and markets["SOL"].sz_decimals == 2 and markets["SOL"].max_leverage == 20


def test_asset_contexts_carry_an_hourly_funding_rate() -> None:
    ctx = {
        "funding": "-0.0000133865",
        "openInterest": "5734236.38",
        "prevDayPx": "115.72",
        "dayNtlVlm": "1.0",
        "premium": None,
        "oraclePx": "110.575",
        "markPx": "110.5044",
        "midPx": None,
        "impactPxs": None,
        "dayBaseVlm": "1.0",
    }
    out = parse_asset_contexts([META, [ctx, ctx, ctx]])
    sol = out["SOL"]
    assert sol.funding == FundingRate(D("-0.0000133865"), timedelta(hours=1))
    assert sol.mark_px == D("110.5044") and sol.oracle_px == D("110.575")
    assert sol.mid_px is None and sol.premium is None and sol.open_interest == D("5734236.38")
    assert "MATIC" not in out


def test_book_levels_are_decimals() -> None:
    book = parse_book(
        {
            "coin": "SOL",
            "time": 5,
            "levels": [[{"px": "150.02", "sz": "1.5", "n": 2}], [{"px": "150.03", "sz": "2.0", "n": 1}]],
        }
    )
    assert book.bids[0].px == D("150.02") and book.asks[0].sz == D("2") and book.bids[0].n == 2
    assert book.time_ms == 5


def test_predicted_funding_takes_hyperliquids_own_entry_with_its_interval() -> None:
    answer = [
        [
            "SOL",
            [
                ["BinPerp", {"fundingRate": "0.0001", "nextFundingTime": 1, "fundingIntervalHours": 8}],
                ["HlPerp", {"fundingRate": "0.0000125", "nextFundingTime": 1, "fundingIntervalHours": 1}],
            ],
        ],
        ["BTC", [["HlPerp", None]]],
    ]
    assert parse_predicted_funding(answer, "SOL") == FundingRate.hourly(D("0.0000125"))
    assert parse_predicted_funding(answer, "BTC") is None
    assert parse_predicted_funding(answer, "ETH") is None


def test_user_state_and_a_short_position() -> None:
    state = parse_user_state(
        {
            "marginSummary": {
                "accountValue": "999.96",
                "totalNtlPos": "75.0",
                "totalRawUsd": "1075.0",
                "totalMarginUsed": "25.005",
            },
            "crossMarginSummary": {},
            "crossMaintenanceMarginUsed": "1.875",
            "withdrawable": "974.95",
            "assetPositions": [
                {
                    "type": "oneWay",
                    "position": {
                        "coin": "SOL",
                        "szi": "-0.5",
                        "leverage": {"type": "isolated", "value": 3, "rawUsd": "100.0"},
                        "entryPx": "150.02",
                        "positionValue": "75.015",
                        "unrealizedPnl": "-0.005",
                        "returnOnEquity": "0.0",
                        "liquidationPx": None,
                        "marginUsed": "25.005",
                        "maxLeverage": 20,
                        "cumFunding": {"allTime": "0.5", "sinceOpen": "-0.25", "sinceChange": "0.0"},
                    },
                }
            ],
            "time": 1700000000000,
        }
    )
    assert state.account_value == D("999.96") and state.maintenance_margin == D("1.875")
    pos = state.positions["SOL"]
    assert pos.size == D("-0.5") and not pos.is_cross and pos.leverage == 3
    assert pos.liquidation_px is None and pos.funding_since_open == D("-0.25")


def test_fill_and_funding_rows() -> None:
    fill = parse_fill(
        {
            "coin": "SOL",
            "px": "150.02",
            "sz": "0.5",
            "side": "A",
            "time": 7,
            "startPosition": "0.0",
            "dir": "Open Short",
            "closedPnl": "0.0",
            "hash": "0x0",
            "oid": 30000000001,
            "crossed": True,
            "fee": "0.033754",
            "tid": 1,
            "cloid": "0x" + "AB" * 16,
            "feeToken": "USDC",
        }
    )
    assert not fill.is_buy and fill.sz == D("0.5") and fill.cloid == "0x" + "ab" * 16 and fill.crossed
    payment = parse_funding_payment(
        {
            "time": 3600000,
            "hash": "0x0",
            "delta": {
                "type": "funding",
                "coin": "SOL",
                "usdc": "0.023856",
                "szi": "-12.3",
                "fundingRate": "0.0000125",
                "nSamples": None,
            },
        }
    )
    assert payment is not None
    assert payment.usdc == D("0.023856") and payment.size == D("-12.3")
    assert payment.rate.interval == timedelta(hours=1)


def test_order_statuses_from_an_order_action() -> None:
    filled = outcome_from_status(
        {"filled": {"totalSz": "0.5", "avgPx": "150.02", "oid": 9, "cloid": "0x" + "1" * 32}}, D("0.5"), None
    )
    assert filled.state is OrderState.FILLED and filled.oid == 9 and filled.avg_px == D("150.02")
    partial = outcome_from_status({"filled": {"totalSz": "0.2", "avgPx": "150", "oid": 9}}, D("0.5"), "0xc")
    assert partial.state is OrderState.PARTIALLY_FILLED and partial.filled_size == D("0.2")
    assert partial.cloid == "0xc"
    no_liquidity = outcome_from_status(
        {"error": "Order could not immediately match against any resting orders. asset=5"}, D("1"), "0xc"
    )
    assert no_liquidity.state is OrderState.REJECTED and no_liquidity.filled_size == 0
    assert no_liquidity.error is not None and "immediately match" in no_liquidity.error
    assert outcome_from_status({"resting": {"oid": 3}}, D("1"), None).state is OrderState.RESTING


@pytest.mark.parametrize(
    "status, filled, state",
    [
        ("filled", D("1"), OrderState.FILLED),
        ("open", D("0"), OrderState.RESTING),
        ("open", D("0.1"), OrderState.PARTIALLY_FILLED),
        ("canceled", D("0"), OrderState.CANCELED),
        ("canceled", D("0.3"), OrderState.PARTIALLY_FILLED),
        ("reduceOnlyCanceled", D("0"), OrderState.CANCELED),
        ("iocCancelRejected", D("0"), OrderState.REJECTED),
        ("perpMarginRejected", D("0"), OrderState.REJECTED),
        ("rejected", D("0"), OrderState.REJECTED),
    ],
)
def test_order_status_names(status: str, filled: Decimal, state: OrderState) -> None:
    assert state_from_order_status(status, filled) is state


def test_average_fill_is_size_weighted() -> None:
    from tenant_bot.venues.hyperliquid_models import Fill

    def f(px: str, sz: str) -> Fill:
        return Fill("SOL", D(px), D(sz), False, 0, 1, None, D(0), D(0), True)

    assert average_fill([]) == (D(0), None)
    assert average_fill([f("100", "1"), f("103", "2")]) == (D("3"), D("102"))
