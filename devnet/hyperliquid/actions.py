"""POST /exchange: read the envelope, check the action's types, find its signer, check the nonce, apply.

Order of checks, as on the venue: a body that does not deserialize → 422; a signature that
recovers no address → "Unable to recover signer."; a stale expiresAfter → "Action already
expired"; an unknown signer → "User or API Wallet … does not exist." (L1) or "Must deposit before
performing actions. User: …" (user-signed); a used or out-of-window nonce → "Invalid nonce: …";
then the action itself. The nonce is used once the action is applied, even if the action's
business rules refuse it (it was included, as on chain).

L1 actions are hashed in the venue's canonical form: its own field order, numbers without
trailing zeros, lowercase hex. A client that signed the same action laid out differently recovers
the same address, as it would on the venue; a client that signed other bytes recovers another one.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from devnet.hyperliquid import errors, limits
from devnet.hyperliquid.exchange import HyperliquidExchange
from devnet.hyperliquid.orders import OrderRequest
from devnet.hyperliquid.signatures import (
    USER_SIGNED,
    action_hash,
    check_signature,
    recover_l1,
    recover_user_signed,
    tx_hash,
)
from devnet.hyperliquid.wire import canonical_number, is_address, is_cloid, is_uint, parse_decimal

OK_DEFAULT = {"status": "ok", "response": {"type": "default"}}
TIFS = ("Alo", "Ioc", "Gtc")
GROUPINGS = ("na", "normalTpsl", "positionTpsl")
# Real action types this devnet does not emulate: refused with a sentence rather than a 422.
NOT_EMULATED = (
    "modify",
    "batchModify",
    "scheduleCancel",
    "twapOrder",
    "twapCancel",
    "setReferrer",
    "createSubAccount",
    "subAccountTransfer",
    "subAccountSpotTransfer",
    "vaultTransfer",
    "spotSend",
    "sendAsset",
    "agentSendAsset",
    "approveBuilderFee",
    "tokenDelegate",
    "evmUserModify",
    "reserveRequestWeight",
    "convertToMultiSigUser",
    "multiSig",
    "userSetAbstraction",
    "agentSetAbstraction",
    "userDexAbstraction",
    "agentEnableDexAbstraction",
    "topUpIsolatedOnlyMargin",
    "spotUser",
    "spotDeploy",
    "perpDeploy",
)


@dataclass(frozen=True)
class Envelope:
    action: dict[str, Any]
    nonce: int
    signature: dict[str, Any]
    vault: str | None
    expires_after: int | None


def handle(ex: HyperliquidExchange, body: bytes) -> dict[str, Any]:
    """The answer to one POST /exchange body; raises Undeserializable for a 422."""
    env = _envelope(body)
    kind = env.action.get("type")
    if kind in L1_ACTIONS:
        return _l1(ex, env, L1_ACTIONS[kind])
    if kind in USER_SIGNED:
        return _user_signed(ex, env)
    if kind in NOT_EMULATED:
        return _err(f"The {kind} action is not emulated by the Basis devnet.")
    raise errors.Undeserializable()


def _envelope(body: bytes) -> Envelope:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise errors.Undeserializable() from None
    if not isinstance(data, dict):
        raise errors.Undeserializable()
    action, nonce = data.get("action"), data.get("nonce")
    vault, expires = data.get("vaultAddress"), data.get("expiresAfter")
    if not isinstance(action, dict) or not isinstance(action.get("type"), str) or not is_uint(nonce):
        raise errors.Undeserializable()
    if vault is not None and not is_address(vault):
        raise errors.Undeserializable()
    if expires is not None and not is_uint(expires):
        raise errors.Undeserializable()
    if nonce >= 2**64 or (expires is not None and expires >= 2**64):
        raise errors.Undeserializable()
    return Envelope(action, nonce, check_signature(data.get("signature")), vault, expires)


def _take_requests(ex: HyperliquidExchange, user: str, action: dict[str, Any], now_ms: int) -> str | None:
    """Count the action against the user's request allowance (a batch of n counts n)."""
    account = ex.accounts.get(user)
    volume = account.volume if account is not None else Decimal(0)
    return ex.address_requests.take(user, max(1, limits.batch_length(action)), volume, now_ms)


def _err(message: str) -> dict[str, Any]:
    return {"status": "err", "response": message}


# ---------------------------------------------------------------------- L1 actions
L1Apply = Callable[[HyperliquidExchange, str, Any, str], dict[str, Any]]


@dataclass(frozen=True)
class L1Action:
    parse: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]]  # → (canonical form, parsed)
    apply: L1Apply


def _l1(ex: HyperliquidExchange, env: Envelope, spec: L1Action) -> dict[str, Any]:
    canonical, parsed = spec.parse(env.action)
    digest = action_hash(canonical, env.vault, env.nonce, env.expires_after)
    try:
        signer = recover_l1(canonical, env.signature, env.vault, env.nonce, env.expires_after, ex.is_mainnet)
    except errors.ActionError as refused:
        return _err(refused.message)
    ex.sync()
    with ex.lock:
        now_real = ex.clock.real_ms()
        if env.expires_after is not None and env.expires_after < now_real:
            return _err(errors.EXPIRED)
        master = signer if signer in ex.accounts else ex.agents.master_of(signer, now_real)
        if master is None:
            return _err(errors.unknown_signer(signer))
        refused_nonce = ex.nonces.check(signer, env.nonce, now_real)
        if refused_nonce is not None:
            return _err(refused_nonce)
        refused_requests = _take_requests(ex, master, env.action, now_real)
        if refused_requests is not None:
            return _err(refused_requests)
        ex.nonces.use(signer, env.nonce)
        if env.vault is not None:
            return _err(errors.vault_not_registered(env.vault.lower()))
        try:
            return spec.apply(ex, master, parsed, "0x" + digest.hex())
        except errors.ActionError as refused:
            return _err(refused.message)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise errors.Undeserializable()
    return value


def _uint(value: object) -> int:
    if not is_uint(value) or value >= 2**64:  # type: ignore[operator]
        raise errors.Undeserializable()
    return value  # type: ignore[return-value]


def _str(value: object) -> str:
    if not isinstance(value, str):
        raise errors.Undeserializable()
    return value


def _list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise errors.Undeserializable()
    return value


def _dict(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise errors.Undeserializable()
    return value


def _cloid(value: object) -> str:
    if not is_cloid(value):
        raise errors.Undeserializable()
    return str(value).lower()


def _parse_order(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    wires = []
    requests = []
    for raw in _list(action.get("orders")):
        o = _dict(raw)
        asset, is_buy, reduce_only = _uint(o.get("a")), _bool(o.get("b")), _bool(o.get("r"))
        px, sz = _str(o.get("p")), _str(o.get("s"))
        t = _dict(o.get("t"))
        tif: str | None
        if set(t) == {"limit"}:
            tif = _str(_dict(t["limit"]).get("tif"))
            if tif not in TIFS:
                raise errors.Undeserializable()
            wire_t: dict[str, Any] = {"limit": {"tif": tif}}
        elif set(t) == {"trigger"}:
            trigger = _dict(t["trigger"])
            tpsl = _str(trigger.get("tpsl"))
            if tpsl not in ("tp", "sl"):
                raise errors.Undeserializable()
            wire_t = {
                "trigger": {
                    "isMarket": _bool(trigger.get("isMarket")),
                    "triggerPx": canonical_number(_str(trigger.get("triggerPx"))),
                    "tpsl": tpsl,
                }
            }
            tif = None
        else:
            raise errors.Undeserializable()
        wire: dict[str, Any] = {
            "a": asset,
            "b": is_buy,
            "p": canonical_number(px),
            "s": canonical_number(sz),
            "r": reduce_only,
            "t": wire_t,
        }
        cloid = None
        if o.get("c") is not None:
            cloid = _cloid(o.get("c"))
            wire["c"] = cloid
        wires.append(wire)
        requests.append(OrderRequest(asset, is_buy, px, sz, reduce_only, tif, cloid))
    grouping = action.get("grouping")
    if grouping not in GROUPINGS:
        raise errors.Undeserializable()
    canonical: dict[str, Any] = {"type": "order", "orders": wires, "grouping": grouping}
    builder = action.get("builder")
    if builder is not None:
        b = _dict(builder)
        if not is_address(b.get("b")):
            raise errors.Undeserializable()
        canonical["builder"] = {"b": str(b["b"]).lower(), "f": _uint(b.get("f"))}
    return canonical, (requests, builder is not None)


def _apply_order(ex: HyperliquidExchange, user: str, parsed: Any, hash_: str) -> dict[str, Any]:
    requests, has_builder = parsed
    if has_builder:
        raise errors.ActionError(errors.BUILDER_NOT_APPROVED)
    statuses = ex.place_orders(user, requests, hash_)
    return {"status": "ok", "response": {"type": "order", "data": {"statuses": statuses}}}


def _cancel_wires(
    action: dict[str, Any], asset: str, order: str, parse_order: Callable[[object], object]
) -> list[dict[str, Any]]:
    """The `cancels` of a cancel action as wires `{asset: uint, order: parse_order(...)}`, in their order."""
    cancels = [_dict(c) for c in _list(action.get("cancels"))]
    return [{asset: _uint(c.get(asset)), order: parse_order(c.get(order))} for c in cancels]


def _cancel_answer(statuses: list[Any]) -> dict[str, Any]:
    # Both cancel actions answer as type "cancel", as live.
    return {"status": "ok", "response": {"type": "cancel", "data": {"statuses": statuses}}}


def _parse_cancel(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    wires = _cancel_wires(action, "a", "o", _uint)
    return {"type": "cancel", "cancels": wires}, wires


def _apply_cancel(ex: HyperliquidExchange, user: str, parsed: Any, hash_: str) -> dict[str, Any]:
    return _cancel_answer([ex.cancel(user, c["a"], oid=c["o"]) for c in parsed])


def _parse_cancel_by_cloid(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    wires = _cancel_wires(action, "asset", "cloid", _cloid)
    return {"type": "cancelByCloid", "cancels": wires}, wires


def _apply_cancel_by_cloid(ex: HyperliquidExchange, user: str, parsed: Any, hash_: str) -> dict[str, Any]:
    return _cancel_answer([ex.cancel(user, c["asset"], cloid=c["cloid"]) for c in parsed])


def _parse_update_leverage(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    wire = {
        "type": "updateLeverage",
        "asset": _uint(action.get("asset")),
        "isCross": _bool(action.get("isCross")),
        "leverage": _uint(action.get("leverage")),
    }
    return wire, wire


def _apply_update_leverage(ex: HyperliquidExchange, user: str, parsed: Any, hash_: str) -> dict[str, Any]:
    ex.update_leverage(user, parsed["asset"], parsed["isCross"], parsed["leverage"])
    return OK_DEFAULT


def _parse_update_isolated_margin(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    ntli = action.get("ntli")
    if type(ntli) is not int or abs(ntli) >= 2**63:
        raise errors.Undeserializable()
    wire = {
        "type": "updateIsolatedMargin",
        "asset": _uint(action.get("asset")),
        "isBuy": _bool(action.get("isBuy")),
        "ntli": ntli,
    }
    return wire, wire


def _apply_update_isolated_margin(
    ex: HyperliquidExchange, user: str, parsed: Any, hash_: str
) -> dict[str, Any]:
    ex.update_isolated_margin(user, parsed["asset"], parsed["ntli"])
    return OK_DEFAULT


def _parse_noop(action: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    return {"type": "noop"}, None


def _apply_noop(ex: HyperliquidExchange, user: str, parsed: Any, hash_: str) -> dict[str, Any]:
    return OK_DEFAULT  # marks the nonce used, nothing else (the cheap way to void an in-flight action)


L1_ACTIONS: dict[str, L1Action] = {
    "order": L1Action(_parse_order, _apply_order),
    "cancel": L1Action(_parse_cancel, _apply_cancel),
    "cancelByCloid": L1Action(_parse_cancel_by_cloid, _apply_cancel_by_cloid),
    "updateLeverage": L1Action(_parse_update_leverage, _apply_update_leverage),
    "updateIsolatedMargin": L1Action(_parse_update_isolated_margin, _apply_update_isolated_margin),
    "noop": L1Action(_parse_noop, _apply_noop),
}


# ---------------------------------------------------------------------- user-signed actions
def _user_signed(ex: HyperliquidExchange, env: Envelope) -> dict[str, Any]:
    action = env.action
    kind = action["type"]
    _check_user_signed_fields(action)
    nonce_field = USER_SIGNED[kind][2]
    if action[nonce_field] != env.nonce:
        return _err(
            f"Invalid nonce: the action's {nonce_field} {action[nonce_field]} is not the nonce {env.nonce}"
        )
    if env.expires_after is not None:
        return _err("User-signed actions do not support expiresAfter.")
    try:
        signer = recover_user_signed(action, env.signature, ex.is_mainnet)
    except errors.ActionError as refused:
        return _err(refused.message)
    ex.sync()
    with ex.lock:
        if signer not in ex.accounts:
            return _err(errors.must_deposit(signer))
        now_real = ex.clock.real_ms()
        refused_nonce = ex.nonces.check(signer, env.nonce, now_real)
        if refused_nonce is not None:
            return _err(refused_nonce)
        refused_requests = _take_requests(ex, signer, action, now_real)
        if refused_requests is not None:
            return _err(refused_requests)
        ex.nonces.use(signer, env.nonce)
        hash_ = tx_hash(json.dumps(action, sort_keys=True).encode() + env.nonce.to_bytes(8, "big"))
        try:
            USER_APPLY[kind](ex, signer, action, env.nonce, hash_)
        except errors.ActionError as refused:
            return _err(refused.message)
        return OK_DEFAULT


def _check_user_signed_fields(action: dict[str, Any]) -> None:
    """Every signed field present with its type, so the typed data can be encoded."""
    chain_id = action.get("signatureChainId")
    if not isinstance(chain_id, str) or not chain_id.startswith("0x"):
        raise errors.Undeserializable()
    try:
        int(chain_id, 16)
    except ValueError:
        raise errors.Undeserializable() from None
    sign_types = USER_SIGNED[action["type"]][0]
    for field in sign_types:
        name, kind = field["name"], field["type"]
        value = action.get(name)
        if name == "agentName" and value is None:
            continue  # the SDK leaves it out for an unnamed agent
        if kind == "string" and not isinstance(value, str):
            raise errors.Undeserializable()
        if kind == "bool" and not isinstance(value, bool):
            raise errors.Undeserializable()
        if kind == "uint64" and (not is_uint(value) or value >= 2**64):  # type: ignore[operator]
            raise errors.Undeserializable()
        if kind == "address" and not is_address(value):
            raise errors.Undeserializable()


def _amount(text: str) -> Decimal:
    value = parse_decimal(text)
    if value is None:
        raise errors.ActionError("Invalid amount.")
    if value <= 0:
        raise errors.ActionError("Invalid amount.")
    return value


def _apply_usd_class_transfer(
    ex: HyperliquidExchange, user: str, action: dict[str, Any], nonce: int, hash_: str
) -> None:
    text = action["amount"]
    if " subaccount:" in text:
        raise errors.ActionError(errors.SUBACCOUNTS)
    ex.usd_class_transfer(user, _amount(text), action["toPerp"])


def _apply_withdraw(
    ex: HyperliquidExchange, user: str, action: dict[str, Any], nonce: int, hash_: str
) -> None:
    destination = action["destination"]
    if not is_address(destination):
        raise errors.ActionError("Invalid destination address.")
    ex.withdraw(user, destination, _amount(action["amount"]), nonce, hash_)


def _apply_usd_send(
    ex: HyperliquidExchange, user: str, action: dict[str, Any], nonce: int, hash_: str
) -> None:
    destination = action["destination"]
    if not is_address(destination):
        raise errors.ActionError("Invalid destination address.")
    ex.usd_send(user, destination, _amount(action["amount"]), hash_)


def _apply_approve_agent(
    ex: HyperliquidExchange, user: str, action: dict[str, Any], nonce: int, hash_: str
) -> None:
    ex.approve_agent(user, action["agentAddress"], action.get("agentName") or "")


USER_APPLY: dict[str, Callable[[HyperliquidExchange, str, dict[str, Any], int, str], None]] = {
    "usdClassTransfer": _apply_usd_class_transfer,
    "withdraw3": _apply_withdraw,
    "usdSend": _apply_usd_send,
    "approveAgent": _apply_approve_agent,
}
