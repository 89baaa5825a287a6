"""Send and confirm one Solana leg of a flow: the Asgard open, close, partial close or unwind.

Every flow sends its Asgard transactions through `SolanaLeg.run`, so they are journaled, resumed
and retried the same way. One attempt is one signed transaction:

1. built and signed, then journaled as an intent row keyed by its signature (known before the
   send, so a restart can always ask the chain what became of it);
2. submitted; a refusal at the first submit means it did not land (the attempt fails);
3. confirmed on chain, or failed / expired (the attempt fails), or still unknown after
   `confirm_timeout_seconds` (the execution parks; the next tick resumes here).

Resuming an intent row whose signature has not landed submits the very same signed transaction
again: the chain runs one signature at most once, and whatever Asgard answers to the duplicate,
the chain's answer decides. A failed attempt is followed by a new one (a fresh blockhash) until
`attempts` have failed; `None` means until one lands (parking now and then, so a venue that keeps
refusing is not asked in a tight loop for ever). Attempts are counted from the journal, so
nothing about them lives in the execution's plan.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from shared.retry import OutcomeUnknown
from tenant_bot.chain.solana import ConfirmResult, SignatureState, SignatureStatus, SolanaRpcError
from tenant_bot.execution.config import ExecutionConfig
from tenant_bot.execution.crash import CrashPoints
from tenant_bot.execution.journal import Journal
from tenant_bot.execution.states import Moment, State, StepName, StepStatus
from tenant_bot.execution.venues import Parked, Venues
from tenant_bot.storage.events import EventLog
from tenant_bot.storage.models import Execution, Step
from tenant_bot.venues.asgard import AsgardError, BuiltTransaction, SignedTransaction

log = structlog.get_logger("basis.bot.execution")

LANDED = (SignatureState.CONFIRMED, SignatureState.FINALIZED)
# With no attempt limit, a run parks after this many failed attempts in a row (the next tick resumes).
ATTEMPTS_PER_RUN = 99

Build = Callable[[], Awaitable[BuiltTransaction]]


@dataclass(frozen=True)
class LegResult:
    landed: bool
    step: Step  # the attempt that landed, or the last one tried
    why: str = ""


class SolanaLeg:
    def __init__(
        self, journal: Journal, venues: Venues, events: EventLog, config: ExecutionConfig, crash: CrashPoints
    ) -> None:
        self.journal = journal
        self.venues = venues
        self.events = events
        self.config = config
        self.crash = crash

    async def run(
        self,
        ex: Execution,
        name: StepName,
        build: Build,
        *,
        attempts: int | None,
        sent_state: State | None = None,
    ) -> LegResult:
        """Land step `name` of `ex`: resume its newest attempt, or start the next one.

        `sent_state`: the execution's state once a transaction is submitted (what a job shows).
        Raises what `build` raises (Asgard refusing to build, the validator refusing to sign) and
        `Parked` when a confirmation takes too long.
        """
        step = self.journal.latest_step(ex.id, name)
        fresh, why, tried = False, "", 0
        while True:
            if step is None or step.status == StepStatus.FAILED:
                attempt = 1 if step is None else step.attempt + 1
                if attempts is not None and attempt > attempts:
                    assert step is not None
                    return LegResult(False, step, f"did not land after {attempts} attempts ({why})")
                if tried >= ATTEMPTS_PER_RUN:
                    raise Parked(f"{name.value} keeps failing ({why})")
                tried += 1
                if step is not None:
                    self._retrying(ex, name, step.attempt, why)
                step, fresh = await self._sign(ex, name, attempt, build), True
            if step.status == StepStatus.DONE:
                return LegResult(True, step)
            why = await self._land(ex, step, fresh=fresh, sent_state=sent_state)
            step = self.journal.step(ex.id, name, step.attempt)
            assert step is not None

    async def _sign(self, ex: Execution, name: StepName, attempt: int, build: Build) -> Step:
        built = await build()
        signed = await self.venues.asgard.sign(built, self.venues.signer)
        # When it expires, from the chain: the blockhash inside the transactions is at most as recent
        # as the latest, so the latest's last valid block height bounds theirs from above (an attempt
        # is never declared expired early; at worst about a minute late).
        try:
            _, last_valid = await self.venues.solana.latest_blockhash()
        except SolanaRpcError as exc:  # nothing was sent: the next tick builds again
            raise Parked(f"Solana is unreachable: {exc}") from exc
        step = self.journal.intent(
            ex.id,
            name,
            attempt,
            key=signed.signature,
            request={
                "kind": built.kind,
                "payload": built.payload,
                "raws": [base64.b64encode(raw).decode() for raw in signed.raws],
                "signatures": list(signed.signatures),
                "last_valid_block_height": last_valid,
                "position_id": built.position_id,
            },
        )
        self.crash.step(name, Moment.INTENT)
        return step

    async def _land(self, ex: Execution, step: Step, *, fresh: bool, sent_state: State | None) -> str:
        """Submit (unless it landed already) and confirm one journaled attempt; why it failed, if so."""
        name = StepName(step.name)
        if fresh or not await self._landed(step):
            refused = await self._submit(step, first=fresh)
            if refused is not None:
                self.journal.finish(step.id, StepStatus.FAILED, {"error": refused})
                return f"refused: {refused}"
        if sent_state is not None and ex.state != sent_state:
            self.journal.set_state(ex.id, sent_state)
        self.crash.step(name, Moment.SENT)
        result = await self._confirm(step)
        if result != ConfirmResult.CONFIRMED:
            return f"the transaction {result.value.lower()}"
        self.journal.finish(step.id, StepStatus.DONE, {"result": result.value})
        self.crash.step(name, Moment.CONFIRMED)
        return ""

    async def _landed(self, step: Step) -> bool:
        for signature in _signatures(step):
            status = await self.venues.solana.signature_status(signature)
            if status.state not in LANDED:
                return False
        return True

    async def _submit(self, step: Step, *, first: bool) -> str | None:
        """Submit the journaled transaction; Asgard's refusal of a first submit, else None.

        A resubmission may meet a refusal for the duplicate (it was sent before the restart): then
        the signature's status decides, not the refusal.
        """
        try:
            await self.venues.asgard.submit(_signed(step))
        except OutcomeUnknown:
            log.warning("submit outcome unknown; the signature's status will tell", signature=step.key)
        except AsgardError as exc:
            if first:  # refused (for example an expired blockhash): it did not land
                return str(exc)
            log.info("resubmission refused; the signature's status will tell", signature=step.key)
        return None

    async def _confirm(self, step: Step) -> ConfirmResult:
        """Confirmed once every transaction of the attempt is (they are sent as one bundle)."""
        last_valid = step.request.get("last_valid_block_height")

        async def every() -> tuple[ConfirmResult, SignatureStatus]:
            for signature in _signatures(step):
                result, status = await self.venues.solana.wait_for_signature(signature, last_valid)
                if result != ConfirmResult.CONFIRMED:
                    return result, status
            return result, status

        try:
            result, status = await asyncio.wait_for(every(), timeout=self.config.confirm_timeout_seconds)
        except TimeoutError as exc:
            raise Parked(f"signature {step.key} not yet confirmed") from exc
        if result != ConfirmResult.CONFIRMED:
            self.journal.finish(step.id, StepStatus.FAILED, {"result": result.value, "error": status.error})
        return result

    def _retrying(self, ex: Execution, name: StepName, attempt: int, why: str) -> None:
        leg = name.value.replace("_", " ")
        self.events.emit(
            "execution.retry",
            f"Asgard {leg} attempt {attempt} did not land ({why}); building it again",
            severity="warning",
            execution_id=ex.id,
        )


def _signatures(step: Step) -> tuple[str, ...]:
    """Every transaction id of an attempt (rows journaled before bundles hold only their key)."""
    return tuple(step.request.get("signatures") or [step.key or ""])


def _signed(step: Step) -> SignedTransaction:
    req = step.request
    raws = req.get("raws") or [req["raw"]]
    built = BuiltTransaction(kind=req["kind"], payload=req["payload"], messages=())
    return SignedTransaction(
        built=built, signatures=_signatures(step), raws=tuple(base64.b64decode(r) for r in raws)
    )
