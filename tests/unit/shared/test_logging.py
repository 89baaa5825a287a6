import io
import json
import logging

from pydantic import SecretStr

from shared.logging import MASK, configure_logging, get_logger, register_secret
from shared.settings import BasisSettings


def _lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_when_not_a_terminal() -> None:
    out = io.StringIO()
    configure_logging("info", stream=out)
    get_logger("t").info("hello", venue="hyperliquid")
    (line,) = _lines(out)
    assert line["event"] == "hello" and line["venue"] == "hyperliquid" and line["level"] == "info"


def test_secret_keys_and_secretstr_values_are_masked() -> None:
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    get_logger("t").info(
        "login",
        app_secret="s3cr3t-value-1",
        password="hunter2hunter2",
        token_count=3,
        nested={"private_key": "abcdef0123456789"},
        wallet=SecretStr("k" * 20),
    )
    (line,) = _lines(out)
    assert line["app_secret"] == MASK and line["password"] == MASK and line["wallet"] == MASK
    assert line["nested"]["private_key"] == MASK
    assert line["token_count"] == 3  # not a secret: only whole-word key matches are masked


def test_registered_secrets_are_scrubbed_everywhere_including_exceptions() -> None:
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    secret = "0x" + "ab" * 32
    register_secret(secret)
    log = get_logger("t")
    log.info(f"signing with {secret}", detail=[f"key={secret}"])
    try:
        raise RuntimeError(f"bad key {secret}")
    except RuntimeError:
        log.exception("failed")
    logging.getLogger("stdlib").warning("stdlib says %s", secret)
    text = out.getvalue()
    assert secret not in text
    assert text.count(MASK) >= 4


def test_settings_register_their_secrets() -> None:
    class S(BasisSettings):
        app_secret: SecretStr = SecretStr("settings-secret-xyz-123")

    s = S()
    assert "settings-secret-xyz-123" not in repr(s) and "settings-secret-xyz-123" not in str(s.model_dump())
    out = io.StringIO()
    configure_logging("info", json=True, stream=out)
    get_logger("t").info("value is settings-secret-xyz-123")
    assert "settings-secret-xyz-123" not in out.getvalue()


def test_settings_read_basis_prefixed_environment(monkeypatch) -> None:
    class S(BasisSettings):
        port: int = 1

    monkeypatch.setenv("BASIS_PORT", "8123")
    monkeypatch.setenv("BASIS_NETWORK", "mainnet")
    s = S()
    assert s.port == 8123 and s.network == "mainnet"


def test_secret_key_names() -> None:
    from shared.logging import is_secret_key

    for key in (
        "app_secret",
        "appSecret",
        "x-api-key",
        "privateKey",
        "refresh_token",
        "password",
        "session_id",
        "Authorization",
        "cookie",
        "seed",
    ):
        assert is_secret_key(key), key
    for key in ("token_count", "keyword", "secretary", "event", "tokens", "seed_phrase_length", "address"):
        assert not is_secret_key(key), key
