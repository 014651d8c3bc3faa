"""Heartbeats as OpenClaw 2026.9 runs them: one system-owned cron job per agent.

- ``heartbeat_jobs_sync`` makes the configuration true in ``CronJob`` rows: for each
  agent that runs heartbeats a job ``heartbeat-<agent>`` (``declarationKey``
  ``heartbeat:<agent>``, ``every`` on a phase fixed per agent, session target ``main``,
  payload ``{"kind": "heartbeat"}``), disabled for ``every: "0m"``, removed for an
  agent that no longer runs one. Called after every change of the configuration (config
  paths, the admin, an agent added or removed) and at start. The job is then claimed by
  the cron tick like any other (compare-and-set, never twice).
- ``heartbeat_execute`` is that job's run: skipped while ``set-heartbeats`` is off
  (``disabled``), outside ``activeHours`` (``quiet-hours``), for a ``HEARTBEAT.md`` with
  nothing to do (``empty-heartbeat-file``, no model call; a ``next-heartbeat`` system
  event waiting in the main session runs it anyway) or while the main session has
  a turn in flight (``requests-in-flight``, tried again shortly); else a turn in the
  agent's main session (origin ``heartbeat``) with the heartbeat prompt, on
  ``heartbeat.model`` if set (that turn only), its reply to the ``target`` chat unless
  it is an acknowledgement (``HEARTBEAT_OK``).
- ``heartbeat_outcome`` turns the ended turn into OpenClaw's ``heartbeat`` event
  (``ok-empty``, ``ok-token``, ``sent``, ``skipped``/``no-target``, ``failed``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.heartbeat_selectors import (
    SETTINGS_PK,
    AgentHeartbeat,
    heartbeat_of,
    heartbeat_plan,
    heartbeat_settings,
)
from agents.lib import heartbeat as rules
from agents.models import Agent, CronJob, CronRun, HeartbeatSettings, Run
from agents.services.agents import agent_workspace_path
from agents.services.cron.shared import announce, ms, scheduled_next
from agents.services.runs import run_start
from core import events
from sessions_app.lib import keys
from sessions_app.models import Message
from sessions_app.routes import session_last_route

logger = logging.getLogger(__name__)

DECLARATION_PREFIX = "heartbeat:"
# The phase seed: slots fall at the same minute on every host of a team.
PHASE_SEED = "openclaw-django"
# A heartbeat that found the main session busy is tried again this much later.
BUSY_RETRY = timedelta(seconds=10)
PREVIEW_CHARS = 200


def declaration_key(agent_slug: str) -> str:
    return f"{DECLARATION_PREFIX}{agent_slug}"


# --- the jobs made true -------------------------------------------------------------------
@transaction.atomic
def heartbeat_jobs_sync(*, now: datetime | None = None) -> list[str]:
    """Make each agent's heartbeat job match the configuration; return what changed."""
    now = now or timezone.now()
    # One sync at a time (two gateways starting, two config writers): the settings row is
    # the lock, taken before the plan is read, so the last writer's plan wins whole.
    HeartbeatSettings.objects.get_or_create(pk=SETTINGS_PK)
    settings_row = HeartbeatSettings.objects.select_for_update().get(pk=SETTINGS_PK)
    agents = {a.slug: a for a in Agent.objects.default_first()}
    plan = {entry.agent_id: entry for entry in heartbeat_plan(list(agents.values()), settings_row)}
    existing = {
        job.declaration_key: job
        for job in CronJob.objects.select_for_update().filter(
            declaration_key__startswith=DECLARATION_PREFIX
        )
    }
    changed: list[str] = []
    for key, job in existing.items():
        slug = key[len(DECLARATION_PREFIX) :]
        if slug not in agents or not plan[slug].runs:
            job.delete()
            announce(str(job.public_id), "removed")
            changed.append(f"removed {job.name}")
    for slug, entry in plan.items():
        if not entry.runs:
            continue
        found = existing.get(declaration_key(slug))
        if _job_write(found, agents[slug], entry, now=now):
            changed.append(f"{'added' if found is None else 'updated'} heartbeat-{slug}")
    return changed


def _job_write(job: CronJob | None, agent: Agent, entry: AgentHeartbeat, *, now: datetime) -> bool:
    every_ms = entry.config.every_ms or (job.every_ms if job is not None else None)
    every_ms = every_ms or rules.parse_every(rules.DEFAULT_EVERY)
    assert every_ms is not None
    anchor = datetime.fromtimestamp(rules.phase_ms(PHASE_SEED, agent.slug, every_ms) / 1000, UTC)
    wanted: dict[str, Any] = {
        "name": f"heartbeat-{agent.slug}",
        "description": f"Heartbeat ({agent.slug})",
        "agent": agent,
        "enabled": entry.enabled,
        "schedule_kind": CronJob.ScheduleKind.EVERY,
        "every_ms": every_ms,
        "anchor_at": anchor,
        "session_target": CronJob.SessionTarget.MAIN,
        "wake_mode": CronJob.WakeMode.NEXT_HEARTBEAT,
        "payload": {"kind": "heartbeat"},
        "delete_after_run": False,
    }
    created = job is None
    if job is None:
        job = CronJob(declaration_key=declaration_key(agent.slug))
    elif all(getattr(job, name) == value for name, value in wanted.items()):
        return False
    reschedule = created or job.every_ms != every_ms or job.enabled != entry.enabled
    for field, value in wanted.items():
        setattr(job, field, value)
    if reschedule or job.next_run_at is None:
        # Also while a run is going: the claim waits for running_at to clear anyway.
        job.next_run_at = scheduled_next(job, after=now)
    job.save()
    announce(str(job.public_id), "added" if created else "updated", nextRunAtMs=ms(job.next_run_at))
    return True


def heartbeat_set_enabled(*, enabled: bool) -> None:
    """``set-heartbeats``: every heartbeat on or off (stored: all processes read it)."""
    row = heartbeat_settings()
    if row.enabled != enabled:
        row.enabled = enabled
        row.save()


# --- one run --------------------------------------------------------------------------------
def _event(status: str, **fields: Any) -> dict[str, Any]:
    event = {"ts": int(timezone.now().timestamp() * 1000), "status": status}
    event.update({k: v for k, v in fields.items() if v not in (None, "")})
    return event


def _heartbeat_file(agent: Agent) -> str | None:
    path = Path(agent_workspace_path(agent)) / "HEARTBEAT.md"
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def _target(entry: AgentHeartbeat, agent_slug: str) -> dict[str, Any]:
    """The run's ``reply_to``: where an alert goes ({} for target ``none``)."""
    config = entry.config
    if config.target == rules.TARGET_NONE:
        return {}
    if config.target == rules.TARGET_LAST:
        route = session_last_route(agent_slug=agent_slug)
        if route is None:
            return {}
        target: dict[str, Any] = dict(route)
    else:
        route = session_last_route(agent_slug=agent_slug) if not config.to else None
        if route is not None and route["channel"] != config.target:
            route = None
        target = {
            "channel": config.target,
            "accountId": config.account_id or (route or {}).get("accountId", ""),
            "chatId": config.to or (route or {}).get("chatId", ""),
        }
        if not target["chatId"]:
            return {}
    target["accountId"] = config.account_id or target.get("accountId") or keys.DEFAULT_ACCOUNT_ID
    target["ackMaxChars"] = config.ack_max_chars
    return target


def heartbeat_execute(job: CronJob, run: CronRun, *, agent: Agent, now: datetime) -> Any:
    """Start the heartbeat turn of a claimed run, or say why not.

    Returns the started ``Run``, or ``(reason, event or None)`` when it was skipped; the
    caller (``cron_run_execute``) ends the cron run then.
    """
    manual = run.trigger == CronRun.Trigger.MANUAL
    entry = heartbeat_of(agent)
    if not heartbeat_settings().enabled:
        return "disabled", None
    if not entry.runs or entry.error:
        return "disabled", None
    hours = entry.config.active_hours
    if hours is not None and not manual and not hours.contains(now, user_timezone=_zone()):
        return "quiet-hours", None
    key = keys.main_session_key(agent.slug)
    if (
        not manual
        and rules.effectively_empty(_heartbeat_file(agent))
        and not _system_event_waiting(key)
    ):
        return "empty-heartbeat-file", _event("skipped", reason="empty-heartbeat-file")
    busy = Run.objects.filter(
        session__key=key, status__in=(Run.Status.QUEUED, Run.Status.RUNNING)
    ).exists()
    if busy:
        CronJob.objects.filter(pk=job.pk, next_run_at__gt=now + BUSY_RETRY).update(
            next_run_at=now + BUSY_RETRY
        )
        return "requests-in-flight", _event("skipped", reason="requests-in-flight")
    return run_start(
        session_key=key,
        message=entry.config.effective_prompt,
        idempotency_key=f"cron:{run.public_id}",
        origin=Run.Origin.HEARTBEAT,
        reply_to=_target(entry, agent.slug),
        model=entry.config.model,  # this turn only: the session's /model choice stays
    ).run


def _system_event_waiting(key: str) -> bool:
    """A ``next-heartbeat`` event (cron, ``/hooks/wake``) is the main session's last word:
    the heartbeat runs for it whatever ``HEARTBEAT.md`` says, as OpenClaw's does."""
    last = (
        Message.objects.filter(session__key=key)
        .order_by("-seq")
        .values_list("role", "details")
        .first()
    )
    return last is not None and last[0] == "user" and "systemEvent" in (last[1] or {})


def _zone() -> str:
    return str(getattr(settings, "AGENT_TIMEZONE", "") or settings.TIME_ZONE or "UTC")


def heartbeat_outcome(
    run: CronRun, *, ok: bool, reply: str, error: str, started: datetime, now: datetime
) -> dict[str, Any]:
    """The ``heartbeat`` event of an ended heartbeat turn (OpenClaw's statuses)."""
    duration = max(0, int((now - started).total_seconds() * 1000))
    turn = run.run
    to = dict(turn.reply_to or {}) if turn is not None else {}
    if not ok:
        return _event("failed", reason=error or "agent-runner-failure", durationMs=duration)
    ack = int(to.get("ackMaxChars", rules.DEFAULT_ACK_MAX_CHARS))
    stripped = rules.strip_heartbeat_token(reply, ack_max_chars=ack)
    if not reply.strip() or reply.strip() == "NO_REPLY":
        return _event("ok-empty", durationMs=duration, silent=True, indicatorType="ok")
    if stripped.should_skip:
        return _event("ok-token", durationMs=duration, silent=True, indicatorType="ok")
    preview = stripped.text[:PREVIEW_CHARS]
    if not to.get("chatId"):
        return _event(
            "skipped",
            reason="no-target",
            preview=preview,
            durationMs=duration,
            message="Proactive automation delivery is disabled.",
            indicatorType="alert",
        )
    return _event(
        "sent",
        to=str(to["chatId"]),
        accountId=str(to.get("accountId") or ""),
        channel=str(to.get("channel") or ""),
        preview=preview,
        durationMs=duration,
        silent=False,
        indicatorType="alert",
    )


def heartbeat_publish(event: dict[str, Any]) -> None:
    """Publish the ``heartbeat`` event once the transaction commits."""
    transaction.on_commit(lambda: events.publish("heartbeat", event))
