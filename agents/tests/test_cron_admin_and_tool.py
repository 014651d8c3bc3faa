"""The cron admin (save through the service, "Run now"), the ``cron`` tool, and an isolated
job's tool allow-list in the run's place."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from agents.models import Agent, CronJob, CronRun
from agents.providers import ToolCall
from agents.runtime.place import TurnPlace
from agents.services import cron as cron_service
from agents.tests.cron_fixtures import Sent
from agents.tools.base import ToolContext, ToolOutput, execute, registered_tools
from tests.admin_checks import admin_url

pytestmark = pytest.mark.django_db


def _form(agent: Agent, **fields: Any) -> dict[str, Any]:
    data = {
        "name": "digest",
        "description": "",
        "enabled": "on",
        "agent": agent.pk,
        "session_key": "",
        "schedule_kind": CronJob.ScheduleKind.EVERY,
        "every_ms": "60000",
        "tz": "",
        "session_target": CronJob.SessionTarget.ISOLATED,
        "target_session_key": "",
        "wake_mode": CronJob.WakeMode.NOW,
        "payload": '{"kind": "agentTurn", "message": "status"}',
        "delivery": "{}",
        "failure_alert": "{}",
    }
    data.update(fields)
    return data


# --- admin -------------------------------------------------------------------------------
def test_a_job_added_in_the_admin_gets_its_next_run(
    admin_client: Client, cron_agent: Agent
) -> None:
    before = timezone.now()
    response = admin_client.post(admin_url(CronJob, "add"), _form(cron_agent))

    assert response.status_code == 302, response.content.decode()[:2000]
    job = CronJob.objects.get()
    assert job.next_run_at is not None
    assert (
        before + timedelta(seconds=59) <= job.next_run_at <= timezone.now() + timedelta(minutes=1)
    )
    page = admin_client.get(admin_url(CronJob, "change", job.pk)).content.decode()
    assert "Next runs" in page


def test_the_admin_refuses_a_one_shot_in_the_past(admin_client: Client, cron_agent: Agent) -> None:
    response = admin_client.post(
        admin_url(CronJob, "add"),
        _form(cron_agent, schedule_kind="at", every_ms="", at_0="2001-01-01", at_1="00:00:00"),
    )

    assert response.status_code == 200
    assert "in the past" in response.content.decode()
    assert not CronJob.objects.exists()


def test_run_now_claims_each_job_once(
    admin_client: Client, cron_agent: Agent, cron_sent: Sent
) -> None:
    job = cron_service.cron_add(
        job={
            "name": "digest",
            "schedule": {"kind": "every", "everyMs": 3_600_000},
            "payload": {"kind": "agentTurn", "message": "status"},
        }
    )
    url = admin_url(CronJob, "changelist")
    action = {"action": "run_now", "_selected_action": [job.pk]}

    first = admin_client.post(url, action, follow=True).content.decode()
    second = admin_client.post(url, action, follow=True).content.decode()

    assert "1 started, 0 skipped" in first
    assert "0 started, 1 skipped (already running)" in second
    run = CronRun.objects.get()
    assert (run.trigger, run.status, run.job_id) == ("manual", "queued", job.pk)
    assert admin_client.get(admin_url(CronRun, "changelist")).status_code == 200
    assert admin_client.get(admin_url(CronRun, "change", run.pk)).status_code == 200


def test_deleting_in_the_admin_goes_through_the_service(
    admin_client: Client, cron_agent: Agent
) -> None:
    job = CronJob.objects.create(
        name="x",
        schedule_kind="every",
        every_ms=60_000,
        payload={"kind": "agentTurn", "message": "m"},
    )
    response = admin_client.post(admin_url(CronJob, "delete", job.pk), {"post": "yes"})

    assert response.status_code == 302
    assert not CronJob.objects.exists()


# --- the cron tool ---------------------------------------------------------------------------
def tool(tmp_path: Path, **args: Any) -> ToolOutput:
    ctx = ToolContext(
        agent_slug="main",
        session_key="agent:main:telegram:direct:7",
        run_id="r1",
        workspace=tmp_path,
    )
    return execute(ToolCall("c1", "cron", json.dumps(args)), ctx, registered_tools())


def test_the_tool_adds_a_job_for_its_agent_and_session(tmp_path: Path, cron_agent: Agent) -> None:
    out = tool(
        tmp_path,
        action="add",
        job={
            "name": "remind me",
            "schedule": {"kind": "at", "at": "20m"},
            "payload": {"kind": "agentTurn", "message": "stretch"},
            "delivery": {"mode": "announce", "channel": "last"},
        },
    )

    assert not out.is_error, out.content
    job = json.loads(out.content)
    assert (job["agentId"], job["sessionKey"], job["deleteAfterRun"]) == (
        "main",
        "agent:main:telegram:direct:7",
        True,
    )
    listed = json.loads(tool(tmp_path, action="list").content)
    assert [j["id"] for j in listed["jobs"]] == [job["id"]]
    updated = json.loads(
        tool(tmp_path, action="update", job_id=job["id"], patch={"name": "s"}).content
    )
    assert updated["name"] == "s"
    assert json.loads(tool(tmp_path, action="runs", job_id=job["id"]).content)["total"] == 0
    assert json.loads(tool(tmp_path, action="remove", job_id=job["id"]).content)["removed"]


def test_the_tool_runs_a_job_now(tmp_path: Path, cron_agent: Agent, cron_sent: Sent) -> None:
    added = json.loads(
        tool(
            tmp_path,
            action="add",
            job={
                "name": "ping",
                "schedule": {"kind": "every", "everyMs": 60_000},
                "payload": {"kind": "agentTurn", "message": "ping"},
            },
        ).content
    )
    answer = json.loads(tool(tmp_path, action="run", job_id=added["id"]).content)

    assert answer == {"ok": True, "ran": True, "runId": str(CronRun.objects.get().public_id)}
    assert json.loads(tool(tmp_path, action="status").content)["jobs"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"action": "add"}, "needs job"),
        ({"action": "add", "job": {"name": "x"}}, "schedule is required"),
        ({"action": "update", "job_id": "x"}, "needs patch"),
        ({"action": "remove"}, "needs job_id"),
        ({"action": "run", "job_id": "nope"}, "cron job not found: nope"),
        ({"action": "runs", "job_id": "nope"}, "cron job not found: nope"),
        ({"action": "explode"}, "action"),
    ],
)
def test_the_tool_explains_bad_calls(
    tmp_path: Path, cron_agent: Agent, args: dict[str, Any], message: str
) -> None:
    out = tool(tmp_path, **args)

    assert out.is_error
    assert message in out.content


def test_the_tool_is_automation_and_denied_in_the_sandbox() -> None:
    from agents.tools.base import SANDBOX_DEFAULT_DENY, sandbox_tools_allowed, tools_allowed

    cron_tool = registered_tools()["cron"]
    assert cron_tool.group == "automation"
    assert "cron" in SANDBOX_DEFAULT_DENY
    full = tools_allowed(profile="full")
    assert cron_tool in full
    assert cron_tool not in sandbox_tools_allowed(full, allow=("*",))


# --- toolsAllow ----------------------------------------------------------------------------
def test_an_isolated_jobs_tools_allow_narrows_its_turns_tools(cron_agent: Agent) -> None:
    Agent.objects.filter(pk=cron_agent.pk).update(tool_profile="full", sandbox_mode="off")
    cron_agent.refresh_from_db()
    job = cron_service.cron_add(
        job={
            "name": "reader",
            "schedule": {"kind": "every", "everyMs": 60_000},
            "payload": {
                "kind": "agentTurn",
                "message": "m",
                "toolsAllow": ["read", "group:memory"],
            },
        }
    )
    free = cron_service.cron_add(
        job={
            "name": "free",
            "schedule": {"kind": "every", "everyMs": 60_000},
            "payload": {"kind": "agentTurn", "message": "m"},
        }
    )

    def tools(key: str) -> set[str]:
        return set(TurnPlace(agent=cron_agent, session_key=key).tools())

    assert tools(f"agent:main:cron:{job.public_id}") == {"read", "memory_search", "memory_get"}
    assert tools(f"agent:main:cron:{free.public_id}") == tools("agent:main:main")
    assert "exec" in tools("agent:main:main")
