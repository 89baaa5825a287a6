"""The launch contract (shared/launch.py): every variable the control plane writes is one the bot reads,
what a bot receives is exactly what it received before the contract had one owner, and a container's
secret files bring the bot the same secrets as an environment would."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr

from shared.launch import (
    SECRETS,
    BotLaunch,
    BrokerWallets,
    bot_secret,
    bot_token,
    file_variable,
    launch_settings,
    placement,
    read_secret_files,
    secret_files,
    variable,
)
from tenant_bot.config import BotSettings

SERVER = SecretStr("a-control-plane-secret-of-its-own")


def launch(**overrides: object) -> BotLaunch:
    values: dict[str, object] = {
        "tenant_id": "t-one",
        "network": "devnet",
        "bot_version": "0.1.0",
        "server_secret": bot_secret(SERVER, "t-one"),
        "api_token": bot_token(SERVER, "t-one"),
        "hyperliquid_url": "http://127.0.0.1:3001",
        "asgard_url": "http://127.0.0.1:3002/margin-trading",
        "solana_rpc_url": "http://127.0.0.1:8899",
        "arbitrum_rpc_url": "http://127.0.0.1:8547",
        **overrides,
    }
    return BotLaunch(**values)  # type: ignore[arg-type]


def test_every_variable_a_launch_writes_is_a_setting_of_the_bot() -> None:
    fields = set(BotSettings.model_fields)
    assert launch_settings() <= fields, sorted(launch_settings() - fields)
    assert set(SECRETS) <= fields
    assert BotSettings.model_config["env_prefix"] == "BASIS_"
    assert variable("api_port") == "BASIS_API_PORT" and file_variable("api_token") == "BASIS_API_TOKEN_FILE"


def test_the_environment_of_a_bot_with_its_own_keys() -> None:
    extra = {"BASIS_TICK_SECONDS": "1", "BASIS_SIGNER": "broker", "BASIS_NETWORK": "mainnet"}
    env = launch(extra=extra, asgard_api_key=SecretStr("k")).environment()
    assert env == {
        "BASIS_TICK_SECONDS": "1",  # the operator's extra settings pass
        "BASIS_NETWORK": "devnet",  # ... under what the launch itself sets
        "BASIS_SERVER_SECRET": bot_secret(SERVER, "t-one").get_secret_value(),
        "BASIS_API_TOKEN": bot_token(SERVER, "t-one").get_secret_value(),
        "BASIS_HYPERLIQUID_URL": "http://127.0.0.1:3001",
        "BASIS_ASGARD_URL": "http://127.0.0.1:3002/margin-trading",
        "BASIS_SOLANA_RPC_URL": "http://127.0.0.1:8899",
        "BASIS_ARBITRUM_RPC_URL": "http://127.0.0.1:8547",
        "BASIS_LOG_JSON": "true",
        "BASIS_BOT_VERSION": "0.1.0",
        "BASIS_ASGARD_API_KEY": "k",
    }  # no signer: not even the operator's


def test_the_environment_of_a_bot_that_signs_through_the_broker() -> None:
    wallets = BrokerWallets("http://127.0.0.1:8001", "So1ana", "0xEvm")
    env = launch(wallets=wallets, extra={"BASIS_BROKER_URL": "http://elsewhere"}).environment()
    assert (env["BASIS_SIGNER"], env["BASIS_BROKER_URL"]) == ("broker", "http://127.0.0.1:8001")
    assert (env["BASIS_SOLANA_ADDRESS"], env["BASIS_EVM_ADDRESS"]) == ("So1ana", "0xEvm")
    assert "BASIS_ASGARD_API_KEY" not in env
    assert SERVER.get_secret_value() not in env.values()  # never the control plane's own secret


def test_a_container_gets_its_secrets_as_files_and_the_bot_reads_the_same_values(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        **launch(asgard_api_key=SecretStr("key")).environment(),
        **placement("t-one", "/data", "0.0.0.0", 8080),
    }
    plain, files = secret_files(env, str(tmp_path))
    assert set(files) == set(SECRETS)
    assert not {variable(name) for name in SECRETS} & set(plain)  # no secret left in the environment
    for name, value in files.items():
        assert plain[file_variable(name)] == f"{tmp_path}/{name}"
        (tmp_path / name).write_text(value + "\n")
    for key in [k for k in os.environ if k.startswith("BASIS_")]:
        monkeypatch.delenv(key)
    for key, value in plain.items():
        monkeypatch.setenv(key, value)
    settings = BotSettings(_env_file=None)  # type: ignore[call-arg]
    assert settings.api_token_value() == bot_token(SERVER, "t-one")
    assert settings.server_secret_value() == bot_secret(SERVER, "t-one")
    assert settings.asgard_key_value() == SecretStr("key")
    assert (settings.tenant_id, str(settings.data_dir), settings.api_port) == ("t-one", "/data", 8080)


def test_a_secret_given_directly_wins_and_an_unreadable_file_says_which(tmp_path: Path) -> None:
    given = read_secret_files({"api_token": "direct"}, {"BASIS_API_TOKEN_FILE": str(tmp_path / "none")})
    assert given == {"api_token": "direct"}
    with pytest.raises(ValueError, match="BASIS_API_TOKEN_FILE names a file that cannot be read"):
        read_secret_files({}, {"BASIS_API_TOKEN_FILE": str(tmp_path / "none")})


def test_the_derivations_are_per_tenant_and_apart() -> None:
    assert bot_token(SERVER, "t-one") == bot_token(SERVER, "t-one")
    assert bot_token(SERVER, "t-one") != bot_token(SERVER, "t-two")
    assert bot_token(SERVER, "t-one") != bot_secret(SERVER, "t-one")
    # The bot's own derivation on the devnet (no token given) is the same function.
    bot = BotSettings(_env_file=None, tenant_id="t-one", server_secret=SERVER)  # type: ignore[call-arg]
    assert bot.api_token_value() == bot_token(SERVER, "t-one")
