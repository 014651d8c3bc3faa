"""One model step of a turn: the failover loop and the compaction trigger.

Failover is OpenClaw's (``agents.runtime.failover``): the keys of the provider in turn,
then the fallback models. A key in cooldown is not called: it is skipped (noted in the
step's output) for the next key or fallback model. When every candidate is cooling down
the turn waits for the first to be usable again if that comes before the run's
deadline, else it fails at once (``rate_limit``, saying when a key is usable again). A
request over the model's context budget, or refused for its length, is compacted first.
The request itself (history, system prompt, tools) is built by ``agents.runtime.request``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from dataclasses import replace as dataclass_replace
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.models import Run
from agents.providers import (
    ModelRequest,
    ProviderError,
    StreamDone,
    TextDelta,
    Usage,
    error_kind,
    provider_client,
)
from agents.runtime import failover, steps
from agents.runtime.announce import Announcer
from agents.runtime.claim import Claimed
from agents.runtime.context import tool_call_block
from agents.runtime.control import Control
from agents.runtime.model_config import context_window_for, model_chain
from agents.runtime.place import TurnPlace
from agents.runtime.request import model_request
from agents.services.compaction import CompactionError, session_compact
from agents.tools.base import Tool
from core.redact import redact
from sessions_app.services import session_message_append

logger = logging.getLogger(__name__)

# Past a key's cooldown before calling it again: its end must be behind us, for every
# host's clock reading the same row.
COOLDOWN_MARGIN_S = 0.2


@dataclass
class ModelResult:
    text: str
    done: StreamDone
    model_ref: str
    profile_id: str


@dataclass
class _Tries:
    """The attempts of one model step: how many it may make, made, the last failure."""

    budget: int
    made: int = 0
    last_error: ProviderError | None = None


def reason_text(reason: str) -> str:
    """A retry reason for clients: the errorKind, or the finer reason when it says more."""
    kind = error_kind(reason)
    return kind if kind != "unknown" else reason


@dataclass
class ModelSteps:
    """The model steps of one turn, and what they add up to (usage, the model used)."""

    c: Claimed
    control: Control
    say: Announcer
    place: TurnPlace
    allowed: dict[str, Tool]
    usage: Usage = field(default_factory=Usage)
    model_ref: str = ""
    compacted: bool = False
    step_no: int | None = None  # the latest model step
    # What failover did in the current model step (skipped keys, waits), for its RunStep.
    failover_notes: list[str] = field(default_factory=list)
    last_request: ModelRequest | None = None

    def __post_init__(self) -> None:
        self.model_ref = self.c.run.model

    @property
    def run(self) -> Run:
        return self.c.run

    def _request(self, attempt: failover.Attempt) -> tuple[ModelRequest, int]:
        return model_request(
            claimed=self.c,
            place=self.place,
            allowed=self.allowed,
            model_ref=attempt.model_ref,
            model=attempt.model,
        )

    # the failover loop ----------------------------------------------------------------
    def run_step(self, step_no: int) -> ModelResult | None:
        """One model call with failover; None when it asked for tools (recorded)."""
        # The run's own model (a heartbeat's) first, else the session's; the fallbacks
        # are the agent's and the gateway's either way.
        override = self.run.model_override or self.c.session.model_override
        chain = model_chain(agent=self.c.agent, session_override=override)
        steps.model_step_start(self.run, step_no)
        self.step_no = step_no
        self.failover_notes = []
        max_attempts = int(settings.AGENT_MAX_ATTEMPTS)
        planned = failover.plan(chain, max_attempts=max_attempts)
        # Every model with a key gets an attempt, as in the plan.
        tries = _Tries(budget=max(max_attempts, planned.models))
        while tries.made < tries.budget:
            self._note_skipped(planned.cooling)
            if not planned.attempts:
                self._await_cooldown(planned, step_no, tries)
            else:
                done, result = self._attempts(planned.attempts, step_no, tries)
                if done:
                    return result
            # Planned again: the keys that failed are cooling down now.
            planned = failover.plan(chain, max_attempts=max(1, tries.budget - tries.made))
        assert tries.last_error is not None
        self._step_failed(step_no, tries.last_error)
        raise tries.last_error

    def _attempts(
        self, planned: list[failover.Attempt], step_no: int, tries: _Tries
    ) -> tuple[bool, ModelResult | None]:
        """Try the planned attempts in order: (True, result) once one answers (None when
        it asked for tools), (False, None) when none did. Raises a non-retriable error."""
        queue = list(planned)
        while queue and tries.made < tries.budget:
            attempt = queue[0]
            until = failover.cooling_until(attempt.profile.id)
            if until is not None:
                # Cooling down since the plan was made: its failure a moment ago for
                # another model of its provider, or another worker's.
                queue.pop(0)
                self._note_skipped([dataclass_replace(attempt, cooling_until=until)])
                continue
            tries.made += 1
            if tries.last_error is not None:
                # Before each attempt after a failure: v4 chat ``status`` with ``retry``.
                reason = reason_text(tries.last_error.reason)
                retry = {"attempt": tries.made, "maxAttempts": tries.budget, "reason": reason}
                self.say.status("starting_model", retry=retry)
            try:
                done = self._call(attempt)
            except ProviderError as exc:
                exc.message = redact(exc.message)
                if exc.reason == "context_length" and not self.compacted:
                    sent = self.last_request or self._request(attempt)[0]
                    self._auto_compact(attempt.model_ref, sent, force=True)
                    tries.made -= 1  # the same attempt again, with a smaller context
                    continue
                if not exc.retriable:
                    self._step_failed(step_no, exc)
                    raise
                queue.pop(0)
                self._attempt_failed(attempt, exc, last=tries.made >= tries.budget)
                tries.last_error = exc
                continue
            failover.record_success(attempt.profile.id)
            self.model_ref = attempt.model_ref
            self._add_usage(done.usage)
            result = ModelResult(self.say.text, done, attempt.model_ref, attempt.profile.id)
            if done.tool_calls:
                self._record_tool_request(step_no, result)
                self.say.reset_text()
                return True, None
            return True, result
        return False, None

    def _call(self, attempt: failover.Attempt) -> StreamDone:
        """One attempt: the request (compacted first if over budget), then its stream."""
        self.control.doing(f"calling {attempt.model_ref} via {attempt.profile.id}")
        request, tokens = self._request(attempt)
        if not self.compacted and self._over_budget(attempt.model_ref, tokens):
            self._auto_compact(attempt.model_ref, request)
            request, tokens = self._request(attempt)
        self.last_request = request
        return self._stream(attempt, request)

    def _stream(self, attempt: failover.Attempt, request: ModelRequest) -> StreamDone:
        client = provider_client(attempt.profile, timeout_s=float(settings.AGENT_MODEL_TIMEOUT_S))
        done: StreamDone | None = None
        try:
            for event in client.stream(request):
                self.control.check()
                if isinstance(event, TextDelta):
                    self.say.add_text(event.text)
                else:
                    done = event
        except ProviderError:
            # A request the watchdog cut (abort, time limit, shutdown) is the run
            # stopping, not the key failing: no cooldown, no next attempt.
            self.control.stopped()
            raise
        # Before tools run, the flag is read; a final answer is written only if no cancel
        # came meanwhile (``Finish.succeeded``'s compare-and-set requires it).
        self.control.check(force=done is not None and bool(done.tool_calls))
        if done is None:
            raise ProviderError(
                f"{attempt.profile.provider}: the stream ended without a result", reason="truncated"
            )
        return done

    def _attempt_failed(self, attempt: failover.Attempt, exc: ProviderError, *, last: bool) -> None:
        until = failover.record_failure(attempt.profile.id, exc)
        self.failover_notes.append(
            f"{attempt.model_ref} via {attempt.profile.id} failed ({exc.reason}); "
            f"in cooldown until {failover.utc_text(until)}"
        )
        logger.warning(
            "run %s: %s via %s failed (%s); %s",
            self.run.run_id,
            attempt.model_ref,
            attempt.profile.id,
            exc.reason,
            "no attempts left" if last else "trying the next",
            extra={"run_id": self.run.run_id},
        )
        self.say.reset_text()

    def _note_skipped(self, cooling: list[failover.Attempt]) -> None:
        for attempt in cooling:
            if attempt.cooling_until is None:
                continue
            note = (
                f"skipped {attempt.profile.id} for {attempt.model_ref}: in cooldown until "
                f"{failover.utc_text(attempt.cooling_until)}"
            )
            if note not in self.failover_notes:
                self.failover_notes.append(note)

    def _await_cooldown(self, planned: failover.Plan, step_no: int, tries: _Tries) -> None:
        """Every candidate is cooling down: wait for the first, or fail if it is too late."""
        last_error = tries.last_error
        first = planned.cooling[0]
        ready_at = first.cooling_until or timezone.now()
        wait_s = max(0.0, (ready_at - timezone.now()).total_seconds())
        if self.control.clock() + wait_s >= self.control.deadline:
            message = failover.cooldown_message(
                planned,
                why="that is past the run's time limit (OPENCLAW_RUN_TIMEOUT_S), so the "
                "run stops now without calling it",
            )
            if last_error is not None:
                message = f"{last_error.message}; then {message}"
            error = ProviderError(message, reason="rate_limit")
            self.failover_notes.append(
                f"no key usable before the run's time limit: {first.profile.id} is in "
                f"cooldown until {failover.utc_text(ready_at)}"
            )
            self._step_failed(step_no, error)
            raise error
        until = failover.utc_text(ready_at)
        reason = reason_text(
            last_error.reason if last_error is not None else first.cooling_reason or "rate_limit"
        )
        self.say.status(
            "starting_model",
            retry={"attempt": tries.made + 1, "maxAttempts": tries.budget, "reason": reason},
            waitMs=int(wait_s * 1000),
            message=f"every key is in cooldown: waiting {wait_s:.0f} s for "
            f"{first.profile.id}, usable again at {until}",
        )
        self.control.doing(f"waiting {wait_s:.0f} s for the cooldown of {first.profile.id}")
        logger.info(
            "run %s: every key is in cooldown; waiting %.0f s for %s",
            self.run.run_id,
            wait_s,
            first.profile.id,
            extra={"run_id": self.run.run_id},
        )
        began = time.monotonic()
        self.control.sleep(wait_s + COOLDOWN_MARGIN_S)
        self.failover_notes.append(
            f"waited {time.monotonic() - began:.0f} s for the cooldown of {first.profile.id} "
            f"(until {until})"
        )

    # what a step records --------------------------------------------------------------
    def _add_usage(self, usage: Usage) -> None:
        self.usage = Usage(
            input=self.usage.input + usage.input,
            output=self.usage.output + usage.output,
            cache_read=self.usage.cache_read + usage.cache_read,
            cache_write=self.usage.cache_write + usage.cache_write,
        )

    def step_output(self, result: ModelResult, **fields: Any) -> dict[str, Any]:
        """The output of a model step that answered (text, or tool calls in ``fields``)."""
        return {
            **fields,
            "stopReason": result.done.stop_reason,
            "usage": steps.usage_dict(result.done.usage),
            "model": result.model_ref,
            "profile": result.profile_id,
            **self._failover_output(),
        }

    def _record_tool_request(self, step_no: int, result: ModelResult) -> None:
        calls = result.done.tool_calls
        content: list[dict[str, Any]] = []
        if result.text:
            content.append({"type": "text", "text": result.text})
        content.extend(tool_call_block(call) for call in calls)
        output = self.step_output(
            result,
            text=result.text,
            toolCalls=[{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls],
        )
        with transaction.atomic():
            self.control.hold()
            steps.model_step_done(self.run, step_no, output)
            session_message_append(
                session=self.c.session,
                role="assistant",
                content=content,
                run_public_id=self.run.public_id,
                model=result.model_ref,
                usage=steps.usage_dict(result.done.usage),
                stop_reason="toolUse",
                changed_reason=None,
            )

    def _step_failed(self, step_no: int, error: ProviderError) -> None:
        steps.model_step_failed(
            self.run,
            step_no,
            reason=error.reason,
            message=error.message,
            status=error.status,
            more=self._failover_output(),
        )

    def _failover_output(self) -> dict[str, Any]:
        """What failover did in this model step (keys skipped, cooldowns waited)."""
        return {"failover": list(self.failover_notes)} if self.failover_notes else {}

    # compaction -----------------------------------------------------------------------
    def _over_budget(self, model_ref: str, tokens: int) -> bool:
        window = context_window_for(model_ref)
        return tokens > window - int(settings.COMPACTION_RESERVE_TOKENS)

    def _auto_compact(self, model_ref: str, request: ModelRequest, *, force: bool = False) -> None:
        self.compacted = True
        self.control.doing(f"compacting the context for {model_ref}")
        self.say.agent("compaction", {"phase": "start"})
        self.say.status("preparing_context")
        try:
            outcome = session_compact(
                session=self.c.session,
                model_ref=model_ref,
                force=force,
                system=request.system,
                tools=request.tools,
                check=self.control.check,
                keep_recent_tokens=0 if force else None,
                run=self.run,
            )
        except CompactionError as exc:
            logger.warning("run %s: compaction failed: %s", self.run.run_id, exc.message)
            self.say.agent("compaction", {"phase": "end", "willRetry": False, "error": exc.message})
            return
        self.say.agent(
            "compaction", {"phase": "end", "willRetry": True, "compacted": outcome.compacted}
        )
