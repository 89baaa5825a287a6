"""What the settings would have done over the recorded window: figures and chart, before funding.

`GET /api/v1/backtest` runs the backtest (`tenant_bot/api/backtests.py`) of the settings in force,
or of another leverage or capital given in the query (the dashboard's slider, before saving). The
first ask of a setting answers 202 with `state: computing` and how far it has got; ask again
(`Retry-After`) until 200 with `state: done` and the figures. `GET /api/v1/backtest.svg` is the
chart of a finished run. A bad leverage or capital is 400 with a sentence.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from tenant_bot.api.backtests import Answer
from tenant_bot.api.context import Context
from tenant_bot.backtest.run import BacktestConfig
from tenant_bot.errors import InvalidRequest, Unavailable
from tenant_bot.strategy.opportunity import check_leverage

router = APIRouter(prefix="/api/v1", tags=["backtest"])

MAX_CAPITAL_USD = Decimal(10**9)
RETRY_AFTER_S = "2"
# What the recorded window is and is not, said with every answer (the figures mean nothing without it).
SCOPE = (
    "SOL on Kamino against SOL-PERP on Hyperliquid, hour by hour over the recorded window, with the "
    "bot's own decisions; no LST staking, no slippage; past results, not a forecast."
)

LeverageQuery = Query(default=None, max_length=32, description="2 to 4; default: the setting in force")
CapitalQuery = Query(default=None, max_length=32, description="USD; default: the entry capital in force")


def _number(text: str, what: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidRequest(f"{what} must be a number, got {text!r}") from None
    if not value.is_finite():
        raise InvalidRequest(f"{what} must be a finite number, got {text!r}")
    return value


def _config(c: Context, leverage: str | None, capital_usd: str | None) -> BacktestConfig:
    prefs = c.services.preferences
    settings = prefs.current
    lev = settings.leverage if leverage is None else _number(leverage, "leverage")
    try:
        check_leverage(lev)
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from None
    capital = settings.entry_capital_usd if capital_usd is None else _number(capital_usd, "capital_usd")
    if not 0 < capital <= MAX_CAPITAL_USD:
        raise InvalidRequest(f"capital_usd must be above 0 and at most {MAX_CAPITAL_USD}, got {capital}")
    return BacktestConfig(
        leverage=lev,
        capital_usd=capital,
        min_entry_net_apy=settings.min_entry_net_apy,
        risk=prefs.risk_config(settings),
    )


def _asked(config: BacktestConfig) -> dict[str, str]:
    return {
        "leverage": str(config.leverage),
        "capital_usd": str(config.capital_usd),
        "min_entry_net_apy": str(config.min_entry_net_apy),
    }


def _pending(config: BacktestConfig, answer: Answer) -> JSONResponse:
    if answer.state == "failed":
        raise Unavailable(answer.error or "the backtest failed")
    body = {
        "state": "computing",
        "settings": _asked(config),
        "progress": str(answer.progress.quantize(Decimal("0.01"))),
        "detail": "the backtest of these settings is running (a few seconds); ask again",
    }
    return JSONResponse(body, status_code=202, headers={"Retry-After": RETRY_AFTER_S})


@router.get("/backtest", summary="What these settings would have done over the recorded window")
async def backtest(
    c: Context, leverage: str | None = LeverageQuery, capital_usd: str | None = CapitalQuery
) -> Any:
    config = _config(c, leverage, capital_usd)
    answer = c.backtests.ask(config)
    if answer.finished is None:
        return _pending(config, answer)
    return {"state": "done", "settings": _asked(config), "scope": SCOPE, **answer.finished.figures}


@router.get("/backtest.svg", summary="The chart of a finished backtest", response_model=None)
async def backtest_chart(
    c: Context, leverage: str | None = LeverageQuery, capital_usd: str | None = CapitalQuery
) -> Response:
    config = _config(c, leverage, capital_usd)
    answer = c.backtests.ask(config)
    if answer.finished is None:
        return _pending(config, answer)
    return Response(
        answer.finished.chart_svg,
        media_type="image/svg+xml",
        headers={"Cache-Control": "private, max-age=300"},
    )
