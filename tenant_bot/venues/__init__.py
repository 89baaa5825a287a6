"""Venue clients: each speaks one venue's API as the venue defines it, with Decimal money.

Modules are imported by name (`tenant_bot.venues.hyperliquid`), not from here, so that a process
loads only the clients it uses.
"""
