"""What differs between the worlds Basis runs in: one `Network` per value of `BASIS_NETWORK`.

Every component reads these facts from here and only from here (`network_facts(settings.network)`):
the venues' default URLs, how Hyperliquid actions are signed, the Arbitrum chain and its contracts,
the Solana cluster, and whether Asgard needs an API key. A URL setting given explicitly still wins
(tests point a "mainnet" bot at the loopback devnet), but how things are signed follows the network
alone, so a bot on mainnet can never sign as testnet.

Sources (checked 2026-12):
- Hyperliquid URLs: hyperliquid-python-sdk `hyperliquid/utils/constants.py` (MAINNET_API_URL,
  TESTNET_API_URL).
- L1 signing source: SDK `hyperliquid/utils/signing.py` `construct_phantom_agent` ("a" mainnet, "b"
  otherwise). User-signed actions: SDK `signing.py` `sign_user_signed_action` sets
  `signatureChainId = "0x66eee"` on every network ("the chain used by the wallet to sign and can be
  any chain") and `hyperliquidChain = "Mainnet" | "Testnet"` (what stops a replay on the other network).
- Arbitrum: Hyperliquid docs, for-developers/api/bridge2 (native USDC and Bridge2 on Arbitrum One
  42161; USDC2 and the testnet bridge on Arbitrum Sepolia 421614). Public RPCs: docs.arbitrum.io.
- Asgard: github.com/asgard-finance/api-docs README (base URL, `X-API-Key`; 1 request/s without one).
  Asgard runs on Solana mainnet-beta only: Hyperliquid's testnet pairs with it there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from shared.assets import ARBITRUM_CHAIN_ID, HYPERLIQUID_BRIDGE, TOKENS, Asset, Chain

NetworkName = Literal["devnet", "testnet", "mainnet"]
NETWORK_NAMES: tuple[str, ...] = get_args(NetworkName)

# hyperliquid-python-sdk signing.py: the signature chain id it puts in every user-signed action.
SDK_SIGNATURE_CHAIN_ID = "0x66eee"  # 421614


@dataclass(frozen=True)
class Network:
    """The facts of one network. URLs are defaults; the rest is not configurable on purpose."""

    name: NetworkName
    # Hyperliquid REST base (POST /info, /exchange).
    hyperliquid_url: str
    # L1 actions (orders, cancels, leverage) are signed with phantom-agent source "a" when true.
    hyperliquid_mainnet: bool
    # User-signed actions (usdClassTransfer, withdraw3, ...): `hyperliquidChain` and `signatureChainId`.
    hyperliquid_chain: Literal["Mainnet", "Testnet"]
    signature_chain_id: str
    # Arbitrum: the chain where deposits go to Hyperliquid, its native USDC and Hyperliquid's Bridge2.
    arbitrum_chain_id: int
    arbitrum_usdc: str
    hyperliquid_bridge: str
    arbitrum_rpc_url: str
    # Solana: the cluster and a default RPC (a paid RPC is advised on mainnet).
    solana_cluster: Literal["localnet", "devnet", "mainnet-beta"]
    solana_rpc_url: str
    # Asgard's margin-trading API, and whether it needs an API key there (`X-API-Key`).
    asgard_url: str
    asgard_api_key_required: bool
    # Privy: its client (sign-in) host and its REST host.
    privy_auth_url: str
    privy_api_url: str

    @property
    def signature_chain_id_int(self) -> int:
        return int(self.signature_chain_id, 16)


# Arbitrum One's chain id, native USDC and Hyperliquid's Bridge2 there (Hyperliquid docs, bridge2) are
# shared/assets.py's, where the tokens are; Arbitrum Sepolia's are only here.
ARBITRUM_ONE = ARBITRUM_CHAIN_ID
ARBITRUM_ONE_USDC = TOKENS[(Asset.USDC, Chain.ARBITRUM)].address or ""
ARBITRUM_ONE_BRIDGE = HYPERLIQUID_BRIDGE
ARBITRUM_SEPOLIA = 421614
# Hyperliquid docs, bridge2 (testnet): USDC2 and the bridge on Arbitrum Sepolia.
ARBITRUM_SEPOLIA_USDC = "0x1870Dc7A474e045026F9ef053d5bB20a250Cc084"
ARBITRUM_SEPOLIA_BRIDGE = "0x279c9462FDba349550b49a23DE27dd19d5891baA"
ASGARD_URL = "https://v2-ultra-edge.asgard.finance/margin-trading"
# Privy docs (docs.privy.io, API reference): client endpoints on auth.privy.io, REST on api.privy.io.
PRIVY_AUTH_URL = "https://auth.privy.io"
PRIVY_API_URL = "https://api.privy.io"

NETWORKS: dict[str, Network] = {
    # The loopback emulators (`devnet/`): Hyperliquid verifies as testnet (the SDK signs as testnet for
    # any URL but api.hyperliquid.xyz); Arbitrum is emulated as Arbitrum One, with its addresses.
    "devnet": Network(
        name="devnet",
        hyperliquid_url="http://127.0.0.1:3001",
        hyperliquid_mainnet=False,
        hyperliquid_chain="Testnet",
        signature_chain_id=SDK_SIGNATURE_CHAIN_ID,
        arbitrum_chain_id=ARBITRUM_ONE,
        arbitrum_usdc=ARBITRUM_ONE_USDC,
        hyperliquid_bridge=ARBITRUM_ONE_BRIDGE,
        arbitrum_rpc_url="http://127.0.0.1:8547",
        solana_cluster="localnet",
        solana_rpc_url="http://127.0.0.1:8899",
        asgard_url="http://127.0.0.1:3002/margin-trading",
        asgard_api_key_required=False,
        privy_auth_url="http://127.0.0.1:3003",
        privy_api_url="http://127.0.0.1:3003",
    ),
    "testnet": Network(
        name="testnet",
        hyperliquid_url="https://api.hyperliquid-testnet.xyz",
        hyperliquid_mainnet=False,
        hyperliquid_chain="Testnet",
        signature_chain_id=SDK_SIGNATURE_CHAIN_ID,
        arbitrum_chain_id=ARBITRUM_SEPOLIA,
        arbitrum_usdc=ARBITRUM_SEPOLIA_USDC,
        hyperliquid_bridge=ARBITRUM_SEPOLIA_BRIDGE,
        arbitrum_rpc_url="https://sepolia-rollup.arbitrum.io/rpc",
        solana_cluster="mainnet-beta",
        solana_rpc_url="https://api.mainnet-beta.solana.com",
        asgard_url=ASGARD_URL,
        asgard_api_key_required=True,
        privy_auth_url=PRIVY_AUTH_URL,
        privy_api_url=PRIVY_API_URL,
    ),
    "mainnet": Network(
        name="mainnet",
        hyperliquid_url="https://api.hyperliquid.xyz",
        hyperliquid_mainnet=True,
        hyperliquid_chain="Mainnet",
        signature_chain_id=SDK_SIGNATURE_CHAIN_ID,
        arbitrum_chain_id=ARBITRUM_ONE,
        arbitrum_usdc=ARBITRUM_ONE_USDC,
        hyperliquid_bridge=ARBITRUM_ONE_BRIDGE,
        arbitrum_rpc_url="https://arb1.arbitrum.io/rpc",
        solana_cluster="mainnet-beta",
        solana_rpc_url="https://api.mainnet-beta.solana.com",
        asgard_url=ASGARD_URL,
        asgard_api_key_required=True,
        privy_auth_url=PRIVY_AUTH_URL,
        privy_api_url=PRIVY_API_URL,
    ),
}


class UnknownNetwork(ValueError):
    """A network name that is none of `NETWORK_NAMES`."""


def network_facts(name: str) -> Network:
    """The facts of network `name` ("devnet", "testnet" or "mainnet"); anything else is refused."""
    try:
        return NETWORKS[name]
    except KeyError:
        raise UnknownNetwork(f"unknown network {name!r}: choose one of {', '.join(NETWORK_NAMES)}") from None


# The URL settings whose default is their network's (same name here and in the settings).
URL_SETTINGS = (
    "hyperliquid_url",
    "asgard_url",
    "solana_rpc_url",
    "arbitrum_rpc_url",
    "privy_auth_url",
    "privy_api_url",
)


def default_urls(data: dict[str, object], settings: Iterable[str]) -> dict[str, object]:
    """Settings input (a `mode="before"` validator's: the values given, before defaults) with each of
    `settings` that is a URL setting and was not given filled from the network's facts. An unknown
    network is left for the `network` field's own validation to refuse."""
    facts = NETWORKS.get(str(data.get("network", "devnet")))
    if facts is None:
        return data
    out = dict(data)
    for name in URL_SETTINGS:
        if name in settings and out.get(name) in (None, ""):
            out[name] = getattr(facts, name)
    return out
