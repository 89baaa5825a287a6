"""Solana on loopback: a chain over LiteSVM (real signature checks, real SPL Token programs) and the
JSON-RPC front that solana-py talks to."""
