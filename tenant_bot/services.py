"""`Services`: everything one bot talks to and keeps, built once at start-up and never swapped.

`Services.build(settings)` opens the database, makes the signer, loads the risk config, creates
the venue and chain clients, the risk engine (which restores the halt and the pauses), the
preferences (which apply the saved settings to the risk engine) and the execution engine. The
result is frozen: the observer, the trader and the status view share these objects, and nothing
replaces one of them while the bot runs (the risk engine changes its thresholds through
`reconfigure`, never by being rebuilt or assigned).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from tenant_bot.cadence import Wakeup
from tenant_bot.chain.arbitrum import ArbitrumClient
from tenant_bot.chain.solana import SolanaClient
from tenant_bot.config import BotSettings
from tenant_bot.errors import Misconfigured, Unavailable
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.deposits import DepositConfig, DepositEngine
from tenant_bot.execution.engine import ExecutionEngine
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.shadow import ShadowExecutor
from tenant_bot.execution.venues import Venues
from tenant_bot.execution.withdrawals import WithdrawalDesk
from tenant_bot.fees import VenueFees
from tenant_bot.preferences import ALL_ASSETS, ALL_PROTOCOLS, Preferences, Settings, risk_settings_from
from tenant_bot.risk.config import RiskConfig, RiskConfigError, load_risk_config
from tenant_bot.risk.engine import EventKind, RiskEngine, RiskEvent
from tenant_bot.risk.kill_switch import KillSwitch
from tenant_bot.risk.transaction_validator import TransactionPolicy, TransactionValidator, ValidatingSigner
from tenant_bot.signing.signer import Signer
from tenant_bot.signing.withdrawal_address import ConfiguredWithdrawalAddress, WithdrawalAddressSource
from tenant_bot.storage.database import open_database
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.state import KeyValueStore
from tenant_bot.strategy.sizing import SizingConfig
from tenant_bot.venues.asgard import AsgardClient
from tenant_bot.venues.gateway import Gateway
from tenant_bot.venues.hyperliquid import HyperliquidClient
from tenant_bot.venues.outages import OutageDetector

Closer = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Services:
    settings: BotSettings  # from the environment, as the bot started (the user's are `preferences`)
    db: sessionmaker[Session]
    store: KeyValueStore
    journal: Journal
    events: EventLog
    # Who holds the keys: the control plane's broker, or the bot's own keystore.
    wallet_signer: Signer
    hl: HyperliquidClient
    asgard: AsgardClient
    solana: SolanaClient
    arbitrum: ArbitrumClient
    # What execution signs and sends with (its signer checks every payload against the policy).
    venues: Venues
    outages: OutageDetector
    risk: RiskEngine
    preferences: Preferences
    engine: ExecutionEngine
    shadow: ShadowExecutor | None  # shadow mode: hypothetical fills, nothing signed or sent
    deposits: DepositEngine  # USDC arriving on Arbitrum, bridged on to Hyperliquid
    withdrawals: WithdrawalDesk  # Hyperliquid to the registered address, requested then confirmed
    fees: VenueFees  # the fee model, with the account's Hyperliquid rates once read
    wakeup: Wakeup
    closers: tuple[Closer, ...]
    gateway: Gateway | None = None  # the host's shared venue gateway, if the bot uses one

    @classmethod
    def build(cls, settings: BotSettings, wakeup: Wakeup | None = None) -> Services:
        """Everything the bot needs; `Misconfigured` or `Unavailable` say why it cannot start."""
        wakeup = wakeup or Wakeup()
        db = _open_database(settings)
        store, journal, events = KeyValueStore(db), Journal(db), EventLog(db)
        wallet_signer, closers, addresses = _make_signer(settings)
        try:
            base_risk = load_risk_config(settings.risk_file)
        except RiskConfigError as exc:
            raise Misconfigured(str(exc)) from None
        # Defence in depth: the bot checks every payload even when the broker checks it again.
        validator = TransactionValidator(TransactionPolicy.from_config(base_risk, network=settings.network))
        signer = ValidatingSigner(wallet_signer, validator)
        gateway = _make_gateway(settings)
        if gateway is not None:
            closers = (*closers, gateway.aclose)
        hl = HyperliquidClient(settings.hyperliquid_url, signer, network=settings.facts, gateway=gateway)
        try:
            asgard_key = settings.asgard_key_value()
        except ValueError as exc:
            raise Misconfigured(str(exc)) from None
        asgard = AsgardClient(
            settings.asgard_url,
            asgard_key,
            allowed_programs=validator.policy.solana_programs,
            gateway=gateway,
        )
        solana = SolanaClient(settings.solana_rpc_url)
        facts = settings.facts
        arbitrum = ArbitrumClient(
            settings.arbitrum_rpc_url,
            usdc_address=facts.arbitrum_usdc,
            bridge_address=facts.hyperliquid_bridge,
        )
        venues = Venues(hl, asgard, solana, signer)
        risk = RiskEngine(
            base_risk,
            kill_switch=KillSwitch(settings.kill_switch_path),
            store=store,
            on_event=_event_writer(events, wakeup),
        )
        # Settings saved from the dashboard override the environment's, from the first tick.
        preferences = Preferences(store, default_settings(settings, base_risk), base_risk)
        preferences.on_change = _settings_applier(preferences, risk, wakeup)
        risk.reconfigure(preferences.risk_config())
        config = ExecutionConfig(
            hedge_timeout_seconds=settings.hedge_timeout_seconds, slippage_bps=settings.hedge_slippage_bps
        )
        crash = CrashPoints(settings.crash_at, record=settings.crash_record)
        engine = ExecutionEngine(journal, venues, events, config, crash, on_halt=risk.halt)
        deposits = DepositEngine(
            store,
            events,
            arbitrum,
            hl,
            signer,
            DepositConfig(
                credit_timeout_seconds=settings.deposit_credit_timeout_seconds,
                min_gas_eth=settings.deposit_min_gas_eth,
                shadow=settings.shadow,
            ),
            crash,
        )
        shadow = ShadowExecutor(journal, venues, events, config) if settings.shadow else None
        closers = (*closers, hl.aclose, asgard.aclose, solana.aclose, arbitrum.aclose)
        return cls(
            settings=settings,
            db=db,
            store=store,
            journal=journal,
            events=events,
            wallet_signer=wallet_signer,
            hl=hl,
            asgard=asgard,
            solana=solana,
            arbitrum=arbitrum,
            venues=venues,
            outages=OutageDetector(),
            risk=risk,
            preferences=preferences,
            engine=engine,
            shadow=shadow,
            deposits=deposits,
            withdrawals=WithdrawalDesk(hl, addresses, signer, events),
            fees=VenueFees(),
            wakeup=wakeup,
            closers=closers,
            gateway=gateway,
        )

    async def aclose(self) -> None:
        """Close every client (the HTTP connections, the broker signer's)."""
        for close in self.closers:
            await close()


def _open_database(settings: BotSettings) -> sessionmaker[Session]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        return open_database(settings.database_path)
    except Exception as exc:
        raise Unavailable(f"cannot open the bot's database at {settings.database_path}: {exc}") from exc


def _make_signer(
    settings: BotSettings,
) -> tuple[Signer, tuple[Closer, ...], WithdrawalAddressSource]:
    """The key holder `BASIS_SIGNER` names (the control plane's broker, or keys of our own), what
    closes it, and who says where withdrawals may go (the control plane, or the bot's settings)."""
    if settings.signer == "broker":
        from tenant_bot.signing.broker import BrokerSigner

        token = settings.api_token_value()
        if token is None or not (settings.broker_url and settings.solana_address and settings.evm_address):
            raise Misconfigured(
                "BASIS_SIGNER=broker needs BASIS_BROKER_URL, the addresses and BASIS_API_TOKEN"
            )
        broker = BrokerSigner(
            settings.broker_url, settings.tenant_id, token, settings.solana_address, settings.evm_address
        )
        return broker, (broker.aclose,), broker
    from tenant_bot.signing.local import LocalSigner

    local = LocalSigner.load_or_create(
        settings.keystore_path, settings.tenant_id, settings.server_secret_value()
    )
    return local, (), ConfiguredWithdrawalAddress(settings.withdrawal_evm_address)


def _make_gateway(settings: BotSettings) -> Gateway | None:
    """The host's gateway (`BASIS_GATEWAY_URL`), authenticated as the broker is; account reads go
    through it only for a signed-in user's bot, whose addresses the control plane knows."""
    token = settings.api_token_value()
    if settings.gateway_url is None or token is None:
        return None
    return Gateway(settings.gateway_url, settings.tenant_id, token, user_reads=settings.signer == "broker")


def default_settings(settings: BotSettings, base_risk: RiskConfig) -> Settings:
    """The dashboard's settings before a user saves any: the environment's, every market allowed."""
    return Settings(
        leverage=settings.leverage,
        auto_entry=settings.auto_entry,
        entry_capital_usd=settings.entry_capital_usd,
        min_entry_net_apy=settings.min_entry_net_apy,
        max_position_usd=SizingConfig().max_position_usd,
        allowed_protocols=list(ALL_PROTOCOLS),
        allowed_assets=list(ALL_ASSETS),
        risk=risk_settings_from(base_risk),
    )


def _settings_applier(
    preferences: Preferences, risk: RiskEngine, wakeup: Wakeup
) -> Callable[[Settings], None]:
    def apply(settings: Settings) -> None:
        risk.reconfigure(preferences.risk_config(settings))
        wakeup.set()  # e.g. auto-entry turned on: decide with the new settings now

    return apply


def _event_writer(events: EventLog, wakeup: Wakeup) -> Callable[[RiskEvent], None]:
    """The risk engine's events into the event log; a halt or a resume wakes an idle loop."""

    def write(event: RiskEvent) -> None:
        severity = "info"
        if event.kind == EventKind.HALTED:
            severity = "critical"
        elif event.kind in (EventKind.TRIPPED, EventKind.CHANGED, EventKind.KILL_SWITCH):
            severity = "warning"
        data: dict[str, object] = {"state": event.state.value if event.state else None}
        if event.trip is not None:
            trip = event.trip
            data.update(breaker=trip.breaker, action=trip.action.value, position_id=trip.position_id)
        events.emit(str(event.kind.value), event.message, severity=severity, **data)
        if event.kind in (EventKind.HALTED, EventKind.RESUMED):
            wakeup.set()

    return write
