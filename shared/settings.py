"""Settings base: every Basis setting comes from `BASIS_*` environment variables (or a `.env` file).

Secrets are `SecretStr`, so printing a settings object, logging it or putting it in an error never
shows them; code that needs the value calls `.get_secret_value()` at the point of use.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.logging import register_secret
from shared.networks import Network, NetworkName, default_urls, network_facts


class BasisSettings(BaseSettings):
    """Base for every component's settings. Subclasses add their own fields and a longer prefix."""

    model_config = SettingsConfigDict(
        env_prefix="BASIS_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # Validation errors must not echo secret input back.
        hide_input_in_errors=True,
    )

    # Log level name: debug, info, warning, error.
    log_level: str = Field(default="info")
    # Log format. None = JSON when stderr is not a terminal, coloured text when it is.
    log_json: bool | None = None
    # Which world the component talks to: "devnet" (the loopback emulators in `devnet/`), "testnet"
    # (Hyperliquid's public testnet) or "mainnet". It sets everything that differs between them
    # (shared/networks.py): how Hyperliquid actions are signed, chain ids and contracts, and the
    # default URL of every venue a component talks to (an explicit URL setting still wins).
    network: NetworkName = "devnet"

    @model_validator(mode="before")
    @classmethod
    def _network_urls(cls, data: object) -> object:
        # The venue URLs a component has and was not given are its network's (shared/networks.py).
        return default_urls(data, cls.model_fields) if isinstance(data, dict) else data

    @property
    def facts(self) -> Network:
        """What differs on this network (URL defaults, signing, chains, contracts)."""
        return network_facts(self.network)

    def model_post_init(self, __context: object) -> None:
        # Whatever secret a settings object holds is scrubbed from every log line from now on.
        for name in type(self).model_fields:
            value = getattr(self, name, None)
            if isinstance(value, SecretStr):
                register_secret(value.get_secret_value())


def own_secret(value: SecretStr | None, builtin: str) -> bool:
    """True for a secret of one's own: set, not blank, and not the built-in devnet one (which is in
    the source, so public)."""
    given = value.get_secret_value().strip() if value is not None else ""
    return bool(given) and given != builtin
