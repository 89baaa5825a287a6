"""Hyperliquid's API on loopback (`http://127.0.0.1:3001`), faithful enough for the official SDK.

`hyperliquid.info.Info(url, skip_ws=True)` (and `skip_ws=False`: the websocket `/ws`) and
`hyperliquid.exchange.Exchange(wallet, url)` work against it unchanged. Perps only, on the market
simulator's universe in mainnet order (BTC, ETH, ATOM, MATIC delisted, DYDX, SOL: SOL is asset 5);
spot exists only as the USDC balance that usdClassTransfer moves.

What is emulated
- /info: meta, metaAndAssetCtxs, allMids, l2Book (nSigFigs/mantissa), clearinghouseState,
  spotClearinghouseState, openOrders, frontendOpenOrders, userFills, userFillsByTime,
  fundingHistory, userFunding, userNonFundingLedgerUpdates, predictedFundings, orderStatus (oid or
  cloid), spotMeta, userRole, extraAgents, activeAssetData, perpDexs, userRateLimit, userFees
  (the account's rates: base tier unless the admin set others), candleSnapshot, historicalOrders,
  portfolio (history.py). An unknown or malformed body gets HTTP 422 `Failed to deserialize the
  JSON body into the target type`. Shapes are checked against @nktkas/hyperliquid's schemas
  (tests/integration/devnet/test_hyperliquid_schemas.py).
- /ws (ws.py, feeds.py): subscriptions allMids, l2Book, candle, activeAssetCtx, clearinghouseState,
  webData2, userFills, userFundings, userEvents, orderUpdates, pushed when the devnet's state
  changes; `post` (info and actions, weighed against the IP's REST budget); ping; the venue's
  error texts.
- Limits (limits.py): REST weight per client IP (1,200 a minute by default, documented weights,
  HTTP 429 `null` past it), the per-address request allowance (10,000 + 1 per USDC traded), and
  the websocket's per-IP limits (connections, new connections a minute, subscriptions, users,
  messages a minute, posts in flight).
- /exchange: order (Gtc, Ioc, Alo; reduce-only; cloid; grouping "na"), cancel, cancelByCloid,
  updateLeverage, updateIsolatedMargin, noop (L1 actions, which an approved agent may sign), and
  usdClassTransfer, withdraw3, usdSend, approveAgent (user-signed). Signatures are recovered with
  the SDK's own functions, as testnet unless `hyperliquid_mainnet` (the SDK signs as testnet for
  any URL but mainnet's). Nonces per signer: unique, the 100 highest kept, within (now − 2 days,
  now + 1 day) of the wall clock.
- Trading: a simulated book around the mark price (book.py), taker 0.045 % / maker 0.015 %,
  resting orders filled when the market crosses them, cross and isolated margin
  (clearinghouse.py), hourly funding and liquidation at maintenance margin (exchange.py).

Choices where the venue is not documented
- The "drop" fault applies the action and answers HTTP 504 with an empty body (see app.py).
- A partially filled IOC ends with orderStatus "canceled" (its unfilled rest); a fully filled one
  "filled". The book is deep enough that a hedge-sized IOC fills in full; the `ioc_fill_fraction`
  fault (devnet/faults.py) makes non-reduce-only IOCs fill only part, answering `filled` with
  `totalSz` below the size sent, as the venue documents. Rejected orders (tick, margin, IOC
  without a match...) are kept with the rejection status (e.g. "iocCancelRejected") so
  orderStatus by cloid answers after a lost reply.
- Reduce-only orders are exempt from the $10 minimum, and are cut to the position size.
- A withdrawal of 1 USDC or less (the fee) is refused like one beyond the withdrawable balance.
- userFillsByTime answers oldest first (userFills: newest first, as documented).
- Liquidation closes the whole position at once (no 20 % partial steps); a cross balance left
  negative is written off; an isolated position never costs more than its margin.
- Unverified texts: "Invalid nonce: nonce too high N > M", "Insufficient balance for token
  transfer." (spot → perp beyond the spot balance), "Order has invalid asset.", and the devnet's
  own sentences for what it does not emulate (trigger orders, sub-accounts, builder fees, vaults).
"""

from devnet.hyperliquid.app import create_app
from devnet.hyperliquid.exchange import HyperliquidExchange

__all__ = ["HyperliquidExchange", "create_app"]
