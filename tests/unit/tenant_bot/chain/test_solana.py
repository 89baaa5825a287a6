"""SolanaClient.wait_for_signature's decision rules, with the chain's answers scripted.

The RPC reads themselves are exercised against the devnet in tests/integration/tenant_bot/chain.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tenant_bot.chain.solana import ConfirmResult, SignatureState, SignatureStatus, SolanaClient

SIG = "5" * 64


class ScriptedChain(SolanaClient):
    """A SolanaClient whose two reads answer from scripts (the last answer repeats)."""

    def __init__(self, states: list[SignatureState], heights: list[int]) -> None:
        super().__init__("http://127.0.0.1:9")
        self._states: Iterator[SignatureState] = iter(states)
        self._last_state = states[0]
        self._heights = iter(heights)
        self._last_height = heights[0]
        self.status_reads = 0

    async def signature_status(self, signature: str) -> SignatureStatus:
        self.status_reads += 1
        self._last_state = next(self._states, self._last_state)
        failed = self._last_state is SignatureState.FAILED
        found = self._last_state is not SignatureState.NOT_FOUND
        return SignatureStatus(signature, self._last_state, 7 if found else None, "boom" if failed else None)

    async def block_height(self) -> int:
        self._last_height = next(self._heights, self._last_height)
        return self._last_height


NF, PROC, CONF, FIN, FAIL = (
    SignatureState.NOT_FOUND,
    SignatureState.PROCESSED,
    SignatureState.CONFIRMED,
    SignatureState.FINALIZED,
    SignatureState.FAILED,
)


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ([NF, PROC, CONF], ConfirmResult.CONFIRMED),
        ([FIN], ConfirmResult.CONFIRMED),
        ([NF, FAIL], ConfirmResult.FAILED),
    ],
)
async def test_settles_on_what_the_chain_reports(
    states: list[SignatureState], expected: ConfirmResult
) -> None:
    chain = ScriptedChain(states, [100])
    result, status = await chain.wait_for_signature(SIG, 150, poll=0)
    assert result is expected and status.state is states[-1]
    await chain.aclose()


async def test_expired_only_after_the_height_passed_and_a_last_look_finds_nothing() -> None:
    chain = ScriptedChain([NF], [149, 150, 151])
    result, status = await chain.wait_for_signature(SIG, 150, poll=0)
    assert result is ConfirmResult.EXPIRED and status.state is NF
    assert chain.status_reads == 4  # three polls, then one more look after seeing expiry
    await chain.aclose()


async def test_a_transaction_landing_in_the_last_valid_block_is_not_called_expired() -> None:
    # Not found at the poll, the height is past, and the second look finds it confirmed.
    chain = ScriptedChain([NF, CONF], [151])
    result, _ = await chain.wait_for_signature(SIG, 150, poll=0)
    assert result is ConfirmResult.CONFIRMED
    await chain.aclose()


async def test_a_processed_transaction_past_the_height_is_awaited_not_expired() -> None:
    chain = ScriptedChain([PROC, PROC, CONF], [151])
    result, _ = await chain.wait_for_signature(SIG, 150, poll=0)
    assert result is ConfirmResult.CONFIRMED
    await chain.aclose()


async def test_without_a_last_valid_height_an_unseen_signature_times_out() -> None:
    chain = ScriptedChain([NF], [10_000])
    with pytest.raises(TimeoutError):
        await chain.wait_for_signature(SIG, None, poll=0.01, timeout=0.05)
    await chain.aclose()
