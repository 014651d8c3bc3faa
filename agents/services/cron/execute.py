"""One claimed cron run started (the ``cron.run`` task): a turn, or a system event.

- ``main`` + ``systemEvent``: with ``wakeMode: now`` a turn starts in the agent's main
  session whose message is OpenClaw's cron event prompt around the event text (what its
  heartbeat runs for a cron event); with ``next-heartbeat`` the text is appended to the
  main session as ``System: <text>`` and the agent's next heartbeat (or any earlier turn
  there) reads it.
- an agent's heartbeat job (payload ``{"kind": "heartbeat"}``): ``heartbeat``.
- ``isolated`` + ``agentTurn``: the session ``agent:<agent>:cron:<job id>`` is started
  over (a fresh sessionId each run, as OpenClaw) with the job's model override, and the
  message, prefixed ``[cron:<job id> <name>]``, starts a turn there.
- ``session:<key>`` + ``agentTurn``: the same turn in that session, which keeps its
  history.

The turn is an ordinary run (``agents.services.runs.run_start``, origin ``cron``); the
tick's ``complete`` step records its outcome and delivers the reply.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from agents.models import CronJob, CronRun, Run
from agents.selectors import default_agent_slug
from agents.services.cron.complete import finish_run
from agents.services.cron.heartbeat import heartbeat_execute
from agents.services.cron.shared import announce, ms
from agents.services.runs import RunError, run_start
from sessions_app.lib import keys
from sessions_app.routes import session_last_route
from sessions_app.services import (
    SessionError,
    session_get_or_create,
    session_message_append,
    session_patch,
    session_reset,
)

logger = logging.getLogger(__name__)

# OpenClaw's buildCronEventPrompt (src/infra/heartbeat-events-filter.ts).
CRON_EVENT_PROMPT = (
    "A scheduled reminder has been triggered. The reminder content is:\n\n{text}\n\n"
    "Please relay this reminder to the user in a helpful and friendly way."
)


def isolated_session_key(agent_slug: str, job: CronJob) -> str:
    """OpenClaw's isolated cron session: ``agent:<agent>:cron:<job id>``."""
    return f"agent:{agent_slug}:cron:{job.public_id}"


def delivery_target(job: CronJob, agent_slug: str) -> tuple[dict[str, str], str]:
    """Where an isolated job's reply goes, as a run's ``reply_to``, or ({}, why not).

    ``channel: "last"`` (the CLI's default) or a missing ``to`` is the chat of the job's
    ``sessionKey``, else the agent's chat session active last.
    """
    delivery = job.delivery or {}
    if job.session_target == CronJob.SessionTarget.MAIN or delivery.get("mode") != "announce":
        return {}, ""
    channel = str(delivery.get("channel") or "last").strip().lower()
    to = str(delivery.get("to") or "").strip()
    target = {"channel": channel, "accountId": str(delivery.get("accountId") or ""), "chatId": to}
    if channel == "last" or not to:
        route = session_last_route(agent_slug=agent_slug, key=job.session_key)
        if route is None or (channel != "last" and route["channel"] != channel):
            return {}, (
                "no chat to deliver to: set delivery.channel and delivery.to, or talk to the "
                "agent on a channel first (delivery channel 'last')"
            )
        target = {**route, "chatId": to or route["chatId"]}
        if delivery.get("accountId"):
            target["accountId"] = str(delivery["accountId"])
    target["accountId"] = target["accountId"] or keys.DEFAULT_ACCOUNT_ID
    if delivery.get("threadId"):
        target["threadId"] = str(delivery["threadId"])
    return target, ""


def _turn(job: CronJob, run: CronRun, *, agent_slug: str) -> tuple[str, str, dict[str, Any]]:
    """The session key, message and reply target of the job's turn (its session prepared)."""
    payload = job.payload or {}
    if job.session_target == CronJob.SessionTarget.MAIN:
        return (
            keys.main_session_key(agent_slug),
            CRON_EVENT_PROMPT.format(text=payload.get("text", "")),
            {},
        )
    message = f"[cron:{job.public_id} {job.name}] {payload.get('message', '')}"
    target, why_not = delivery_target(job, agent_slug)
    if why_not:
        run.delivery_error = why_not
    if job.session_target == CronJob.SessionTarget.SESSION:
        return job.target_session_key, message, target
    key = isolated_session_key(agent_slug, job)
    session = session_reset(key=key, reason="cron")
    model = str(payload.get("model") or "")
    if session.model_override != model:
        session_patch(key=key, changes={"model_override": model or None})
    return key, message, target


@transaction.atomic
def cron_run_execute(*, cron_run_pk: int) -> None:
    """Start a claimed run (queued → running); a redelivered task does nothing.

    A job removed in between is skipped; a turn that cannot start (unknown agent, bad
    session) ends the run as an error at once. Publishes ``cron`` ``started`` on commit.
    """
    now = timezone.now()
    if (
        CronRun.objects.filter(pk=cron_run_pk, status=CronRun.Status.QUEUED).update(
            status=CronRun.Status.RUNNING, started_at=now
        )
        != 1
    ):
        return
    run = CronRun.objects.select_related("job", "job__agent").get(pk=cron_run_pk)
    job = run.job
    if job is None:
        finish_run(run, status=CronRun.Status.SKIPPED, error="the job was removed before it ran")
        return
    agent_slug = job.agent.slug if job.agent is not None else default_agent_slug()
    run.agent_slug = agent_slug
    announce(str(job.public_id), "started", runAtMs=ms(now))
    if job.is_heartbeat:
        _heartbeat(job, run, now=now)
        return
    try:
        with transaction.atomic():
            if job.wake_mode == CronJob.WakeMode.NEXT_HEARTBEAT and (
                job.session_target == CronJob.SessionTarget.MAIN
            ):
                _queue_system_event(job, run, agent_slug=agent_slug)
                return
            key, message, target = _turn(job, run, agent_slug=agent_slug)
            started = run_start(
                session_key=key,
                message=message,
                idempotency_key=f"cron:{run.public_id}",
                origin=Run.Origin.CRON,
                reply_to=target,
            ).run
    except (RunError, SessionError) as exc:
        finish_run(run, status=CronRun.Status.ERROR, error=str(exc))
        return
    _record_turn(run, started)


def _heartbeat(job: CronJob, run: CronRun, *, now: datetime) -> None:
    """An agent's heartbeat: its turn, or the run ended as skipped with the reason."""
    if job.agent is None:
        finish_run(run, status=CronRun.Status.SKIPPED, error="the heartbeat has no agent")
        return
    try:
        with transaction.atomic():
            outcome = heartbeat_execute(job, run, agent=job.agent, now=now)
    except (RunError, SessionError) as exc:
        finish_run(
            run,
            status=CronRun.Status.ERROR,
            error=str(exc),
            heartbeat={"ts": ms(now), "status": "failed", "reason": str(exc)},
        )
        return
    if isinstance(outcome, tuple):
        reason, event = outcome
        finish_run(run, status=CronRun.Status.SKIPPED, summary=reason, heartbeat=event)
        return
    _record_turn(run, outcome)


def _record_turn(run: CronRun, started: Run) -> None:
    run.run = started
    run.session_key = started.session.key
    run.session_id = str(started.session.session_id)
    run.model = started.model
    run.save(
        update_fields=[
            "run",
            "agent_slug",
            "session_key",
            "session_id",
            "model",
            "delivery_error",
            "updated_at",
        ]
    )


def _queue_system_event(job: CronJob, run: CronRun, *, agent_slug: str) -> None:
    """``next-heartbeat``: the event waits in the main session for its next turn."""
    key = keys.main_session_key(agent_slug)
    session, _ = session_get_or_create(key=key, agent_slug=agent_slug)
    session_message_append(
        session=session,
        role="user",
        content=[{"type": "text", "text": f"System: {(job.payload or {}).get('text', '')}"}],
        idempotency_key=f"cron:{run.public_id}",
        details={"systemEvent": True, "cronJobId": str(job.public_id)},
    )
    run.session_key = key
    run.session_id = str(session.session_id)
    finish_run(
        run, status=CronRun.Status.OK, summary="queued for the next turn in the main session"
    )
