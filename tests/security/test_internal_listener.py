"""The signing broker on an internal listener of its own, against a real `basis serve` with a
signed-in user's bot (issue 12, point 7).

Before, `POST /internal/sign` was served on the public port, next to the portal: anyone who could
reach the control plane could reach the broker. Now the public listener (BASIS_CP_HOST:PORT)
answers 404 there, the internal listener (BASIS_CP_BROKER_HOST:BROKER_PORT) serves the broker and
a `/health` and nothing else, and bots are told the internal listener's URL.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from solders.compute_budget import set_compute_unit_limit, set_compute_unit_price
from solders.hash import Hash
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature

from tests.support.control_plane import ControlPlane, SignedIn
from tests.support.devnet import DevnetProcess
from tests.support.tenants import service_for

pytestmark = pytest.mark.devnet


@pytest.fixture(scope="module")
def plane(devnet: DevnetProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    cp = ControlPlane(devnet, Path(tmp_path_factory.mktemp("internal")))
    cp.start()
    try:
        yield cp
    finally:
        cp.stop()


@pytest.fixture(scope="module")
def user(plane: ControlPlane) -> SignedIn:
    signed_in = plane.sign_in("internal")
    plane.wait_running(signed_in)
    return signed_in


def a_signing_request(user: SignedIn) -> dict[str, str]:
    """A Solana message the user's bot could ask to sign: compute-budget instructions only."""
    owner = Pubkey.from_string(user.solana_address)
    ixs = [set_compute_unit_limit(200_000), set_compute_unit_price(1_000)]
    message = to_bytes_versioned(MessageV0.try_compile(owner, ixs, [], Hash.default()))
    return {
        "kind": "solana_message",
        "address": user.solana_address,
        "payload": base64.b64encode(message).decode(),
    }


def test_the_public_port_does_not_serve_the_broker(plane: ControlPlane, user: SignedIn) -> None:
    headers = {"Authorization": f"Bearer {user.token}", "X-Basis-Tenant": user.tenant_id}
    for method in ("POST", "GET"):
        r = httpx.request(method, plane.url + "/internal/sign", json=a_signing_request(user), headers=headers)
        assert r.status_code == 404, (method, r.status_code, r.text)
    schema = httpx.get(plane.url + "/openapi.json").json()
    assert not any(path.startswith("/internal") for path in schema["paths"])


def test_the_internal_listener_serves_the_broker_and_nothing_else(
    plane: ControlPlane, user: SignedIn
) -> None:
    internal = plane.internal_url
    assert httpx.get(internal + "/health").json() == {"status": "ok"}
    body = a_signing_request(user)
    assert httpx.post(internal + "/internal/sign", json=body).status_code == 401  # no token
    r = plane.sign_as(user, body)  # posts to the internal listener
    assert r.status_code == 200, r.text
    signature = Signature.from_bytes(base64.b64decode(r.json()["signature"]))
    assert signature.verify(Pubkey.from_string(user.solana_address), base64.b64decode(body["payload"]))
    # The portal, sign-in and the proxy are the public listener's only.
    for path in ("/", "/api/v1/auth/csrf", "/api/v1/tenant", "/app/api/v1/status"):
        assert httpx.get(internal + path).status_code == 404, path


def test_bots_are_told_the_internal_listener(plane: ControlPlane, user: SignedIn) -> None:
    """What the control plane gives a signed-in user's bot (tests/integration/orchestrator/test_cli.py
    reads it from a running bot's environment)."""
    spec = service_for(plane.settings).spec(plane.tenant(user.tenant_id))
    assert spec.env["BASIS_SIGNER"] == "broker"
    assert spec.env["BASIS_BROKER_URL"] == plane.internal_url
    assert plane.settings.broker_port != plane.settings.port
