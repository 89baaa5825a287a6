"""The control plane's side of the shared venue gateway (gateway/): built from its settings, and its
callers checked as the signing broker checks them.

A bot's credentials are its tenant token and tenant id (`SigningBroker.authenticate`: the same 401
whatever was wrong); the Hyperliquid address whose account it may read through the gateway is its
user's EVM address (the Privy wallet its bot trades with), lowercase; a tenant without a user has none.
"""

from __future__ import annotations

import hashlib
import time

from fastapi.concurrency import run_in_threadpool

from gateway.app import Caller
from gateway.config import Venues
from gateway.service import Gateway
from orchestrator.broker import Refusal, SigningBroker
from orchestrator.config import ControlPlaneSettings
from orchestrator.database.models import User

# A bot asks many times a second; its credentials and address are looked up at most this often. A
# deleted tenant's token keeps reading public data and its own account for at most this long.
CALLER_TTL_SECONDS = 5.0
MAX_CALLERS_KEPT = 10_000


class BrokerAuthenticator:
    """`gateway.app.Authenticator` with the signing broker's tenant check."""

    def __init__(self, broker: SigningBroker) -> None:
        self.broker = broker
        self._kept: dict[tuple[str, bytes], tuple[float, Caller]] = {}

    async def caller(self, authorization: str, tenant_id: str) -> Caller | None:
        # Keyed by a digest of the whole header, so a wrong token never matches a kept caller.
        key = (tenant_id, hashlib.sha256(authorization.encode(errors="replace")).digest())
        now = time.monotonic()
        kept = self._kept.get(key)
        if kept is not None and now - kept[0] < CALLER_TTL_SECONDS:
            return kept[1]
        found = await run_in_threadpool(self._lookup, authorization, tenant_id)
        if found is not None:
            if len(self._kept) >= MAX_CALLERS_KEPT:
                self._kept.clear()
            self._kept[key] = (now, found)
        return found

    def _lookup(self, authorization: str, tenant_id: str) -> Caller | None:
        try:
            tenant = self.broker.authenticate(authorization, tenant_id)
        except Refusal:
            return None
        addresses: frozenset[str] = frozenset()
        if tenant.user_id is not None:
            with self.broker.sessions() as s:
                user = s.get(User, tenant.user_id)
            if user is not None and user.evm_address:
                addresses = frozenset({user.evm_address.lower()})
        return Caller(tenant.id, addresses)


def build_gateway(settings: ControlPlaneSettings, broker: SigningBroker) -> Gateway | None:
    """The gateway the settings describe, over the venues the bots are given; None when it is off."""
    if not settings.gateway_enabled:
        return None
    venues = Venues(settings.hyperliquid_url, settings.asgard_url, settings.asgard_api_key)
    return Gateway(settings.gateway, venues, BrokerAuthenticator(broker))
