"""The ``cron.*`` methods: OpenClaw's params and answers, good and bad input, the event."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from pydantic import ValidationError

from agents.models import Agent, CronJob, CronRun
from agents.services import cron as cron_service
from agents.tests.cron_fixtures import Published, Sent
from gateway import scopes as gw_scopes
from gateway.methods import REGISTRY, advertised_methods
from gateway.methods.registry import CallContext, MethodError

pytestmark = pytest.mark.django_db
Capture = Callable[..., Any]
# What `openclaw cron add --name N --every 1h --system-event TEXT` sends (2026.9.6).
CLI_ADD = {
    "name": "inbox",
    "enabled": True,
    "schedule": {"kind": "every", "everyMs": 3_600_000},
    "sessionTarget": "main",
    "wakeMode": "now",
    "payload": {"kind": "systemEvent", "text": "check the inbox"},
}


def call(name: str, params: dict[str, Any] | None = None) -> Any:
    method = REGISTRY[name]
    parsed = method.params.model_validate(params or {})
    context = CallContext(
        conn_id="c",
        role="operator",
        scopes=frozenset({gw_scopes.ADMIN}),
        client_id="cli",
        client_mode="cli",
        device_id=None,
        caps=frozenset(),
    )
    if method.is_async:
        return asyncio.run(method.handler(context, parsed))
    return method.handler(context, parsed)


def test_the_cron_methods_are_advertised_with_openclaws_scopes() -> None:
    assert {
        name: REGISTRY[name].scope
        for name in ("cron.list", "cron.status", "cron.get", "cron.runs", "cron.add", "cron.run")
    } == {
        "cron.list": gw_scopes.READ,
        "cron.status": gw_scopes.READ,
        "cron.get": gw_scopes.READ,
        "cron.runs": gw_scopes.READ,
        "cron.add": gw_scopes.ADMIN,
        "cron.run": gw_scopes.ADMIN,
    }
    assert REGISTRY["cron.update"].scope == REGISTRY["cron.remove"].scope == gw_scopes.ADMIN
    assert {"cron.add", "cron.update", "cron.remove", "cron.run", "cron.get"} <= set(
        advertised_methods()
    )


def test_add_answers_the_job_and_announces_it(
    cron_agent: Agent, cron_events: Published, django_capture_on_commit_callbacks: Capture
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = call("cron.add", CLI_ADD)

    assert job["name"] == "inbox"
    assert job["schedule"]["kind"] == "every"
    assert job["schedule"]["everyMs"] == 3_600_000
    assert (job["sessionTarget"], job["wakeMode"], job["payload"]) == (
        "main",
        "now",
        CLI_ADD["payload"],
    )
    assert job["state"]["nextRunAtMs"] == job["schedule"]["anchorMs"] + 3_600_000
    assert cron_events == [
        (
            "cron",
            {"jobId": job["id"], "action": "added", "nextRunAtMs": job["state"]["nextRunAtMs"]},
        )
    ]
    assert call("cron.get", {"id": job["id"]}) == job
    assert call("cron.list")["jobs"] == [job]
    assert call("cron.status")["jobs"] == 1


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schedule": {"kind": "cron", "expr": "every day"}}, "is not a cron expression"),
        ({"schedule": {"kind": "cron", "expr": "0 9 * * *", "tz": "Atlantis/Capital"}}, "IANA"),
        ({"schedule": {"kind": "every", "everyMs": 0}}, "everyMs must be between"),
        ({"schedule": {"kind": "at", "at": "2001-01-01T00:00:00Z"}}, "in the past"),
        ({"payload": {"kind": "agentTurn", "message": "x"}}, "main job injects a systemEvent"),
        ({"name": ""}, "name is required"),
        ({"agentId": "nobody"}, "unknown agent id"),
    ],
)
def test_add_refuses_bad_jobs_and_stores_nothing(
    cron_agent: Agent, change: dict[str, Any], message: str
) -> None:
    with pytest.raises(MethodError, match=rf"invalid cron\.add params: .*{message}"):
        call("cron.add", {**CLI_ADD, **change})
    assert not CronJob.objects.exists()


def test_get_update_and_remove_by_id_or_job_id(cron_agent: Agent) -> None:
    job_id = call("cron.add", CLI_ADD)["id"]

    updated = call("cron.update", {"jobId": job_id, "patch": {"enabled": False, "name": "x"}})
    assert (updated["name"], updated["enabled"], "nextRunAtMs" in updated["state"]) == (
        "x",
        False,
        False,
    )
    assert call("cron.list")["jobs"] == []
    assert call("cron.list", {"includeDisabled": True})["total"] == 1
    assert call("cron.remove", {"id": job_id}) == {"ok": True, "removed": True}
    assert call("cron.remove", {"id": job_id}) == {"ok": True, "removed": False}


def test_bad_ids_and_patches_are_refused_clearly(cron_agent: Agent) -> None:
    job_id = call("cron.add", CLI_ADD)["id"]
    missing = str(uuid.uuid4())

    with pytest.raises(MethodError, match=f"cron job not found: {missing}"):
        call("cron.get", {"id": missing})
    with pytest.raises(MethodError, match="missing id"):
        call("cron.get")
    with pytest.raises(MethodError, match="cron job not found"):
        call("cron.update", {"id": missing, "patch": {"name": "x"}})
    with pytest.raises(MethodError, match=r"invalid cron\.update params: wakeMode"):
        call("cron.update", {"id": job_id, "patch": {"wakeMode": "soon"}})
    with pytest.raises(ValidationError):
        call("cron.update", {"id": job_id})  # no patch
    with pytest.raises(MethodError, match="missing id"):
        call("cron.remove", {})
    with pytest.raises(ValidationError):
        call("cron.run", {"id": job_id, "mode": "now"})


def test_run_enqueues_once_and_says_why_not_otherwise(
    cron_agent: Agent, cron_sent: Sent, django_capture_on_commit_callbacks: Capture
) -> None:
    job_id = call("cron.add", CLI_ADD)["id"]

    assert call("cron.run", {"id": job_id, "mode": "due"}) == {
        "ok": True,
        "ran": False,
        "reason": "not-due",
    }
    with django_capture_on_commit_callbacks(execute=True):
        answer = call("cron.run", {"id": job_id})
    run = CronRun.objects.get()
    assert answer == {"ok": True, "ran": True, "enqueued": True, "runId": str(run.public_id)}
    assert cron_sent == [(cron_service.CRON_RUN_TASK, run.pk)]
    assert call("cron.run", {"jobId": job_id})["reason"] == "already-running"
    with pytest.raises(MethodError, match="cron job not found"):
        call("cron.run", {"id": str(uuid.uuid4())})


def _finished(job: CronJob, status: str, *, minutes_ago: int, **fields: Any) -> CronRun:
    ended = timezone.now() - timedelta(minutes=minutes_ago)
    return CronRun.objects.create(
        job=job,
        job_public_id=job.public_id,
        job_name=job.name,
        agent_slug="main",
        status=status,
        scheduled_for=ended - timedelta(seconds=3),
        started_at=ended - timedelta(seconds=3),
        finished_at=ended,
        created_at=ended - timedelta(seconds=3),
        **fields,
    )


def test_runs_pages_the_finished_runs_in_openclaws_shape(cron_agent: Agent) -> None:
    job = cron_service.cron_add(job=CLI_ADD)
    ok = _finished(job, "ok", minutes_ago=10, summary="3 new mails", model="openai/gpt-4o-mini")
    failed = _finished(
        job, "error", minutes_ago=5, error="provider timed out", delivery_status="not-delivered"
    )
    CronRun.objects.create(
        job=job, job_public_id=job.public_id, job_name=job.name, scheduled_for=timezone.now()
    )  # queued: not history yet
    job_id = str(job.public_id)

    page = call("cron.runs", {"id": job_id})
    assert [e["runId"] for e in page["entries"]] == [str(failed.public_id), str(ok.public_id)]
    assert (page["total"], page["offset"], page["hasMore"], page["nextOffset"]) == (
        2,
        0,
        False,
        None,
    )
    first = page["entries"][0]
    assert (first["jobId"], first["jobName"], first["action"], first["status"]) == (
        job_id,
        "inbox",
        "finished",
        "error",
    )
    assert (first["error"], first["durationMs"], first["deliveryStatus"]) == (
        "provider timed out",
        3000,
        "not-delivered",
    )
    assert first["ts"] - first["runAtMs"] == 3000
    second = page["entries"][1]
    assert (second["summary"], second["provider"], second["delivered"]) == (
        "3 new mails",
        "openai",
        False,
    )
    assert [
        e["status"] for e in call("cron.runs", {"scope": "all", "statuses": ["ok"]})["entries"]
    ] == ["ok"]
    assert call("cron.runs", {"jobId": job_id, "status": "error"})["total"] == 1
    assert call("cron.runs", {"id": job_id, "deliveryStatus": "not-delivered"})["total"] == 1
    assert call("cron.runs", {"scope": "all", "query": "TIMED OUT"})["total"] == 1
    assert call("cron.runs", {"id": job_id, "runId": str(ok.public_id)})["total"] == 1
    assert call("cron.runs", {"id": job_id, "runId": "not-a-run"})["entries"] == []
    paged = call("cron.runs", {"scope": "all", "limit": 1, "sortDir": "asc"})
    assert (paged["entries"][0]["runId"], paged["hasMore"], paged["nextOffset"]) == (
        str(ok.public_id),
        True,
        1,
    )
    assert call("cron.runs", {"scope": "all", "agentId": "someone-else"})["entries"] == []
    # The history outlives the job.
    call("cron.remove", {"id": job_id})
    assert call("cron.runs", {"id": job_id})["total"] == 2


def test_runs_refuses_bad_params_clearly() -> None:
    with pytest.raises(MethodError, match=r"invalid cron\.runs params: missing id"):
        call("cron.runs", {"scope": "job"})
    with pytest.raises(MethodError, match=r"Automation not found: nope"):
        call("cron.runs", {"id": "nope"})
    with pytest.raises(MethodError, match="Automation not found"):
        call("cron.runs", {"id": str(uuid.uuid4())})
    for bad in (
        {"id": "a/b"},
        {"limit": 0},
        {"limit": 201},
        {"statuses": ["done"]},
        {"deliveryStatus": "x"},
    ):
        with pytest.raises(ValidationError):
            call("cron.runs", bad)


def test_status_says_whether_jobs_start_on_their_own(cron_agent: Agent, settings: Any) -> None:
    call("cron.add", CLI_ADD)
    status = call("cron.status")
    assert (status["enabled"], status["jobs"]) == (True, 1)
    assert status["nextWakeAtMs"] == call("cron.list")["jobs"][0]["state"]["nextRunAtMs"]

    settings.CRON_ENABLED = False  # OPENCLAW_SKIP_CRON=1
    assert call("cron.status")["enabled"] is False
