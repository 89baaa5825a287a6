"""One user's bot: venue and chain clients, strategy, risk engine, crash-safe execution, bot loop.

Imports point one way: execution → strategy / risk → venues / chain → signing → shared.
"""
