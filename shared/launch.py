"""The launch contract: what the control plane tells a bot it starts, and how the bot reads it.

A bot is configured by environment variables, one per field of its settings (`tenant_bot/config.py`
`BotSettings`): `BASIS_<FIELD>` (`variable("api_port")` is `BASIS_API_PORT`). The control plane
writes them in up to three steps, each defined here so that both sides name them from one place:

1. `BotLaunch.environment()`: who the bot is, which world it talks to, its secrets and its signer
   (`orchestrator/tenants.py` fills a `BotLaunch` from its settings and the tenant's user);
2. `placement(...)`: where it runs: its folder and the address its API listens on (each runtime its
   own: a process on loopback, a container on /data and port 8080);
3. in a container, `secret_files(...)`: each secret (`SECRETS`) moved out of the environment, where
   `docker inspect` shows it, into a file that `BASIS_<NAME>_FILE` names (`file_variable`); the bot
   reads those files back (`read_secret_files`).

Both derivations from the control plane's server secret live here too: the bot's API token
(`bot_token`, which the signing broker also checks) and the bot's own server secret (`bot_secret`).

Each variable a launch writes is a field of `BotSettings` (tests/unit/shared/test_launch.py checks
it), so a name written here is a name the bot reads, but `BASIS_BOT_VERSION`, which is for people.
A bot started by hand (`basis-bot`) reads the same variables, set by whoever starts it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from shared.logging import register_secret

PREFIX = "BASIS_"
FILE_SUFFIX = "_FILE"
# The settings that are secrets: in a container, files rather than environment variables.
SECRETS = ("server_secret", "api_token", "asgard_api_key")
# The settings a bot started for a signed-in user signs with (`BrokerWallets`). A bot without them
# keeps its own keys: none of them may reach it from the operator's extra settings either.
BROKER_SETTINGS = ("signer", "broker_url", "solana_address", "evm_address")


def variable(name: str) -> str:
    """The environment variable of a bot setting: `api_port` → `BASIS_API_PORT`."""
    return PREFIX + name.upper()


def file_variable(name: str) -> str:
    """The variable naming the file that holds a secret setting: `api_token` → `BASIS_API_TOKEN_FILE`."""
    return variable(name) + FILE_SUFFIX


def _derive(server_secret: SecretStr, purpose: bytes, tenant_id: str) -> SecretStr:
    key = server_secret.get_secret_value().encode()
    value = hmac.new(key, purpose + tenant_id.encode(), hashlib.sha256).hexdigest()
    register_secret(value)  # never in a log line, like every other secret
    return SecretStr(value)


def bot_token(server_secret: SecretStr, tenant_id: str) -> SecretStr:
    """A bot's API token: HMAC-SHA256(server secret, "basis-api-token:" + tenant id).

    The control plane derives it from its own secret (the proxy sends it, the signing broker checks
    it); a bot on the devnet with no token set derives it from its own secret the same way."""
    return _derive(server_secret, b"basis-api-token:", tenant_id)


def bot_secret(server_secret: SecretStr, tenant_id: str) -> SecretStr:
    """The secret a bot gets as its BASIS_SERVER_SECRET (its keystore's key derives from it).

    Derived per tenant, never the control plane's own secret: that one derives every tenant's token,
    with which a bot could ask the signing broker to sign for another tenant's wallets."""
    return _derive(server_secret, b"basis-bot-secret:", tenant_id)


@dataclass(frozen=True)
class BrokerWallets:
    """The user's Privy wallets, signed for by the control plane's signing broker (`broker_url`, the
    internal listener) with the bot's API token: the bot then holds no key."""

    broker_url: str
    solana_address: str
    evm_address: str


@dataclass(frozen=True)
class BotLaunch:
    """Who a bot is and what it talks to, as the control plane starts it (step 1 of the module's doc).

    Field names are the bot's settings' (`BotSettings`), except `extra` and `wallets`."""

    tenant_id: str
    network: Literal["devnet", "testnet", "mainnet"]
    # The version its tenant runs. The bot does not read it: it says, in the bot's environment (what
    # `docker inspect` and /proc show an operator), which version the control plane started.
    bot_version: str
    # The bot's own secret (`bot_secret`) and its API token (`bot_token`).
    server_secret: SecretStr = field(repr=False)
    api_token: SecretStr = field(repr=False)
    hyperliquid_url: str
    asgard_url: str
    solana_rpc_url: str
    arbitrum_rpc_url: str
    asgard_api_key: SecretStr | None = field(default=None, repr=False)
    # None: the bot keeps its own keys (`BASIS_SIGNER` local), e.g. a tenant an operator made.
    wallets: BrokerWallets | None = None
    # The shared venue gateway's base URL (the control plane's internal listener + /gateway/v1), which
    # the bot reads the venues through; None: the gateway is off, the bot reads them directly.
    gateway_url: str | None = None
    # The operator's extra settings for every bot (`BASIS_CP_BOT_ENV`), under what this launch sets.
    extra: Mapping[str, str] = field(default_factory=dict)

    def environment(self) -> dict[str, str]:
        """The bot's settings as environment variables, secrets included; JSON log lines."""
        env = dict(self.extra)
        env.update(
            {
                variable("network"): self.network,
                variable("server_secret"): self.server_secret.get_secret_value(),
                variable("api_token"): self.api_token.get_secret_value(),
                variable("hyperliquid_url"): self.hyperliquid_url,
                variable("asgard_url"): self.asgard_url,
                variable("solana_rpc_url"): self.solana_rpc_url,
                variable("arbitrum_rpc_url"): self.arbitrum_rpc_url,
                variable("log_json"): "true",
                variable("bot_version"): self.bot_version,
            }
        )
        for name in BROKER_SETTINGS:
            env.pop(variable(name), None)  # the user decides the signer, never an operator's default
        if self.wallets is not None:
            env[variable("signer")] = "broker"
            env[variable("broker_url")] = self.wallets.broker_url
            env[variable("solana_address")] = self.wallets.solana_address
            env[variable("evm_address")] = self.wallets.evm_address
        if self.gateway_url is not None:
            env[variable("gateway_url")] = self.gateway_url
        if self.asgard_api_key is not None:
            env[variable("asgard_api_key")] = self.asgard_api_key.get_secret_value()
        return env


def placement(tenant_id: str, data_dir: str, api_host: str, api_port: int) -> dict[str, str]:
    """Where the bot runs (step 2): its tenant, its folder, and its API's address."""
    return {
        variable("tenant_id"): tenant_id,
        variable("data_dir"): data_dir,
        variable("api_host"): api_host,
        variable("api_port"): str(api_port),
    }


def secret_files(env: Mapping[str, str], secret_dir: str) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, secret files), step 3: each secret of `env` becomes a file named after its
    setting (`api_token`) in `secret_dir`, and `BASIS_<NAME>_FILE` = `<secret_dir>/<name>` replaces it."""
    out: dict[str, str] = {}
    files: dict[str, str] = {}
    secrets = {variable(name): name for name in SECRETS}
    for key, value in env.items():
        name = secrets.get(key)
        if name is None:
            out[key] = value
        else:
            files[name] = value
            out[file_variable(name)] = f"{secret_dir}/{name}"
    return out, files


def read_secret_files(data: dict[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The bot's side of step 3: each secret setting not given directly, read from the file its
    `BASIS_<NAME>_FILE` names. ValueError (without the secret) when that file cannot be read."""
    environ = os.environ if environ is None else environ
    for name in SECRETS:
        path = environ.get(file_variable(name))
        if path and data.get(name) is None:
            try:
                data[name] = Path(path).read_text().strip()
            except OSError:
                raise ValueError(f"{file_variable(name)} names a file that cannot be read") from None
    return data


def launch_settings() -> frozenset[str]:
    """The bot settings a launch writes for the bot to read (steps 1 and 2; `bot_version` is for
    people): each must be a field of `BotSettings`."""
    written = {f.name for f in fields(BotLaunch)} - {"extra", "wallets", "bot_version"}
    return frozenset(
        written | {"log_json", *BROKER_SETTINGS, "tenant_id", "data_dir", "api_host", "api_port"}
    )
