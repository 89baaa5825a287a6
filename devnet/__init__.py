"""The outside world on loopback: a seeded market simulator and emulators of Hyperliquid, Asgard,
Solana JSON-RPC, Arbitrum JSON-RPC and Privy, with a faucet, scenarios and fault injection."""
