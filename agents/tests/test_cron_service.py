"""Cron jobs written, dispatched, started and finished (agents.services.cron), with a fixed
clock: the services take ``now``, so every time here is chosen by the test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.agent_cache import forget_agents
from agents.models import Agent, CronJob, CronRun, Run
from agents.services import cron
from agents.services.cron import dispatch
from agents.services.cron.execute import CRON_EVENT_PROMPT
from agents.tests.cron_fixtures import Published, Sent, end_turn
from core import delivery
from sessions_app.models import Message, Session

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)
Capture = Callable[..., Any]


def every(**fields: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "name": "digest",
        "schedule": {"kind": "every", "everyMs": 3_600_000},
        "payload": {"kind": "systemEvent", "text": "check the inbox"},
        "wakeMode": "next-heartbeat",
    }
    job.update(fields)
    return job


def turn_job(**fields: Any) -> dict[str, Any]:
    return every(
        **{"payload": {"kind": "agentTurn", "message": "summarize the day"}, "wakeMode": "now"}
        | fields
    )


def started(run_pk: int) -> CronRun:
    cron.cron_run_execute(cron_run_pk=run_pk)
    return CronRun.objects.select_related("run", "run__session").get(pk=run_pk)


# --- add, update, remove ----------------------------------------------------------------
def test_add_computes_the_next_run_and_announces_it(
    cron_agent: Agent, cron_events: Published, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = cron.cron_add(job=every(), now=NOW)

    assert job.next_run_at == NOW + timedelta(hours=1)
    assert job.anchor_at == NOW
    assert cron_events == [
        (
            "cron",
            {
                "jobId": str(job.public_id),
                "action": "added",
                "nextRunAtMs": int((NOW + timedelta(hours=1)).timestamp() * 1000),
            },
        )
    ]


@pytest.mark.parametrize(
    ("job", "message"),
    [
        (every(schedule={"kind": "cron", "expr": "0 25 * * *"}), "is not a cron expression"),
        (every(schedule={"kind": "cron", "expr": "0 9 * * *", "tz": "Moon/Base"}), "IANA"),
        (every(schedule={"kind": "every", "everyMs": 0}), "everyMs must be between"),
        (every(schedule={"kind": "at", "at": "2020-01-01T00:00:00Z"}), "is in the past"),
        (every(agentId="ghost"), "unknown agent id 'ghost'"),
        (turn_job(sessionTarget="session:agent:other:x", agentId="main"), "another agent"),
    ],
)
def test_bad_jobs_store_nothing(cron_agent: Agent, job: dict[str, Any], message: str) -> None:
    with pytest.raises(cron.CronError, match=message):
        cron.cron_add(job=job, now=NOW)
    assert not CronJob.objects.exists()


def test_update_recomputes_the_next_run_only_when_the_schedule_changes(cron_agent: Agent) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    renamed = cron.cron_update(job_id=str(job.public_id), patch={"name": "inbox"}, now=NOW)
    assert (renamed.name, renamed.next_run_at) == ("inbox", job.next_run_at)

    later = NOW + timedelta(minutes=10)
    moved = cron.cron_update(
        job_id=str(job.public_id),
        patch={"schedule": {"kind": "cron", "expr": "0 9 * * *", "tz": "UTC"}},
        now=later,
    )
    assert moved.schedule_kind == "cron"
    assert moved.next_run_at is not None
    assert moved.next_run_at.hour == 9
    disabled = cron.cron_update(job_id=str(job.public_id), patch={"enabled": False}, now=later)
    assert disabled.next_run_at is None
    with pytest.raises(cron.CronError, match="cron job not found"):
        cron.cron_update(job_id=str(uuid.uuid4()), patch={"name": "x"})
    with pytest.raises(cron.CronError, match="wakeMode"):
        cron.cron_update(job_id=str(job.public_id), patch={"wakeMode": "someday"})


def test_remove_keeps_the_run_history(cron_agent: Agent, cron_sent: Sent) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))

    assert cron.cron_remove(job_id=str(job.public_id))
    assert not cron.cron_remove(job_id=str(job.public_id))
    assert not cron.cron_remove(job_id="not-a-uuid")
    assert CronRun.objects.get().job_public_id == job.public_id


# --- dispatch -------------------------------------------------------------------------
def test_a_due_job_is_claimed_once_and_moves_to_its_next_slot(
    cron_agent: Agent, cron_sent: Sent, django_capture_on_commit_callbacks: Capture
) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    due = NOW + timedelta(hours=1, seconds=2)

    assert cron.cron_dispatch_due(now=NOW + timedelta(minutes=59)) == []
    with django_capture_on_commit_callbacks(execute=True):
        claimed = cron.cron_dispatch_due(now=due)
    assert len(claimed) == 1
    assert cron_sent == [(cron.CRON_RUN_TASK, claimed[0])]
    job.refresh_from_db()
    assert job.next_run_at == NOW + timedelta(hours=2)
    assert job.running_at == due
    run = CronRun.objects.get()
    assert (run.status, run.trigger, run.scheduled_for) == (
        "queued",
        "schedule",
        NOW + timedelta(hours=1),
    )
    # Running: not claimed again, even once its next slot is due.
    assert cron.cron_dispatch_due(now=NOW + timedelta(hours=3)) == []


def test_two_dispatchers_reading_the_same_due_row_start_it_once(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    cron.cron_add(job=every(), now=NOW)
    due = NOW + timedelta(hours=1)
    seen_by_a = CronJob.objects.select_related("agent").get()
    seen_by_b = CronJob.objects.select_related("agent").get()  # the same stale read

    assert dispatch._claim(seen_by_a, now=due) is not None
    assert dispatch._claim(seen_by_b, now=due) is None
    assert CronRun.objects.count() == 1


def test_a_job_missed_while_the_gateway_was_down_runs_once(
    cron_agent: Agent, cron_sent: Sent, cron_events: Published
) -> None:
    job = cron.cron_add(job=every(schedule={"kind": "every", "everyMs": 60_000}), now=NOW)
    back = NOW + timedelta(hours=5, seconds=30)  # 300 slots missed

    assert len(cron.cron_dispatch_due(now=back)) == 1
    run = started(CronRun.objects.get().pk)  # next-heartbeat: ends at once
    assert run.status == "ok"
    job.refresh_from_db()
    assert job.next_run_at == NOW + timedelta(hours=5, minutes=1)
    assert cron.cron_dispatch_due(now=back + timedelta(seconds=10)) == []


def test_the_tick_gives_a_next_run_to_rows_written_without_one(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    raw = CronJob.objects.create(
        name="raw",
        agent=cron_agent,
        schedule_kind="at",
        at=NOW - timedelta(minutes=5),
        session_target="main",
        payload={"kind": "systemEvent", "text": "hi"},
    )
    spent = CronJob.objects.create(
        name="never", schedule_kind="cron", cron_expr="0 0 30 2 *",
        session_target="main", payload={"kind": "systemEvent", "text": "x"},
    )  # fmt: skip

    report = cron.cron_tick(now=NOW)

    assert (report.healed, report.claimed) == (2, 1)  # the past one-shot runs once now
    spent.refresh_from_db()
    assert not spent.enabled
    assert CronRun.objects.get().job_id == raw.pk


def test_skip_cron_only_finishes_runs(cron_agent: Agent, cron_sent: Sent) -> None:
    cron.cron_add(job=every(), now=NOW)
    assert cron.cron_tick(now=NOW + timedelta(hours=2), dispatch=False).claimed == 0
    assert not CronRun.objects.exists()


# --- start ------------------------------------------------------------------------------
def test_a_system_event_for_the_next_turn_waits_in_the_main_session(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))

    run = started(CronRun.objects.get().pk)

    message = Message.objects.get(session__key="agent:main:main")
    assert (message.role, message.text) == ("user", "System: check the inbox")
    assert (run.status, run.session_key, run.run) == ("ok", "agent:main:main", None)
    assert not Run.objects.exists()
    job.refresh_from_db()
    assert (job.running_at, job.last_status, job.consecutive_errors) == (None, "ok", 0)


def test_a_system_event_with_wake_now_starts_a_turn_in_the_main_session(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(job=every(wakeMode="now"), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))

    run = started(CronRun.objects.get().pk)

    assert run.status == "running"
    assert run.run is not None
    assert (run.run.origin, run.run.session.key) == ("cron", "agent:main:main")
    user = Message.objects.get(run_public_id=run.run.public_id)
    assert user.text == CRON_EVENT_PROMPT.format(text="check the inbox")


def test_an_isolated_turn_starts_over_in_its_own_session_with_its_model(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(
        job=turn_job(payload={"kind": "agentTurn", "message": "go", "model": "anthropic/claude-x"}),
        now=NOW,
    )
    key = f"agent:main:cron:{job.public_id}"
    cron.cron_run_now(job_id=str(job.public_id))
    first = started(CronRun.objects.get().pk)
    assert first.run is not None
    end_turn(first.run)
    cron.cron_reconcile()
    cron.cron_run_now(job_id=str(job.public_id))
    second = started(CronRun.objects.get(status="queued").pk)

    session = Session.objects.get(key=key)
    assert session.model_override == "anthropic/claude-x"
    assert first.session_id != second.session_id  # a fresh sessionId per run
    assert first.run.run_id == f"cron:{first.public_id}"
    assert Message.objects.get(run_public_id=first.run.public_id, role="user").text == (
        f"[cron:{job.public_id} digest] go"
    )


def test_a_named_session_turn_keeps_that_sessions_history(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(job=turn_job(sessionTarget="session:ops"), now=NOW)
    assert job.target_session_key == "agent:main:ops"
    cron.cron_run_now(job_id=str(job.public_id))

    run = started(CronRun.objects.get().pk)

    assert run.session_key == "agent:main:ops"


def test_a_turn_that_cannot_start_ends_the_run_as_an_error(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(job=turn_job(sessionTarget="session:ops"), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))
    Agent.objects.filter(pk=cron_agent.pk).update(slug="renamed")  # agent:main:ops has none
    forget_agents()

    run = started(CronRun.objects.get().pk)

    assert run.status == "error"
    assert "names agent 'main', which does not exist" in run.error
    job.refresh_from_db()
    assert (job.last_status, job.consecutive_errors, job.running_at) == ("error", 1, None)


def test_a_redelivered_start_does_nothing(cron_agent: Agent, cron_sent: Sent) -> None:
    job = cron.cron_add(job=turn_job(), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))
    pk = CronRun.objects.get().pk

    started(pk)
    started(pk)

    assert Run.objects.count() == 1


# --- finish ---------------------------------------------------------------------------------
def test_a_finished_turn_is_recorded_and_its_reply_delivered(
    cron_agent: Agent,
    cron_sent: Sent,
    cron_events: Published,
    cron_outbox: list[delivery.ChannelMessage],
    django_capture_on_commit_callbacks: Capture,
) -> None:
    job = cron.cron_add(
        job=turn_job(delivery={"mode": "announce", "channel": "telegram", "to": "42"}), now=NOW
    )
    cron.cron_run_now(job_id=str(job.public_id))
    run = started(CronRun.objects.get().pk)
    assert run.run is not None
    assert run.run.reply_to == {"channel": "telegram", "accountId": "default", "chatId": "42"}
    assert cron.cron_reconcile() == 0  # still running
    end_turn(run.run, reply="Your digest: 3 mails.")

    with django_capture_on_commit_callbacks(execute=True):
        assert cron.cron_reconcile() == 1
    assert cron.cron_reconcile() == 0  # never twice

    run.refresh_from_db()
    assert (run.status, run.delivery_status, run.summary) == (
        "ok",
        "delivered",
        "Your digest: 3 mails.",
    )
    assert [(m.channel, m.chat_id, m.text, m.dedupe_key) for m in cron_outbox] == [
        ("telegram", "42", "Your digest: 3 mails.", f"run:{run.run.public_id}:reply")
    ]
    job.refresh_from_db()
    assert (job.last_status, job.last_delivery_status, job.running_at) == ("ok", "delivered", None)
    finished = [p for e, p in cron_events if e == "cron" and p["action"] == "finished"]
    assert finished[0]["status"] == "ok"
    assert finished[0]["deliveryStatus"] == "delivered"
    assert finished[0]["sessionKey"] == f"agent:main:cron:{job.public_id}"


def test_delivery_to_the_last_chat_and_when_there_is_none(
    cron_agent: Agent, cron_sent: Sent, cron_outbox: list[delivery.ChannelMessage]
) -> None:
    job = cron.cron_add(job=turn_job(delivery={"mode": "announce", "channel": "last"}), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))
    lonely = started(CronRun.objects.get().pk)
    assert lonely.run is not None
    end_turn(lonely.run)
    cron.cron_reconcile()
    lonely.refresh_from_db()
    assert lonely.delivery_status == "not-delivered"
    assert "no chat to deliver to" in lonely.delivery_error

    Session.objects.create(
        key="agent:main:telegram:direct:7", agent_slug="main", channel="telegram",
        peer_kind="direct", peer_id="7", last_activity_at=NOW,
        origin={"channel": "telegram", "accountId": "default", "chatId": "7"},
    )  # fmt: skip
    cron.cron_run_now(job_id=str(job.public_id))
    chatty = started(CronRun.objects.get(status="queued").pk)
    assert chatty.run is not None
    end_turn(chatty.run, reply="hello")
    cron.cron_reconcile()
    assert [(m.chat_id, m.text) for m in cron_outbox] == [("7", "hello")]


def test_a_refused_or_silent_reply_is_not_delivered(
    cron_agent: Agent, cron_sent: Sent, cron_outbox: list[delivery.ChannelMessage]
) -> None:
    job = cron.cron_add(
        job=turn_job(delivery={"mode": "announce", "channel": "telegram", "to": "refuse"}), now=NOW
    )
    cron.cron_run_now(job_id=str(job.public_id))
    run = started(CronRun.objects.get().pk)
    assert run.run is not None
    end_turn(run.run)
    cron.cron_reconcile()
    run.refresh_from_db()
    assert (run.status, run.delivery_status, run.delivery_error) == (
        "ok",
        "not-delivered",
        "the outbox refused it",
    )
    cron.cron_update(job_id=str(job.public_id), patch={"delivery": {"to": "42"}})
    cron.cron_run_now(job_id=str(job.public_id))
    silent = started(CronRun.objects.get(status="queued").pk)
    assert silent.run is not None
    end_turn(silent.run, reply="NO_REPLY")
    cron.cron_reconcile()
    silent.refresh_from_db()
    assert (silent.delivery_status, silent.delivery_error) == (
        "not-delivered",
        "the reply was empty or NO_REPLY",
    )
    assert cron_outbox == []


def test_a_failed_turn_backs_the_job_off(cron_agent: Agent, cron_sent: Sent) -> None:
    job = cron.cron_add(job=turn_job(schedule={"kind": "every", "everyMs": 10_000}), now=NOW)
    for errors in (1, 2):
        cron.cron_dispatch_due(now=timezone.now() + timedelta(hours=errors))
        run = started(CronRun.objects.get(status="queued").pk)
        assert run.run is not None
        end_turn(run.run, status=Run.Status.FAILED)
        cron.cron_reconcile()
        job.refresh_from_db()
        assert (job.last_status, job.consecutive_errors, job.last_error) == (
            "error",
            errors,
            "provider down",
        )
        assert job.next_run_at is not None
        # Past the back-off (30 s, then 60 s) after the failure, on the 10 s grid.
        assert job.next_run_at >= timezone.now() + timedelta(seconds=(30, 60)[errors - 1] - 5)


def test_a_one_shot_deletes_itself_after_success_and_keeps_its_history(
    cron_agent: Agent,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    job = cron.cron_add(job=turn_job(schedule={"kind": "at", "at": "20m"}), now=NOW)
    assert job.delete_after_run
    cron.cron_dispatch_due(now=NOW + timedelta(minutes=21))
    run = started(CronRun.objects.get().pk)
    assert run.run is not None
    end_turn(run.run)

    with django_capture_on_commit_callbacks(execute=True):
        cron.cron_reconcile()

    assert not CronJob.objects.exists()
    assert CronRun.objects.get().status == "ok"
    assert ("cron", {"jobId": str(job.public_id), "action": "removed"}) in cron_events


def test_a_kept_one_shot_is_disabled_after_its_run(cron_agent: Agent, cron_sent: Sent) -> None:
    job = cron.cron_add(
        job=every(schedule={"kind": "at", "at": "1h"}, deleteAfterRun=False), now=NOW
    )
    cron.cron_dispatch_due(now=NOW + timedelta(hours=2))
    started(CronRun.objects.get().pk)

    job.refresh_from_db()
    assert (job.enabled, job.next_run_at, job.last_status) == (False, None, "ok")


def test_an_overdue_turn_is_aborted_and_ends_as_timed_out(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(
        job=turn_job(payload={"kind": "agentTurn", "message": "slow", "timeoutSeconds": 30}),
        now=NOW,
    )
    cron.cron_run_now(job_id=str(job.public_id))
    run = started(CronRun.objects.get().pk)
    assert run.run is not None

    cron.cron_reconcile(now=timezone.now() + timedelta(seconds=10))
    assert Run.objects.get().status == "queued"
    cron.cron_reconcile(now=timezone.now() + timedelta(seconds=31))  # aborts the queued turn
    cron.cron_reconcile()

    run.refresh_from_db()
    assert (Run.objects.get().status, run.status, run.error) == (
        "aborted",
        "error",
        "timed out after 30 s",
    )


def test_a_run_whose_task_was_lost_is_sent_again_once_a_while(
    cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    cron.cron_run_now(job_id=str(job.public_id))  # on commit: never, in this test
    pk = CronRun.objects.get().pk

    cron.cron_reconcile(now=timezone.now())
    assert cron_sent == []
    later = timezone.now() + timedelta(seconds=11)
    cron.cron_reconcile(now=later)
    cron.cron_reconcile(now=later + timedelta(seconds=1))
    assert cron_sent == [(cron.CRON_RUN_TASK, pk)]


# --- run now ------------------------------------------------------------------------------
def test_run_now_force_due_and_already_running(cron_agent: Agent, cron_sent: Sent) -> None:
    job = cron.cron_add(job=every(), now=NOW)
    job_id = str(job.public_id)

    assert cron.cron_run_now(job_id=job_id, mode="due", now=NOW) == cron.RunNow(
        False, reason="not-due"
    )
    forced = cron.cron_run_now(job_id=job_id, now=NOW)
    assert forced.ran
    assert forced.run_id == str(CronRun.objects.get().public_id)
    assert cron.cron_run_now(job_id=job_id, now=NOW).reason == "already-running"
    job.refresh_from_db()
    assert job.next_run_at == NOW + timedelta(hours=1)  # a manual run leaves the schedule
    with pytest.raises(cron.CronError, match="cron job not found: nope"):
        cron.cron_run_now(job_id="nope")


# --- OpenClaw import --------------------------------------------------------------------
def test_upsert_from_openclaw_keeps_the_id_and_state_and_is_idempotent(
    cron_agent: Agent,
) -> None:
    job_json = {
        "id": "6f7c6ea2-2b5f-4aad-9020-ea18398cc1d3",
        "name": "heartbeat-main",
        "agentId": "main",
        "enabled": True,
        "createdAtMs": 1795289893163,
        "updatedAtMs": 1795289893163,
        "schedule": {"kind": "every", "everyMs": 1800000, "anchorMs": 1233759},
        "sessionTarget": "main",
        "wakeMode": "now",
        "payload": {"kind": "systemEvent", "text": "heartbeat"},
        "state": {"lastRunAtMs": 1795289000000, "lastStatus": "error", "consecutiveErrors": 2},
    }

    first = cron.cron_upsert_from_openclaw(job_json, now=NOW)
    again = cron.cron_upsert_from_openclaw({**job_json, "name": "renamed"}, now=NOW)

    assert (first.created, again.created) == (True, False)
    row = CronJob.objects.get()
    assert (str(row.public_id), row.name, row.last_status, row.consecutive_errors) == (
        job_json["id"],
        "renamed",
        "error",
        2,
    )
    assert row.next_run_at is not None
    assert row.next_run_at > NOW
    assert int(row.created_at.timestamp() * 1000) == 1795289893163
    hand = cron.cron_upsert_from_openclaw({**job_json, "id": "my-job"}, now=NOW)
    assert (
        hand.job.public_id
        == cron.cron_upsert_from_openclaw({**job_json, "id": "my-job"}).job.public_id
    )
    past = cron.cron_upsert_from_openclaw(
        {**job_json, "id": "once", "schedule": {"kind": "at", "at": "2020-01-01T00:00:00Z"}},
        now=NOW,
    )
    assert past.job.next_run_at == past.job.at  # never ran: runs at the next tick
    with pytest.raises(cron.CronError, match="no id"):
        cron.cron_upsert_from_openclaw({**job_json, "id": ""})
