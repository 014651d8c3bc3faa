"""Which run of a session goes next, and claiming it: one turn per session at a time.

Queue modes (a message arriving while its session runs), decided when a run is claimed:
``followup`` answers each message in its own turn; ``collect`` (default) merges every
queued message into one turn; ``interrupt`` aborts the running turn (at ``run_start``)
and answers the newest message with the others merged in; ``steer`` merges queued
messages into the running turn at its next tool boundary, and falls back to followup
when the turn ends first. Merged runs end with their turn (status ``merged``).

The claim itself is ``core.leases.lease_claim``'s compare-and-set on the status, with
the lease, in one UPDATE that also sets ``started_at`` and requires the ``attempts`` read
a moment before: so the turn knows, without reading again, whether an earlier attempt
may have left steps. A turn that ends kicks the session's next queued run (``kick_next``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.agent_cache import agent_by_pk
from agents.models import Agent, Run
from agents.runtime.control import CancelSeen, cancel_mark, lease_seconds
from agents.runtime.enqueue import run_advance_enqueue
from sessions_app.models import Session
from sessions_app.services import session_lock

ACTIVE_STATUSES = (Run.Status.QUEUED, Run.Status.RUNNING)


@dataclass
class Claimed:
    run: Run
    session: Session
    agent: Agent
    merged: list[tuple[int, str]]  # (pk, run_id) of runs merged into this one
    resumed: bool
    # First attempt: no earlier worker ever held the run, so it has no steps yet.
    fresh: bool
    # The claim read the cancel flag and set the lease: the turn's first check.
    seen: CancelSeen


def queue_mode(session: Session) -> str:
    return session.queue_mode or str(settings.AGENT_QUEUE_MODE)


def kick_next(session_pk: int) -> None:
    """Enqueue the session's oldest queued run on commit (its task decides what runs)."""
    next_pk = (
        Run.objects.filter(session_id=session_pk, status=Run.Status.QUEUED)
        .order_by("pk")
        .values_list("pk", flat=True)
        .first()
    )
    if next_pk is not None:
        run_advance_enqueue(next_pk)


def _queued_run(run_pk: int) -> Run | None:
    """The run with its session and (cached) agent, if it is still queued."""
    # .get(), not .first(): no ORDER BY on the run's default ordering for a pk lookup.
    try:
        run = Run.objects.select_related("session").get(pk=run_pk)
    except Run.DoesNotExist:
        return None
    agent = agent_by_pk(run.agent_id)
    if agent is None or run.status != Run.Status.QUEUED:
        return None  # finished or running elsewhere (an agent with runs is PROTECTed)
    run.agent = agent
    return run


@transaction.atomic
def run_claim(*, run_pk: int, owner: str) -> Claimed | None:
    """Claim a queued run (CAS + lease), applying the session's queue mode; or None."""
    # Taken before the run is read: a cancel noted in this process from now on is seen.
    seen = CancelSeen(at=time.monotonic(), mark=cancel_mark())
    run = _queued_run(run_pk)
    if run is None:
        return None
    now = timezone.now()
    session_lock(session_pk=run.session_id)
    active = list(
        Run.objects.filter(session_id=run.session_id, status__in=ACTIVE_STATUSES)
        .order_by("pk")
        .values_list("pk", "run_id", "status", "trusted_sender", "origin")
    )
    if any(status == Run.Status.RUNNING for _, _, status, _, _ in active):
        # The running turn kicks the next one when it ends; if its worker died, the
        # sweeper hands it back to the queue once its lease ran out.
        return None
    queued = [(pk, rid) for pk, rid, status, _, _ in active if status == Run.Status.QUEUED]
    # A turn answers messages of one trust level only: an untrusted sender's message is
    # never merged into an owner's (unsandboxed) turn, nor the other way round. A
    # heartbeat turn takes no one's message and is taken by no one (its reply may be
    # dropped as an acknowledgement, or go to another chat).
    heartbeat = Run.Origin.HEARTBEAT
    same_trust = {
        pk
        for pk, _, status, trusted, origin in active
        if trusted == run.trusted_sender and heartbeat not in (origin, run.origin)
    }
    mode = queue_mode(run.session)
    target_pk = queued[-1][0] if mode == "interrupt" else queued[0][0]
    if run.pk != target_pk:
        run_advance_enqueue(target_pk)
        return None
    merged = (
        [(pk, rid) for pk, rid in queued if pk != run.pk and pk in same_trust]
        # An aborted turn takes no new messages: they stay queued for the next turn.
        if mode in ("collect", "interrupt") and not run.cancel_requested
        else []
    )
    resumed = run.started_at is not None
    fresh = not resumed and run.attempts == 0
    if _lease_claim(run, owner=owner, now=now, as_read=True):
        run.attempts += 1
        run.started_at = run.started_at or now
    elif _lease_claim(run, owner=owner, now=now, as_read=False):
        # PostgreSQL only (SQLite's claim transaction holds the write lock): another
        # worker claimed the run and handed it back since it was read.
        run.refresh_from_db(fields=["started_at", "attempts", "cancel_requested"])
        resumed, fresh = True, False
    else:
        return None
    if merged:
        Run.objects.filter(pk__in=[pk for pk, _ in merged], status=Run.Status.QUEUED).update(
            status=Run.Status.MERGED, merged_into=run, updated_at=now
        )
    if resumed:
        # Runs merged into this one by an earlier claim end with it too.
        merged.extend(
            Run.objects.filter(merged_into=run, status=Run.Status.MERGED)
            .exclude(pk__in=[pk for pk, _ in merged])
            .order_by("pk")
            .values_list("pk", "run_id")
        )
    run.status = Run.Status.RUNNING
    return Claimed(
        run=run,
        session=run.session,
        agent=run.agent,
        merged=merged,
        resumed=resumed,
        fresh=fresh,
        seen=seen,
    )


def _lease_claim(run: Run, *, owner: str, now: datetime, as_read: bool) -> bool:
    """``core.leases.lease_claim``'s compare-and-set and lease, with ``started_at`` (set
    by the first claim only), in one UPDATE. ``as_read``: only if no other claim came
    since the run was read (same ``attempts``), so its ``started_at`` is known."""
    where: dict[str, object] = {"pk": run.pk, "status": Run.Status.QUEUED}
    if as_read:
        where["attempts"] = run.attempts
    started_at: datetime | Coalesce = (
        (run.started_at or now) if as_read else Coalesce(F("started_at"), Value(now))
    )
    claimed = Run.objects.filter(**where).update(
        status=Run.Status.RUNNING,
        lease_owner=owner[:100],
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
        started_at=started_at,
    )
    return claimed == 1


def steer_merge(claimed: Claimed) -> None:
    """Steer mode: merge messages queued meanwhile into this turn at a tool boundary."""
    if claimed.run.origin == Run.Origin.HEARTBEAT:
        return  # a heartbeat turn takes no one's message (run_claim)
    if queue_mode(Session.objects.get(pk=claimed.session.pk)) != "steer":
        return
    with transaction.atomic():
        queued = list(
            Run.objects.select_for_update()
            .filter(
                session_id=claimed.session.pk,
                status=Run.Status.QUEUED,
                trusted_sender=claimed.run.trusted_sender,
            )
            .exclude(origin=Run.Origin.HEARTBEAT)
            .order_by("pk")
            .values_list("pk", "run_id")
        )
        if queued:
            Run.objects.filter(pk__in=[pk for pk, _ in queued]).update(
                status=Run.Status.MERGED, merged_into=claimed.run, updated_at=timezone.now()
            )
            claimed.merged.extend(queued)
