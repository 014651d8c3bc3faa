"""Heartbeats with the database: each agent's system-owned job made from the config
(agents.services.cron.heartbeat, agents.services.config), and its runs through the real
cron tick, the run loop (the placeholder model, its reply chosen by the test), the
turn's ending and the outbox.

Heartbeats skip on their own clock (``cron_run_execute`` reads the time), so the windows
of ``activeHours`` here are chosen around the real time."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from agents.heartbeat_selectors import heartbeat_last_event, heartbeat_settings
from agents.lib import heartbeat as rules
from agents.lib import workspace
from agents.models import Agent, CronJob, CronRun, HeartbeatSettings, Run
from agents.providers import placeholder
from agents.runtime import loop as run_loop
from agents.services import cron, runs
from agents.services.config import ConfigError, config_patch, config_set
from agents.services.cron.heartbeat import PHASE_SEED
from agents.services.cron.shared import ms
from agents.services.roster import agent_delete, agent_store
from agents.tests.cron_fixtures import Published, Sent, end_turn
from channels_app.models import ChannelAccount, OutboundMessage
from sessions_app.models import Message, Session
from sessions_app.services import session_patch
from tests.fakes.llm_server import Text
from tests.fakes.openai_server import FakeOpenAIServer

pytestmark = pytest.mark.django_db
NOW = timezone.now().replace(microsecond=0)
HALF_HOUR_MS = 1_800_000
MAIN_KEY = "agent:main:main"
Capture = Callable[..., Any]
A_REAL_ITEM = "# HEARTBEAT.md\n\n- check the disk space of the build server\n"


@dataclass
class Model:
    """The placeholder model's next replies (one per call), and how often it was called."""

    replies: list[str] = field(default_factory=list)
    calls: int = 0


@pytest.fixture
def model(monkeypatch: pytest.MonkeyPatch) -> Model:
    scripted = Model()

    def reply_for(self: placeholder.PlaceholderProvider, messages: Any) -> str:
        scripted.calls += 1
        return scripted.replies.pop(0)

    monkeypatch.setattr(placeholder.PlaceholderProvider, "reply_for", reply_for)
    monkeypatch.setattr(placeholder, "CHUNK_DELAY_S", 0.0)
    return scripted


@pytest.fixture
def workspace_dir(settings: Any, tmp_path: Path) -> Path:
    """The main agent's workspace (empty until a test writes its HEARTBEAT.md)."""
    settings.WORKSPACES_DIR = tmp_path / "workspaces"
    path = tmp_path / "workspaces" / "main"
    path.mkdir(parents=True)
    return path


@pytest.fixture
def heartbeat_job(cron_agent: Agent) -> CronJob:
    """The default agent's heartbeat, as the gateway's start makes it."""
    cron.heartbeat_jobs_sync(now=NOW)
    return CronJob.objects.get(declaration_key="heartbeat:main")


@pytest.fixture
def telegram() -> ChannelAccount:
    return ChannelAccount.objects.create(kind="telegram", account_id="default")


def job_of(slug: str) -> CronJob:
    return CronJob.objects.get(declaration_key=f"heartbeat:{slug}")


def heartbeat_jobs() -> list[str]:
    return sorted(CronJob.objects.exclude(declaration_key="").values_list("name", flat=True))


def assert_anchored(job: CronJob, *, slug: str = "main") -> None:
    assert job.every_ms is not None
    assert job.next_run_at is not None
    next_ms = ms(job.next_run_at)
    assert next_ms is not None
    assert next_ms % job.every_ms == rules.phase_ms(PHASE_SEED, slug, job.every_ms)


def heartbeat_due() -> CronRun:
    """The tick at the heartbeat's slot claims it, and its task starts it."""
    job = job_of("main")
    assert job.next_run_at is not None
    (pk,) = cron.cron_dispatch_due(now=job.next_run_at)
    cron.cron_run_execute(cron_run_pk=pk)
    return CronRun.objects.select_related("run", "run__session", "job").get(pk=pk)


def turn_ends(run: CronRun, capture: Capture) -> CronRun:
    """The worker runs the heartbeat's turn to its end; the next tick finishes the cron run."""
    assert run.run is not None
    with capture(execute=True):
        run_loop.run_advance(run_pk=run.run.pk)
    assert Run.objects.get(pk=run.run.pk).status == Run.Status.SUCCEEDED
    with capture(execute=True):
        assert cron.cron_reconcile() == 1
    return CronRun.objects.select_related("run").get(pk=run.pk)


def window_without_now() -> dict[str, str]:
    """activeHours (UTC) that start in two hours and end in three: now is outside."""
    now = timezone.now()
    return {
        "start": (now + timedelta(hours=2)).strftime("%H:%M"),
        "end": (now + timedelta(hours=3)).strftime("%H:%M"),
        "timezone": "UTC",
    }


def heartbeat_events(published: Published) -> list[dict[str, Any]]:
    return [payload for event, payload in published if event == "heartbeat"]


# --- the jobs the configuration makes -------------------------------------------------------
def test_the_default_agent_gets_a_heartbeat_every_30_minutes_on_its_phase(
    cron_agent: Agent,
) -> None:
    assert cron.heartbeat_jobs_sync(now=NOW) == ["added heartbeat-main"]

    job = job_of("main")
    assert (job.name, job.agent, job.enabled) == ("heartbeat-main", cron_agent, True)
    assert (job.schedule_kind, job.every_ms) == ("every", HALF_HOUR_MS)
    assert (job.session_target, job.payload) == ("main", {"kind": "heartbeat"})
    assert job.description == "Heartbeat (main)"
    assert job.next_run_at is not None
    assert NOW < job.next_run_at <= NOW + timedelta(minutes=30)
    assert_anchored(job)
    # Nothing changed: nothing written, the slot kept.
    assert cron.heartbeat_jobs_sync(now=NOW + timedelta(minutes=5)) == []
    assert job_of("main").next_run_at == job.next_run_at


def test_every_follows_the_config_and_0m_disables_the_job(heartbeat_job: CronJob) -> None:
    config_set("agents.defaults.heartbeat.every", "1h")

    job = job_of("main")
    assert (job.every_ms, job.enabled) == (3_600_000, True)
    assert job.next_run_at is not None
    assert job.next_run_at > timezone.now()
    assert_anchored(job)
    assert heartbeat_settings().defaults == {"every": "1h"}

    config_set("agents.defaults.heartbeat.every", "0m")
    off = job_of("main")  # kept, disabled
    assert (off.enabled, off.next_run_at, off.every_ms) == (False, None, 3_600_000)

    config_set("agents.defaults.heartbeat.every", None)  # back to the default 30m
    back = job_of("main")
    assert (back.enabled, back.every_ms) == (True, HALF_HOUR_MS)
    assert_anchored(back)


def test_an_agent_with_its_own_block_is_the_only_one_that_runs(heartbeat_job: CronJob) -> None:
    ops = Agent.objects.create(slug="ops", name="Ops")

    config_set("agents.list[1].heartbeat.every", "2h")

    assert Agent.objects.get(pk=ops.pk).heartbeat == {"every": "2h"}
    assert heartbeat_jobs() == ["heartbeat-ops"]
    job = job_of("ops")
    assert (job.agent, job.every_ms, job.enabled) == (ops, 7_200_000, True)
    assert_anchored(job, slug="ops")


def test_a_defaults_block_gives_every_agent_a_heartbeat(heartbeat_job: CronJob) -> None:
    Agent.objects.create(slug="ops", name="Ops")
    config_set("agents.defaults.heartbeat.target", "last")
    assert heartbeat_jobs() == ["heartbeat-main", "heartbeat-ops"]
    config_set("agents.defaults.heartbeat.agentId", "ops")
    assert heartbeat_jobs() == ["heartbeat-ops"]
    config_set("agents.defaults.heartbeat", None)  # no block at all: the default agent
    assert heartbeat_jobs() == ["heartbeat-main"]
    assert heartbeat_settings().defaults is None


def test_deleting_an_agent_removes_its_heartbeat_job(heartbeat_job: CronJob) -> None:
    ops = Agent.objects.create(slug="ops", name="Ops")
    config_set("agents.defaults.heartbeat.every", "1h")  # every agent runs one
    assert heartbeat_jobs() == ["heartbeat-main", "heartbeat-ops"]

    agent_delete(agent=ops)

    assert not Agent.objects.filter(slug="ops").exists()
    assert heartbeat_jobs() == ["heartbeat-main"]


def test_deleting_the_only_agent_with_its_own_block_gives_the_default_agent_its_heartbeat_back(
    heartbeat_job: CronJob,
) -> None:
    ops = Agent.objects.create(slug="ops", name="Ops")
    config_set("agents.list[1].heartbeat.every", "1h")
    assert heartbeat_jobs() == ["heartbeat-ops"]

    agent_delete(agent=ops)

    # No agent has a block of its own now: by OpenClaw's rule the default agent runs one.
    assert heartbeat_jobs() == ["heartbeat-main"]


def test_a_new_agent_gets_its_heartbeat_when_every_agent_runs_one(heartbeat_job: CronJob) -> None:
    config_set("agents.defaults.heartbeat.every", "1h")  # a defaults block: every agent

    agent_store(agent=Agent(slug="ops", name="Ops"))

    assert heartbeat_jobs() == ["heartbeat-main", "heartbeat-ops"]


def test_making_another_agent_the_default_moves_the_heartbeat(heartbeat_job: CronJob) -> None:
    ops = Agent.objects.create(slug="ops", name="Ops")

    ops.is_default = True
    agent_store(agent=ops)  # no heartbeat config: the default agent runs it

    assert heartbeat_jobs() == ["heartbeat-ops"]


def test_cron_update_and_remove_refuse_a_heartbeat_job_and_say_where_to_change_it(
    heartbeat_job: CronJob,
) -> None:
    job_id = str(heartbeat_job.public_id)
    explained = (
        r"heartbeat-main is the heartbeat of agent main, made from the configuration: "
        r"change it with config set agents\.defaults\.heartbeat\.every"
    )
    with pytest.raises(cron.CronError, match=explained):
        cron.cron_update(job_id=job_id, patch={"enabled": False})
    with pytest.raises(cron.CronError, match=explained):
        cron.cron_remove(job_id=job_id)

    job = job_of("main")
    assert (job.enabled, job.every_ms, job.next_run_at) == (
        True,
        HALF_HOUR_MS,
        heartbeat_job.next_run_at,
    )


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("agents.defaults.heartbeat.every", "often", "'often' is not a duration"),
        ("agents.defaults.heartbeat.everyMs", 60_000, "heartbeat has no key 'everyMs'"),
        ("agents.defaults.heartbeat.ackMaxChars", -1, "whole number ≥ 0"),
        ("agents.defaults.heartbeat.target", "tele gram", "is not a target"),
        ("agents.defaults.heartbeat.activeHours.start", "08:00", "activeHours.end must be"),
        (
            "agents.defaults.heartbeat.activeHours",
            {"start": "08:00", "end": "20:00", "timezone": "Mars/Olympus"},
            "is not a time zone",
        ),
        ("agents.defaults.heartbeat", "30m", "heartbeat takes an object"),
        ("agents.list[0].heartbeat.every", "x", r"agents\.list\[0\]\.heartbeat\.every: "),
        ("agents.list[5].heartbeat.every", "1h", r"agents\.list\[5\] does not exist"),
    ],
)
def test_bad_heartbeat_config_is_refused_and_changes_nothing(
    heartbeat_job: CronJob, path: str, value: Any, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        config_set(path, value)

    assert heartbeat_settings().defaults is None
    assert Agent.objects.get(slug="main").heartbeat is None
    job = job_of("main")
    assert (job.enabled, job.every_ms, job.next_run_at) == (
        True,
        HALF_HOUR_MS,
        heartbeat_job.next_run_at,
    )


def test_config_patch_sets_active_hours_start_and_end_together(heartbeat_job: CronJob) -> None:
    changed = config_patch(
        {"agents": {"defaults": {"heartbeat": {"activeHours": {"start": "08:00", "end": "20:00"}}}}}
    )

    assert sorted(changed) == [
        "agents.defaults.heartbeat.activeHours.end",
        "agents.defaults.heartbeat.activeHours.start",
    ]
    assert heartbeat_settings().defaults == {"activeHours": {"start": "08:00", "end": "20:00"}}
    assert heartbeat_jobs() == ["heartbeat-main"]
    # A patch that would leave the block broken is refused whole.
    with pytest.raises(ConfigError, match=r"activeHours\.end must be a time"):
        config_patch({"agents": {"defaults": {"heartbeat": {"activeHours": {"end": "25:00"}}}}})
    assert heartbeat_settings().defaults == {"activeHours": {"start": "08:00", "end": "20:00"}}


def test_config_patch_of_an_agents_own_block(heartbeat_job: CronJob) -> None:
    Agent.objects.create(slug="ops", name="Ops")

    changed = config_patch({"agents": {"list": [{"id": "ops", "heartbeat": {"every": "1h"}}]}})

    assert changed == ["agents.list[id=ops].heartbeat.every"]
    assert Agent.objects.get(slug="ops").heartbeat == {"every": "1h"}
    assert heartbeat_jobs() == ["heartbeat-ops"]
    assert job_of("ops").every_ms == 3_600_000


# --- runs that skip --------------------------------------------------------------------------
def test_outside_active_hours_the_run_is_skipped_without_an_event(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat.activeHours", window_without_now())

    with django_capture_on_commit_callbacks(execute=True):
        run = heartbeat_due()

    assert (run.status, run.summary, run.heartbeat) == ("skipped", "quiet-hours", None)
    assert not Run.objects.exists()
    assert model.calls == 0
    assert heartbeat_events(cron_events) == []  # OpenClaw emits none for quiet hours
    assert heartbeat_last_event() is None


def test_skips_are_not_failures_and_keep_the_job_on_its_grid(
    heartbeat_job: CronJob, workspace_dir: Path, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat.activeHours", window_without_now())

    for _night_slot in range(3):
        assert heartbeat_due().summary == "quiet-hours"

    job = job_of("main")
    assert (job.last_status, job.consecutive_errors, job.last_error) == ("skipped", 0, "")
    assert_anchored(job)  # the next slot, not one pushed back by a failure's back-off


def test_inside_active_hours_the_turn_runs(
    heartbeat_job: CronJob, workspace_dir: Path, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    now = timezone.now()
    config_set(
        "agents.defaults.heartbeat.activeHours",
        {
            "start": (now - timedelta(hours=1)).strftime("%H:%M"),
            "end": (now + timedelta(hours=1)).strftime("%H:%M"),
            "timezone": "UTC",
        },
    )

    run = heartbeat_due()

    assert run.status == "running"
    assert run.run is not None


def test_an_empty_heartbeat_file_skips_without_calling_the_model(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    # A new workspace is seeded with the template: headers and a comment only.
    workspace.workspace_ensure(workspace_dir, agent_id="main")
    assert (workspace_dir / "HEARTBEAT.md").read_text() == workspace.template_text("HEARTBEAT.md")

    with django_capture_on_commit_callbacks(execute=True):
        run = heartbeat_due()

    assert (run.status, run.summary) == ("skipped", "empty-heartbeat-file")
    assert run.heartbeat is not None
    assert {k: v for k, v in run.heartbeat.items() if k != "ts"} == {
        "status": "skipped",
        "reason": "empty-heartbeat-file",
    }
    assert not Run.objects.exists()
    assert not Message.objects.exists()
    assert model.calls == 0
    assert heartbeat_events(cron_events) == [run.heartbeat]
    assert heartbeat_last_event() == run.heartbeat


def test_set_heartbeats_off_skips_as_disabled(
    heartbeat_job: CronJob, workspace_dir: Path, model: Model, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    cron.heartbeat_set_enabled(enabled=False)
    assert HeartbeatSettings.objects.get().enabled is False

    run = heartbeat_due()

    assert (run.status, run.summary) == ("skipped", "disabled")
    assert not Run.objects.exists()
    assert model.calls == 0
    cron.heartbeat_set_enabled(enabled=True)
    assert heartbeat_settings().enabled is True


def test_a_busy_main_session_skips_and_tries_again_in_10_seconds(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    users = runs.run_start(session_key=MAIN_KEY, message="hi", idempotency_key="user-1").run

    with django_capture_on_commit_callbacks(execute=True):
        run = heartbeat_due()

    assert (run.status, run.summary) == ("skipped", "requests-in-flight")
    assert run.heartbeat is not None
    assert run.heartbeat["reason"] == "requests-in-flight"
    assert list(Run.objects.values_list("pk", flat=True)) == [users.pk]  # no heartbeat turn
    job = job_of("main")
    assert job.next_run_at is not None
    # Tried again shortly (OpenClaw: "requests-in-flight" retries soon), not a slot later...
    assert job.next_run_at <= timezone.now() + timedelta(seconds=11)
    # ...and a skip is not a failure.
    assert (job.last_status, job.consecutive_errors) == ("skipped", 0)


# --- runs that run ---------------------------------------------------------------------------
def test_a_heartbeat_file_with_an_item_starts_a_turn_in_the_main_session(
    heartbeat_job: CronJob, workspace_dir: Path, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)

    run = heartbeat_due()

    assert run.status == "running"
    assert run.run is not None
    turn = run.run
    assert (turn.origin, turn.session.key, turn.status) == ("heartbeat", MAIN_KEY, "queued")
    assert turn.run_id == f"cron:{run.public_id}"
    assert turn.reply_to == {}  # target none
    prompt = Message.objects.get(run_public_id=turn.public_id, role="user")
    assert prompt.text == rules.DEFAULT_PROMPT
    assert run.session_key == MAIN_KEY


def test_a_missing_heartbeat_file_runs_the_turn(
    heartbeat_job: CronJob, workspace_dir: Path, cron_sent: Sent
) -> None:
    run = heartbeat_due()
    assert run.run is not None
    assert run.run.origin == "heartbeat"


def test_a_configured_prompt_is_the_turns_message(
    heartbeat_job: CronJob, workspace_dir: Path, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat.prompt", "Check the inbox. Reply HEARTBEAT_OK if quiet.")

    run = heartbeat_due()

    assert run.run is not None
    assert Message.objects.get(run_public_id=run.run.public_id, role="user").text == (
        "Check the inbox. Reply HEARTBEAT_OK if quiet."
    )


@pytest.mark.parametrize(
    "reply",
    [
        "HEARTBEAT_OK",
        "**HEARTBEAT_OK**",
        "HEARTBEAT_OK.",
        "Checked the build server: nothing new. HEARTBEAT_OK",
    ],
)
def test_an_acknowledgement_is_never_delivered_to_the_chat(
    reply: str,
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat", {"target": "telegram", "to": "123"})
    model.replies.append(reply)

    run = heartbeat_due()
    assert run.run is not None
    assert run.run.reply_to == {
        "channel": "telegram",
        "accountId": "default",
        "chatId": "123",
        "ackMaxChars": 300,
    }
    run = turn_ends(run, django_capture_on_commit_callbacks)

    assert model.calls == 1
    # Not in the outbox: nothing reaches the Telegram chat.
    assert not OutboundMessage.objects.exists()
    assert run.status == "ok"
    assert run.delivery_status != "delivered"
    assert run.heartbeat is not None
    assert (run.heartbeat["status"], run.heartbeat["silent"]) == ("ok-token", True)
    assert heartbeat_events(cron_events) == [run.heartbeat]
    # The chat final carries no message for the acknowledgement (nor any delta).
    chat = [p for e, p in cron_events if e == "chat" and p["sessionKey"] == MAIN_KEY]
    finals = [p for p in chat if p["state"] == "final"]
    assert len(finals) == 1
    assert "message" not in finals[0]
    if reply == "HEARTBEAT_OK":
        assert [p for p in chat if p["state"] == "delta"] == []
    cron_finished = [p for e, p in cron_events if e == "cron" and p["action"] == "finished"]
    assert cron_finished[-1]["delivered"] is False


def test_no_reply_is_ok_empty_and_not_delivered(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat", {"target": "telegram", "to": "123"})
    model.replies.append("NO_REPLY")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    assert run.heartbeat is not None
    assert run.heartbeat["status"] == "ok-empty"
    assert not OutboundMessage.objects.exists()


def test_an_alert_goes_to_the_target_chat(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    cron_events: Published,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat", {"target": "telegram", "to": "123"})
    model.replies.append("Disk almost full")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    assert run.run is not None
    (out,) = OutboundMessage.objects.all()
    assert (out.account_id, out.chat_id, out.text) == (telegram.pk, "123", "Disk almost full")
    assert out.dedupe_key == f"run:{run.run.public_id}:reply"
    assert (run.status, run.delivery_status) == ("ok", "delivered")
    assert run.heartbeat is not None
    assert {k: v for k, v in run.heartbeat.items() if k not in ("ts", "durationMs")} == {
        "status": "sent",
        "to": "123",
        "accountId": "default",
        "channel": "telegram",
        "preview": "Disk almost full",
        "silent": False,
        "indicatorType": "alert",
    }
    assert heartbeat_events(cron_events) == [run.heartbeat]
    final = [p for e, p in cron_events if e == "chat" and p["state"] == "final"]
    assert final[0]["message"]["content"][0]["text"] == "Disk almost full"


def test_an_alert_the_outbox_refuses_is_not_reported_as_sent(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    # No Telegram account is configured: the turn's ending cannot queue the alert.
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat", {"target": "telegram", "to": "123"})
    model.replies.append("Disk almost full")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    assert not OutboundMessage.objects.exists()
    assert run.delivery_status != "delivered"
    assert run.heartbeat is not None
    assert run.heartbeat["status"] != "sent"


def test_a_long_note_after_the_token_is_delivered_without_it(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat", {"target": "telegram", "to": "123", "ackMaxChars": 10})
    model.replies.append("HEARTBEAT_OK but the disk is 97% full")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    (out,) = OutboundMessage.objects.all()
    assert out.text == "but the disk is 97% full"
    assert run.heartbeat is not None
    assert run.heartbeat["status"] == "sent"


def test_an_alert_with_target_none_is_skipped_as_no_target(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    model.replies.append("Disk almost full")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    assert not OutboundMessage.objects.exists()
    assert run.status == "ok"
    assert run.heartbeat is not None
    assert (run.heartbeat["status"], run.heartbeat["reason"], run.heartbeat["preview"]) == (
        "skipped",
        "no-target",
        "Disk almost full",
    )


def test_target_last_is_the_agents_last_chat(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    telegram: ChannelAccount,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    Session.objects.create(
        key="agent:main:telegram:direct:7", agent_slug="main", channel="telegram",
        peer_kind="direct", peer_id="7", last_activity_at=NOW,
        origin={"channel": "telegram", "accountId": "default", "chatId": "7"},
    )  # fmt: skip
    config_set("agents.defaults.heartbeat.target", "last")
    model.replies.append("The build is red")

    run = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    (out,) = OutboundMessage.objects.all()
    assert (out.chat_id, out.text) == ("7", "The build is red")
    assert run.heartbeat is not None
    assert (run.heartbeat["status"], run.heartbeat["to"]) == ("sent", "7")


def test_a_failed_turn_is_a_failed_event(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    run = heartbeat_due()
    assert run.run is not None
    end_turn(run.run, status=Run.Status.FAILED)

    with django_capture_on_commit_callbacks(execute=True):
        cron.cron_reconcile()

    run.refresh_from_db()
    assert run.status == "error"
    assert run.heartbeat is not None
    assert (run.heartbeat["status"], run.heartbeat["reason"]) == ("failed", "provider down")


def test_last_heartbeat_is_the_latest_event(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    assert heartbeat_last_event() is None
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    model.replies.append("HEARTBEAT_OK")
    first = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)
    assert first.heartbeat is not None
    assert heartbeat_last_event() == first.heartbeat
    assert first.heartbeat["status"] == "ok-token"

    (workspace_dir / "HEARTBEAT.md").write_text("# HEARTBEAT.md\n")
    second = heartbeat_due()

    assert second.heartbeat is not None
    assert heartbeat_last_event() == second.heartbeat
    assert second.heartbeat["reason"] == "empty-heartbeat-file"


# --- review fixes ----------------------------------------------------------------------
def test_a_users_message_is_never_merged_into_a_heartbeat_turn(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    model: Model,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    model.replies += ["HEARTBEAT_OK", "Hello to you too."]
    heartbeat = heartbeat_due()
    assert heartbeat.run is not None
    # A DM reaches the main session (dmScope main) while the heartbeat is still queued.
    user = runs.run_start(session_key=MAIN_KEY, message="hello?", idempotency_key="dm-1").run

    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=heartbeat.run.pk)
    assert Run.objects.get(pk=user.pk).status == Run.Status.QUEUED  # not merged, still waiting
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=user.pk)

    assert Run.objects.get(pk=heartbeat.run.pk).status == Run.Status.SUCCEEDED
    assert Run.objects.get(pk=user.pk).status == Run.Status.SUCCEEDED
    assert model.calls == 2  # each answered by its own turn


def test_a_config_change_during_a_heartbeat_keeps_the_job_on(
    heartbeat_job: CronJob,
    workspace_dir: Path,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    run = heartbeat_due()
    assert run.run is not None

    config_set("agents.defaults.heartbeat.every", "1h")  # while its turn runs
    end_turn(run.run, reply="HEARTBEAT_OK")
    with django_capture_on_commit_callbacks(execute=True):
        assert cron.cron_reconcile() == 1

    job = job_of("main")
    assert (job.enabled, job.every_ms, job.running_at) == (True, 3_600_000, None)
    assert job.next_run_at is not None
    assert job.next_run_at > timezone.now()


@pytest.mark.parametrize("every", ["300000000d", "100000000000000000000d", "30s"])
def test_an_every_out_of_range_is_refused(heartbeat_job: CronJob, every: str) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        config_set("agents.defaults.heartbeat.every", every)
    assert heartbeat_settings().defaults is None


def test_sync_twice_changes_nothing(heartbeat_job: CronJob) -> None:
    assert cron.heartbeat_jobs_sync() == []
    assert job_of("main").updated_at == heartbeat_job.updated_at


def test_the_admin_deletes_an_agent_with_its_heartbeat_job(
    heartbeat_job: CronJob, admin_client: Any
) -> None:
    ops = Agent.objects.create(slug="ops", name="Ops")
    config_set("agents.list[1].heartbeat.every", "1h")
    url = f"/admin/agents/agent/{ops.pk}/delete/"

    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"protected" not in page.content
    assert b"permission" not in page.content
    assert admin_client.post(url, {"post": "yes"}).status_code == 302

    assert not Agent.objects.filter(slug="ops").exists()
    assert heartbeat_jobs() == ["heartbeat-main"]  # back to the default agent


def test_the_admin_runs_a_heartbeat_job_now(
    heartbeat_job: CronJob, admin_client: Any, workspace_dir: Path, cron_sent: Sent
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    response = admin_client.post(
        "/admin/agents/cronjob/",
        {"action": "run_now", "_selected_action": [heartbeat_job.pk]},
        follow=True,
    )
    assert b"1 started" in response.content
    assert CronRun.objects.filter(job=heartbeat_job, trigger="manual").count() == 1


# --- heartbeat.model: the model of the heartbeat turn only -------------------------------------
@pytest.fixture
def llm(settings: Any) -> Iterator[FakeOpenAIServer]:
    """The real fake OpenAI server, with two models configured; the agent's is the first."""
    with FakeOpenAIServer() as fake:
        settings.OPENAI_API_KEY = "sk-test-openai-0123456789abcdef"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API = "chat"
        settings.OPENAI_MODELS = ["gpt-4o-mini", "gpt-4.1-mini"]
        settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
        settings.OPENCLAW_MODEL_FALLBACKS = []
        settings.ANTHROPIC_API_KEY = ""
        yield fake


def asked_models(llm: FakeOpenAIServer) -> list[str]:
    return [str(request.body["model"]) for request in llm.requests]


@pytest.mark.parametrize(
    ("users_choice", "users_model"),
    [("", "gpt-4o-mini"), ("openai/gpt-4o", "gpt-4o")],
    ids=["agent-model", "session-model"],
)
def test_heartbeat_model_is_used_for_the_heartbeat_turn_only(
    users_choice: str,
    users_model: str,
    heartbeat_job: CronJob,
    workspace_dir: Path,
    llm: FakeOpenAIServer,
    cron_sent: Sent,
    django_capture_on_commit_callbacks: Capture,
) -> None:
    (workspace_dir / "HEARTBEAT.md").write_text(A_REAL_ITEM)
    config_set("agents.defaults.heartbeat.model", "openai/gpt-4.1-mini")
    if users_choice:  # the user's /model in the main session
        session_patch(key=MAIN_KEY, changes={"model_override": users_choice})
    llm.script(Text("HEARTBEAT_OK"), Text("Hello again."))

    heartbeat = turn_ends(heartbeat_due(), django_capture_on_commit_callbacks)

    assert heartbeat.run is not None
    assert (heartbeat.run.model_override, heartbeat.run.model) == (
        "openai/gpt-4.1-mini",
        "openai/gpt-4.1-mini",
    )
    assert heartbeat.model == "openai/gpt-4.1-mini"  # cron.runs shows it
    assert (heartbeat.heartbeat or {}).get("status") == "ok-token"
    assert asked_models(llm) == ["gpt-4.1-mini"]
    assert Session.objects.get(key=MAIN_KEY).model_override == users_choice

    # The user's next turn in the same session is on the session's / agent's model again.
    user = runs.run_start(session_key=MAIN_KEY, message="hello?", idempotency_key="dm-1").run
    with django_capture_on_commit_callbacks(execute=True):
        run_loop.run_advance(run_pk=user.pk)

    user.refresh_from_db()
    assert user.status == Run.Status.SUCCEEDED, user.error_message
    assert (user.model_override, user.model) == ("", users_choice or "openai/gpt-4o-mini")
    assert asked_models(llm) == ["gpt-4.1-mini", users_model]
    assert Session.objects.get(key=MAIN_KEY).model_override == users_choice
