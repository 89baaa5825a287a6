"""Chain clients the bot talks to directly: Solana (balances, signature status, the LSTs' stake pool
accounts, which `stake_pools` decodes) and Arbitrum (USDC balances and deposits to Hyperliquid's
bridge). Import the submodule you need: each pulls in its own heavy libraries (solana-py, eth-abi),
which an idle bot should not load."""
