"""RFC 8785 canonical JSON and the authorization signature payload built on it."""

from __future__ import annotations

import json

import pytest

from devnet.privy.authorization import signature_payload
from devnet.privy.canonical import canonical_json


def test_rfc8785_sample_from_section_3_2_2() -> None:
    value = json.loads(
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],'
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",'
        ' "literals": [null, true, false]}'
    )
    expected = (
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],'
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'
    )
    assert canonical_json(value) == expected.encode()


def test_keys_sort_by_utf16_code_units_as_in_section_3_2_3() -> None:
    value = {"\u20ac": 1, "\r": 2, "\ufb33": 3, "1": 4, "\U0001f600": 5, "\u0080": 6, "\u00f6": 7}
    order = [k for k in json.loads(canonical_json(value))]
    # U+1F600 is the surrogate pair D83D DE00: it sorts before U+FB33, not after.
    assert order == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (1e21, "1e+21"),
        (1e-7, "1e-7"),
        (1.5e-6, "0.0000015"),
        (2**60, str(2**60)),
    ],
)
def test_numbers_print_as_ecmascript(number: float, text: str) -> None:
    assert canonical_json(number) == text.encode()


def test_non_json_values_are_refused() -> None:
    for bad in (float("nan"), float("inf"), {1: "int key"}, object()):
        with pytest.raises((TypeError, ValueError)):
            canonical_json(bad)


def test_signature_payload_matches_privys_sdk_format() -> None:
    body = {"params": {"message": "hi", "encoding": "utf-8"}, "method": "personal_sign"}
    payload = signature_payload(
        "post", "http://127.0.0.1:3003/v1/wallets/w1/rpc/", body, "app", "idem", "123"
    )
    assert payload == (
        b'{"body":{"method":"personal_sign","params":{"encoding":"utf-8","message":"hi"}},'
        b'"headers":{"privy-app-id":"app","privy-idempotency-key":"idem","privy-request-expiry":"123"},'
        b'"method":"POST","url":"http://127.0.0.1:3003/v1/wallets/w1/rpc","version":1}'
    )
    # An empty body is signed as "" (node-sdk and python-sdk both do this).
    assert b'"body":""' in signature_payload("POST", "http://x/v1/a", {}, "app", None, None)
    assert b"privy-idempotency-key" not in signature_payload("POST", "http://x", {"a": 1}, "app", None, None)
