"""The end of a run rebuilt from the database: its terminal ``chat`` event, as announced.

A gateway that was deaf to the bus while runs ended (its Redis connection lost, Redis
restarted) re-announces their ends to its own sockets from here. The run's row and its
reply in the transcript are written before the live event is published
(``runtime/finish.py``), so what is read here is what was announced: the same shape
(``announce.chat_payload``), the same fields per ending (``final``: ``stopReason``,
``usage``, the reply as ``message`` unless silent; ``aborted``: ``stopReason`` ``rpc``
and the partial reply; ``error``: ``errorMessage``, ``errorKind``; a run merged into
another: the fields its merged ending carried). Only ``seq`` is not stored: the caller
passes the last one its sockets saw.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q

from agents.models import Run, RunStep
from agents.runtime.announce import assistant_message, chat_payload
from agents.runtime.finish import silent_reply
from sessions_app.selectors import run_reply
from sessions_app.wire import to_ms

CHAT_STATES: dict[str, str] = {
    Run.Status.SUCCEEDED: "final",
    Run.Status.ABORTED: "aborted",
    Run.Status.FAILED: "error",
}
# Bounds the scan by the indexed ``created_at``: a run that ended in the window was
# created at most this long before it (runs are stopped long before; see
# AGENT_RUN_TIMEOUT_S), so the query never reads the whole table.
CREATED_LOOKBACK = timedelta(days=1)
MAX_RUNS = 500


@dataclass(frozen=True)
class EndedChat:
    """One terminal ``chat`` event to re-announce."""

    run_id: str
    session_key: str
    payload: dict[str, Any]


def ended_run_chats(
    *,
    finished_since: datetime | None,
    run_ids: Collection[str] = (),
    seqs: Mapping[str, int] | None = None,
) -> list[EndedChat]:
    """Return the terminal ``chat`` events of the runs in ``run_ids`` that have ended,
    and of every run that ended at or after ``finished_since``, oldest end first (the
    newest ``MAX_RUNS``; a few queries per run)."""
    ended = Q(pk__in=[])
    if run_ids:
        ended |= Q(run_id__in=list(run_ids))
    if finished_since is not None:
        ended |= Q(
            finished_at__gte=finished_since,
            created_at__gte=finished_since - CREATED_LOOKBACK,
        )
    rows = (
        Run.objects.filter(ended, finished_at__isnull=False)
        .exclude(status__in=[Run.Status.QUEUED, Run.Status.RUNNING])
        .select_related("session", "agent", "merged_into")
        .order_by("-finished_at", "-pk")[:MAX_RUNS]
    )
    seqs = seqs or {}
    out: list[EndedChat] = []
    for run in reversed(list(rows)):
        chat = _ended_chat(run, seq=seqs.get(run.run_id, 0) + 1)
        if chat is not None:
            out.append(chat)
    return out


def _ended_chat(run: Run, *, seq: int) -> EndedChat | None:
    answer = run.merged_into if run.status == Run.Status.MERGED else None
    status = answer.status if answer is not None else run.status
    state = CHAT_STATES.get(status)
    if state is None:
        return None  # merged into a run that has not ended: its end announces both
    if answer is not None or run.merged_into_id is not None:
        fields = _merged_fields(state, run, answer or run.merged_into)
    else:
        fields = _own_fields(state, run)
    payload = chat_payload(
        run_id=run.run_id,
        session_key=run.session.key,
        agent_slug=run.agent.slug,
        seq=seq,
        state=state,
        **fields,
    )
    return EndedChat(run.run_id, run.session.key, payload)


def _stop_reason(run: Run) -> str:
    output = (
        RunStep.objects.filter(run=run, kind=RunStep.Kind.MODEL_CALL, status=RunStep.Status.DONE)
        .order_by("-step_no")
        .values_list("output", flat=True)
        .first()
    )
    reason = output.get("stopReason") if isinstance(output, dict) else None
    return str(reason or "stop")


def _own_fields(state: str, run: Run) -> dict[str, Any]:
    if state == "error":
        return {"errorMessage": run.error_message, "errorKind": run.error_kind}
    text = run_reply(run_public_id=run.public_id)
    fields: dict[str, Any]
    if state == "aborted":
        fields = {"stopReason": "rpc"}
        show = bool(text)
    else:
        fields = {"stopReason": _stop_reason(run), "usage": dict(run.usage or {})}
        show = text is not None and not silent_reply(run, text)
    if show and text is not None:
        fields["message"] = assistant_message(text, timestamp=to_ms(run.finished_at))
    return fields


def _merged_fields(state: str, run: Run, answer: Run | None) -> dict[str, Any]:
    if state == "error":
        return {"errorMessage": run.error_message, "errorKind": run.error_kind}
    if state == "aborted":
        return {"stopReason": "rpc"}
    return {"stopReason": _stop_reason(answer) if answer is not None else "stop"}
