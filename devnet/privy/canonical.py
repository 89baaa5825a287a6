"""RFC 8785 (JSON Canonicalization Scheme) serialisation, for authorization signature payloads.

Privy's SDKs canonicalise with `canonicalize` (node) and `canonicaljson` (python) before signing;
the server must rebuild the same bytes. JCS: object members sorted by their UTF-16 code units, no
whitespace, strings escaped as ECMAScript's JSON.stringify does (only `"`, `\\` and control
characters; everything else as UTF-8), numbers in ECMAScript's shortest form.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def canonical_json(value: Any) -> bytes:
    return _encode(value).encode("utf-8")


def _encode(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        # Python's escaping with ensure_ascii=False is ECMAScript's: \" \\ \b \f \n \r \t, and
        # \u00xx (lower-case hex) for the other control characters.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ",".join(_encode(v) for v in value) + "]"
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
        return "{" + ",".join(_encode(k) + ":" + _encode(value[k]) for k in keys) + "}"
    raise TypeError(f"{type(value).__name__} is not JSON")


def _number(value: float) -> str:
    """ECMAScript Number.prototype.toString for finite doubles."""
    if not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON")
    if value == 0:
        return "0"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)  # shortest round-trip digits, as ECMAScript
    if "e" not in text:
        return text
    mantissa, exponent = text.split("e")
    exp = int(exponent)
    if -7 < exp < 21:
        # ECMAScript writes these in plain notation.
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exp > 0 else '-'}{abs(exp)}"
