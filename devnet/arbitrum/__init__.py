"""Arbitrum One on loopback: accounts with ETH for gas, native USDC at its mainnet address, the
Hyperliquid Bridge2 deposit path, and the geth-style JSON-RPC front that Ethereum clients talk to."""

from devnet.arbitrum.chain import ArbitrumChain
from devnet.arbitrum.rpc import create_app

__all__ = ["ArbitrumChain", "create_app"]
