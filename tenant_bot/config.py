"""The bot's settings: where it keeps its data, which venues it talks to, how it trades.

Every field is an environment variable `BASIS_<NAME>` (or a `.env` line). With no configuration
at all the bot talks to a local devnet (`make run`) and keeps its data under `var/bot/`. What the
control plane sets when it starts a bot, and how, is the launch contract (`shared/launch.py`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from shared.assets import ARBITRUM_MIN_GAS_ETH
from shared.launch import bot_token, read_secret_files, variable
from shared.network_addresses import is_loopback_host, is_loopback_url
from shared.networks import NETWORKS
from shared.settings import BasisSettings, own_secret

# Used only when `network` is "devnet": the devnet has no real money to protect.
DEVNET_SERVER_SECRET = "basis-devnet-server-secret"
DEVNET_ASGARD_API_KEY = "basis-devnet"
DEVNET = NETWORKS["devnet"]
# Address shapes, checked without loading solders or eth_utils (the broker checks ownership).
_BASE58_KEY = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")
_EVM_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class BotSettings(BasisSettings):
    # Which tenant this bot serves; part of the key that protects its wallet keys.
    tenant_id: str = "local"
    # The bot's own folder: SQLite database, encrypted keystore, kill-switch file.
    data_dir: Path = Path("var/bot")
    # Server secret from which the key-encryption key (HMAC(tenant id, secret)) and, on the devnet,
    # the API token derive. Required unless on the devnet with every venue, the broker and the API's
    # address on loopback (`_no_public_secret`): the built-in devnet secret is public.
    server_secret: SecretStr | None = None

    # Who signs. "local": keys held by this bot, sealed in its keystore (self-custody; `basis-bot
    # init` creates them). "broker": the user's Privy wallets, through the control plane's signing
    # broker at `broker_url` (`POST /internal/sign`), authenticated with the API token below; the
    # bot then holds no key. The control plane sets "broker" for the bots of signed-in users.
    signer: Literal["local", "broker"] = "local"
    # The control plane's base URL (e.g. http://127.0.0.1:8000); required with signer "broker".
    broker_url: str | None = None
    # The Privy wallets' public addresses (Solana base58, EVM 0x), required with signer "broker":
    # the bot trades and reads balances with these, and the broker signs only for them.
    solana_address: str | None = None
    evm_address: str | None = None

    # Venue and chain endpoints. Not set: the network's (shared/networks.py; the devnet's on loopback
    # by default). How Hyperliquid actions are signed follows `network` alone, whatever the URL.
    hyperliquid_url: str = DEVNET.hyperliquid_url
    asgard_url: str = DEVNET.asgard_url
    asgard_api_key: SecretStr | None = None
    solana_rpc_url: str = DEVNET.solana_rpc_url
    arbitrum_rpc_url: str = DEVNET.arbitrum_rpc_url
    # The host's shared venue gateway (issue 17), e.g. http://127.0.0.1:8001/gateway/v1: the control
    # plane sets it for every bot it starts. Hyperliquid's REST budget (1,200 weight a minute) is per
    # IP, shared by every bot on the host, so market data is read once there for all of them, and
    # with signer "broker" the account's reads are metered there too. Orders are still signed here and
    # forwarded as they are. None: no gateway, every read goes to the venues directly (a bot started
    # by hand, the devnet demo). It is sent this bot's API token, like the broker.
    gateway_url: str | None = None
    # While the gateway is down the bot reads directly only what keeps its positions safe: Hyperliquid's
    # mids (allMids, weight 2) and its own account (clearinghouseState, 2), and Asgard's token prices,
    # at most once every this many seconds plus a random extra of up to a quarter of it (bots that lost
    # the gateway together spread out). Two reads of a bot are never closer than this, so with the
    # default 60 each bot spends at most 4 weight in any minute: 150 bots falling back together spend
    # at most 150 × 4 = 600 of the host's 1,200 (any default under 60 would allow two reads, 1,200 for
    # 150 bots: at the limit). Entries pause meanwhile (the market data ages past its limit).
    direct_read_seconds: float = Field(default=60.0, gt=0)
    # With a gateway, a tick that watches nothing closely (tenant_bot/cadence.py `watchful`: no
    # execution, no breaker tripped, auto-entry off) reads the Hyperliquid account only once its last
    # answer is this old; a watchful tick and a manual open's check read it every time. A healthy
    # position's account changes little between reads (its breakers use the mark of every tick), and
    # the host's budget is shared: read every 5 s tick, the account costs a bot 24 weight a minute,
    # more than its share with 40 bots on one address (gateway/config.py `bots_held` counts two reads a
    # minute). Under `max_account_data_age_s` (60), so a healthy bot never pauses entries for age.
    gateway_account_read_seconds: float = Field(default=30.0, gt=0, le=50)

    # Seconds between two ticks of the bot loop (refresh, risk, act).
    tick_seconds: float = Field(default=5.0, gt=0)
    # Seconds between two ticks while the bot is idle: no position and no execution, auto-entry
    # off, trading active, no venue error on the last tick and nobody watching its live feed.
    # Anything that ends idleness (a dashboard viewer, an open or close, a settings change, a
    # pause or resume) wakes the loop at once; a bot holding a position always ticks at `tick_seconds`.
    idle_tick_seconds: float = Field(default=60.0, gt=0)
    # Seconds between two liveness probes of each chain (Solana's slot, Arbitrum's block number) while
    # the bot watches nothing closely: no execution in flight, no breaker tripped, trading active,
    # auto-entry off (tenant_bot/cadence.py `watchful`); otherwise every tick. A failed probe or a
    # height that did not move brings it back to every tick until the chain is well, so an outage is
    # called at most this much later than at every tick (tenant_bot/venues/outages.py). At most 30:
    # well below the 60 s a height may stand still before the chain is called stale.
    liveness_probe_seconds: float = Field(default=15.0, gt=0, le=30)
    # Open positions on its own when every entry criterion holds. Off: only manual opens.
    auto_entry: bool = False
    # Make the same decisions on live data but sign and send nothing; fills are hypothetical.
    shadow: bool = False
    # Leverage of both legs, 2x to 4x.
    leverage: Decimal = Field(default=Decimal(3), ge=2, le=4)
    # Size of an automatic entry, USDC of capital (half on each venue).
    entry_capital_usd: Decimal = Field(default=Decimal(1000), gt=0)
    # Minimum net APY (fraction, after fees) for an automatic entry.
    min_entry_net_apy: Decimal = Decimal("0.05")
    # Risk thresholds: a YAML file overriding `tenant_bot/risk/defaults.yaml`.
    risk_file: Path | None = None

    # Seconds the hedge may take after the long confirms before the long is unwound.
    hedge_timeout_seconds: float = Field(default=30.0, gt=0)
    # Slippage band of a marketable IOC order, basis points from the mid. At most 250: the signing
    # broker signs no order more than 300 bps beyond the venue's mark (`transactions` in the risk config).
    hedge_slippage_bps: int = Field(default=50, ge=1, le=250)

    # Deposits (tenant_bot/execution/deposits.py): USDC arriving at the bot's Arbitrum address is
    # bridged to Hyperliquid. Seconds between two looks at the Arbitrum balance and the bridge.
    deposit_poll_seconds: float = Field(default=15.0, gt=0)
    # Seconds after its transfer was mined before a deposit Hyperliquid has not credited is flagged
    # (a warning on the dashboard and a notification). Hyperliquid documents a credit in under a
    # minute (validators sign it); five minutes leaves room for a slow bridge before crying wolf.
    deposit_credit_timeout_seconds: float = Field(default=300.0, gt=0)
    # ETH the Arbitrum address must hold before the bot bridges: a USDC transfer costs about
    # 0.000002 ETH at Arbitrum's floor base fee, so this is room for dozens. Under it the bot sends
    # nothing and says so. The bot never spends ETH but on gas.
    deposit_min_gas_eth: Decimal = Field(default=ARBITRUM_MIN_GAS_ETH, ge=0)

    # Withdrawals from Hyperliquid (tenant_bot/execution/withdrawals.py) go only to the user's
    # registered EVM address. With signer "broker" the control plane keeps it (the portal registers
    # it; usable after its delay). With signer "local" (self-custody) it is this one, usable at once;
    # unset, withdrawals are refused.
    withdrawal_evm_address: str | None = None

    # The dashboard API (`basis-bot serve`): where it listens, and the token every request but
    # `/health` must carry in `X-Basis-Token` (only the control plane holds it). On the devnet a
    # default is derived from the server secret so `make run` works with no configuration.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8080, ge=0, le=65535)
    api_token: SecretStr | None = None
    # Seconds between two heartbeat comments on an idle event stream (proxies drop silent streams).
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)

    # Testing only: kill the process with SIGKILL at this execution crash point
    # (see `tenant_bot/execution/crash.py`). Never set in production.
    crash_at: str | None = None
    # Testing only: append every crash point the process passes to this file, one a line, so the
    # crash tests can check that they walk every point the code reaches. Never set in production.
    crash_record: Path | None = None

    @model_validator(mode="before")
    @classmethod
    def _secret_files(cls, data: object) -> object:
        # A container gets its secrets as files (`BASIS_<NAME>_FILE`), never in its environment,
        # where `docker inspect` would show them. A value set directly wins over a file.
        return read_secret_files(data) if isinstance(data, dict) else data

    def not_on_loopback(self) -> list[str]:
        """The settings naming a place off this machine: an upstream or the API's listening address."""
        urls = {
            variable("hyperliquid_url"): self.hyperliquid_url,
            variable("asgard_url"): self.asgard_url,
            variable("solana_rpc_url"): self.solana_rpc_url,
            variable("arbitrum_rpc_url"): self.arbitrum_rpc_url,
            variable("broker_url"): self.broker_url,
            variable("gateway_url"): self.gateway_url,
        }
        out = [name for name, url in urls.items() if url is not None and not is_loopback_url(url)]
        if not is_loopback_host(self.api_host):
            out.append(variable("api_host"))
        return out

    @model_validator(mode="after")
    def _no_public_secret(self) -> BotSettings:
        """The built-in secret is public: the keystore's key and the devnet API token derive from it.
        It is accepted only on the devnet with everything on loopback."""
        if own_secret(self.server_secret, DEVNET_SERVER_SECRET):
            return self
        if self.network != "devnet":
            raise ValueError(f"BASIS_SERVER_SECRET is required outside the devnet (network {self.network})")
        exposed = self.not_on_loopback()
        if exposed:
            raise ValueError(
                "BASIS_SERVER_SECRET must be set to a long random value: the built-in devnet secret is "
                "public (the keystore's key and the API token derive from it), so it is accepted only "
                f"when every upstream and the API's address are on loopback, and {', '.join(exposed)} "
                f"{'is' if len(exposed) == 1 else 'are'} not"
            )
        return self

    @model_validator(mode="after")
    def _withdrawal_address(self) -> BotSettings:
        address = self.withdrawal_evm_address
        if address is not None and not _EVM_ADDRESS.match(address):
            raise ValueError("BASIS_WITHDRAWAL_EVM_ADDRESS is not an EVM address (0x and 40 hex digits)")
        return self

    @field_validator("gateway_url", mode="before")
    @classmethod
    def _no_empty_gateway(cls, value: object) -> object:
        return None if value == "" else value  # an empty variable: no gateway

    @model_validator(mode="after")
    def _gateway(self) -> BotSettings:
        if self.gateway_url is None:
            return self
        if not self.gateway_url.startswith(("http://", "https://")):
            raise ValueError("BASIS_GATEWAY_URL must be an http:// or https:// URL")
        if self.api_token_value() is None:
            raise ValueError("BASIS_GATEWAY_URL needs BASIS_API_TOKEN (the gateway's credential)")
        return self

    @model_validator(mode="after")
    def _broker_signer(self) -> BotSettings:
        if self.signer != "broker":
            return self
        wanted = {
            "broker_url": self.broker_url,
            "solana_address": self.solana_address,
            "evm_address": self.evm_address,
        }
        missing = [variable(name) for name, value in wanted.items() if not value]
        if missing:
            raise ValueError(f"BASIS_SIGNER=broker needs {', '.join(missing)}")
        assert self.broker_url and self.solana_address and self.evm_address
        if not self.broker_url.startswith(("http://", "https://")):
            raise ValueError("BASIS_BROKER_URL must be an http:// or https:// URL")
        if not _BASE58_KEY.match(self.solana_address):
            raise ValueError("BASIS_SOLANA_ADDRESS is not a Solana address (base58)")
        if not _EVM_ADDRESS.match(self.evm_address):
            raise ValueError("BASIS_EVM_ADDRESS is not an EVM address (0x and 40 hex digits)")
        if self.api_token_value() is None:
            raise ValueError("BASIS_SIGNER=broker needs BASIS_API_TOKEN (the broker's credential)")
        return self

    @property
    def database_path(self) -> Path:
        return self.data_dir / "bot.sqlite3"

    @property
    def keystore_path(self) -> Path:
        return self.data_dir / "keystore.json"

    @property
    def kill_switch_path(self) -> Path:
        # Its presence halts new entries (see tenant_bot/risk/kill_switch.py).
        return self.data_dir / "KILL"

    def server_secret_value(self) -> SecretStr:
        return self.server_secret or SecretStr(DEVNET_SERVER_SECRET)

    def asgard_key_value(self) -> SecretStr:
        """The Asgard API key; the devnet's where the network needs none (shared/networks.py).
        ValueError on a network that needs one when none is set: the bot does not start."""
        if self.asgard_api_key is not None:
            return self.asgard_api_key
        if self.facts.asgard_api_key_required:
            raise ValueError(
                f"BASIS_ASGARD_API_KEY is required on {self.network} (the control plane passes its "
                "BASIS_CP_ASGARD_API_KEY): without one Asgard allows 1 request a second per IP"
            )
        return SecretStr(DEVNET_ASGARD_API_KEY)

    def api_token_value(self) -> SecretStr | None:
        """The API token; on the devnet, when none is set, HMAC(server secret, tenant id).

        None outside the devnet without a token: `serve` refuses to start rather than run open.
        """
        if self.api_token is not None:
            return self.api_token
        if self.network != "devnet":
            return None
        return bot_token(self.server_secret_value(), self.tenant_id)
