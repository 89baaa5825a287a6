"""The network checks of `basis doctor`: what must hold before users' bots trade on a network.

Each check returns one line saying what it found; a failed check raises `CheckFailed` whose sentence
names what is missing and the fix. Nothing here prints or returns a secret: credentials are sent to the
service they belong to and only its verdict is reported. Every request has a short timeout.

- `credentials_privy`: the app id and secret, by reading the app's own settings from Privy's REST API
  (`GET /v1/apps/<app id>`, Basic auth), which answers 401/403 to a wrong pair.
- `credentials_asgard`: the Asgard API key, present where the network needs one (shared/networks.py)
  and accepted by `GET /markets` (401/403 to a wrong key).
- `hyperliquid_signature`: a signature made as this network signs recovers, on the venue, to the
  address that made it. A throwaway key signs a `cancel` of an order that cannot exist (the venue moves
  nothing for it); Hyperliquid recovers the signer from the signature and, that account being unknown,
  answers `User or API Wallet <recovered address> does not exist.` (HTTP 200; Hyperliquid docs, error
  responses; devnet/hyperliquid/errors.py). The recovered address equals the key's only when the venue
  verifies as the network we sign for (L1 source "a" on mainnet, "b" elsewhere: SDK signing.py).
- `allow_lists`: the transaction policy the broker enforces (its policy file over the packaged
  defaults) is this network's: its Arbitrum chain, Bridge2 and signature chain id allowed, its USDC decoded.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import httpx

from shared.hyperliquid_l1 import l1_typed_data

if TYPE_CHECKING:
    from orchestrator.config import ControlPlaneSettings
    from shared.networks import Network
    from shared.transaction_policy import TransactionPolicy

TIMEOUT_S = 5.0
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
# A cancel that cannot cancel anything: SOL-PERP (asset 5 on mainnet and the devnet), oid 1, which a
# throwaway key never placed. Signed with a fresh nonce; the venue moves nothing for it.
PROBE_CANCEL = {"type": "cancel", "cancels": [{"a": 5, "o": 1}]}


class CheckFailed(Exception):
    """A check that did not pass: its sentence says what is wrong and how to fix it."""


def network_summary(facts: Network) -> str:
    source = "a" if facts.hyperliquid_mainnet else "b"
    key = "required" if facts.asgard_api_key_required else "not required"
    return (
        f"{facts.name}: Hyperliquid actions signed as {facts.hyperliquid_chain} (L1 source {source}, "
        f"signatureChainId {facts.signature_chain_id}), Arbitrum chain {facts.arbitrum_chain_id}, "
        f"Solana {facts.solana_cluster}, Asgard API key {key}"
    )


def credentials_privy(settings: ControlPlaneSettings) -> str:
    secret = settings.privy_app_secret
    if secret is None:
        raise CheckFailed(
            "BASIS_CP_PRIVY_APP_SECRET is not set (fix: copy the app secret from the Privy dashboard, "
            "App settings > API keys)"
        )
    url = f"{settings.privy_api_url.rstrip('/')}/v1/apps/{settings.privy_app_id}"
    r = httpx.get(
        url,
        auth=(settings.privy_app_id, secret.get_secret_value()),
        headers={"privy-app-id": settings.privy_app_id},
        timeout=TIMEOUT_S,
    )
    if r.status_code in (401, 403, 404):
        raise CheckFailed(
            f"Privy refused app id {settings.privy_app_id} with the app secret given (HTTP {r.status_code}; "
            "fix: set BASIS_CP_PRIVY_APP_ID and BASIS_CP_PRIVY_APP_SECRET to the pair shown in the Privy "
            "dashboard, App settings > API keys)"
        )
    if r.status_code != 200:
        raise CheckFailed(f"Privy answered HTTP {r.status_code} to {url}: try again, or check its status")
    return f"app {settings.privy_app_id} accepted its secret"


def credentials_asgard(settings: ControlPlaneSettings) -> str:
    key = settings.asgard_api_key
    if key is None or not key.get_secret_value().strip():
        if settings.facts.asgard_api_key_required:
            raise CheckFailed(
                f"BASIS_CP_ASGARD_API_KEY is not set and {settings.network} needs one (without it Asgard "
                "allows one request a second per IP, shared by every bot; fix: ask Asgard Finance for an "
                "API key and set it)"
            )
        return "no API key (not needed on this network)"
    url = f"{settings.asgard_url.rstrip('/')}/markets"
    r = httpx.get(url, headers={"X-API-Key": key.get_secret_value()}, timeout=TIMEOUT_S)
    if r.status_code in (401, 403):
        raise CheckFailed(
            f"Asgard refused the API key (HTTP {r.status_code}; fix: set BASIS_CP_ASGARD_API_KEY to a "
            "valid key from Asgard Finance)"
        )
    if r.status_code != 200:
        raise CheckFailed(
            f"Asgard answered HTTP {r.status_code} to GET {url}: try again, or check its status"
        )
    return "API key accepted"


def hyperliquid_signature(settings: ControlPlaneSettings) -> str:
    from eth_account import Account
    from eth_account.messages import encode_typed_data
    from eth_utils import to_hex

    facts = settings.facts
    account = Account.create()
    nonce = int(time.time() * 1000)
    typed = l1_typed_data(PROBE_CANCEL, nonce, mainnet=facts.hyperliquid_mainnet)
    signed = account.sign_message(encode_typed_data(full_message=typed))
    body = {
        "action": PROBE_CANCEL,
        "nonce": nonce,
        "signature": {"r": to_hex(signed.r), "s": to_hex(signed.s), "v": signed.v},
        "vaultAddress": None,
    }
    r = httpx.post(f"{settings.hyperliquid_url.rstrip('/')}/exchange", json=body, timeout=TIMEOUT_S)
    answer: Any = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
    text = answer.get("response") if isinstance(answer, dict) else None
    found = _ADDRESS.search(text) if isinstance(text, str) and "does not exist" in text else None
    if found is None:
        raise CheckFailed(
            "Hyperliquid did not answer a signed probe as expected "
            f"(HTTP {r.status_code}: {str(answer)[:160]})"
        )
    recovered = found.group(0).lower()
    if recovered != account.address.lower():
        other = "testnet" if facts.hyperliquid_mainnet else "mainnet"
        raise CheckFailed(
            f"a signature made as {facts.name} signs (hyperliquidChain {facts.hyperliquid_chain}) recovers "
            f"on {settings.hyperliquid_url} to {recovered}, not to its signer {account.address.lower()}: "
            f"that venue verifies as {other} (fix: point BASIS_CP_HYPERLIQUID_URL at "
            f"{facts.hyperliquid_url}, or set BASIS_CP_NETWORK to the venue's network)"
        )
    return f"a signed probe recovers to its signer on {settings.hyperliquid_url} ({facts.hyperliquid_chain})"


def allow_lists(settings: ControlPlaneSettings, policy: TransactionPolicy) -> str:
    from shared.addresses import to_checksum_address

    facts = settings.facts
    # The network's chain, USDC and Bridge2 come with the switch (`TransactionPolicy.from_config`);
    # this checks that the policy the broker enforces is the one for this network.
    missing: list[str] = []
    if facts.arbitrum_chain_id not in policy.evm_chain_ids:
        missing.append(f"Arbitrum chain {facts.arbitrum_chain_id}")
    if policy.evm_usdc != to_checksum_address(facts.arbitrum_usdc):
        missing.append(f"USDC {facts.arbitrum_usdc} (the policy decodes {policy.evm_usdc})")
    if policy.hyperliquid_bridge != to_checksum_address(facts.hyperliquid_bridge):
        missing.append(f"Bridge2 {facts.hyperliquid_bridge}")
    if facts.signature_chain_id_int not in policy.hyperliquid_signature_chain_ids:
        missing.append(f"hyperliquid_signature_chain_ids: {facts.signature_chain_id_int}")
    if missing:
        where = settings.broker_policy_file or "a policy file named by BASIS_CP_BROKER_POLICY_FILE"
        raise CheckFailed(
            f"the transaction policy is not {facts.name}'s: {'; '.join(missing)} (fix: set BASIS_CP_NETWORK="
            f"{facts.name}; signature chain ids go in the transactions section of {where})"
        )
    return (
        f"{facts.name}'s Arbitrum chain {facts.arbitrum_chain_id}, USDC {policy.evm_usdc}, Bridge2 "
        f"{policy.hyperliquid_bridge} and signature chain id allowed; "
        f"{len(policy.solana_programs)} Solana programs"
    )
