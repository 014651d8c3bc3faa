"""Cron jobs written: add, update, remove, run now, the admin's save, an OpenClaw import.

Each is one transaction; the ``cron`` event (``added``, ``updated``, ``removed``) is
published on commit. A job's ``next_run_at`` is computed here and nowhere else but the
dispatcher, which claims it (``agents.services.cron.dispatch``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.agent_cache import agent_by_slug
from agents.cron_selectors import cron_job_openclaw, parse_job_id
from agents.lib import cron_spec
from agents.lib.cron_spec import CronSpecError, JobSpec
from agents.models import Agent, CronJob, CronRun
from agents.runtime.enqueue import send_on_commit
from agents.services.cron.shared import (
    CRON_RUN_TASK,
    CronError,
    announce,
    ms,
    scheduled_next,
)
from sessions_app.lib import keys

# Job ids that are not UUIDs (hand-written jobs.json) map to a stable UUID of their text,
# so a second import finds the job the first one created.
IMPORT_NAMESPACE = uuid.UUID("6f1c1d1e-4c5b-4a59-9a1b-0c2d3e4f5a6b")
_SCHEDULE_FIELDS = ("schedule_kind", "at", "every_ms", "anchor_at", "cron_expr", "tz", "stagger_ms")


@dataclass(frozen=True)
class RunNow:
    """``cron.run``'s answer: ``{ok, ran, enqueued, runId?, reason?}``."""

    ran: bool
    run_id: str | None = None
    reason: str | None = None  # already-running | not-due


@dataclass(frozen=True)
class Upserted:
    job: CronJob
    created: bool


# --- helpers -------------------------------------------------------------------------------
def _parse(data: Mapping[str, Any], *, now: datetime, job_id: str) -> JobSpec:
    try:
        return cron_spec.parse_job(data, now=now, job_id=job_id)
    except CronSpecError as exc:
        raise CronError(str(exc)) from None


def _agent(slug: str | None) -> Agent | None:
    if not slug:
        return None
    agent = agent_by_slug(slug)
    if agent is None:
        raise CronError(f"unknown agent id {slug!r}; agents.list shows the configured agents")
    return agent


def _target_key(spec: JobSpec, agent: Agent | None) -> str:
    if spec.session_target != CronJob.SessionTarget.SESSION:
        return ""
    owner = agent.slug if agent is not None else keys.DEFAULT_AGENT_ID
    try:
        key = keys.canonicalize(spec.target_session_key, default_agent=owner)
    except keys.SessionKeyError as exc:
        raise CronError(f"sessionTarget: {exc}") from None
    if agent is not None and keys.parse_agent_id(key) not in (None, agent.slug):
        raise CronError(
            f"session {key!r} belongs to another agent than {agent.slug!r}; drop agentId "
            "or name a session of that agent"
        )
    return key


def _apply(job: CronJob, spec: JobSpec, *, now: datetime) -> None:
    """Copy a checked spec onto the row (not its state)."""
    agent = _agent(spec.agent_id)
    schedule = spec.schedule
    job.name = spec.name
    job.description = spec.description
    job.enabled = spec.enabled
    job.agent = agent
    job.session_key = spec.session_key
    job.delete_after_run = spec.delete_after_run
    job.schedule_kind = schedule.kind
    job.at = schedule.at
    job.every_ms = schedule.every_ms
    # An interval's grid starts where it was set up, stored, so it survives an edit.
    job.anchor_at = (schedule.anchor or now) if schedule.kind == "every" else None
    job.cron_expr = schedule.expr
    job.tz = schedule.tz
    job.stagger_ms = schedule.stagger_ms
    job.session_target = spec.session_target
    job.target_session_key = _target_key(spec, agent)
    job.wake_mode = spec.wake_mode
    job.payload = dict(spec.payload)
    job.delivery = dict(spec.delivery)
    job.failure_alert = dict(spec.failure_alert)


def _refuse_past(spec: JobSpec, *, now: datetime) -> None:
    at = spec.schedule.at
    if spec.schedule.kind == "at" and at is not None and at <= now:
        raise CronError(
            f"the 'at' time {at.isoformat()} is in the past; pick a future time or a "
            "duration such as 20m"
        )


def _locked(job_id: str) -> CronJob:
    public_id = parse_job_id(job_id)
    job = (
        None
        if public_id is None
        else CronJob.objects.select_for_update(of=("self",))
        .select_related("agent")
        .filter(public_id=public_id)
        .first()
    )
    if job is None:
        raise CronError(f"cron job not found: {job_id}")
    return job


def _refuse_system_owned(job: CronJob) -> None:
    """An agent's heartbeat job follows its config; it is not edited or removed by hand."""
    if job.declaration_key:
        slug = job.declaration_key.partition(":")[2]
        raise CronError(
            f"{job.name} is the heartbeat of agent {slug}, made from the configuration: "
            "change it with config set agents.defaults.heartbeat.every (or "
            "agents.list[N].heartbeat.every); '0m' turns it off"
        )


# --- add, update, remove -------------------------------------------------------------------
@transaction.atomic
def cron_add(*, job: Mapping[str, Any], now: datetime | None = None) -> CronJob:
    """Create a job from OpenClaw's job JSON (``cron.add`` params); raise CronError.

    Nothing is stored for a bad job: an unknown agent, a bad expression or time zone,
    an ``at`` time in the past, an interval under one second. Publishes ``cron``
    ``added`` on commit.
    """
    now = now or timezone.now()
    row = CronJob(created_at=now)
    spec = _parse(job, now=now, job_id=str(row.public_id))
    _refuse_past(spec, now=now)
    _apply(row, spec, now=now)
    row.next_run_at = scheduled_next(row, after=now)
    row.save()
    announce(str(row.public_id), "added", nextRunAtMs=ms(row.next_run_at))
    return row


@transaction.atomic
def cron_update(*, job_id: str, patch: Mapping[str, Any], now: datetime | None = None) -> CronJob:
    """Apply ``cron.update``'s patch (OpenClaw's job fields) to a job; raise CronError.

    A changed schedule, or enabling the job, computes its next run afresh; other edits
    keep it (a job due now stays due). Publishes ``cron`` ``updated`` on commit.
    """
    now = now or timezone.now()
    row = _locked(job_id)
    _refuse_system_owned(row)
    try:
        merged = cron_spec.merge_patch(cron_job_openclaw(row), patch)
    except CronSpecError as exc:
        raise CronError(str(exc)) from None
    spec = _parse(merged, now=now, job_id=str(row.public_id))
    before = {name: getattr(row, name) for name in (*_SCHEDULE_FIELDS, "enabled")}
    _apply(row, spec, now=now)
    changed = any(getattr(row, name) != value for name, value in before.items())
    if changed and row.at != before["at"]:
        _refuse_past(spec, now=now)
    if changed or row.next_run_at is None:
        row.next_run_at = scheduled_next(row, after=now)
    row.save()
    announce(str(row.public_id), "updated", nextRunAtMs=ms(row.next_run_at))
    return row


@transaction.atomic
def cron_remove(*, job_id: str) -> bool:
    """Delete a job (its run history stays); False when there is none.

    A turn it started runs to its end. Publishes ``cron`` ``removed`` on commit.
    """
    public_id = parse_job_id(job_id)
    if public_id is None:
        return False
    found = CronJob.objects.filter(public_id=public_id).first()
    if found is not None:
        _refuse_system_owned(found)
    deleted, _ = CronJob.objects.filter(public_id=public_id).delete()
    if deleted:
        announce(str(public_id), "removed")
    return bool(deleted)


@transaction.atomic
def cron_job_save(
    *, job: CronJob, changed: Iterable[str] = (), now: datetime | None = None
) -> CronJob:
    """Save a job edited in the admin (its form validated it) and set its next run.

    A new job, a changed schedule or a change of ``enabled`` computes the next run.
    Publishes ``cron`` ``added`` or ``updated`` on commit.
    """
    now = now or timezone.now()
    adding = job._state.adding
    _refuse_system_owned(job)
    if job.schedule_kind != CronJob.ScheduleKind.EVERY:
        job.anchor_at = None
    elif job.anchor_at is None:
        job.anchor_at = now
    if job.session_target != CronJob.SessionTarget.SESSION:
        job.target_session_key = ""
    else:
        owner = job.agent.slug if job.agent is not None else keys.DEFAULT_AGENT_ID
        try:
            job.target_session_key = keys.canonicalize(job.target_session_key, default_agent=owner)
        except keys.SessionKeyError as exc:
            raise CronError(f"target session: {exc}") from None
    if adding or {*_SCHEDULE_FIELDS, "enabled"} & set(changed) or job.next_run_at is None:
        job.next_run_at = scheduled_next(job, after=now) if job.enabled else None
    job.save()
    announce(str(job.public_id), "added" if adding else "updated", nextRunAtMs=ms(job.next_run_at))
    return job


# --- run now ------------------------------------------------------------------------------
@transaction.atomic
def cron_run_now(*, job_id: str, mode: str = "force", now: datetime | None = None) -> RunNow:
    """Run a job now (``cron.run``, the admin action, ``manage.py cron run``).

    ``force`` (the default) runs it whatever its schedule, disabled or not; ``due`` only
    when its time has come. A job whose last run is still going is not started twice.
    Claims the job like the tick does and enqueues ``cron.run`` on commit.
    """
    now = now or timezone.now()
    row = _locked(job_id)
    if row.running_at is not None:
        return RunNow(ran=False, reason="already-running")
    due = row.enabled and row.next_run_at is not None and row.next_run_at <= now
    if mode == "due" and not due:
        return RunNow(ran=False, reason="not-due")
    claim: dict[str, Any] = {"running_at": now}
    if due:  # this run is the due slot's: the schedule moves on as the tick's would
        claim["next_run_at"] = scheduled_next(row, after=now)
    if CronJob.objects.filter(pk=row.pk, running_at__isnull=True).update(**claim) != 1:
        return RunNow(ran=False, reason="already-running")
    run = CronRun.objects.create(
        job=row,
        job_public_id=row.public_id,
        job_name=row.name,
        agent_slug=row.agent.slug if row.agent is not None else "",
        trigger=CronRun.Trigger.MANUAL,
        scheduled_for=now,
        next_run_at=claim.get("next_run_at", row.next_run_at),
    )
    send_on_commit(CRON_RUN_TASK, run.pk)
    return RunNow(ran=True, run_id=str(run.public_id))


# --- OpenClaw import -----------------------------------------------------------------------
def _ms_time(value: Any) -> datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, UTC)
    return None


def _import_state(row: CronJob, state: Mapping[str, Any]) -> None:
    status = state.get("lastRunStatus") or state.get("lastStatus") or ""
    row.last_status = status if status in ("ok", "error", "skipped") else ""
    row.last_run_at = _ms_time(state.get("lastRunAtMs"))
    row.last_error = str(state.get("lastError") or "")[:4000]
    duration = state.get("lastDurationMs")
    row.last_duration_ms = int(duration) if isinstance(duration, int) and duration >= 0 else None
    errors = state.get("consecutiveErrors")
    row.consecutive_errors = int(errors) if isinstance(errors, int) and errors >= 0 else 0
    delivery = state.get("lastDeliveryStatus") or ""
    row.last_delivery_status = delivery if delivery in CronRun.DeliveryStatus.values else ""


@transaction.atomic
def cron_upsert_from_openclaw(job: Mapping[str, Any], *, now: datetime | None = None) -> Upserted:
    """Create or update one job of OpenClaw's ``cron/jobs.json`` (``{version, jobs: [...]}``).

    Keeps its ``id`` (a non-UUID id maps to a stable UUID, so importing twice updates),
    ``createdAtMs`` and the last-run ``state``; an ``at`` time already past is kept: the job
    runs once at the next tick unless its state says it ran. The next run is computed
    here, never taken from the file. Raises CronError (the message names the problem);
    publishes ``cron`` ``added`` or ``updated`` on commit.
    """
    now = now or timezone.now()
    if not isinstance(job, Mapping):
        raise CronError("a cron job is a JSON object")
    raw_id = str(job.get("id") or "").strip()
    if not raw_id:
        raise CronError("the job has no id")
    public_id = parse_job_id(raw_id) or uuid.uuid5(IMPORT_NAMESPACE, raw_id)
    row = CronJob.objects.select_for_update(of=("self",)).filter(public_id=public_id).first()
    created = row is None
    if row is None:
        row = CronJob(public_id=public_id, created_at=_ms_time(job.get("createdAtMs")) or now)
    spec = _parse(job, now=now, job_id=str(public_id))
    _apply(row, spec, now=row.created_at)
    state = job.get("state")
    _import_state(row, state if isinstance(state, Mapping) else {})
    ran_once = row.last_status == "ok" and row.last_run_at is not None
    if row.schedule_kind == CronJob.ScheduleKind.AT and row.at is not None:
        spent = ran_once and row.last_run_at is not None and row.last_run_at >= row.at
        row.next_run_at = None if spent or not row.enabled else row.at
        row.enabled = row.enabled and not spent
    else:
        row.next_run_at = scheduled_next(row, after=now)
    row.running_at = None
    row.save()
    announce(str(row.public_id), "added" if created else "updated", nextRunAtMs=ms(row.next_run_at))
    return Upserted(row, created)
