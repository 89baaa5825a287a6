"""The strategy: pure decisions on Decimal numbers, with no I/O.

Venue clients fetch; the execution engine acts; this package only computes, so every number the
bot shows or trades on can be tested by hand.

- `rates`: `RatesSnapshot` (funding, lending, staking, LST rates and prices at one instant) and the
  funding rate to plan with.
- `opportunity`: `FeeModel`, `NetApy` and the net-APY decomposition per (protocol, collateral);
  `best_opportunity` and `table`.
- `prices`: median consensus across price sources with a divergence check; SOL equivalents of LSTs.
- `sizing`: Hyperliquid tick and lot rounding (the one place it is done), marketable limits, book
  walks, `PositionSizer` and `hedge_size_for`.
- `fills`: the delta check between the two legs once the hedge has filled.
- `exposure`: drift between the legs and the short's distance to liquidation (one place for both).
- `lst`: `LstMonitor`, the discount of an LST against its stake pool's fair SOL rate.
"""
