from __future__ import annotations

import pytest

from orchestrator.auth.emails import InvalidInput, normalise_code, normalise_email


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" Alice@Example.COM ", "alice@example.com"), ("a.b+tag@sub.example.io", "a.b+tag@sub.example.io")],
)
def test_valid_emails_are_normalised(raw: str, expected: str) -> None:
    assert normalise_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "plain",
        "@example.com",
        "a@",
        "a@b",
        "a@@b.com",
        "a..b@example.com",
        ".a@example.com",
        "a b@example.com",
        "a@exa_mple.com",
        "a@-example.com",
        "x" * 250 + "@example.com",
        "a@example.c",
    ],
)
def test_invalid_emails_say_why_in_a_sentence(raw: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        normalise_email(raw)
    message = str(caught.value)
    assert message[0].isupper() and message.endswith(".")


def test_codes() -> None:
    assert normalise_code(" 123 456 ") == "123456"
    assert normalise_code("123-456") == "123456"
    for bad in ("12345", "1234567", "abcdef", "١٢٣٤٥٦", ""):
        with pytest.raises(InvalidInput):
            normalise_code(bad)
