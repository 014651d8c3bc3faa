"""Compaction: summarize the oldest turns of a session into a ``compaction`` entry.

Used automatically by the run loop when a request would not fit the model's context
window (or the provider says it does not), and by hand through ``sessions.compact``.
The summary is written by the session's own model (with failover, without tools), and
kept in the transcript as a ``compaction`` message whose ``firstKeptSeq`` marks where
the verbatim history resumes; nothing is deleted, ``chat.history`` still shows it all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F

from agents.lib import compaction
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
from core.redact import redact
from sessions_app.models import Session
from sessions_app.services import session_changed_announce, session_message_append

logger = logging.getLogger(__name__)

SUMMARY_MAX_TOKENS = 2048


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
    with transaction.atomic():
        session_message_append(
            session=session,
            role="compaction",
            content=[{"type": "text", "text": summary}],
            model=chain[0],
            changed_reason=None,
            details={
                "firstKeptSeq": min(kept_seqs),
                "tokensBefore": plan.tokens_before,
                "tokensAfter": tokens_after,
                "summarized": len(plan.summarize),
            },
        )
        Session.objects.filter(pk=session.pk).update(compaction_count=F("compaction_count") + 1)
        session.compaction_count += 1  # the caller's copy: its next prompt looks for it
        session_changed_announce(session=session, reason="compact")
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
    from django.utils import timezone

    from agents.lib.workspace import daily_note_append
    from agents.services.agents import session_workspace_prepare

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


def session_compact_by_key(*, key: str, instructions: str | None = None) -> CompactionOutcome:
    """``sessions.compact``: compact now, unless a turn of the session is running."""
    session = Session.objects.filter(key=key).first()
    if session is None:
        raise CompactionError(f"no session {key!r}; sessions.list shows the sessions")
    if Run.objects.filter(
        session=session, status__in=(Run.Status.RUNNING, Run.Status.QUEUED)
    ).exists():
        raise CompactionError(
            "a turn of this session is running; compact it when the turn has ended"
        )
    return session_compact(session=session, force=True, instructions=instructions)
