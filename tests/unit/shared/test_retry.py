import httpx
import pytest

from shared.retry import OutcomeUnknown, RetriesExhausted, RetryPolicy, send_with_retry

FAST = RetryPolicy(attempts=3, base_delay=0.0, max_delay=0.0)


async def _no_sleep(_s: float) -> None:
    return None


def _sender(*outcomes):
    calls = []

    async def send() -> httpx.Response:
        outcome = outcomes[min(len(calls), len(outcomes) - 1)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return httpx.Response(outcome, headers={"retry-after": "0"} if outcome == 429 else {})

    return send, calls


async def test_reads_retry_on_5xx_and_429_until_success() -> None:
    send, calls = _sender(503, 429, 200)
    response = await send_with_retry(send, policy=FAST, sleep=_no_sleep)
    assert response.status_code == 200 and len(calls) == 3


async def test_client_errors_are_returned_not_retried() -> None:
    send, calls = _sender(400)
    assert (await send_with_retry(send, policy=FAST, sleep=_no_sleep)).status_code == 400
    assert len(calls) == 1


async def test_exhausted_retries_raise_with_the_last_status() -> None:
    send, calls = _sender(502)
    with pytest.raises(RetriesExhausted) as info:
        await send_with_retry(send, policy=FAST, sleep=_no_sleep)
    assert info.value.last_status == 502 and len(calls) == 3


async def test_a_write_is_retried_only_when_it_surely_was_not_applied() -> None:
    # Connection refused: nothing was sent, so retrying a write is safe.
    send, calls = _sender(httpx.ConnectError("refused"), 429, 200)
    assert (await send_with_retry(send, policy=FAST, idempotent=False, sleep=_no_sleep)).status_code == 200
    assert len(calls) == 3


@pytest.mark.parametrize("outcome", [httpx.ReadTimeout("late"), httpx.RemoteProtocolError("cut"), 500, 503])
async def test_an_ambiguous_write_is_unknown_not_retried(outcome) -> None:
    send, calls = _sender(outcome, 200)
    with pytest.raises(OutcomeUnknown):
        await send_with_retry(send, policy=FAST, idempotent=False, sleep=_no_sleep)
    assert len(calls) == 1


def test_backoff_grows_and_is_capped_and_honours_retry_after() -> None:
    p = RetryPolicy(base_delay=1, max_delay=4, jitter=0)
    assert [p.delay(n) for n in (1, 2, 3, 4, 5)] == [1, 2, 4, 4, 4]
    assert p.delay(1, retry_after=7) == 7
    assert p.delay(1, retry_after=999) == p.max_retry_after
