"""The one table of what differs per network, and the settings and policy that follow it."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hyperliquid.utils import constants, signing
from hyperliquid.utils.signing import WITHDRAW_SIGN_TYPES, user_signed_payload
from pydantic import SecretStr, ValidationError

from orchestrator.config import ControlPlaneSettings
from shared.networks import NETWORK_NAMES, NETWORKS, UnknownNetwork, network_facts
from shared.transaction_policy import TransactionPolicy, TransactionRejected, TransactionValidator
from tenant_bot.config import BotSettings
from tenant_bot.venues.hyperliquid import HyperliquidClient

SECRET = SecretStr("s" * 40)


def test_mainnet_and_testnet_differ_where_the_venues_say() -> None:
    main, test = network_facts("mainnet"), network_facts("testnet")
    # hyperliquid-python-sdk constants.py
    assert main.hyperliquid_url == constants.MAINNET_API_URL
    assert test.hyperliquid_url == constants.TESTNET_API_URL
    # L1 source "a" only on mainnet; user-signed actions name their network.
    assert main.hyperliquid_mainnet and not test.hyperliquid_mainnet
    assert signing.construct_phantom_agent(b"\0" * 32, main.hyperliquid_mainnet)["source"] == "a"
    assert signing.construct_phantom_agent(b"\0" * 32, test.hyperliquid_mainnet)["source"] == "b"
    assert (main.hyperliquid_chain, test.hyperliquid_chain) == ("Mainnet", "Testnet")
    # Bridge2 doc: Arbitrum One vs Arbitrum Sepolia, each with its own USDC and bridge.
    assert (main.arbitrum_chain_id, test.arbitrum_chain_id) == (42161, 421614)
    assert main.arbitrum_usdc != test.arbitrum_usdc and main.hyperliquid_bridge != test.hyperliquid_bridge
    assert main.asgard_api_key_required and test.asgard_api_key_required
    assert main.solana_cluster == "mainnet-beta"


def test_the_sdk_signature_chain_id_on_every_network() -> None:
    """The SDK's sign_user_signed_action writes 0x66eee whatever the network."""
    action: dict[str, Any] = {"destination": "0x" + "1" * 40, "amount": "1", "time": 1}
    for mainnet in (True, False):
        signed = dict(action)
        signing.sign_user_signed_action(
            Account.create(), signed, WITHDRAW_SIGN_TYPES, "HyperliquidTransaction:Withdraw", mainnet
        )
        facts = network_facts("mainnet" if mainnet else "testnet")
        assert signed["signatureChainId"] == facts.signature_chain_id
        assert signed["hyperliquidChain"] == facts.hyperliquid_chain


def test_devnet_is_loopback_and_needs_no_key() -> None:
    dev = network_facts("devnet")
    assert not dev.asgard_api_key_required and not dev.hyperliquid_mainnet
    for url in (
        dev.hyperliquid_url,
        dev.asgard_url,
        dev.solana_rpc_url,
        dev.arbitrum_rpc_url,
        dev.privy_api_url,
    ):
        assert url.startswith("http://127.0.0.1:")
    assert set(NETWORKS) == set(NETWORK_NAMES)


def test_an_unknown_network_is_refused_clearly() -> None:
    with pytest.raises(
        UnknownNetwork, match="unknown network 'moon': choose one of devnet, testnet, mainnet"
    ):
        network_facts("moon")
    with pytest.raises(ValidationError, match="network"):
        BotSettings(network="moon", _env_file=None)  # type: ignore[arg-type,call-arg]


def test_urls_follow_the_network_unless_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HYPERLIQUID_URL", "ASGARD_URL", "SOLANA_RPC_URL", "ARBITRUM_RPC_URL", "NETWORK"):
        monkeypatch.delenv(f"BASIS_{name}", raising=False)
        monkeypatch.delenv(f"BASIS_CP_{name}", raising=False)
    bot = BotSettings(network="mainnet", server_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    assert bot.hyperliquid_url == "https://api.hyperliquid.xyz"
    assert bot.asgard_url == NETWORKS["mainnet"].asgard_url
    assert bot.facts.hyperliquid_mainnet
    # An explicit URL wins (a "mainnet" bot pointed at a loopback devnet), the signing does not move.
    monkeypatch.setenv("BASIS_HYPERLIQUID_URL", "http://127.0.0.1:3001")
    pointed = BotSettings(network="mainnet", server_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    assert pointed.hyperliquid_url == "http://127.0.0.1:3001" and pointed.facts.hyperliquid_mainnet
    cp = ControlPlaneSettings(  # type: ignore[call-arg]
        _env_file=None, network="testnet", server_secret=SECRET, privy_app_secret=SECRET, runtime="docker"
    )
    assert cp.hyperliquid_url == constants.TESTNET_API_URL and cp.privy_api_url == "https://api.privy.io"
    assert BotSettings(_env_file=None).hyperliquid_url == "http://127.0.0.1:3001"  # type: ignore[call-arg]


def test_the_bot_has_no_knob_to_sign_as_another_network() -> None:
    assert "hyperliquid_mainnet" not in BotSettings.model_fields
    client = HyperliquidClient("http://127.0.0.1:9", network=network_facts("mainnet"))
    assert client.network.hyperliquid_chain == "Mainnet"


def _transfer(chain: str) -> dict[str, Any]:
    action = {"hyperliquidChain": chain, "signatureChainId": "0x66eee", "destination": "0x" + "ab" * 20}
    return user_signed_payload(
        "HyperliquidTransaction:Withdraw", WITHDRAW_SIGN_TYPES, {**action, "amount": "1", "time": 1}
    )


@pytest.mark.parametrize(("network", "other"), [("mainnet", "Testnet"), ("testnet", "Mainnet")])
def test_the_policy_signs_user_actions_for_its_own_network_only(network: str, other: str) -> None:
    from shared.transaction_config import load_transactions_config

    validator = TransactionValidator(
        TransactionPolicy.from_config(load_transactions_config(None), network=network)
    )
    own = "0x" + "ab" * 20
    validator.check_typed_data(_transfer(network_facts(network).hyperliquid_chain), owner_evm=own)
    with pytest.raises(TransactionRejected, match=f"hyperliquidChain '?{other}'? is not allowed"):
        validator.check_typed_data(_transfer(other), owner_evm=own)


def test_a_bot_on_a_network_needing_an_asgard_key_has_no_default_one() -> None:
    on_devnet = BotSettings(_env_file=None)  # type: ignore[call-arg]
    assert on_devnet.asgard_key_value().get_secret_value()  # the devnet's, which needs none
    bot = BotSettings(network="mainnet", server_secret=SECRET, _env_file=None)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="BASIS_ASGARD_API_KEY is required on mainnet"):
        bot.asgard_key_value()
    given = BotSettings(  # type: ignore[call-arg]
        network="mainnet", server_secret=SECRET, asgard_api_key=SecretStr("k"), _env_file=None
    )
    assert given.asgard_key_value() == SecretStr("k")


def _deposit(chain_id: int, usdc: str, bridge: str, raw: int = 10 * 10**6) -> dict[str, Any]:
    from eth_abi import encode

    data = "0xa9059cbb" + encode(["address", "uint256"], [bridge, raw]).hex()
    return {
        "chainId": chain_id,
        "nonce": 0,
        "to": usdc,
        "value": 0,
        "data": data,
        "type": 2,
        "gas": 100_000,
        "maxFeePerGas": 20_000_000,
        "maxPriorityFeePerGas": 0,
    }


def test_the_switch_sets_the_evm_allow_lists_of_its_own_network() -> None:
    from shared.transaction_config import load_transactions_config

    def validator(network: str) -> TransactionValidator:
        return TransactionValidator(
            TransactionPolicy.from_config(load_transactions_config(None), network=network)
        )

    test, main = network_facts("testnet"), network_facts("mainnet")
    on_test = (test.arbitrum_chain_id, test.arbitrum_usdc, test.hyperliquid_bridge)
    on_main = (main.arbitrum_chain_id, main.arbitrum_usdc, main.hyperliquid_bridge)
    # A testnet deployment deposits USDC2 into the Sepolia bridge, decoded: its amount and minimum checked.
    validator("testnet").check_evm_transaction(_deposit(*on_test))
    with pytest.raises(TransactionRejected, match="below its 5 USDC minimum"):
        validator("testnet").check_evm_transaction(_deposit(*on_test, raw=4 * 10**6))
    with pytest.raises(TransactionRejected, match="not an allow-listed destination"):
        validator("testnet").check_evm_transaction(_deposit(*on_test[:2], "0x" + "12" * 20))
    # ... and signs nothing valid on Arbitrum One; mainnet the reverse.
    with pytest.raises(TransactionRejected, match="EVM chain id 42161 is not allowed"):
        validator("testnet").check_evm_transaction(_deposit(*on_main))
    validator("mainnet").check_evm_transaction(_deposit(*on_main))
    with pytest.raises(TransactionRejected, match="EVM chain id 421614 is not allowed"):
        validator("mainnet").check_evm_transaction(_deposit(*on_test))
