"""The shared venue gateway (issue 17): one per host (engine node), between every bot there and the
venues, so that they spend one address's Hyperliquid budget together and fairly.

It reads public market data once for every bot (`market.py`, pushed over one websocket by
`feed.py`, over REST while that is down), follows a few tenants' accounts over that socket
(`accounts.py`), meters each bot's reads against its
fair share of the address's budget (`meter.py`), forwards a bot's reads of its own account and its
signed actions (`app.py`), and holds no key. Its knobs are `config.py`'s; `service.py` wires it.
It imports `shared` and third-party packages only, so that it can run as a process of its own.
"""
