"""Catalog methods: payload shapes against OpenClaw's captured frames, no secrets, paging,
device pairing decisions, the log ring's cursor, and the real clients' start-up calls."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.utils import timezone
from pydantic import ValidationError

from agents.models import CronJob
from agents.services.chat_commands.parse import COMMANDS
from agents.tests.factories import AgentFactory, CronJobFactory, RoutingRuleFactory
from channels_app.tests.factories import ChannelAccountFactory, InboundMessageFactory
from core import events
from core.logbuffer import LogBuffer
from gateway import scopes as gw_scopes
from gateway.catalog.config import config_document
from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext, MethodError
from gateway.services import gateway_token_create
from gateway.tests.factories import NodeFactory
from pairing.models import Device
from pairing.tests.factories import DeviceFactory

FRAMES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "openclaw-frames.jsonl"
ADMIN = frozenset({gw_scopes.ADMIN})
SECRET = "123:SECRET"
# Start-up calls of OpenClaw's TUI and Control UI that nothing here implements for real.
STARTUP_METHODS = (
    "question.list",
    "plugin.approval.list",
    "taskSuggestions.list",
    "tasks.list",
    "exec.approval.list",
    "openclaw.approval.list",
    "chat.startup",
    "models.authStatus",
    "system.info",
    "update.status",
    "users.prefs.get",
    "sessions.catalog.list",
    "sessions.groups.list",
    "sessions.groups.defaults",
    "sessions.observer.visibility",
    "sessions.viewers.set",
    "sessions.branches.list",
    "sessions.companion.state",
    "session.discussion.info",
    "mentions.list",
    "projects.list",
    "talk.catalog",
    "board.get",
    "progressCard.get",
    "plugins.controlUi.list",
    "plugin.surface.refresh",
    "controlUi.sessionPullRequests.subscribe",
)


# --- captured frames --------------------------------------------------------------------
@cache
def _exchanges() -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """method -> [(request params, ok response payload)] from the captured frames."""
    requests: dict[tuple[int, str], dict[str, Any]] = {}
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for line in FRAMES.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        frame = record.get("frame")
        if not frame:
            continue
        key = (record["conn"], frame.get("id"))
        if frame.get("type") == "req":
            requests[key] = frame
        elif frame.get("type") == "res" and frame.get("ok") and key in requests:
            req = requests.pop(key)
            found.setdefault(req["method"], []).append((req.get("params") or {}, frame["payload"]))
    return found


def captured(method: str) -> tuple[dict[str, Any], Any]:
    return _exchanges()[method][0]


# --- calling handlers -------------------------------------------------------------------
def ctx(
    scopes: frozenset[str] = ADMIN, device_id: str | None = None, client_mode: str = "cli"
) -> CallContext:
    return CallContext(
        conn_id="test-conn",
        role="operator",
        scopes=scopes,
        client_id="cli",
        client_mode=client_mode,
        device_id=device_id,
        caps=frozenset(),
    )


def call(
    name: str, params: dict[str, Any] | None = None, context: CallContext | None = None
) -> Any:
    """Run a registered handler as the consumer would (params validated by its model)."""
    method = REGISTRY[name]
    parsed = method.params.model_validate(params or {})
    if method.is_async:
        return asyncio.run(method.handler(context or ctx(), parsed))
    return method.handler(context or ctx(), parsed)


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any], str | None]]:
    seen: list[tuple[str, dict[str, Any], str | None]] = []

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        seen.append((event, json.loads(json.dumps(payload)), kwargs.get("scope")))

    monkeypatch.setattr(events, "_publisher", publisher)
    return seen


# --- agents, models, commands ------------------------------------------------------------
@pytest.mark.django_db
def test_agents_list_has_the_captured_shape() -> None:
    AgentFactory.create(slug="main", name="Main", emoji="🦀", is_default=True)
    AgentFactory.create(slug="helper", name="", emoji="")
    payload = call("agents.list")
    _params, real = captured("agents.list")
    assert set(payload) == set(real)
    assert payload["defaultId"] == "main"
    assert payload["mainKey"] == "main"
    assert payload["scope"] == "per-sender"
    main, helper = payload["agents"]
    assert main["id"] == "main"
    assert main["name"] == "Main"
    assert main["identity"] == {"name": "Main", "emoji": "🦀"}
    assert "identity" not in helper
    assert set(main) - {"name", "identity"} <= set(real["agents"][0])


@pytest.mark.django_db
def test_agent_identity_get_resolves_by_id_session_key_or_default() -> None:
    AgentFactory.create(slug="main", name="Main", emoji="🦀", is_default=True)
    AgentFactory.create(slug="helper", name="", emoji="")
    assert call("agent.identity.get", {"agentId": "main"})["emoji"] == "🦀"
    by_key = call("agent.identity.get", {"sessionKey": "agent:helper:telegram:direct:1"})
    assert by_key == {
        "agentId": "helper",
        "name": "Assistant",
        "nameSource": "default",
        "avatar": "A",
    }
    assert call("agent.identity.get")["agentId"] == "main"
    _params, real = captured("agent.identity.get")
    assert set(real) <= set(call("agent.identity.get"))


@pytest.mark.django_db
def test_agent_identity_get_names_an_unknown_agent() -> None:
    AgentFactory.create(slug="main", is_default=True)
    with pytest.raises(
        MethodError, match=r"^unknown agent id: ghost; list agents with agents\.list$"
    ):
        call("agent.identity.get", {"agentId": "ghost"})
    with pytest.raises(MethodError, match="does not match"):
        call("agent.identity.get", {"agentId": "main", "sessionKey": "agent:other:main"})


@pytest.mark.django_db
def test_models_list_names_the_agents_models_and_the_placeholder() -> None:
    AgentFactory.create(
        slug="main",
        is_default=True,
        model_primary="openai/gpt-4o-mini",
        model_fallbacks=["anthropic/claude-sonnet"],
    )
    AgentFactory.create(slug="b", model_primary="openai/gpt-4o-mini", model_fallbacks=[])
    AgentFactory.create(slug="c", model_primary="", model_fallbacks=[])
    models = call("models.list")["models"]
    assert [(m["provider"], m["id"]) for m in models] == [
        ("openai", "gpt-4o-mini"),
        ("anthropic", "claude-sonnet"),
        ("placeholder", "echo"),
    ]
    assert models[0]["tags"] == ["default"]
    # models.list itself was not captured; chat.startup carries the same ModelChoice rows.
    _params, startup = captured("chat.startup")
    assert {"id", "name", "provider"} <= set(startup["metadata"]["models"][0])


@pytest.mark.django_db
def test_models_list_without_agents_offers_the_placeholder() -> None:
    assert call("models.list") == {
        "models": [{"id": "echo", "name": "echo", "provider": "placeholder", "tags": ["default"]}]
    }


def test_commands_list_offers_the_supported_slash_commands_in_openclaws_shape() -> None:
    params, real = captured("commands.list")
    commands = call("commands.list", params)["commands"]
    names = [c["name"] for c in commands]
    assert names == ["new", "reset", "stop", "status", "model", "approve"]
    # Truthful: exactly the commands the shared handler answers (agents.services.chat_commands).
    assert set(names) == COMMANDS
    real_new = next(c for c in real["commands"] if c["name"] == "new")
    assert all(set(c) == set(real_new) for c in commands)  # includeArgs: false drops args
    with_args = call("commands.list", {"includeArgs": True})["commands"]
    assert with_args[-1]["args"][0]["name"] == "code"
    assert {c["name"]: c["acceptsArgs"] for c in with_args} == {
        "new": True, "reset": True, "stop": False, "status": False, "model": True, "approve": True
    }  # fmt: skip


# --- config and channels: never a secret -------------------------------------------------
@pytest.mark.django_db
def test_config_get_has_the_captured_keys_and_no_secret() -> None:
    main = AgentFactory.create(slug="main", is_default=True, model_primary="openai/gpt-4o-mini")
    ChannelAccountFactory.create(account_id="default", credentials={"bot_token": SECRET})
    RoutingRuleFactory.create(agent=main, channel="telegram", account_id="default")
    payload = call("config.get")
    _params, real = captured("config.get")
    assert set(payload) == set(real)
    text = json.dumps(payload)
    assert "SECRET" not in text
    assert "bot_token" not in text
    config = payload["config"]
    assert config["gateway"]["auth"] == {"mode": "token"}
    assert config["channels"]["telegram"]["accounts"]["default"]["dmPolicy"] == "pairing"
    assert config["bindings"] == [
        {"agentId": "main", "match": {"channel": "telegram", "accountId": "default"}}
    ]
    assert config["agents"]["list"][0]["model"]["primary"] == "openai/gpt-4o-mini"
    canonical = json.dumps(config_document(), sort_keys=True, separators=(",", ":"))
    assert payload["hash"] == hashlib.sha256(canonical.encode()).hexdigest()
    assert json.loads(payload["raw"]) == config
    assert (payload["exists"], payload["valid"], payload["issues"]) == (True, True, [])


@pytest.mark.django_db
def test_channels_status_reports_accounts_without_secrets() -> None:
    ChannelAccountFactory.create(account_id="default", credentials={"bot_token": SECRET})
    spare_account = ChannelAccountFactory.create(account_id="spare", credentials={}, enabled=False)
    InboundMessageFactory.create(account=spare_account)
    payload = call("channels.status")
    assert "SECRET" not in json.dumps(payload)
    assert payload["channelOrder"] == ["telegram"]
    assert payload["channelDefaultAccountId"] == {"telegram": "default"}
    default, spare = payload["channelAccounts"]["telegram"]
    assert default["accountId"] == "default"
    assert (default["configured"], default["tokenSource"], default["enabled"]) == (
        True,
        "config",
        True,
    )
    assert (spare["configured"], spare["tokenSource"], spare["enabled"]) == (False, "none", False)
    assert (default["lastInboundAt"], isinstance(spare["lastInboundAt"], int)) == (None, True)


# --- cron -------------------------------------------------------------------------------
@pytest.mark.django_db
def test_cron_list_pages_through_jobs() -> None:
    main = AgentFactory.create(slug="main", is_default=True)
    now = timezone.now()
    for i in range(5):
        CronJobFactory.create(
            name=f"job {i}",
            agent=main,
            enabled=i < 3,
            next_run_at=now + timedelta(minutes=10 - i),
        )
    first = call("cron.list", {"limit": 2})
    assert (first["total"], first["offset"], first["limit"]) == (3, 0, 2)
    assert (first["hasMore"], first["nextOffset"]) == (True, 2)
    assert [j["name"] for j in first["jobs"]] == ["job 2", "job 1"]  # soonest first
    last = call("cron.list", {"limit": 2, "offset": first["nextOffset"]})
    assert [j["name"] for j in last["jobs"]] == ["job 0"]
    assert (last["hasMore"], last["nextOffset"]) == (False, None)
    everything = call("cron.list", {"includeDisabled": True, "limit": 50})
    assert everything["total"] == 5
    assert call("cron.list", {"enabled": "disabled"})["total"] == 2
    assert call("cron.list", {"query": "JOB 4", "enabled": "all"})["total"] == 1
    with pytest.raises(ValidationError, match="less than or equal to 200"):
        call("cron.list", {"limit": 201})


@pytest.mark.django_db
def test_cron_list_rows_have_the_protocol_and_captured_compact_shapes() -> None:
    main = AgentFactory.create(slug="main", is_default=True)
    due = timezone.now()
    job = CronJobFactory.create(agent=main, next_run_at=due)
    CronJobFactory.create(
        agent=None,
        schedule_kind=CronJob.ScheduleKind.CRON,
        every_ms=None,
        cron_expr="0 3 * * *",
        tz="Europe/Berlin",
    )
    full = call("cron.list", {"includeDisabled": True})["jobs"]
    row = next(r for r in full if r["id"] == str(job.public_id))
    assert {
        "id",
        "name",
        "enabled",
        "createdAtMs",
        "updatedAtMs",
        "agentId",
        "schedule",
        "sessionTarget",
        "wakeMode",
        "payload",
        "state",
    } <= set(row)
    # OpenClaw normalizes an interval's anchor into the job (anchorMs, as captured).
    assert row["schedule"] == {
        "kind": "every",
        "everyMs": 60_000,
        "anchorMs": int(job.created_at.timestamp() * 1000),
    }
    assert row["state"]["nextRunAtMs"] == int(due.timestamp() * 1000)

    params, real = captured("cron.list")  # the Control UI's call: compact, agentId main
    page = call("cron.list", params)
    assert set(page) - {"snapshotRevision"} == set(real) - {"snapshotRevision"}
    assert page["total"] == 2  # the job without an agent belongs to the default agent
    real_row = next(r for r in real["jobs"] if "agentId" in r)
    ours = next(r for r in page["jobs"] if "agentId" in r)
    assert set(ours) == set(real_row) - {"declarationKey", "displayName"}
    cron_row = next(r for r in page["jobs"] if "agentId" not in r)
    assert cron_row["schedule"] == {"kind": "cron", "expr": "0 3 * * *", "tz": "Europe/Berlin"}
    assert cron_row["effectiveAgentId"] == "main"


@pytest.mark.django_db
def test_cron_status_counts_jobs_and_the_next_wake() -> None:
    soon = timezone.now() + timedelta(minutes=5)
    CronJobFactory.create(next_run_at=soon)
    CronJobFactory.create(next_run_at=soon - timedelta(minutes=1), enabled=False)
    payload = call("cron.status")
    _params, real = captured("cron.status")
    assert {"enabled", "storePath", "jobs", "nextWakeAtMs"} <= set(payload) <= set(real)
    assert payload["storePath"] == "database"
    assert payload["jobs"] == 2
    assert payload["nextWakeAtMs"] == int(soon.timestamp() * 1000)


# --- nodes, status ----------------------------------------------------------------------
@pytest.mark.django_db
def test_node_list_reports_nodes_and_liveness() -> None:
    NodeFactory.create(node_id="a")
    NodeFactory.create(node_id="b", last_heartbeat_at=timezone.now() - timedelta(hours=1))
    payload = call("node.list")
    assert isinstance(payload["ts"], int)
    assert [(n["nodeId"], n["connected"]) for n in payload["nodes"]] == [("a", True), ("b", False)]


@pytest.mark.django_db
def test_status_has_the_captured_keys_and_shows_session_keys_to_admins_only() -> None:
    from sessions_app.tests.factories import SessionFactory

    AgentFactory.create(slug="main", is_default=True)
    SessionFactory.create(key="agent:main:telegram:direct:42", last_activity_at=timezone.now())
    ChannelAccountFactory.create(credentials={"bot_token": SECRET})
    _params, real = captured("status")
    admin = call("status")
    reader = call("status", {"includeChannelSummary": False}, ctx(frozenset({gw_scopes.READ})))
    for payload in (admin, reader):
        assert set(payload) == set(real)
        assert set(payload["tasks"]) == set(real["tasks"])
        assert set(payload["sessions"]) == set(real["sessions"])
        assert payload["sessions"]["count"] == 1
        assert payload["channelSummary"] == ["telegram: 1 of 1 account(s) enabled"]
        assert "SECRET" not in json.dumps(payload)
    assert admin["sessions"]["recent"][0]["key"] == "agent:main:telegram:direct:42"
    assert "direct:42" not in json.dumps(reader)
    assert reader["sessions"]["byAgent"][0]["path"] == "[redacted]"


# --- device pairing ---------------------------------------------------------------------
def _pending_device(**kwargs: Any) -> Device:
    return DeviceFactory.create(
        request_id=uuid.uuid4(), requested_at=timezone.now(), remote_ip="192.0.2.7", **kwargs
    )


@pytest.mark.django_db
def test_device_pair_list_shows_pending_and_paired_without_tokens() -> None:
    pending = _pending_device()
    paired = DeviceFactory.create(paired=True)
    DeviceFactory.create(status=Device.Status.REJECTED, request_id=uuid.uuid4())
    payload = call("device.pair.list")
    assert [p["requestId"] for p in payload["pending"]] == [str(pending.request_id)]
    assert {
        "requestId",
        "deviceId",
        "publicKey",
        "displayName",
        "platform",
        "clientId",
        "role",
        "scopes",
        "remoteIp",
        "ts",
    } <= set(payload["pending"][0])
    assert [p["deviceId"] for p in payload["paired"]] == [paired.device_id]
    assert paired.token_hash not in json.dumps(payload)


@pytest.mark.django_db
def test_device_pair_approve_and_reject_decide_and_announce(
    published: list[tuple[str, dict[str, Any], str | None]],
    django_capture_on_commit_callbacks: Any,
) -> None:
    first, second = _pending_device(), _pending_device()
    with django_capture_on_commit_callbacks(execute=True):
        approved = call("device.pair.approve", {"requestId": str(first.request_id)})
    assert approved["requestId"] == str(first.request_id)
    assert approved["device"]["deviceId"] == first.device_id
    first.refresh_from_db()
    assert first.status == Device.Status.PAIRED

    with django_capture_on_commit_callbacks(execute=True):
        rejected = call("device.pair.reject", {"requestId": str(second.request_id)})
    assert rejected == {"requestId": str(second.request_id), "deviceId": second.device_id}
    second.refresh_from_db()
    assert second.status == Device.Status.REJECTED

    assert [(e, p["decision"], p["deviceId"], s) for e, p, s in published] == [
        ("device.pair.resolved", "approved", first.device_id, gw_scopes.PAIRING),
        ("device.pair.resolved", "rejected", second.device_id, gw_scopes.PAIRING),
    ]
    assert published[0][1]["requestId"] == str(first.request_id)
    assert call("device.pair.list")["pending"] == []


@pytest.mark.django_db
def test_device_pair_decisions_on_unknown_or_decided_requests_say_what_to_do(
    published: list[tuple[str, dict[str, Any], str | None]],
) -> None:
    device = _pending_device()
    call("device.pair.reject", {"requestId": str(device.request_id)})
    with pytest.raises(MethodError, match=r"list pending requests with device\.pair\.list$"):
        call("device.pair.approve", {"requestId": str(device.request_id)})
    for bad in (str(uuid.uuid4()), "not-a-uuid"):
        with pytest.raises(
            MethodError, match=r"^unknown requestId; list pending requests with device\.pair\.list$"
        ):
            call("device.pair.approve", {"requestId": bad})
        with pytest.raises(MethodError, match=r"^unknown requestId"):
            call("device.pair.reject", {"requestId": bad})


@pytest.mark.django_db
def test_a_device_without_admin_manages_only_itself() -> None:
    mine, other = _pending_device(), _pending_device()
    caller = ctx(frozenset({gw_scopes.PAIRING, gw_scopes.READ}), device_id=mine.device_id)
    listed = call("device.pair.list", context=caller)
    assert [p["deviceId"] for p in listed["pending"]] == [mine.device_id]
    with pytest.raises(MethodError, match="may only manage itself"):
        call("device.pair.approve", {"requestId": str(other.request_id)}, caller)
    call("device.pair.approve", {"requestId": str(mine.request_id)}, caller)
    greedy = _pending_device(scopes=[gw_scopes.ADMIN])
    with pytest.raises(MethodError, match=r"asks for operator\.admin"):
        call(
            "device.pair.approve",
            {"requestId": str(greedy.request_id)},
            ctx(frozenset({gw_scopes.PAIRING})),
        )


@pytest.mark.django_db
def test_device_pair_remove_unpairs_a_paired_device() -> None:
    paired = DeviceFactory.create(paired=True)
    pending = _pending_device()
    result = call("device.pair.remove", {"deviceId": paired.device_id})
    assert result["deviceId"] == paired.device_id
    paired.refresh_from_db()
    assert (paired.status, paired.token_hash) == (Device.Status.REVOKED, "")
    with pytest.raises(MethodError, match=r"^unknown deviceId; list paired devices"):
        call("device.pair.remove", {"deviceId": paired.device_id})
    with pytest.raises(MethodError, match=r"^unknown deviceId"):
        call("device.pair.remove", {"deviceId": "f" * 64})
    with pytest.raises(MethodError, match=r"device\.pair\.reject"):
        call("device.pair.remove", {"deviceId": pending.device_id})


# --- query counts ---------------------------------------------------------------------
@pytest.mark.django_db
def test_catalog_reads_do_not_grow_with_the_rows(django_assert_num_queries: Any) -> None:
    agents = [AgentFactory.create(slug=f"a{i}") for i in range(3)]
    for agent in agents:
        CronJobFactory.create(agent=agent)
        RoutingRuleFactory.create(agent=agent)
        ChannelAccountFactory.create()
        DeviceFactory.create(paired=True)
    expected = {
        "agents.list": 1,
        "models.list": 2,  # the admin keys and the agents
        # agents, heartbeat defaults, channel accounts, routing rules with their agents,
        # trusted proxies, the session settings
        "config.get": 6,
        "channels.status": 3,  # accounts, last inbound, last outbound
        "cron.list": 3,  # default agent, count, page with agents
        "device.pair.list": 1,
        "node.list": 2,  # paired node devices, cluster nodes
    }
    for name, queries in expected.items():
        with django_assert_num_queries(queries):
            call(name, {"includeDisabled": True} if name == "cron.list" else None)


# --- logs.tail --------------------------------------------------------------------------
def _filled(*lines: str, max_lines: int = 100) -> LogBuffer:
    buffer = LogBuffer(max_lines=max_lines, base=0)
    for line in lines:
        buffer.append(line)
    return buffer


def test_log_tail_follows_with_a_growing_cursor() -> None:
    buffer = _filled("one", "two")
    first = buffer.tail()
    assert (first.lines, first.cursor, first.size) == (["one", "two"], 8, 8)
    assert (first.truncated, first.reset) == (False, False)
    assert buffer.tail(cursor=first.cursor).lines == []
    buffer.append("three\nfour")  # a multi-line record (a traceback) is several lines
    follow = buffer.tail(cursor=first.cursor)
    assert (follow.lines, follow.cursor) == (["three", "four"], 19)
    assert (follow.truncated, follow.reset) == (False, False)


def test_log_tail_resets_a_cursor_it_cannot_continue() -> None:
    buffer = _filled("a", "b", "c", max_lines=2)  # "a" was dropped from the ring
    fresh = buffer.tail()
    assert (fresh.lines, fresh.truncated, fresh.reset) == (["b", "c"], True, False)
    lost = buffer.tail(cursor=0)
    assert (lost.lines, lost.truncated, lost.reset) == (["b", "c"], True, True)
    future = buffer.tail(cursor=10_000)  # from another process
    assert (future.lines, future.reset) == (["b", "c"], True)
    restarted = LogBuffer(base=1_000)  # a later start begins its virtual file further on
    restarted.append("new")
    before = restarted.tail(cursor=6)  # a cursor the previous process handed out
    assert (before.lines, before.cursor, before.reset) == (["new"], 1_004, True)
    assert (restarted.tail().truncated, LogBuffer().tail().cursor > 10**15) == (False, True)


def test_log_tail_keeps_the_newest_lines_within_limit_and_max_bytes() -> None:
    buffer = _filled("1111", "2222", "3333")
    limited = buffer.tail(limit=2)
    assert (limited.lines, limited.truncated) == (["2222", "3333"], True)
    small = buffer.tail(max_bytes=10)
    assert (small.lines, small.truncated) == (["2222", "3333"], True)
    from_start = buffer.tail(cursor=0, limit=1)
    assert (from_start.lines, from_start.truncated, from_start.reset) == (["3333"], True, False)


def test_logs_tail_serves_what_the_root_logger_wrote() -> None:
    start = call("logs.tail", {"limit": 1})["cursor"]
    logging.getLogger("gateway.tests.catalog").warning("catalog marker %s", 42)
    payload = call("logs.tail", {"cursor": start})
    assert set(payload) == {"file", "cursor", "size", "lines", "truncated", "reset"}
    assert payload["cursor"] > start
    assert any("catalog marker 42" in line for line in payload["lines"])
    assert all("catalog marker" not in line for line in call("logs.tail", payload)["lines"])
    with pytest.raises(ValidationError, match="less than or equal to 5000"):
        call("logs.tail", {"limit": 5001})


# --- start-up calls -----------------------------------------------------------------------
def test_every_startup_call_of_the_real_clients_is_answered() -> None:
    assert set(STARTUP_METHODS) <= set(_exchanges())  # the list matches the capture
    assert [name for name in STARTUP_METHODS if name not in REGISTRY] == []
    assert not any(REGISTRY[name].advertised for name in STARTUP_METHODS if _ours(name))


def _ours(name: str) -> bool:
    return REGISTRY[name].handler.__module__ == "gateway.methods.catalog"


@pytest.mark.django_db
@pytest.mark.parametrize("name", STARTUP_METHODS)
def test_startup_calls_answer_the_empty_form_of_the_real_payload(name: str) -> None:
    if not _ours(name):
        pytest.skip(f"{name} is implemented by {REGISTRY[name].handler.__module__}")
    params, real = captured(name)
    scopes = frozenset({gw_scopes.ADMIN if name == "update.status" else gw_scopes.READ})
    payload = call(name, params, ctx(scopes))
    json.dumps(payload)
    if isinstance(real, list):
        assert payload == []
    elif name == "system.info":  # host details need admin
        assert set(payload) < set(real)
        assert set(call(name, params)) == set(real)
    elif name == "chat.startup":
        assert set(payload) == set(real)
        assert payload["messages"] == []
        assert payload["sessionKey"] == params["sessionKey"]
    else:
        assert set(payload) == set(real)
        empties = [v for v in payload.values() if isinstance(v, list) and v]
        assert empties in ([], [params.get("sessionKeys")])


# --- over a real socket -------------------------------------------------------------------
async def _connect(scopes: list[str]) -> WebsocketCommunicator:
    from openclaw_site.asgi import application

    issued = await database_sync_to_async(gateway_token_create)(scopes=scopes)
    communicator = WebsocketCommunicator(application, "/")
    connected, _ = await communicator.connect()
    assert connected
    challenge = await communicator.receive_json_from(timeout=5)
    assert challenge["event"] == "connect.challenge"
    hello = await _rpc(
        communicator,
        "connect",
        {
            "minProtocol": 4,
            "maxProtocol": 4,
            "client": {"id": "openclaw-control-ui", "version": "test", "mode": "webchat"},
            "role": "operator",
            "scopes": scopes,
            "auth": {"token": issued.token},
        },
    )
    assert hello["ok"], hello
    assert hello["payload"]["type"] == "hello-ok"
    return communicator


async def _rpc(
    communicator: WebsocketCommunicator, method: str, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    request_id = str(uuid.uuid4())
    await communicator.send_json_to(
        {"type": "req", "id": request_id, "method": method, "params": params or {}}
    )
    while True:
        frame = await communicator.receive_json_from(timeout=5)
        if frame.get("type") == "res" and frame.get("id") == request_id:
            return frame  # type: ignore[no-any-return]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_control_ui_startup_over_the_socket() -> None:
    await database_sync_to_async(AgentFactory.create)(slug="main", is_default=True, emoji="🦀")
    await database_sync_to_async(ChannelAccountFactory.create)(credentials={"bot_token": SECRET})
    communicator = await _connect([gw_scopes.ADMIN])
    try:
        agents = await _rpc(communicator, "agents.list")
        assert agents["ok"]
        assert agents["payload"]["defaultId"] == "main"
        for method in ("config.get", "channels.status", "status"):
            res = await _rpc(communicator, method)
            assert res["ok"], res
            assert "SECRET" not in json.dumps(res)
        for method in STARTUP_METHODS:
            params, _real = captured(method)
            res = await _rpc(communicator, method, params)
            assert res["ok"], (method, res)
        models = await _rpc(communicator, "models.list")
        assert models["payload"]["models"][-1]["provider"] == "placeholder"
        await communicator.receive_nothing(timeout=0.1)
    finally:
        await communicator.disconnect()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_reader_gets_startup_answers_but_no_pairing_over_the_socket() -> None:
    pending = await database_sync_to_async(_pending_device)()
    communicator = await _connect([gw_scopes.READ])
    try:
        assert (await _rpc(communicator, "question.list"))["payload"] == {"questions": []}
        denied = await _rpc(
            communicator, "device.pair.approve", {"requestId": str(pending.request_id)}
        )
        assert not denied["ok"]
        assert denied["error"]["message"] == "missing scope: operator.pairing"
        logs = await _rpc(communicator, "logs.tail", {"limit": 5})
        assert logs["ok"]
        assert logs["payload"]["file"] == "memory"
        assert (await _rpc(communicator, "cron.list"))["payload"]["jobs"] == []
    finally:
        await communicator.disconnect()
    assert (await database_sync_to_async(Device.objects.get)(pk=pending.pk)).status == "pending"


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_device_pair_approve_over_the_socket() -> None:
    pending = await database_sync_to_async(_pending_device)()
    communicator = await _connect([gw_scopes.PAIRING, gw_scopes.READ])
    try:
        listed = await _rpc(communicator, "device.pair.list")
        assert [p["requestId"] for p in listed["payload"]["pending"]] == [str(pending.request_id)]
        approved = await _rpc(
            communicator, "device.pair.approve", {"requestId": str(pending.request_id)}
        )
        assert approved["ok"], approved
        assert approved["payload"]["device"]["deviceId"] == pending.device_id
        again = await _rpc(
            communicator, "device.pair.approve", {"requestId": str(pending.request_id)}
        )
        assert again["error"]["code"] == "INVALID_REQUEST"
        assert "device.pair.list" in again["error"]["message"]
    finally:
        await communicator.disconnect()
