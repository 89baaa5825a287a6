"""The control plane's settings: every field is an environment variable `BASIS_CP_<NAME>` (or a `.env` line).

With no configuration at all the control plane runs against a local devnet (`make run`): SQLite
under `var/control/`, bots under `var/tenants/`, Privy and the venues on loopback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from shared.process_hardening import can_switch_users
from shared.settings import BasisSettings

# Used only when `network` is "devnet": the devnet has no real money to protect.
DEVNET_SERVER_SECRET = "basis-devnet-control-plane-secret"
# The devnet's Privy app id for its default seed (7); other seeds print theirs (admin `GET /state`).
DEVNET_PRIVY_APP_ID = "cmdbbil8gwtla39qbn71b1h45"


class ControlPlaneSettings(BasisSettings):
    # A longer prefix than the bot's `BASIS_`, so one shell can configure both without clashes
    # (`BASIS_CP_PORT` is the control plane's, `BASIS_API_PORT` a bot's).
    model_config = SettingsConfigDict(
        env_prefix="BASIS_CP_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        hide_input_in_errors=True,
    )

    # SQLAlchemy URL: SQLite by default, PostgreSQL with `postgresql+psycopg://...`.
    database_url: str = "sqlite:///var/control/control.sqlite3"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # One folder per tenant below this: the bot's SQLite, keystore, log, pid and port files.
    data_root: Path = Path("var/tenants")
    # Which runtime runs the bots: `process` (child processes, no engine needed), `docker` (one
    # hardened container per tenant on the local engine; build the image with `make images`) or
    # `swarm` (one Swarm service per tenant, same hardening; the local engine must be a swarm manager).
    runtime: Literal["process", "docker", "swarm"] = "process"
    # Docker and Swarm runtimes: the bot image's repository (tagged with the tenant's version).
    docker_image_repo: str = "basis/bot"
    # Docker and Swarm runtimes: share the host's network, so bots reach a devnet and a broker that
    # listen on loopback only. Off, docker publishes each bot on 127.0.0.1:<its port> from a bridge
    # network; swarm publishes it through the routing mesh, which binds every interface of every node
    # (firewall the bot port range).
    docker_host_network: bool = False
    # Docker and Swarm runtimes: this control plane's name on the engine (the `basis.instance` label).
    # It manages, adopts and reaps only the bots that carry its name, so several control planes (a
    # staging one, a test run) can share one engine. Keep it when restarting or upgrading a control plane.
    docker_instance: str = Field(default="default", pattern=r"^[A-Za-z0-9._-]{1,63}$")
    # Swarm runtime: placement constraints every bot's service gets, as JSON, e.g.
    # BASIS_CP_SWARM_CONSTRAINTS='["node.labels.basis==bots"]' to run bots only on nodes so labelled.
    swarm_constraints: list[str] = Field(default_factory=list)
    # Swarm runtime: keep each bot on the node where it first ran, where its local data volume lives.
    # Turn off only with a volume that every node shares.
    swarm_pin_to_node: bool = True
    # Secret from which each bot's API token (and its key-encryption key) derive. Required outside the devnet.
    server_secret: SecretStr | None = None

    # Privy: app credentials and its two hosts (the devnet serves both on one port).
    privy_app_id: str = DEVNET_PRIVY_APP_ID
    privy_app_secret: SecretStr | None = None
    privy_auth_url: str = "http://127.0.0.1:3003"
    privy_api_url: str = "http://127.0.0.1:3003"

    # Venue and chain endpoints handed to every bot.
    hyperliquid_url: str = "http://127.0.0.1:3001"
    asgard_url: str = "http://127.0.0.1:3002/margin-trading"
    asgard_api_key: SecretStr | None = None
    solana_rpc_url: str = "http://127.0.0.1:8899"
    arbitrum_rpc_url: str = "http://127.0.0.1:8547"
    # Extra `BASIS_*` settings given to every bot, as JSON: {"BASIS_TICK_SECONDS": "1"}.
    bot_env: dict[str, str] = Field(default_factory=dict)

    # Loopback ports the bots listen on (inclusive).
    bot_port_min: int = Field(default=18100, ge=1024, le=65535)
    bot_port_max: int = Field(default=18999, ge=1024, le=65535)
    # Process runtime: keep one pre-imported bot process ready (`tenant_bot/spare.py`), so a new user's
    # bot starts about a second sooner. It costs the memory of one idle bot.
    bot_spare: bool = True
    # The version new tenants get; the process runtime runs the installed code whatever it says.
    bot_version: str = "0.1.0"
    # A bot that does not answer `/health` this long after its start is marked failed and retried.
    bot_start_timeout_seconds: float = Field(default=60.0, gt=0)
    # Seconds a bot has to exit after SIGTERM (it parks executions in flight) before SIGKILL.
    bot_stop_timeout_seconds: float = Field(default=30.0, gt=0)
    # Reconciler: period, and the back-off between restarts of a crashing bot (doubling, capped).
    reconcile_interval_seconds: float = Field(default=5.0, gt=0)
    restart_backoff_seconds: float = Field(default=2.0, gt=0)
    restart_backoff_max_seconds: float = Field(default=300.0, gt=0)

    # Signing broker (`POST /internal/sign`): where bots of signed-in users reach it, i.e. this control
    # plane's own address. None = http://127.0.0.1:<port> (or <host>:<port> when bound to one address).
    broker_url: str | None = None
    # A risk config YAML whose `transactions` section bounds what the broker signs (programs,
    # contracts, destinations, amounts). None = the bot's packaged defaults (tenant_bot/risk/defaults.yaml),
    # so the broker and every bot enforce the same numbers unless the operator narrows them.
    broker_policy_file: Path | None = None
    # Per-tenant signing rate: a token bucket refilled at this many signatures a second, holding at
    # most `broker_burst`. An open needs a handful; this only stops a runaway bot hammering Privy.
    broker_rate_per_second: float = Field(default=20.0, gt=0)
    broker_burst: int = Field(default=60, ge=1)

    # ------------------------------------------------------------------ bot isolation
    # Unix user ids the bots run as, one per tenant (inclusive range). A tenant is given one when its bot
    # first starts; it is recorded (`tenants.uid`), kept across restarts and upgrades and while the data
    # of a deleted tenant is kept, and never given to two tenants. The group id is the same number and
    # a bot has no supplementary group. The ids need no /etc/passwd entry (numeric, like systemd's
    # DynamicUser); one that has an entry, or a group of that number, is skipped. The default range lies
    # in 1879048192-2147352575, which systemd's UIDS-GIDS.md leaves to nobody (distributions, systemd,
    # container and subordinate-id ranges all sit elsewhere). The docker and swarm runtimes always run
    # each bot's container as its id; the process runtime does when the control plane runs as root.
    # With Docker's userns-remap, choose a range inside the remapped one.
    bot_uid_min: int = Field(default=1_900_000_000, ge=1000, le=2_147_483_647)
    bot_uid_max: int = Field(default=1_999_999_999, ge=1000, le=2_147_483_647)

    @model_validator(mode="after")
    def _check_isolation(self) -> ControlPlaneSettings:
        # Outside the devnet, real users' bots never share a Unix user or the host's network: refused
        # here rather than found out later.
        if self.bot_uid_min > self.bot_uid_max:
            raise ValueError("bot_uid_min must not exceed bot_uid_max")
        if self.network != "devnet" and self.runtime == "process" and not can_switch_users():
            raise ValueError(
                "the process runtime runs each bot as a Unix user of its own so that no bot can read "
                "another's files or memory, and that needs root: run the control plane as root, or use "
                "the docker runtime (BASIS_CP_RUNTIME=docker)"
            )
        if self.network != "devnet" and self.docker_host_network:
            raise ValueError(
                "BASIS_CP_DOCKER_HOST_NETWORK puts every bot on the host's network, where it reaches the "
                "other bots and whatever listens on loopback: it is for the loopback devnet only; "
                "outside it bots run on their own bridge network (leave it false)"
            )
        return self

    @model_validator(mode="after")
    def _check(self) -> ControlPlaneSettings:
        if self.network != "devnet" and self.server_secret is None:
            raise ValueError("BASIS_CP_SERVER_SECRET is required outside the devnet")
        if self.network != "devnet" and self.privy_app_secret is None:
            raise ValueError("BASIS_CP_PRIVY_APP_SECRET is required outside the devnet")
        if self.bot_port_min > self.bot_port_max:
            raise ValueError("bot_port_min must not exceed bot_port_max")
        return self

    def server_secret_value(self) -> SecretStr:
        return self.server_secret or SecretStr(DEVNET_SERVER_SECRET)

    def broker_url_value(self) -> str:
        """The signing broker's base URL as bots should call it."""
        if self.broker_url:
            return self.broker_url.rstrip("/")
        host = self.host
        if host in ("", "0.0.0.0", "::"):  # bound to every address: loopback reaches it
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"
