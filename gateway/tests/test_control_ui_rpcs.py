"""The RPCs the pages of OpenClaw's Control UI call: real data where this gateway keeps it,
OpenClaw's empty answers where a feature does not exist, clear errors on bad params."""

# factory_boy declarations are unannotated (as in gateway/tests/factories.py).
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any, cast

import pytest
from django.utils import timezone
from pydantic import ValidationError

from agents.models import Agent, CronJob
from agents.tests.factories import CronJobFactory
from channels_app.lib import account_keys
from gateway import config_service
from gateway import scopes as gw_scopes
from gateway.catalog.schema import config_json_schema
from gateway.methods import REGISTRY, advertised_methods
from gateway.methods.registry import MethodError
from gateway.tests.test_methods_catalog import call, captured, ctx
from pairing.models import PairingRequest
from pairing.tests.factories import PairingRequestFactory
from sessions_app.models import Message, Session
from sessions_app.tests.factories import MessageFactory, SessionFactory

KEY = "agent:main:main"


def _main_agent() -> Agent:
    agent, _ = Agent.objects.get_or_create(slug="main", defaults={"is_default": True})
    return agent


def _transcript(n: int) -> Session:
    session = cast("Session", SessionFactory(key=KEY, channel="", peer_kind="", peer_id=""))
    for seq in range(1, n + 1):
        MessageFactory(
            session=session,
            seq=seq,
            role=Message.Role.USER if seq % 2 else Message.Role.ASSISTANT,
            content=[{"type": "text", "text": f"m{seq}"}],
        )
    return session


def _texts(payload: dict[str, Any]) -> list[str]:
    return [
        m["content"] if isinstance(m["content"], str) else m["content"][0]["text"]
        for m in payload["messages"]
    ]


# --- chat.startup / chat.history ----------------------------------------------------------
@pytest.mark.django_db
def test_chat_startup_answers_the_latest_window_with_the_golden_keys() -> None:
    _main_agent()
    session = _transcript(5)
    params, real = captured("chat.startup")
    payload = call("chat.startup", {**params, "limit": 3})
    json.dumps(payload)
    assert _texts(payload) == ["m3", "m4", "m5"]
    assert payload["sessionId"] == str(session.session_id)
    assert (payload["hasMore"], payload["nextOffset"], payload["totalMessages"]) == (True, 3, 5)
    assert payload["deltaCursor"]
    # Every key OpenClaw answered, plus the window's paging keys.
    assert set(real) <= set(payload)
    assert set(payload) - set(real) == {"sessionId", "nextOffset", "deltaCursor"}
    assert set(real["metadata"]) >= {"models", "commands"}
    assert set(payload["metadata"]) <= set(real["metadata"])


@pytest.mark.django_db
def test_chat_history_pages_back_with_next_offset_without_repeats() -> None:
    _main_agent()
    _transcript(5)
    first = call("chat.startup", {"sessionKey": KEY, "limit": 2})
    older = call("chat.history", {"sessionKey": KEY, "limit": 2, "offset": first["nextOffset"]})
    oldest = call("chat.history", {"sessionKey": KEY, "limit": 2, "offset": older["nextOffset"]})
    assert _texts(oldest) + _texts(older) + _texts(first) == [f"m{i}" for i in range(1, 6)]
    assert oldest["hasMore"] is False
    assert "nextOffset" not in oldest
    assert "deltaCursor" not in older  # only the newest window can be followed


@pytest.mark.django_db
def test_chat_startup_of_a_new_session_is_empty_like_openclaws() -> None:
    _main_agent()
    params, real = captured("chat.startup")
    payload = call("chat.startup", params)
    assert set(payload) == set(real)
    assert (payload["messages"], payload["hasMore"], payload["totalMessages"]) == ([], False, 0)


def test_chat_history_refuses_offset_with_a_delta_cursor() -> None:
    with pytest.raises(ValidationError, match="offset cannot be used with deltaCursor"):
        call("chat.history", {"sessionKey": KEY, "offset": 2, "deltaCursor": "abc"})
    with pytest.raises(ValidationError, match="greater than or equal to 0"):
        call("chat.startup", {"sessionKey": KEY, "offset": -1})


@pytest.mark.django_db
def test_chat_metadata_lists_models_and_commands_and_refuses_unknown_agents() -> None:
    _main_agent()
    payload = call("chat.metadata", {})
    assert payload["models"]
    assert any(c["name"] == "new" for c in payload["commands"])
    with pytest.raises(MethodError, match="unknown agent id: nobody"):
        call("chat.metadata", {"agentId": "nobody"})


# --- sessions.create --------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_sessions_create_makes_a_dashboard_session_with_label_and_model() -> None:
    _main_agent()
    payload = call("sessions.create", {"label": "Research", "model": "openai/gpt-4o"})
    assert payload["ok"] is True
    assert payload["runStarted"] is False
    assert payload["key"].startswith("agent:main:dashboard:")
    session = Session.objects.get(key=payload["key"])
    assert (session.label, session.model_override) == ("Research", "openai/gpt-4o")
    assert payload["sessionId"] == str(session.session_id)
    assert payload["entry"]["key"] == payload["key"]


@pytest.mark.django_db(transaction=True)
def test_sessions_create_with_a_message_starts_the_first_turn() -> None:
    _main_agent()
    payload = call("sessions.create", {"key": "research", "message": "hello"})
    assert payload["key"] == "agent:main:research"
    assert (payload["runStarted"], payload["status"]) == (True, "started")
    assert Message.objects.filter(session__key=payload["key"], role="user").count() == 1


@pytest.mark.django_db
def test_sessions_create_refuses_bad_params() -> None:
    _main_agent()
    with pytest.raises(MethodError, match="unknown agent id: ghost"):
        call("sessions.create", {"agentId": "ghost"})
    with pytest.raises(MethodError, match="unknown parent session"):
        call("sessions.create", {"parentSessionKey": "agent:main:nope"})
    with pytest.raises(MethodError, match="is not provider/model"):
        call("sessions.create", {"model": "gpt"})
    with pytest.raises(MethodError, match="attachments are not supported"):
        call("sessions.create", {"message": "x", "attachments": [{"type": "image"}]})
    with pytest.raises(ValidationError, match="at most 200 characters"):
        call("sessions.create", {"label": "x" * 201})


# --- sessions.list hasBoard, logs.tail, devices -----------------------------------------------
@pytest.mark.django_db
def test_sessions_list_has_board_matches_nothing_here() -> None:
    SessionFactory()
    assert call("sessions.list", {"hasBoard": True})["sessions"] == []
    assert len(call("sessions.list", {"hasBoard": False})["sessions"]) == 1


def test_logs_tail_lines_are_openclaw_jsonl() -> None:
    start = call("logs.tail", {"limit": 1})["cursor"]
    logging.getLogger("gateway.tests.ui").warning("jsonl marker %s", 7)
    lines = call("logs.tail", {"cursor": start})["lines"]
    records = [json.loads(line) for line in lines]
    mine = [r for r in records if r.get("1") == "jsonl marker 7"]
    assert mine, records
    assert json.loads(mine[0]["0"]) == {"subsystem": "gateway.tests.ui"}
    assert mine[0]["_meta"]["logLevelName"] == "WARN"


@pytest.mark.django_db
def test_device_list_says_whether_each_paired_device_is_connected() -> None:
    from pairing.tests.factories import DeviceFactory

    DeviceFactory(status="paired", approved_at=timezone.now())
    paired = call("device.pair.list", {})["paired"]
    assert paired
    assert all(device["connected"] is False for device in paired)


# --- usage ------------------------------------------------------------------------------
@pytest.mark.django_db
def test_sessions_usage_reports_the_sessions_token_counts() -> None:
    SessionFactory(
        key="agent:main:a",
        input_tokens=10,
        output_tokens=6,
        total_tokens=16,
        last_activity_at=timezone.now(),
    )
    SessionFactory(
        key="agent:main:old", total_tokens=99, last_activity_at=timezone.now() - timedelta(days=90)
    )
    payload = call("sessions.usage", {})
    assert [s["key"] for s in payload["sessions"]] == ["agent:main:a"]
    assert payload["sessions"][0]["usage"]["totalTokens"] == 16
    assert (payload["totals"]["input"], payload["totals"]["output"]) == (10, 6)
    assert payload["aggregates"]["byAgent"][0]["agentId"] == "main"
    assert payload["aggregates"]["daily"][0]["tokens"] == 16
    with pytest.raises(MethodError, match="is after endDate"):
        call("sessions.usage", {"startDate": "2026-02-02", "endDate": "2026-01-01"})
    with pytest.raises(ValidationError):
        call("sessions.usage", {"startDate": "yesterday"})


def test_usage_status_has_no_provider_windows() -> None:
    assert call("usage.status")["providers"] == []


# --- config.schema ----------------------------------------------------------------------
def test_config_schema_is_generated_from_the_validators_tables() -> None:
    payload = call("config.schema")
    schema = payload["schema"]
    assert set(payload) == {"schema", "uiHints", "version", "generatedAt"}
    assert set(config_service.ROOTS) <= set(schema["properties"])
    for path in config_service.GATEWAY_PATHS:
        node = schema
        for part in path.split("."):
            node = node["properties"][part]
        expected = {"gateway.port": "integer", "gateway.bind": "string"}
        expected["gateway.customBindHost"] = "string"
        assert node["type"] == expected.get(path, "array")
    hooks = schema["properties"]["hooks"]["properties"]
    assert hooks["token"]["writeOnly"] is True
    telegram = schema["properties"]["channels"]["properties"]["telegram"]["properties"]
    assert set(account_keys.ACCOUNT_KEYS) <= set(telegram)
    assert payload["uiHints"]["channels.telegram.botToken"]["sensitive"] is True
    session = schema["properties"]["session"]["properties"]
    assert set(config_service.SESSION_KEYS) <= set(session)


def test_account_key_types_agree_with_the_validator() -> None:
    account = config_json_schema()["properties"]["channels"]["properties"]["telegram"]
    for key, node in account["properties"].items():
        if key in account_keys.SECRET_KEYS or key == "accounts":
            continue
        for value in node.get("enum", []):
            assert account_keys.clean_value("telegram", key, value, where="t") == value
        if node.get("type") == "boolean":
            account_keys.clean_value("telegram", key, True, where="t")
            with pytest.raises(account_keys.AccountKeyError, match=key):
                account_keys.clean_value("telegram", key, "yes please", where="t")
        if "enum" in node:
            with pytest.raises(account_keys.AccountKeyError, match=key):
                account_keys.clean_value("telegram", key, "not-a-choice", where="t")


def test_config_schema_lookup_walks_paths_and_refuses_unknown_ones() -> None:
    tools = call("config.schema.lookup", {"path": "agents.list.0.tools"})
    assert tools["hintPath"] == "agents.list[].tools"
    assert "properties" not in tools["schema"]
    assert {c["key"] for c in tools["children"]} >= {"profile", "allow", "deny"}
    with pytest.raises(MethodError, match=r"config schema path not found: gateway\.nope"):
        call("config.schema.lookup", {"path": "gateway.nope"})
    with pytest.raises(ValidationError):
        call("config.schema.lookup", {"path": "x" * 501})


# --- pairing, approvals, status pages ------------------------------------------------------
@pytest.mark.django_db
def test_channels_pairing_list_shows_the_open_requests() -> None:
    request = cast("PairingRequest", PairingRequestFactory())
    payload = call("channels.pairing.list", {})
    assert [r["code"] for r in payload["requests"]] == [request.code]
    assert payload["accounts"] == [
        {"channel": request.channel_account.kind, "accountId": request.channel_account.account_id}
    ]
    assert payload["limits"] == {"pendingPerAccount": 3, "ttlMs": 3_600_000}
    with pytest.raises(MethodError):
        call("channels.pairing.list", {"channel": "carrier-pigeon"})


@pytest.mark.django_db
def test_status_pages_answer_in_openclaws_shapes() -> None:
    assert call("approval.history") == {"items": []}
    with pytest.raises(MethodError, match=r"invalid approval\.history cursor"):
        call("approval.history", {"cursor": "zzz"})
    with pytest.raises(ValidationError):
        call("approval.history", {"limit": 0})
    assert call("exec.approvals.get")["file"]["version"] == 1
    assert call("last-heartbeat") is None
    lanes = call("diagnostics.lanes")
    assert set(lanes) == {"ts", "lanes", "dynamic"}
    assert call("environments.list") == {"environments": [], "profiles": []}
    assert call("plugins.list")["plugins"] == []
    assert call("artifacts.list") == {"artifacts": []}


def test_new_methods_are_registered_with_their_scopes_and_not_over_advertised() -> None:
    expected = {
        "sessions.create": gw_scopes.WRITE,
        "sessions.usage": gw_scopes.READ,
        "usage.status": gw_scopes.READ,
        "config.schema": gw_scopes.ADMIN,
        "config.schema.lookup": gw_scopes.READ,
        "approval.history": gw_scopes.APPROVALS,
        "exec.approvals.get": gw_scopes.ADMIN,
        "channels.pairing.list": gw_scopes.PAIRING,
        "last-heartbeat": gw_scopes.READ,
        "diagnostics.lanes": gw_scopes.READ,
        "environments.list": gw_scopes.READ,
        "chat.metadata": gw_scopes.READ,
        "chat.startup": gw_scopes.READ,
        "cron.runs": gw_scopes.READ,
        "exec.approval.grants.list": gw_scopes.APPROVALS,
        "themes.list": gw_scopes.READ,
        "update.status": gw_scopes.ADMIN,
        "plugins.list": gw_scopes.READ,
    }
    for name, scope in expected.items():
        assert REGISTRY[name].scope == scope, name
    advertised = set(advertised_methods())
    assert {"config.schema", "config.schema.lookup", "usage.status", "last-heartbeat"} <= advertised
    # The UI asks for these only when hello-ok names them, and shows "unavailable" otherwise.
    assert {"plugins.list", "update.status", "cron.runs"} <= advertised
    # Empty stand-ins are answered, not advertised.
    assert (
        not {
            "themes.list",
            "artifacts.list",
            "environments.list",
            "exec.approval.grants.list",
        }
        & advertised
    )
    assert ctx().scopes == frozenset({gw_scopes.ADMIN})


# --- automation, approvals, appearance and updates pages -------------------------------------
# cron.runs over real runs: gateway/tests/test_cron_methods.py
@pytest.mark.django_db
def test_cron_runs_of_a_job_without_runs_is_an_empty_page() -> None:
    job = cast("CronJob", CronJobFactory())
    assert call("cron.runs", {"id": str(job.public_id)}) == {
        "entries": [],
        "total": 0,
        "offset": 0,
        "limit": 50,
        "hasMore": False,
        "nextOffset": None,
    }
    assert call("cron.runs")["entries"] == []  # no id: every job's runs


@pytest.mark.django_db
def test_cron_runs_refuses_bad_params_clearly() -> None:
    with pytest.raises(MethodError, match=r"invalid cron\.runs params: missing id"):
        call("cron.runs", {"scope": "job"})
    with pytest.raises(MethodError, match=r"Automation not found: nope"):
        call("cron.runs", {"id": "nope"})
    for bad in (
        {"id": "a/b"},
        {"limit": 0},
        {"limit": 201},
        {"statuses": ["done"]},
        {"scope": "x"},
    ):
        with pytest.raises(ValidationError):
            call("cron.runs", bad)


def test_exec_approval_grants_list_is_openclaws_empty_list() -> None:
    assert call("exec.approval.grants.list") == {"grants": []}
    assert call("exec.approval.grants.list", {"limit": 500}) == {"grants": []}
    for bad in ({"limit": 0}, {"limit": 501}, {"limit": "all"}):
        with pytest.raises(ValidationError):
            call("exec.approval.grants.list", bad)


def test_themes_list_names_the_built_in_themes_and_the_current_one() -> None:
    payload = call("themes.list")
    assert payload["current"] == {
        "id": "claw",
        "mode": "system",
        "scope": "gateway",
        "overrides": {},
    }
    assert payload["theme"]["id"] == "claw"
    assert payload["theme"]["source"] == "builtin"  # what the Appearance page reads
    ids = [t["id"] for t in payload["themes"]]
    assert ids[:2] == ["claw", "knot"]
    assert len(ids) == 11
    assert all(
        set(t) == {"id", "name", "description", "source", "modes"} for t in payload["themes"]
    )


def test_update_status_says_this_gateway_does_not_update_itself() -> None:
    payload = call("update.status", {"refreshCheckout": True})
    assert payload["updateAvailable"] is None
    assert payload["sentinel"] is None
    assert "activeRun" not in payload
    assert "lastRun" not in payload
    assert payload["schedule"] == {
        "channel": "stable",
        "autoEnabled": False,
        "install": {"kind": "package"},
    }
    with pytest.raises(ValidationError):
        call("update.status", {"refreshCheckout": "yes please"})
