"""Runs: start one agent turn, advance it on a worker, abort it, report its status.

``run_start`` is the single entry point shared by ``chat.send``, ``agent`` and (later)
the channel pipeline. ``run_advance`` is what the ``agents.run_advance`` task does.

Event flow of one turn (all through ``core.events``; ``seq`` is one per-run counter,
incremented per ``agent`` event and carried by the ``chat`` event that goes with it):

1. ``chat`` ``{state:"status", phase:"starting_model"}`` (+ ``agent`` ``run_status``),
2. ``agent`` lifecycle ``start``,
3. per chunk an ``agent`` ``assistant`` event ``{text, delta}``; ``chat`` ``delta``
   events ``{deltaText, message}`` coalesced to at most one per 150 ms,
4. the reply is persisted to the transcript and the run marked succeeded; only after
   that commit: ``agent`` lifecycle ``end``, the last ``chat`` delta, ``chat`` ``final``
   and ``sessions.changed``.

Abort (``chat.abort``) sets ``cancel_requested``; the worker checks it between chunks,
saves the partial text and announces ``chat`` ``aborted`` (``stopReason: "rpc"``).
Errors end in ``chat`` ``error`` with ``errorMessage`` and ``errorKind``.

One run per session at a time, oldest first: a run whose session is busy stays queued
and the run that ends enqueues the next one.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent, Run
from agents.providers import (
    ChatMessage,
    ProviderError,
    StreamDone,
    TextDelta,
    Usage,
    default_model_ref,
    provider_for,
)
from core import events
from core.leases import lease_claim, lease_renew
from sessions_app import keys
from sessions_app.models import Session
from sessions_app.selectors import run_reply, session_prompt_messages, to_ms
from sessions_app.services import (
    session_changed_announce,
    session_get_or_create,
    session_message_append,
)

logger = logging.getLogger(__name__)

DELTA_INTERVAL_S = 0.15
LEASE_RENEW_EVERY_S = 30.0
RUN_ID_MAX_LENGTH = 200
ACTIVE_STATUSES = (Run.Status.QUEUED, Run.Status.RUNNING)
FINISHED_STATUSES = frozenset({Run.Status.SUCCEEDED, Run.Status.FAILED, Run.Status.ABORTED})


class RunError(Exception):
    """A run request that cannot be accepted; the message says how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RunStart:
    run: Run
    created: bool


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, for chat.send retries, ``agent`` and ``agent.wait``."""

    run_id: str
    status: str
    session_key: str
    session_id: str
    agent_id: str
    model: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error_kind: str = ""
    error_message: str = ""
    usage: dict[str, Any] = field(default_factory=dict)
    reply_text: str | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_STATUSES


def now_ms() -> int:
    return int(time.time() * 1000)


# --- keys and agents -------------------------------------------------------------------
def default_agent_slug() -> str:
    """Return the default agent's id (``main`` when there is no agent yet)."""
    slug = Agent.objects.default_first().values_list("slug", flat=True).first()
    return slug or keys.DEFAULT_AGENT_ID


def session_key_canonical(raw: str) -> str:
    """Canonicalize an RPC session key; the default agent is looked up only if needed."""
    return keys.canonicalize(raw, default_agent=default_agent_slug)


def _resolve_target(*, session_key: str | None, agent_slug: str | None) -> tuple[Agent, str]:
    """Return the agent and canonical session key a run goes to (OpenClaw's agent rules)."""
    try:
        key = session_key_canonical(session_key) if session_key else None
    except keys.SessionKeyError as exc:
        raise RunError(str(exc)) from None
    key_agent = keys.parse_agent_id(key) if key else None
    if agent_slug:
        wanted = agent_slug.strip().lower()
        agent = Agent.objects.filter(slug=wanted).first()
        if agent is None:
            raise RunError(
                f"unknown agent id {agent_slug!r}; agents.list shows the configured agents"
            )
        if key_agent and key_agent != agent.slug:
            raise RunError(
                f"agentId {agent.slug!r} does not match session key {key!r}, which belongs "
                f"to agent {key_agent!r}; drop one of them"
            )
    elif key_agent:
        agent = Agent.objects.filter(slug=key_agent).first()
        if agent is None:
            raise RunError(
                f"session key {key!r} names agent {key_agent!r}, which does not exist; "
                "agents.list shows the configured agents"
            )
    else:
        agent = Agent.objects.default_first().first()
        if agent is None:
            raise RunError("no agent is configured; create one in the admin (Agents → Add)")
    return agent, key or keys.main_session_key(agent.slug)


# --- start -----------------------------------------------------------------------------
@transaction.atomic
def run_start(
    *,
    session_key: str | None,
    message: str,
    idempotency_key: str,
    agent_slug: str | None = None,
    origin: str = Run.Origin.GATEWAY,
    reply_to: Mapping[str, Any] | None = None,
) -> RunStart:
    """Accept one user message and queue the agent turn that answers it.

    Idempotent on ``idempotency_key`` (which becomes the run id): a retry returns the
    existing run, ``created=False``, and appends nothing. Otherwise creates the session
    if needed, appends the user message (``session.message``, ``sessions.changed``
    reason ``send``), creates the queued run and enqueues ``agents.run_advance`` on
    commit. Raises ``RunError`` for a bad key, an unknown agent or a missing key.
    """
    from agents.tasks import run_advance_task

    run_id = idempotency_key.strip()
    if not run_id:
        raise RunError("idempotencyKey is required: send a fresh unique id (e.g. a UUID)")
    if len(run_id) > RUN_ID_MAX_LENGTH:
        raise RunError(f"idempotencyKey is longer than {RUN_ID_MAX_LENGTH} characters")
    existing = Run.objects.select_related("session", "agent").filter(run_id=run_id).first()
    if existing is not None:
        return RunStart(existing, created=False)
    agent, key = _resolve_target(session_key=session_key, agent_slug=agent_slug)
    session, _ = session_get_or_create(key=key, agent_slug=agent.slug)
    run = Run(
        run_id=run_id,
        agent=agent,
        session=session,
        origin=origin,
        reply_to=dict(reply_to or {}),
        model=default_model_ref(),
    )
    try:
        with transaction.atomic():
            run.save()
    except IntegrityError:
        # The same key sent twice at once: the other request created the run.
        existing = Run.objects.select_related("session", "agent").filter(run_id=run_id).first()
        if existing is None:
            raise
        return RunStart(existing, created=False)
    user_message = session_message_append(
        session=session,
        role="user",
        content=[{"type": "text", "text": message}],
        run_public_id=run.public_id,
        changed_reason="send",
        idempotency_key=f"{run_id}:user",
    )
    Run.objects.filter(pk=run.pk).update(trigger_seq=user_message.seq)
    run.trigger_seq = user_message.seq
    run_advance_task.delay_on_commit(run.pk)
    return RunStart(run, created=True)


# --- status ----------------------------------------------------------------------------
def run_status(*, run_id: str) -> RunStatus | None:
    """Return where a run stands, with its reply text once finished (at most two queries)."""
    run = Run.objects.select_related("session", "agent").filter(run_id=run_id).first()
    if run is None:
        return None
    finished = run.status in FINISHED_STATUSES
    return RunStatus(
        run_id=run.run_id,
        status=run.status,
        session_key=run.session.key,
        session_id=str(run.session.session_id),
        agent_id=run.agent.slug,
        model=run.model,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error_kind=run.error_kind,
        error_message=run.error_message,
        usage=dict(run.usage or {}),
        reply_text=run_reply(run_public_id=run.public_id) if finished else None,
    )


# --- abort -----------------------------------------------------------------------------
def _publish_run_event(event: str, payload: dict[str, Any], *, session_key: str) -> None:
    events.publish(event, payload, session_key=session_key, drop_if_slow=False)


def _kick_next(session_pk: int) -> None:
    """Enqueue the session's oldest queued run on commit (its task checks it may start)."""
    from agents.tasks import run_advance_task

    next_pk = (
        Run.objects.filter(session_id=session_pk, status=Run.Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if next_pk is not None:
        run_advance_task.delay_on_commit(next_pk)


@transaction.atomic
def run_abort(*, session_key: str, run_id: str | None = None) -> list[str]:
    """Abort the session's active runs (or just ``run_id``); return the run ids aborted.

    A queued run ends as aborted at once (``chat`` ``aborted`` on commit). A running run
    gets ``cancel_requested``: its worker stops at the next chunk, saves the partial
    reply and announces the abort itself. A run id of another session is an error.
    """
    try:
        key = session_key_canonical(session_key)
    except keys.SessionKeyError as exc:
        raise RunError(str(exc)) from None
    active = Run.objects.filter(session__key=key, status__in=ACTIVE_STATUSES)
    if run_id:
        owner_key = Run.objects.filter(run_id=run_id).values_list("session__key", flat=True).first()
        if owner_key is None:
            return []
        if owner_key != key:
            raise RunError(f"run {run_id} belongs to session {owner_key}, not {key}")
        active = active.filter(run_id=run_id)
    aborted: list[str] = []
    session_pks: set[int] = set()
    now = timezone.now()
    for pk, rid, status, agent_slug, session_pk in active.order_by("pk").values_list(
        "pk", "run_id", "status", "agent__slug", "session_id"
    ):
        session_pks.add(session_pk)
        if status == Run.Status.QUEUED and Run.objects.filter(
            pk=pk, status=Run.Status.QUEUED
        ).update(status=Run.Status.ABORTED, cancel_requested=True, finished_at=now):
            aborted.append(rid)
            payload = {
                "runId": rid,
                "sessionKey": key,
                "agentId": agent_slug,
                "seq": 1,
                "state": "aborted",
                "stopReason": "rpc",
            }
            transaction.on_commit(partial(_publish_run_event, "chat", payload, session_key=key))
            continue
        # Running (or claimed a moment ago): the worker sees the flag between chunks.
        if Run.objects.filter(pk=pk, status=Run.Status.RUNNING).update(cancel_requested=True):
            aborted.append(rid)
    if aborted:
        for session_pk in session_pks:
            _kick_next(session_pk)
    return aborted


# --- advance ---------------------------------------------------------------------------
@dataclass(frozen=True)
class _Claimed:
    pk: int
    run_id: str
    public_id: uuid.UUID
    session_pk: int
    session_key: str
    session_id: str
    agent_id: str
    model: str
    cancel_requested: bool
    started_at: datetime
    prompt: list[ChatMessage]


def _lease_seconds() -> int:
    return int(settings.WORK_LEASE_SECONDS)


@transaction.atomic
def _run_claim(*, run_pk: int, owner: str) -> _Claimed | None:
    """Claim a queued run for this worker (CAS + lease); None if it is not ours to run."""
    run = Run.objects.select_related("session", "agent").filter(pk=run_pk).first()
    if run is None or run.status != Run.Status.QUEUED:
        # Gone, finished, or running under another worker (an expired lease is handed
        # back to queued by the sweeper, which enqueues the run again).
        return None
    now = timezone.now()
    # Serialize claims within one session (a no-op on SQLite, whose write transactions
    # are serialized anyway): one run at a time, oldest first.
    Session.objects.select_for_update().filter(pk=run.session_id).values_list("pk").first()
    busy = (
        Run.objects.filter(session_id=run.session_id, status=Run.Status.RUNNING)
        .filter(lease_expires_at__gt=now)
        .exists()
        or Run.objects.filter(
            session_id=run.session_id, status=Run.Status.QUEUED, pk__lt=run.pk
        ).exists()
    )
    if busy:
        return None
    if not lease_claim(
        model=Run,
        pk=run.pk,
        from_statuses=[Run.Status.QUEUED],
        to_status=Run.Status.RUNNING,
        owner=owner,
        seconds=_lease_seconds(),
        now=now,
    ):
        return None
    started_at = run.started_at or now
    if run.started_at is None:
        Run.objects.filter(pk=run.pk).update(started_at=started_at)
    prompt = [
        ChatMessage(role=m.role, text=m.text)
        for m in session_prompt_messages(session_pk=run.session_id, upto_seq=run.trigger_seq)
    ]
    return _Claimed(
        pk=run.pk,
        run_id=run.run_id,
        public_id=run.public_id,
        session_pk=run.session_id,
        session_key=run.session.key,
        session_id=str(run.session.session_id),
        agent_id=run.agent.slug,
        model=run.model or default_model_ref(),
        cancel_requested=run.cancel_requested,
        started_at=started_at,
        prompt=prompt,
    )


class _Turn:
    """The events of one claimed run, and its ending (persist first, then announce)."""

    def __init__(
        self, claimed: _Claimed, owner: str, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.c = claimed
        self.owner = owner
        self.clock = clock
        self.seq = 0
        self.text = ""
        self.pending = ""
        self.last_delta_at: float | None = None
        self.last_renew_at = clock()

    # events ------------------------------------------------------------------------
    def _agent(self, stream: str, data: dict[str, Any]) -> None:
        self.seq += 1
        _publish_run_event(
            "agent",
            {
                "runId": self.c.run_id,
                "sessionKey": self.c.session_key,
                "sessionId": self.c.session_id,
                "agentId": self.c.agent_id,
                "stream": stream,
                "data": data,
                "seq": self.seq,
                "ts": now_ms(),
            },
            session_key=self.c.session_key,
        )

    def _chat(self, state: str, **fields: Any) -> None:
        events.publish(
            "chat",
            {
                "runId": self.c.run_id,
                "sessionKey": self.c.session_key,
                "agentId": self.c.agent_id,
                "seq": self.seq,
                "state": state,
                **fields,
            },
            session_key=self.c.session_key,
            drop_if_slow=state == "delta",
        )

    @staticmethod
    def _message(text: str) -> dict[str, Any]:
        return {
            "role": "assistant",
            "content": [{"type": "text", "text": text}],
            "timestamp": now_ms(),
        }

    def status(self, phase: str) -> None:
        self._agent("run_status", {"phase": phase})
        self._chat("status", phase=phase)

    def lifecycle_start(self) -> None:
        self._agent("lifecycle", {"phase": "start", "startedAt": to_ms(self.c.started_at)})

    def add_text(self, chunk: str) -> None:
        if not chunk:
            return
        self.text += chunk
        self.pending += chunk
        self._agent("assistant", {"text": self.text, "delta": chunk})
        now = self.clock()
        if self.last_delta_at is None or now - self.last_delta_at >= DELTA_INTERVAL_S:
            self.flush_delta()

    def flush_delta(self) -> None:
        if not self.pending:
            return
        self._chat("delta", deltaText=self.pending, message=self._message(self.text))
        self.pending = ""
        self.last_delta_at = self.clock()

    # control -----------------------------------------------------------------------
    def stream(self) -> tuple[str, StreamDone | None]:
        """Stream the reply; return (``done``/``cancel``/``lost``, the stream's end)."""
        done: StreamDone | None = None
        provider = provider_for(self.c.model)
        for event in provider.stream(self.c.prompt, model=self.c.model):
            # Checked before showing a chunk: nothing arrives after the user's stop.
            control = self.check()
            if control != "go":
                return control, done
            if isinstance(event, TextDelta):
                self.add_text(event.text)
            else:
                done = event
        return "done", done

    def check(self) -> str:
        """Return ``go``, ``cancel`` (abort requested) or ``lost`` (the run is not ours)."""
        row = (
            Run.objects.filter(pk=self.c.pk).values_list("cancel_requested", "lease_owner").first()
        )
        if row is None or row[1] != self.owner[:100]:
            return "lost"
        if row[0]:
            return "cancel"
        if self.clock() - self.last_renew_at >= LEASE_RENEW_EVERY_S:
            if not lease_renew(model=Run, pk=self.c.pk, owner=self.owner, seconds=_lease_seconds()):
                return "lost"
            self.last_renew_at = self.clock()
        return "go"

    def _end(self, status: str, **fields: Any) -> bool:
        """CAS running → ``status`` while this worker still holds the lease."""
        return (
            Run.objects.filter(
                pk=self.c.pk, status=Run.Status.RUNNING, lease_owner=self.owner[:100]
            ).update(
                status=status,
                finished_at=timezone.now(),
                lease_owner="",
                lease_expires_at=None,
                **fields,
            )
            == 1
        )

    def _session(self) -> Session:
        return Run.objects.select_related("session").get(pk=self.c.pk).session

    # endings -----------------------------------------------------------------------
    def finish_succeeded(self, done: StreamDone) -> None:
        usage = _usage_dict(done.usage)
        with transaction.atomic():
            session = self._session()
            if not self._end(Run.Status.SUCCEEDED, usage=usage):
                return
            session_message_append(
                session=session,
                role="assistant",
                content=[{"type": "text", "text": self.text}],
                run_public_id=self.c.public_id,
                model=self.c.model,
                usage=usage,
                stop_reason=done.stop_reason,
                changed_reason=None,
            )
            ended = now_ms()

            def announce() -> None:
                self._agent(
                    "usage",
                    {
                        "inputTokens": done.usage.input,
                        "outputTokens": done.usage.output,
                        "totalTokens": done.usage.total,
                    },
                )
                self._agent(
                    "lifecycle",
                    {
                        "phase": "end",
                        "startedAt": to_ms(self.c.started_at),
                        "endedAt": ended,
                        "aborted": False,
                        "stopReason": done.stop_reason,
                    },
                )
                self.flush_delta()
                self._chat(
                    "final",
                    stopReason=done.stop_reason,
                    message=self._message(self.text),
                    usage=usage,
                )

            transaction.on_commit(announce)
            self._after_end(session, phase="end")
        logger.info("run %s succeeded", self.c.run_id, extra={"run_id": self.c.run_id})

    def finish_aborted(self) -> None:
        with transaction.atomic():
            session = self._session()
            if not self._end(Run.Status.ABORTED):
                return
            if self.text:
                session_message_append(
                    session=session,
                    role="assistant",
                    content=[{"type": "text", "text": self.text}],
                    run_public_id=self.c.public_id,
                    model=self.c.model,
                    stop_reason="aborted",
                    changed_reason=None,
                )
            ended = now_ms()
            text = self.text

            def announce() -> None:
                self._agent(
                    "lifecycle",
                    {
                        "phase": "end",
                        "startedAt": to_ms(self.c.started_at),
                        "endedAt": ended,
                        "aborted": True,
                        "stopReason": "rpc",
                    },
                )
                fields: dict[str, Any] = {"stopReason": "rpc"}
                if text:
                    fields["message"] = self._message(text)
                self._chat("aborted", **fields)

            transaction.on_commit(announce)
            self._after_end(session, phase="end")
        logger.info("run %s aborted", self.c.run_id, extra={"run_id": self.c.run_id})

    def finish_failed(self, *, kind: str, message: str) -> None:
        with transaction.atomic():
            session = self._session()
            if not self._end(Run.Status.FAILED, error_kind=kind, error_message=message):
                return
            ended = now_ms()

            def announce() -> None:
                self._agent("lifecycle", {"phase": "error", "error": message, "endedAt": ended})
                self._chat("error", errorMessage=message, errorKind=kind)

            transaction.on_commit(announce)
            self._after_end(session, phase="error")
        logger.warning("run %s failed (%s)", self.c.run_id, kind, extra={"run_id": self.c.run_id})

    def _after_end(self, session: Session, *, phase: str) -> None:
        session_changed_announce(session=session, extra={"phase": phase, "runId": self.c.run_id})
        _kick_next(self.c.session_pk)


def _usage_dict(usage: Usage) -> dict[str, int]:
    return {"input": usage.input, "output": usage.output, "totalTokens": usage.total}


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def run_advance(*, run_pk: int, clock: Callable[[], float] = time.monotonic) -> None:
    """Run one queued run to its end: stream the model's reply, persist it, announce it.

    Idempotent: a run that is gone, finished or held by a live lease is left alone, so
    a redelivered task does nothing. Not one transaction: the claim, each cancel check
    and the ending are separate short transactions; the stream runs outside them.
    """
    owner = _worker_id()
    claimed = _run_claim(run_pk=run_pk, owner=owner)
    if claimed is None:
        return
    turn = _Turn(claimed, owner, clock)
    if claimed.cancel_requested:
        turn.finish_aborted()
        return
    turn.status("starting_model")
    turn.lifecycle_start()
    try:
        outcome, done = turn.stream()
    except SoftTimeLimitExceeded:
        turn.finish_failed(kind="timeout", message="the run took longer than its time limit")
        return
    except ProviderError as exc:
        turn.finish_failed(kind=exc.kind, message=exc.message)
        return
    except Exception:
        logger.exception("run %s: the model call failed", claimed.run_id)
        turn.finish_failed(
            kind="unknown", message="the model call failed unexpectedly; see the gateway log"
        )
        return
    if outcome == "cancel":
        turn.finish_aborted()
    elif outcome == "lost":
        logger.warning("run %s was taken back from this worker; stopping", claimed.run_id)
    elif done is None:
        turn.finish_failed(kind="unknown", message="the model stream ended without a result")
    else:
        turn.finish_succeeded(done)
