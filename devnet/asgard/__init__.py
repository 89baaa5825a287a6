"""Asgard Finance's margin-trading API on loopback (`http://127.0.0.1:3002/margin-trading`).

Paths, bodies, enums and error shapes follow Asgard's public API doc (github asgard-finance/api-docs),
so a client written against the devnet is right against https://v2-ultra-edge.asgard.finance/margin-trading.
Positions are LONG token A (SOL, jitoSOL, mSOL, jupSOL, INF) against a USDC debt, on Kamino (1),
marginfi (0), Solend (2) or Drift (3), with the market simulator's rates, LTVs and capacities.

Authentication: send `X-API-Key`. Any non-empty key is accepted on the devnet and is not limited;
without one, 1 request per second per IP (then 429), as on Asgard.

Strict as the real API: answers carry only what Asgard documents, and what its doc says varies by
protocol (a build's metadata, simulation results, `/markets` oracle objects and extras,
`/refresh-positions` fields besides `healthFactor` and `booksAndBalances`) is named and shaped
differently per protocol, so a client cannot come to rely on it. A build answer has no position PDA,
blockhash or expiry: the PDA is in the record the submit answers (and `/positions/open`, matched by
`openTxHash`), the blockhash inside each transaction.

The build → sign → submit flow, for a client using solders:

    built = POST /create-position {TradeRequestBody}            # signedTxs: [base64, unsigned, ...]
    for each tx in built["signedTxs"] (Kamino and Drift opens: two, sent as one bundle):
        tx = VersionedTransaction.from_bytes(base64.b64decode(text))
        # check tx.message before signing: fee payer, program ids (allow-list), amounts
        sigs = list(tx.signatures)
        slot = list(tx.message.account_keys).index(wallet.pubkey())
        sigs[slot] = wallet.sign_message(to_bytes_versioned(tx.message))
        signed = VersionedTransaction.populate(tx.message, sigs)
    POST /submit-create-position-tx {**built, "signedTxs": [base64(bytes(signed)), ...]}

A modification (`/position/partial-close`) is submitted with the documented body of
`/submit-position-update-tx`: `protocol`, `walletPubkey`, `positionPDA`, `positionId`,
`tokenATokenMint`, `tokenBTokenMint` (from the position's record), `signedTxs`, `updateRecordData`;
without them, 422.

Fill only your own slot: close and partial-close transactions are already signed by Asgard's
custody key (it pays the proceeds), so `VersionedTransaction(message, [wallet])` would fail there.
Submit before the blockhash expires (150 blocks, about a minute); after that, build again.
A submit of a transaction that already landed answers what the first submit answered.
"""

from __future__ import annotations

from devnet.asgard.app import create_app
from devnet.asgard.venue import AsgardVenue

__all__ = ["AsgardVenue", "create_app"]
