"""Heartbeats over the gateway: ``last-heartbeat``, ``set-heartbeats``, the heartbeat job in
``cron.list`` (OpenClaw's captured row), ``health``/``status`` and the config methods."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from agents.heartbeat_selectors import heartbeat_settings
from agents.lib import heartbeat as rules
from agents.models import Agent, CronJob, CronRun
from agents.services import cron as cron_service
from agents.services.config import config_set
from agents.services.cron.heartbeat import PHASE_SEED
from gateway import scopes as gw_scopes
from gateway.calls import method_resolve
from gateway.frames import ErrorCode
from gateway.methods import REGISTRY, advertised_methods
from gateway.methods.registry import MethodError
from gateway.selectors import health_summary
from gateway.tests.test_methods_catalog import call, captured

pytestmark = pytest.mark.django_db
HALF_HOUR_MS = 1_800_000
ADMIN = frozenset({gw_scopes.ADMIN})


@pytest.fixture
def heartbeat_job(cron_agent: Agent) -> CronJob:
    """The default agent ``main`` and its heartbeat, as the gateway's start makes them."""
    cron_service.heartbeat_jobs_sync()
    return CronJob.objects.get(declaration_key="heartbeat:main")


def captured_heartbeat_row() -> dict[str, Any]:
    """The heartbeat job of OpenClaw 2026.9's compact ``cron.list`` (captured frames)."""
    _params, page = captured("cron.list")
    (job,) = (j for j in page["jobs"] if j.get("declarationKey") == "heartbeat:main")
    return dict(job)


# --- the methods ---------------------------------------------------------------------------
def test_the_heartbeat_methods_are_advertised_with_openclaws_scopes() -> None:
    assert REGISTRY["last-heartbeat"].scope == gw_scopes.READ
    assert REGISTRY["set-heartbeats"].scope == gw_scopes.required_scope("set-heartbeats")
    assert {"last-heartbeat", "set-heartbeats"} <= set(advertised_methods())


def test_last_heartbeat_is_null_then_the_last_event(heartbeat_job: CronJob) -> None:
    assert call("last-heartbeat") is None

    now = timezone.now()
    for ts, status in ((1, "ok-token"), (2, "sent")):
        CronRun.objects.create(
            job=heartbeat_job, job_public_id=heartbeat_job.public_id, job_name=heartbeat_job.name,
            status="ok", scheduled_for=now, finished_at=now + timedelta(seconds=ts),
            heartbeat={"ts": ts, "status": status},
        )  # fmt: skip
    CronRun.objects.create(  # a later run of another job: not a heartbeat
        job_public_id=heartbeat_job.public_id, job_name="digest", status="ok",
        scheduled_for=now, finished_at=now + timedelta(seconds=9),
    )  # fmt: skip

    assert call("last-heartbeat") == {"ts": 2, "status": "sent"}


def test_set_heartbeats_turns_them_off_and_on(heartbeat_job: CronJob) -> None:
    assert call("set-heartbeats", {"enabled": False}) == {"ok": True, "enabled": False}
    assert heartbeat_settings().enabled is False
    assert call("set-heartbeats", {"enabled": True}) == {"ok": True, "enabled": True}
    assert heartbeat_settings().enabled is True


@pytest.mark.parametrize("params", [{"enabled": "no"}, {}, {"enabled": 1}, {"enabled": None}])
def test_set_heartbeats_refuses_params_without_a_boolean_enabled(params: dict[str, Any]) -> None:
    with pytest.raises(MethodError) as refused:
        method_resolve("set-heartbeats", params, role="operator", scopes=ADMIN)
    assert refused.value.code == ErrorCode.INVALID_REQUEST
    assert refused.value.message.startswith("invalid set-heartbeats params: ")
    assert "enabled" in refused.value.message


def test_set_heartbeats_needs_more_than_read() -> None:
    with pytest.raises(MethodError, match="missing scope"):
        method_resolve(
            "set-heartbeats",
            {"enabled": False},
            role="operator",
            scopes=frozenset({gw_scopes.READ}),
        )


# --- cron.list ---------------------------------------------------------------------------
def test_cron_list_shows_the_heartbeat_job(heartbeat_job: CronJob) -> None:
    (job,) = call("cron.list")["jobs"]

    phase = rules.phase_ms(PHASE_SEED, "main", HALF_HOUR_MS)
    assert job["id"] == str(heartbeat_job.public_id)
    assert (job["name"], job["agentId"], job["enabled"]) == ("heartbeat-main", "main", True)
    assert (job["declarationKey"], job["displayName"]) == ("heartbeat:main", "Heartbeat (main)")
    assert "description" not in job
    assert job["schedule"] == {"kind": "every", "everyMs": HALF_HOUR_MS, "anchorMs": phase}
    assert job["payload"] == {"kind": "heartbeat"}
    assert job["sessionTarget"] == "main"
    assert job["state"]["nextRunAtMs"] % HALF_HOUR_MS == phase
    assert call("cron.get", {"id": job["id"]}) == job


def test_compact_cron_list_has_openclaws_heartbeat_row(heartbeat_job: CronJob) -> None:
    (row,) = call("cron.list", {"compact": True})["jobs"]

    real = captured_heartbeat_row()
    assert set(row) == set(real)
    assert {k: row[k] for k in ("name", "agentId", "declarationKey", "displayName")} == {
        "name": "heartbeat-main",
        "agentId": "main",
        "declarationKey": "heartbeat:main",
        "displayName": "Heartbeat (main)",
    }
    assert (row["scheduleKind"], row["effectiveAgentId"], row["enabled"]) == ("every", "main", True)
    assert row["schedule"]["everyMs"] == real["schedule"]["everyMs"] == HALF_HOUR_MS
    assert row["nextRunAtMs"] % HALF_HOUR_MS == row["schedule"]["anchorMs"]
    json.dumps(row)


def test_a_disabled_heartbeat_is_listed_only_with_the_disabled(heartbeat_job: CronJob) -> None:
    config_set("agents.defaults.heartbeat.every", "0m")

    assert call("cron.list")["jobs"] == []
    (job,) = call("cron.list", {"includeDisabled": True})["jobs"]
    assert (job["name"], job["enabled"]) == ("heartbeat-main", False)


def test_cron_remove_and_update_refuse_the_heartbeat_job(heartbeat_job: CronJob) -> None:
    job_id = str(heartbeat_job.public_id)

    with pytest.raises(MethodError, match="heartbeat-main is the heartbeat of agent main"):
        call("cron.remove", {"id": job_id})
    with pytest.raises(MethodError, match=r"agents\.defaults\.heartbeat\.every"):
        call("cron.update", {"id": job_id, "patch": {"enabled": False}})

    assert CronJob.objects.get(pk=heartbeat_job.pk).enabled


# --- health and status -------------------------------------------------------------------
# ``health`` answers the cached ``health_summary()``, built on the database thread (another
# connection, which does not see a test's rolled-back rows): the summary is called here.
def test_health_reports_the_default_agents_heartbeat(heartbeat_job: CronJob) -> None:
    health = health_summary()

    assert health["heartbeatSeconds"] == 1800
    assert health["agents"][0]["agentId"] == "main"
    assert health["agents"][0]["heartbeat"] == {
        "enabled": True,
        "every": "30m",
        "everyMs": HALF_HOUR_MS,
        "prompt": rules.DEFAULT_PROMPT,
        "target": "none",
        "ackMaxChars": 300,
    }
    _params, real = captured("health")
    assert set(health["agents"][0]["heartbeat"]) == set(real["agents"][0]["heartbeat"])


def test_health_shows_an_agent_without_a_heartbeat_as_disabled(heartbeat_job: CronJob) -> None:
    Agent.objects.create(slug="ops", name="Ops")
    config_set("agents.list[1].heartbeat.every", "1h")  # only ops runs one now

    health = health_summary()
    by_agent = {a["agentId"]: a["heartbeat"] for a in health["agents"]}
    assert (by_agent["main"]["enabled"], by_agent["main"]["everyMs"]) == (False, None)
    assert (by_agent["ops"]["enabled"], by_agent["ops"]["every"]) == (True, "1h")
    assert health["heartbeatSeconds"] == 0  # the default agent runs none


def test_status_has_the_heartbeat_block(heartbeat_job: CronJob) -> None:
    Agent.objects.create(slug="ops", name="Ops")

    assert call("status")["heartbeat"] == {
        "defaultAgentId": "main",
        "agents": [
            {"agentId": "main", "enabled": True, "every": "30m", "everyMs": HALF_HOUR_MS},
            {"agentId": "ops", "enabled": False, "every": "disabled", "everyMs": None},
        ],
    }


# --- the config methods -------------------------------------------------------------------
def test_config_patch_of_the_heartbeat_defaults(heartbeat_job: CronJob) -> None:
    raw = (
        "{agents: {defaults: {heartbeat: "
        "{every: '1h', activeHours: {start: '08:00', end: '20:00'}}}}}"  # JSON5
    )
    answer = call("config.patch", {"raw": raw, "baseHash": call("config.get")["hash"]})

    assert answer["ok"]
    assert answer["config"]["agents"]["defaults"]["heartbeat"] == {
        "every": "1h",
        "activeHours": {"start": "08:00", "end": "20:00"},
    }
    job = CronJob.objects.get(pk=heartbeat_job.pk)
    assert (job.every_ms, job.enabled) == (3_600_000, True)
    assert health_summary()["heartbeatSeconds"] == 3600

    with pytest.raises(MethodError, match="'often' is not a duration"):
        call(
            "config.patch",
            {
                "raw": "{agents: {defaults: {heartbeat: {every: 'often'}}}}",
                "baseHash": call("config.get")["hash"],
            },
        )
    assert heartbeat_settings().defaults == {
        "every": "1h",
        "activeHours": {"start": "08:00", "end": "20:00"},
    }
