"""Compaction: summarize the oldest turns of a session into a ``compaction`` entry.

Used automatically by the run loop when a request would not fit the model's context
window (or the provider says it does not), and by hand through ``sessions.compact``.
The summary is written by the session's own model (with failover, without tools), and
kept in the transcript as a ``compaction`` message whose ``firstKeptSeq`` marks where
the verbatim history resumes; nothing is deleted, ``chat.history`` still shows it all.

``sessions.compact`` never summarizes at the door: ``session_compact_request`` checks the
session and hands the work to a worker (task ``agents.session_compact``), which calls
``session_compact_answer``; that announces the outcome as the internal
``COMPACTION_EVENT``, carrying the request id the waiting gateway handler resolves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.utils import timezone

from agents.lib import compaction
from agents.lib.workspace import daily_note_append
from agents.models import Agent, Run
from agents.providers import (
    ChatMessage,
    ModelRequest,
    ProviderError,
    StreamDone,
    TextDelta,
    ToolSpec,
    provider_client,
)
from agents.runtime import failover
from agents.runtime.context import history_for
from agents.runtime.model_config import NoModelConfiguredError, context_window_for, model_chain
from agents.services.agents import session_workspace_prepare
from core import events
from core.redact import redact
from sessions_app.models import Session
from sessions_app.services import session_compaction_record

logger = logging.getLogger(__name__)

SUMMARY_MAX_TOKENS = 2048
COMPACT_TASK = "agents.session_compact"
# Internal: the answer to one waiting ``sessions.compact`` (``requestId``); the gateway
# resolves its handler with it and never forwards it to a client.
COMPACTION_EVENT = "session.compaction"
# A manual compaction waits for a worker behind running turns for at most this long.
QUEUE_WAIT_S = 60


class CompactionError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class CompactionOutcome:
    compacted: bool
    reason: str = ""
    summarized: int = 0
    kept: int = 0
    tokens_before: int = 0
    tokens_after: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CompactionOutcome:
        return cls(**data)


def summary_time_limit_s() -> int:
    """The longest a summary can take: every failover attempt running into its timeout."""
    return int(settings.AGENT_MODEL_TIMEOUT_S) * int(settings.AGENT_MAX_ATTEMPTS) + 30


def manual_compaction_wait_s() -> int:
    """How long ``sessions.compact`` waits for its worker: queueing plus the summary."""
    return QUEUE_WAIT_S + summary_time_limit_s()


def _summarize(
    chain: list[str],
    system: str,
    request_messages: list[ChatMessage],
    check: Callable[[], None] | None,
) -> str:
    try:
        attempts = failover.plan_attempts(chain, max_attempts=int(settings.AGENT_MAX_ATTEMPTS))
    except failover.NoKeyForModelError as exc:
        raise CompactionError(exc.message) from None
    last: ProviderError | None = None
    for attempt in attempts:
        client = provider_client(attempt.profile, timeout_s=float(settings.AGENT_MODEL_TIMEOUT_S))
        request = ModelRequest(
            model=attempt.model,
            system=system,
            messages=request_messages,
            max_tokens=SUMMARY_MAX_TOKENS,
        )
        parts: list[str] = []
        try:
            done: StreamDone | None = None
            for event in client.stream(request):
                if check is not None:
                    check()
                if isinstance(event, TextDelta):
                    parts.append(event.text)
                else:
                    done = event
            if done is None:
                raise ProviderError("the summary stream ended without a result", reason="truncated")
        except ProviderError as exc:
            if not exc.retriable:
                raise CompactionError(
                    f"the model could not write the summary: {redact(exc.message)}"
                ) from None
            failover.record_failure(attempt.profile.id, exc)
            last = exc
            continue
        failover.record_success(attempt.profile.id)
        summary = "".join(parts).strip()
        if not summary:
            raise CompactionError("the model returned an empty summary; nothing was compacted")
        return summary
    assert last is not None
    raise CompactionError(f"the model could not write the summary: {redact(last.message)}")


def session_compact(
    *,
    session: Session,
    model_ref: str | None = None,
    force: bool = False,
    instructions: str | None = None,
    system: str = "",
    tools: Sequence[ToolSpec] = (),
    check: Callable[[], None] | None = None,
    keep_recent_tokens: int | None = None,
    run: Run | None = None,
    request_id: str = "",
) -> CompactionOutcome:
    """Summarize the session's oldest turns if over budget (or ``force``); record it.

    ``keep_recent_tokens=0`` keeps only the last user turn verbatim: what the run loop
    asks for when the provider said the prompt is too long although the estimate fit.
    Raises ``CompactionError`` when the summary cannot be written; the transcript is
    then left as it was.
    """
    # The running turn's own messages count too (its trigger, merged messages, tool output).
    history = history_for(session=session, run=run)
    agent = Agent.objects.filter(slug=session.agent_slug).first()
    try:
        chain = (
            [model_ref]
            if model_ref
            else model_chain(agent=agent, session_override=session.model_override)
        )
    except NoModelConfiguredError as exc:
        raise CompactionError(exc.message) from None
    plan = compaction.plan_compaction(
        history.messages,
        system=system,
        tools=tools,
        context_window=context_window_for(chain[0]),
        reserve_tokens=int(settings.COMPACTION_RESERVE_TOKENS),
        keep_recent_tokens=int(
            settings.COMPACTION_KEEP_RECENT_TOKENS
            if keep_recent_tokens is None
            else keep_recent_tokens
        ),
        force=force,
    )
    if plan is None:
        return CompactionOutcome(
            False, reason="nothing to compact: the conversation is short enough"
        )
    kept_seqs = [history.seq_of[id(m)] for m in plan.keep if id(m) in history.seq_of]
    if not kept_seqs:
        return CompactionOutcome(False, reason="nothing to compact")
    summary_system, request_messages = compaction.summary_request(
        plan.summarize, previous_summary=history.summary, instructions=instructions
    )
    summary = redact(_summarize(chain, summary_system, request_messages, check))
    tokens_after = plan.tokens_after_estimate
    # Also bumps the caller's session.compaction_count: its next prompt looks for it.
    session_compaction_record(
        session=session,
        summary=summary,
        model=chain[0],
        first_kept_seq=min(kept_seqs),
        tokens_before=plan.tokens_before,
        tokens_after=tokens_after,
        summarized=len(plan.summarize),
        kept=len(plan.keep),
        request_id=request_id,
    )
    _note_in_daily_memory(agent, session, summary)
    logger.info(
        "session %s compacted: %d messages summarized, %d kept",
        session.key,
        len(plan.summarize),
        len(plan.keep),
    )
    return CompactionOutcome(
        True,
        summarized=len(plan.summarize),
        kept=len(plan.keep),
        tokens_before=plan.tokens_before,
        tokens_after=tokens_after,
    )


def _note_in_daily_memory(agent: Agent | None, session: Session, summary: str) -> None:
    """Keep the summary in today's memory/YYYY-MM-DD.md too (OpenClaw's memory flush).

    memory_search finds it later, after the transcript itself was reset. A workspace
    that cannot be written to is logged, not fatal: the compaction itself succeeded.
    """
    if agent is None:
        return
    # A sandboxed session's summary stays in its own workspace: in the agent's, main's
    # memory_search would hand a stranger's words to the operator's session.
    where = session_workspace_prepare(agent=agent, session_key=session.key)
    if where.access == Agent.WorkspaceAccess.RO:
        return
    try:
        daily_note_append(
            where.path,
            f"Conversation {session.key} compacted. Summary:\n\n{summary}",
            now=timezone.localtime(),
        )
    except OSError as exc:
        logger.warning("could not write the daily memory note: %s", exc)


def _compactable_session(key: str) -> Session:
    """The session ``key``, if a manual compaction may start now; else CompactionError."""
    session = Session.objects.filter(key=key).first()
    if session is None:
        raise CompactionError(f"no session {key!r}; sessions.list shows the sessions")
    if Run.objects.filter(
        session=session, status__in=(Run.Status.RUNNING, Run.Status.QUEUED)
    ).exists():
        raise CompactionError(
            "a turn of this session is running; compact it when the turn has ended"
        )
    return session


def session_compact_by_key(
    *, key: str, instructions: str | None = None, request_id: str = ""
) -> CompactionOutcome:
    """Compact now, unless a turn of the session is running (slow: a model call)."""
    session = _compactable_session(key)
    return session_compact(
        session=session, force=True, instructions=instructions, request_id=request_id
    )


def session_compact_request(*, key: str, request_id: str, instructions: str | None = None) -> None:
    """``sessions.compact`` at the door: refuse at once, or hand the summary to a worker.

    Fast (two reads and a broker send). The worker announces the outcome as
    ``COMPACTION_EVENT`` with ``requestId``; a request not started within
    ``manual_compaction_wait_s()`` expires unrun (its caller has stopped waiting).
    """
    _compactable_session(key)
    current_app.send_task(
        COMPACT_TASK,
        kwargs={"key": key, "request_id": request_id, "instructions": instructions},
        expires=manual_compaction_wait_s(),
    )


def _announce_outcome(
    *,
    key: str,
    request_id: str,
    outcome: CompactionOutcome | None,
    error: str = "",
    crashed: bool = False,
) -> None:
    """``error``: the refusal to show the caller; ``crashed``: a bug, see the worker log."""
    events.publish(
        COMPACTION_EVENT,
        {
            "requestId": request_id,
            "sessionKey": key,
            "ok": outcome is not None,
            "outcome": outcome.to_json() if outcome is not None else None,
            "error": error,
            "crashed": crashed,
        },
        session_key=key,
    )


def session_compact_answer(*, key: str, request_id: str, instructions: str | None = None) -> None:
    """The worker's half of ``sessions.compact``: compact, then announce the outcome."""
    try:
        outcome = session_compact_by_key(key=key, instructions=instructions, request_id=request_id)
    except CompactionError as exc:
        _announce_outcome(key=key, request_id=request_id, outcome=None, error=exc.message)
        return
    except Exception:
        _announce_outcome(key=key, request_id=request_id, outcome=None, crashed=True)
        raise
    _announce_outcome(key=key, request_id=request_id, outcome=outcome)
