"""The control plane's settings: every field is an environment variable `BASIS_CP_<NAME>` (or a `.env` line).

With no configuration at all the control plane runs against a local devnet (`make run`): SQLite
under `var/control/`, bots under `var/tenants/`, Privy and the venues on loopback.
"""

from __future__ import annotations

from ipaddress import ip_network
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from gateway.config import GATEWAY_PREFIX, GatewayConfig
from shared.network_addresses import is_loopback_host, is_loopback_url, url_host
from shared.networks import NETWORKS
from shared.process_hardening import can_switch_users
from shared.settings import BasisSettings, own_secret

# Used only when `network` is "devnet": the devnet has no real money to protect.
DEVNET_SERVER_SECRET = "basis-devnet-control-plane-secret"
# The devnet's Privy app id for its default seed (7); other seeds print theirs (admin `GET /state`).
DEVNET_PRIVY_APP_ID = "cmdbbil8gwtla39qbn71b1h45"
DEVNET = NETWORKS["devnet"]


class ControlPlaneSettings(BasisSettings):
    # A longer prefix than the bot's `BASIS_`, so one shell can configure both without clashes
    # (`BASIS_CP_PORT` is the control plane's, `BASIS_API_PORT` a bot's).
    # The rest of the config (`.env`, extras ignored, input hidden in errors) is merged from BasisSettings.
    model_config = SettingsConfigDict(env_prefix="BASIS_CP_")

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
    # Secret from which each bot's API token (and its key-encryption key) derive: a long random value.
    # Required unless on the devnet with every upstream and the listening address on loopback
    # (see `_no_public_secret`): the built-in devnet secret is public.
    server_secret: SecretStr | None = None

    # Privy: app credentials and its two hosts (the devnet serves both on one port).
    privy_app_id: str = DEVNET_PRIVY_APP_ID
    privy_app_secret: SecretStr | None = None
    # Not set: the network's (shared/networks.py; on the devnet its Privy, on loopback).
    privy_auth_url: str = DEVNET.privy_auth_url
    privy_api_url: str = DEVNET.privy_api_url

    # Venue and chain endpoints handed to every bot.
    # Not set: the network's (shared/networks.py; the devnet's on loopback by default).
    hyperliquid_url: str = DEVNET.hyperliquid_url
    asgard_url: str = DEVNET.asgard_url
    # Asgard's API key (`X-API-Key`), handed to every bot; required on testnet and mainnet.
    asgard_api_key: SecretStr | None = None
    solana_rpc_url: str = DEVNET.solana_rpc_url
    arbitrum_rpc_url: str = DEVNET.arbitrum_rpc_url
    # The devnet's admin API, which the portal's "Get test funds" button asks for test money
    # (`orchestrator/devnet_faucet.py`). Read only on the devnet, and only on loopback.
    devnet_admin_url: str = "http://127.0.0.1:3000"
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

    # Signing broker (`POST /internal/sign`): where bots of signed-in users reach it, i.e. the internal
    # listener's address. None = http://<broker_host>:<broker_port> (127.0.0.1 when it is bound to every
    # address).
    broker_url: str | None = None
    # A risk config YAML whose `transactions` section bounds what the broker signs (programs,
    # contracts, destinations, amounts; its other sections are ignored here). None = the packaged
    # defaults the bots start from too (shared/transaction_defaults.yaml), so the broker and every bot
    # enforce the same numbers unless the operator narrows them.
    broker_policy_file: Path | None = None
    # Per-tenant signing rate: a token bucket refilled at this many signatures a second, holding at
    # most `broker_burst`. An open needs a handful; this only stops a runaway bot hammering Privy.
    broker_rate_per_second: float = Field(default=20.0, gt=0)
    broker_burst: int = Field(default=60, ge=1)
    # Seconds the broker keeps the venue's mark prices (read from `hyperliquid_url` when an order is to
    # be signed) before reading them again; a failed read is kept as long (opening orders are refused
    # meanwhile, exits still signed). The price band of the policy must cover what a mark moves in it.
    broker_mark_max_age_seconds: float = Field(default=3.0, gt=0, le=60)
    # Seconds before a withdrawal address a user registers (`/api/v1/withdrawals`) becomes one the
    # broker signs transfers to: someone who stole a session cannot redirect funds at once, and the
    # user sees the pending address meanwhile. 0 = at once. (Amounts: the policy's outflow budget.)
    withdrawal_delay_seconds: float = Field(default=86400.0, ge=0)

    # The shared venue gateway (gateway/, issue 17), served on the internal listener under `/gateway/v1`:
    # it reads public market data once for every bot and meters their Hyperliquid reads against this
    # host's one address budget, in fair shares. On: every bot is told BASIS_GATEWAY_URL (its
    # `gateway_url`) and reads through it; off, bots read the venues directly.
    gateway_enabled: bool = True
    # Whether the bots this control plane starts are told about the gateway (with it on). Off, the
    # gateway still serves whoever calls it with a tenant's token, and the bots read the venues
    # directly: for hosts whose bots leave from addresses of their own, and for the gateway's tests,
    # which play the bots themselves and count every read.
    gateway_for_bots: bool = True
    # Where bots reach the gateway, when not at the internal listener's `/gateway/v1` (None): a relay
    # or load balancer in front of it, or a gateway served apart from the signing broker. Bots keep
    # signing through the broker at `broker_url` whatever this says.
    gateway_url: str | None = None
    # Its budget, shares, cadences and the rest, as JSON: BASIS_CP_GATEWAY='{"budget_share": 0.7}'. Each
    # field is documented where it is declared (gateway/config.py `GatewayConfig`); the venues are the
    # ones above, that the bots are given.
    gateway: GatewayConfig = Field(default_factory=GatewayConfig)

    # ---- Deployment behind a reverse proxy that ends TLS (see orchestrator/request_origin.py).
    # The address users reach this control plane at, e.g. https://basis.example.com (no path). Its
    # host is accepted in `Host`; when it is https, the session cookies are always `Secure` and every
    # answer over https carries HSTS. None: cookies are `Secure` when the request came over https.
    public_url: str | None = None
    # More names accepted in the `Host` header, as JSON (["basis.internal"]). Always accepted:
    # loopback names and addresses, the public URL's host, the broker URL's host and the address
    # bound to. Any other `Host` gets 400, so no answer or redirect is built from a name an attacker
    # chose (and a DNS-rebinding page cannot talk to a control plane on loopback).
    allowed_hosts: list[str] = Field(default_factory=list)
    # Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed, as JSON addresses or
    # networks (["10.0.0.2", "10.1.0.0/16"]). Empty: the peer is the client and those headers are
    # ignored. Behind a proxy not listed here every user shares the proxy's sign-in limits.
    trusted_proxies: list[str] = Field(default_factory=list)

    # -- Listeners (orchestrator/listeners.py): two, in one process and one event loop, and the limits
    # that keep both answering while a visitor floods them.
    # The internal listener: the signing broker (`POST /internal/sign`) and a `/health`, served apart from
    # the public listener (host/port above: portal, sign-in, proxy), which answers 404 for the broker.
    # Bind it where bots, and only bots, reach it: loopback for the process runtime and host-network
    # containers, a Docker bridge's gateway address for bridged ones. Port 0 picks a free port at start.
    broker_host: str = "127.0.0.1"
    broker_port: int = Field(default=8001, ge=0, le=65535)
    # A request's head (request line and headers) must arrive whole within this many seconds of the
    # connection opening or answering its previous request: then 408 and the connection is closed
    # (a connection that sent nothing is just closed). Slow-header clients cannot hold connections.
    header_timeout_seconds: float = Field(default=10.0, gt=0)
    # A request's body must arrive whole within this many seconds of its head, or 408 and closed.
    body_timeout_seconds: float = Field(default=30.0, gt=0)
    # The largest request head (431 past it) and body (413 past it), refused while the bytes arrive:
    # nothing past them is kept. Far above what the portal, sign-in and a bot's API take. The proxy
    # refuses larger bodies to a bot too; the signing broker refuses more than its own 64 KiB itself.
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Open connections the public listener keeps at most (less if the open-files limit is lower: see
    # reserved_descriptors). Past it a new connection sheds the one waiting longest without a request in
    # progress (idle, or still sending); only when all are busy is the new one answered 503.
    max_connections: int = Field(default=10_000, ge=1)
    # The same, per client network (an IPv4 /24, an IPv6 /64), so one network cannot take them all.
    # Connections from a trusted proxy (trusted_proxies), through which every user comes, are not
    # capped per network; 0 turns the cap off for everyone.
    max_connections_per_network: int = Field(default=256, ge=0)
    # Open connections the internal listener (bots calling the broker) keeps at most.
    broker_max_connections: int = Field(default=1024, ge=1)
    # File descriptors kept for everything but client connections: the database, the reconciler and
    # runtimes, log files, the broker's connections to Privy, the proxy's idle connections to bots, and a
    # burst of accepts. `basis serve` raises its soft open-files limit to the hard one; the public cap is
    # then at most (limit - reserved - broker_max_connections) / 2, as each public connection may hold one
    # connection to a bot.
    reserved_descriptors: int = Field(default=2048, ge=0)
    # Live event streams (the dashboard's `GET /app/api/v1/events/stream`) one user may hold open through
    # the proxy at once, a dashboard tab holding one; the next is answered 429 until one ends.
    max_streams_per_user: int = Field(default=8, ge=1)

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        url = _http_url(value, "https://basis.example.com")
        if url is not None and "/" in url.split("://", 1)[1]:
            raise ValueError("must not have a path: the control plane is served at the root")
        return url

    @field_validator("gateway_url")
    @classmethod
    def _gateway_url(cls, value: str | None) -> str | None:
        return _http_url(value, "http://10.0.0.5:8001/gateway/v1")

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for entry in value:
            try:
                ip_network(entry.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{entry!r} is not an IP address or network such as 10.0.0.0/8") from None
        return [entry.strip() for entry in value]

    def not_on_loopback(self) -> list[str]:
        """The settings naming a place off this machine: an upstream this control plane talks to or
        hands to bots, the address it listens on, or a name or proxy it is reached through."""
        urls = {
            "BASIS_CP_PRIVY_AUTH_URL": self.privy_auth_url,
            "BASIS_CP_PRIVY_API_URL": self.privy_api_url,
            "BASIS_CP_HYPERLIQUID_URL": self.hyperliquid_url,
            "BASIS_CP_ASGARD_URL": self.asgard_url,
            "BASIS_CP_SOLANA_RPC_URL": self.solana_rpc_url,
            "BASIS_CP_ARBITRUM_RPC_URL": self.arbitrum_rpc_url,
            "BASIS_CP_BROKER_URL": self.broker_url,
            "BASIS_CP_GATEWAY_URL": self.gateway_url,
            "BASIS_CP_PUBLIC_URL": self.public_url,
        }
        # A URL handed to bots through bot_env is an upstream too.
        urls.update({f"BASIS_CP_BOT_ENV ({k})": v for k, v in self.bot_env.items() if "://" in v})
        out = [name for name, url in urls.items() if url is not None and not is_loopback_url(url)]
        # A database URL without a host (SQLite, a PostgreSQL Unix socket) stays on this machine.
        if url_host(self.database_url) is not None and not is_loopback_url(self.database_url):
            out.append("BASIS_CP_DATABASE_URL")
        if not is_loopback_host(self.host):
            out.append("BASIS_CP_HOST")
        if not is_loopback_host(self.broker_host):
            out.append("BASIS_CP_BROKER_HOST")
        if not all(is_loopback_host(host) for host in self.allowed_hosts):
            out.append("BASIS_CP_ALLOWED_HOSTS")
        if not all(_loopback_network(net) for net in self.trusted_proxies):
            out.append("BASIS_CP_TRUSTED_PROXIES")
        return out

    @model_validator(mode="after")
    def _no_public_secret(self) -> ControlPlaneSettings:
        """The built-in secret is public: anyone could compute every bot's token from it. It is allowed
        only on the devnet with everything on loopback, where there is nothing to steal."""
        if own_secret(self.server_secret, DEVNET_SERVER_SECRET):
            return self
        if self.network != "devnet":
            raise ValueError(
                f"BASIS_CP_SERVER_SECRET is required outside the devnet (network {self.network}): set it "
                "to a long random value"
            )
        exposed = self.not_on_loopback()
        if exposed:
            raise ValueError(
                "BASIS_CP_SERVER_SECRET must be set to a long random value: the built-in devnet secret is "
                "public and every bot's token can be computed from it, so it is accepted only when every "
                f"upstream and the listening address are on loopback, and {', '.join(exposed)} "
                f"{'is' if len(exposed) == 1 else 'are'} not"
            )
        return self

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
        if self.network != "devnet" and self.privy_app_secret is None:
            raise ValueError("BASIS_CP_PRIVY_APP_SECRET is required outside the devnet")
        if self.network == "devnet" and not is_loopback_url(self.devnet_admin_url):
            raise ValueError(
                "BASIS_CP_DEVNET_ADMIN_URL must be on loopback: the devnet's admin API is never public"
            )
        if self.bot_port_min > self.bot_port_max:
            raise ValueError("bot_port_min must not exceed bot_port_max")
        return self

    def cookies_always_secure(self) -> bool:
        """True when users reach this control plane over https only (its public URL says so)."""
        return self.public_url is not None and self.public_url.startswith("https://")

    def accepted_hosts(self) -> frozenset[str]:
        """The names and addresses accepted in the `Host` header besides loopback ones (lower case,
        without a port): `allowed_hosts`, the public URL's and broker URL's hosts, the bound address."""
        hosts = {h.strip().lower().rstrip(".") for h in self.allowed_hosts}
        for url in (self.public_url, self.broker_url):
            if url is not None and (host := url_host(url)) is not None:
                hosts.add(host)
        if self.host not in ("", "0.0.0.0", "::"):  # bound to one address: reached by it
            hosts.add(self.host.lower())
        return frozenset(hosts)

    def page_origin(self) -> str:
        """The origin users load the portal page from, which must be one of the Privy app's allowed
        origins: the public URL, else this listener on loopback (`make run`: http://127.0.0.1:8000)."""
        if self.public_url is not None:
            return self.public_url
        host = "127.0.0.1" if self.host in ("", "0.0.0.0", "::") else self.host
        return f"http://{f'[{host}]' if ':' in host else host}:{self.port}"

    def server_secret_value(self) -> SecretStr:
        return self.server_secret or SecretStr(DEVNET_SERVER_SECRET)

    def gateway_url_value(self) -> str | None:
        """The shared gateway's base URL as bots should call it (on the internal listener), or None
        when it is off or not for bots (`gateway_for_bots`)."""
        if not (self.gateway_enabled and self.gateway_for_bots):
            return None
        if self.gateway_url:
            return self.gateway_url.rstrip("/")
        return self.broker_url_value() + GATEWAY_PREFIX

    def broker_url_value(self) -> str:
        """The signing broker's base URL as bots should call it: the internal listener's."""
        if self.broker_url:
            return self.broker_url.rstrip("/")
        host = self.broker_host
        if host in ("", "0.0.0.0", "::"):  # bound to every address: loopback reaches it
            host = "127.0.0.1"
        elif ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.broker_port}"


def _loopback_network(entry: str) -> bool:
    net = ip_network(entry, strict=False)
    return net.subnet_of(ip_network("127.0.0.0/8")) if net.version == 4 else net == ip_network("::1/128")


def _http_url(value: str | None, example: str) -> str | None:
    """An http(s) URL setting without its trailing slash; None when empty."""
    if value is None or not value.strip():
        return None
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or not url_host(value):
        raise ValueError(f"must be an http:// or https:// URL such as {example}")
    return value
