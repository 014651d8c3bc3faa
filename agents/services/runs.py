"""Runs: start one agent turn, abort it, report its status.

``run_start`` is the single entry point shared by ``chat.send``, ``agent`` and (later)
the channel pipeline. A worker advances the run: the ``agents.run_advance`` task calls
``agents.runtime.loop.run_advance``, enqueued by name (``agents.runtime.enqueue``).

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
saves the partial text and announces ``chat`` ``aborted`` (``stopReason: "rpc"``). A
stream that stalls is cut by the process's watchdog (``agents.runtime.watchdog``), which reads
the flags of its runs in flight every 0.3 s.
Errors end in ``chat`` ``error`` with ``errorMessage`` and ``errorKind``.

One run per session at a time, oldest first: a run whose session is busy stays queued
and the run that ends enqueues the next one.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.agent_cache import agent_by_slug
from agents.agent_cache import default_agent as cached_default_agent
from agents.models import Agent, Run
from agents.runtime.announce import queued_run_aborted
from agents.runtime.claim import ACTIVE_STATUSES, kick_next, queue_mode
from agents.runtime.control import note_cancel
from agents.runtime.enqueue import run_advance_enqueue
from agents.runtime.model_config import NoModelConfiguredError, model_chain
from agents.runtime.watchdog import watchdog
from agents.selectors import default_agent_slug, default_slug_of
from core import audit
from sessions_app.lib import keys
from sessions_app.models import Session
from sessions_app.selectors import run_reply
from sessions_app.services import session_get_or_create, session_message_append

logger = logging.getLogger(__name__)

RUN_ID_MAX_LENGTH = 200
MODEL_MAX_LENGTH = 200  # Run.model_override
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


# --- keys and agents -------------------------------------------------------------------
def session_key_canonical(raw: str) -> str:
    """Canonicalize an RPC session key; the default agent is looked up only if needed."""
    return keys.canonicalize(raw, default_agent=default_agent_slug)


def _resolve_target(*, session_key: str | None, agent_slug: str | None) -> tuple[Agent, str]:
    """Return the agent and canonical session key a run goes to (OpenClaw's agent rules)."""
    default: list[Agent | None] = []  # looked up at most once, and only if needed

    def default_agent() -> Agent | None:
        if not default:
            default.append(cached_default_agent())
        return default[0]

    def default_slug() -> str:
        agent = default_agent()
        return default_slug_of([agent] if agent is not None else [])

    try:
        key = keys.canonicalize(session_key, default_agent=default_slug) if session_key else None
    except keys.SessionKeyError as exc:
        raise RunError(str(exc)) from None
    key_agent = keys.parse_agent_id(key) if key else None
    if agent_slug:
        wanted = agent_slug.strip().lower()
        agent = agent_by_slug(wanted)
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
        known = default[0] if default else None
        agent = known if known is not None and known.slug == key_agent else agent_by_slug(key_agent)
        if agent is None:
            raise RunError(
                f"session key {key!r} names agent {key_agent!r}, which does not exist; "
                "agents.list shows the configured agents"
            )
    else:
        agent = default_agent()
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
    trusted_sender: bool = True,
    session: Session | None = None,
    model: str = "",
) -> RunStart:
    """Accept one user message and queue the agent turn that answers it.

    Idempotent on ``idempotency_key`` (which becomes the run id): a retry returns the
    existing run, ``created=False``, and appends nothing. Otherwise creates the session
    if needed, appends the user message (``session.message``, ``sessions.changed``
    reason ``send``), creates the queued run and enqueues ``agents.run_advance`` on
    commit. Raises ``RunError`` for a bad key, an unknown agent or a missing key.
    ``trusted_sender=False`` (a channel message from someone who is not an owner) makes
    the turn run sandboxed whatever its session. ``session``: the session of that key,
    read in this transaction already (the inbox's), so it is not read again.
    ``model``: the model of this turn only (a heartbeat's ``heartbeat.model``), before the
    session's ``/model`` choice, which stays as it is; the fallbacks stay the agent's.
    """
    run_id = idempotency_key.strip()
    if not run_id:
        raise RunError("idempotencyKey is required: send a fresh unique id (e.g. a UUID)")
    if len(run_id) > RUN_ID_MAX_LENGTH:
        raise RunError(f"idempotencyKey is longer than {RUN_ID_MAX_LENGTH} characters")
    model_override = model.strip()
    if len(model_override) > MODEL_MAX_LENGTH:
        raise RunError(
            f"the model is longer than {MODEL_MAX_LENGTH} characters; name one such as "
            "'openai/gpt-4o-mini'"
        )
    # A retry of a known key is found by the run's unique run_id below (IntegrityError),
    # so the common case (a new key) costs no lookup.
    agent, key = _resolve_target(session_key=session_key, agent_slug=agent_slug)
    if session is None or session.key != key:
        session, _ = session_get_or_create(key=key, agent_slug=agent.slug)
    try:
        primary = model_chain(
            agent=agent, session_override=model_override or session.model_override
        )[0]
    except NoModelConfiguredError:
        primary = ""  # accepted: the turn fails with a message saying what to configure
    run = Run(
        run_id=run_id,
        agent=agent,
        session=session,
        origin=origin,
        reply_to=dict(reply_to or {}),
        trusted_sender=trusted_sender,
        model_override=model_override,
        model=primary,
        max_steps=int(settings.AGENT_MAX_STEPS),
    )
    try:
        # The user message first (its seq becomes the run's trigger_seq), then the run,
        # in one savepoint: a concurrent duplicate key rolls both back.
        with transaction.atomic():
            user_message = session_message_append(
                session=session,
                role="user",
                content=[{"type": "text", "text": message}],
                run_public_id=run.public_id,
                changed_reason="send",
                idempotency_key=f"{run_id}:user",
            )
            run.trigger_seq = user_message.seq
            run.save()
    except IntegrityError:
        # A retry of a key already accepted (or the same key twice at once): its run.
        existing = Run.objects.select_related("session", "agent").filter(run_id=run_id).first()
        if existing is None:
            raise
        return RunStart(existing, created=False)
    # Interrupt mode: the running turn stops at its next check; this newest message is
    # answered next.
    if queue_mode(session) == "interrupt" and Run.objects.filter(
        session=session, status=Run.Status.RUNNING
    ).update(cancel_requested=True):
        _cancel_noted()
    run_advance_enqueue(run.pk)
    return RunStart(run, created=True)


# --- status ----------------------------------------------------------------------------
def run_status(*, run_id: str) -> RunStatus | None:
    """Return where a run stands, with its reply text once finished (a few queries).

    A run merged into another (queue modes) reports that run's outcome and reply.
    """
    run = Run.objects.select_related("session", "agent").filter(run_id=run_id).first()
    if run is None:
        return None
    answer = run
    if run.status == Run.Status.MERGED and run.merged_into_id is not None:
        answer = Run.objects.select_related("session", "agent").get(pk=run.merged_into_id)
    finished = answer.status in FINISHED_STATUSES
    return RunStatus(
        run_id=run.run_id,
        status=answer.status,
        session_key=run.session.key,
        session_id=str(run.session.session_id),
        agent_id=run.agent.slug,
        model=answer.model,
        created_at=run.created_at,
        started_at=answer.started_at,
        finished_at=answer.finished_at,
        error_kind=answer.error_kind,
        error_message=answer.error_message,
        usage=dict(answer.usage or {}),
        reply_text=run_reply(run_public_id=answer.public_id) if finished else None,
    )


# --- abort -----------------------------------------------------------------------------
def _cancel_noted() -> None:
    """A running run's cancel flag is set: the turns of this process read their flags
    before their next chunk (now, and again once it is committed)."""
    note_cancel()
    transaction.on_commit(note_cancel)


def _audit_abort(pk: int, run_id: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    # An update sends no signal; an operator's abort (admin, chat.abort) is recorded here.
    audit.record("run.abort", audit.Target.row(Run, pk, run_id), before=before, after=after)


@transaction.atomic
def run_abort(*, session_key: str, run_id: str | None = None) -> list[str]:
    """Abort the session's active runs (or just ``run_id``); return the run ids aborted.

    A queued run ends as aborted at once (``chat`` ``aborted`` on commit). A running run
    gets ``cancel_requested``: its worker stops at the next chunk (a stalled stream is
    cut by its process's watchdog), saves the partial reply and announces the abort
    itself. A run id of another session is an error.
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
            _audit_abort(pk, rid, {"status": status}, {"status": Run.Status.ABORTED})
            transaction.on_commit(
                partial(queued_run_aborted, run_id=rid, session_key=key, agent_slug=agent_slug)
            )
            continue
        # Running (or claimed a moment ago): the worker sees the flag at its next chunk or
        # tool poll; a stalled stream is cut by the watchdog of the process running it
        # (within its poll interval; at once when that is this process).
        if Run.objects.filter(pk=pk, status=Run.Status.RUNNING).update(cancel_requested=True):
            aborted.append(rid)
            _audit_abort(pk, rid, {"cancel_requested": False}, {"cancel_requested": True})
            _cancel_noted()
            transaction.on_commit(watchdog().poke)
    if aborted:
        for session_pk in session_pks:
            kick_next(session_pk)
    return aborted
