"""First sign-in through the devnet's Privy: a user, two Privy wallets, a tenant and a running bot."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from orchestrator.auth.privy import PrivyClient
from orchestrator.runtimes.process import ProcessRuntime
from orchestrator.tenants import TenantService
from orchestrator.users import Users
from tests.support.devnet import DevnetProcess
from tests.support.privy_page import privy_access_token
from tests.support.tenants import health, kill_all, service_for, settings_for

pytestmark = pytest.mark.devnet


@pytest.fixture
def service(devnet: DevnetProcess, tmp_path: Path, control_plane_db_url: str) -> Iterator[TenantService]:
    svc = service_for(settings_for(devnet, tmp_path, database_url=control_plane_db_url))
    yield svc
    assert isinstance(svc.runtime, ProcessRuntime)
    kill_all(svc.runtime)


async def test_first_sign_in_creates_wallets_tenant_and_bot(
    service: TenantService, devnet: DevnetProcess
) -> None:
    st = service.settings
    assert st.privy_app_secret is not None
    privy = PrivyClient(st.privy_auth_url, st.privy_api_url, st.privy_app_id, st.privy_app_secret)
    email = f"signin-{secrets.token_hex(4)}@example.com"
    try:
        # As the portal page does: the code through Privy from the page, the token to the server.
        token = await asyncio.to_thread(privy_access_token, devnet, email, st.page_origin())
        privy_user = await privy.user_from_token(token)
        assert privy_user.email == email
        users = Users(service.sessions, service, privy)

        first = await users.sign_in(privy_user)
        assert first.is_new and first.tenant_id
        user = users.get(first.user_id)
        assert user is not None and user.email == email
        assert user.solana_address and user.evm_address and user.evm_address.startswith("0x")
        # The wallets are the app's Privy server wallets.
        wallets = {w["id"] for w in devnet.state()["privy"]["wallets"]}
        assert {user.solana_wallet_id, user.evm_wallet_id} <= wallets

        tenant = await service.wait_until_settled(first.tenant_id)
        assert tenant.status == "running" and tenant.user_id == user.id
        assert tenant.port is not None and health(tenant.port)

        again = await users.sign_in(privy_user)
        assert not again.is_new and again.user_id == first.user_id and again.tenant_id == first.tenant_id
        assert users.get(first.user_id).solana_wallet_id == user.solana_wallet_id  # type: ignore[union-attr]
        await service.aclose()
    finally:
        await privy.aclose()


async def test_an_email_back_under_a_new_privy_id_keeps_its_user_wallets_and_bot(
    service: TenantService, devnet: DevnetProcess
) -> None:
    """Its Privy account deleted (by the app's owner, or a Privy that forgot it) and made anew at the
    next code: the same person, who gets their user, wallets and bot back, not a refusal."""
    st = service.settings
    assert st.privy_app_secret is not None
    privy = PrivyClient(st.privy_auth_url, st.privy_api_url, st.privy_app_id, st.privy_app_secret)
    email = f"again-{secrets.token_hex(4)}@example.com"
    try:
        users = Users(service.sessions, service, privy)
        token = await asyncio.to_thread(privy_access_token, devnet, email, st.page_origin())
        first = await users.sign_in(await privy.user_from_token(token))
        before = users.get(first.user_id)
        assert before is not None
        secret = st.privy_app_secret.get_secret_value()
        async with httpx.AsyncClient(auth=(st.privy_app_id, secret)) as rest:
            url = f"{st.privy_api_url}/v1/users/{before.privy_user_id}"
            deleted = await rest.delete(url, headers={"privy-app-id": st.privy_app_id})
        assert deleted.status_code == 204, deleted.text

        token = await asyncio.to_thread(privy_access_token, devnet, email, st.page_origin())
        privy_user = await privy.user_from_token(token)
        assert privy_user.id != before.privy_user_id and privy_user.email == email
        again = await users.sign_in(privy_user)
        assert not again.is_new and again.user_id == first.user_id and again.tenant_id == first.tenant_id
        after = users.get(first.user_id)
        assert after is not None and after.privy_user_id == privy_user.id
        assert after.solana_wallet_id == before.solana_wallet_id
        assert after.evm_wallet_id == before.evm_wallet_id
        assert len([u for u in users.all() if u.email == email]) == 1
        await service.aclose()
    finally:
        await privy.aclose()
