"""The bot's risk package: circuit breakers, the risk engine's trading state, pause and kill switch,
and the transaction validator every signature passes through.

Nothing here sends anything: the engine says what should happen (close, reduce, rebalance, stop
entries) and execution does it. Inputs are small dataclasses (`PositionRisk`, `MarketRisk`) that the
observer fills from venue data, so this package depends on `shared`, the `Signer` interface and
strategy's pure measures (`strategy.exposure`) only. The engine owns the trading state (halt,
pauses, thresholds) and keeps it through a key-value store it is given.
"""

from tenant_bot.risk.circuit_breakers import MarketRisk, PositionRisk, Trip
from tenant_bot.risk.config import RiskConfig, load_risk_config
from tenant_bot.risk.engine import RiskDecision, RiskEngine, RiskEvent
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.pause import PauseController, PauseReason
from tenant_bot.risk.states import Action, TradingState
from tenant_bot.risk.transaction_validator import (
    TransactionPolicy,
    TransactionRejected,
    TransactionValidator,
    ValidatingSigner,
)

__all__ = [
    "Action",
    "KillSwitch",
    "MarketRisk",
    "PauseController",
    "PauseReason",
    "PositionRisk",
    "RiskConfig",
    "RiskDecision",
    "RiskEngine",
    "RiskEvent",
    "TradingState",
    "TransactionPolicy",
    "TransactionRejected",
    "TransactionValidator",
    "Trip",
    "ValidatingSigner",
    "load_risk_config",
]
