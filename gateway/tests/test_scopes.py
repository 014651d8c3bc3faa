"""Scopes of every registered method, against OpenClaw's lists (openclaw-protocol.md §1.6).

Rules: ``operator.admin`` satisfies everything; a read method is also satisfied by
``operator.write``; an unclassified method needs admin (default deny), and so do methods
under the ``config.``, ``exec.approvals.``, ``wizard.`` and ``update.`` prefixes unless
OpenClaw lists them. Node-role methods are for nodes only; ``health`` is open to any
authenticated connection.

The live test replaces each handler by a stub (no side effects) and calls the method
through the real consumer with each single scope, so the dispatcher's checks are tested,
not only the tables.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async

from gateway import scopes as gw_scopes
from gateway import state
from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext, NoParams
from gateway.ratelimit import auth_rate_limiter
from gateway.services import gateway_token_create
from tests.openclaw_client import DeviceKey, InProcessClient, release_worker_db_connections

ADMIN, READ, WRITE = "operator.admin", "operator.read", "operator.write"
APPROVALS, PAIRING = "operator.approvals", "operator.pairing"
ALL = (ADMIN, READ, WRITE, APPROVALS, PAIRING)
TOKEN = "scopes-test-token-" + "0123456789abcdef" * 2

# openclaw-protocol.md §1.6, transcribed (the snapshot's src/gateway/method-scopes.ts).
SPEC_READ = [
    "health", "doctor.memory.status", "logs.tail", "channels.status", "status",
    "usage.status", "usage.cost", "tts.status", "tts.providers", "models.list",
    "tools.catalog", "agents.list", "agent.identity.get", "skills.status", "voicewake.get",
    "sessions.list", "sessions.preview", "sessions.resolve", "sessions.usage",
    "sessions.usage.timeseries", "sessions.usage.logs", "cron.list", "cron.status",
    "cron.runs", "system-presence", "last-heartbeat", "node.list", "node.describe",
    "chat.history", "config.get", "talk.config", "agents.files.list", "agents.files.get",
]  # fmt: skip
SPEC_WRITE = [
    "send", "poll", "agent", "agent.wait", "wake", "talk.mode", "tts.enable",
    "tts.disable", "tts.convert", "tts.setProvider", "voicewake.set", "node.invoke",
    "chat.send", "chat.abort", "browser.request", "push.test",
]  # fmt: skip
SPEC_ADMIN = [
    "channels.logout", "agents.create", "agents.update", "agents.delete",
    "skills.install", "skills.update", "secrets.reload", "cron.add", "cron.update",
    "cron.remove", "cron.run", "sessions.patch", "sessions.reset", "sessions.delete",
    "sessions.compact", "connect", "chat.inject", "web.login.start", "web.login.wait",
    "set-heartbeats", "system-event", "agents.files.set",
]  # fmt: skip
SPEC_APPROVALS = ["exec.approval.request", "exec.approval.waitDecision", "exec.approval.resolve"]
SPEC_PAIRING = [
    "node.pair.request", "node.pair.list", "node.pair.approve", "node.pair.reject",
    "node.pair.verify", "device.pair.list", "device.pair.approve", "device.pair.reject",
    "device.pair.remove", "device.token.rotate", "device.token.revoke", "node.rename",
]  # fmt: skip
SPEC: dict[str, str] = {
    **dict.fromkeys(SPEC_READ, READ),
    **dict.fromkeys(SPEC_WRITE, WRITE),
    **dict.fromkeys(SPEC_ADMIN, ADMIN),
    **dict.fromkeys(SPEC_APPROVALS, APPROVALS),
    **dict.fromkeys(SPEC_PAIRING, PAIRING),
}
NODE_ONLY = frozenset(
    {"node.invoke.result", "node.event", "node.canvas.capability.refresh", "skills.bins"}
)
ADMIN_PREFIXES = ("config.", "exec.approvals.", "wizard.", "update.")
# Our own classification of methods newer than the snapshot (gateway/scopes.py).
OURS = {
    **dict.fromkeys(gw_scopes.READ_METHODS, READ),
    **dict.fromkeys(gw_scopes.WRITE_METHODS, WRITE),
    **dict.fromkeys(gw_scopes.APPROVAL_METHODS, APPROVALS),
    **dict.fromkeys(gw_scopes.PAIRING_METHODS, PAIRING),
}
METHODS = sorted(REGISTRY)


def allowed(required: str, granted: set[str] | frozenset[str]) -> bool:
    """OpenClaw's authorizeOperatorScopesForMethod."""
    if ADMIN in granted or required in granted:
        return True
    return required == READ and WRITE in granted


def expected_scope(method: str) -> str | None:
    """The scope OpenClaw's rules give ``method``; None when it leaves it to us."""
    if method in SPEC:
        return SPEC[method]
    if method in OURS:
        return OURS[method]
    if method.startswith(ADMIN_PREFIXES):
        return ADMIN
    return None  # registered with its own scope (a v4 method OpenClaw's list predates)


# --- the tables -------------------------------------------------------------------------------
@pytest.mark.parametrize("method", sorted(SPEC))
def test_scopes_py_classifies_openclaw_methods_as_openclaw_does(method: str) -> None:
    assert gw_scopes.required_scope(method) == SPEC[method]


def test_node_only_methods_are_openclaws() -> None:
    assert frozenset(gw_scopes.NODE_ONLY_METHODS) == NODE_ONLY


@pytest.mark.parametrize("prefix", ADMIN_PREFIXES)
def test_unlisted_methods_under_admin_prefixes_need_admin(prefix: str) -> None:
    assert gw_scopes.required_scope(prefix + "anything") == ADMIN


def test_unclassified_methods_need_admin() -> None:
    assert gw_scopes.required_scope("no.such.method") == ADMIN
    assert gw_scopes.required_scope("") == ADMIN


@pytest.mark.parametrize(
    "granted",
    [frozenset(c) for n in range(len(ALL) + 1) for c in itertools.combinations(ALL, n)],
    ids=lambda g: "+".join(sorted(s.split(".")[1] for s in g)) or "none",
)
def test_satisfies_follows_the_rule_for_every_scope_set(granted: frozenset[str]) -> None:
    for required in ALL:
        assert gw_scopes.satisfies(granted, required) == allowed(required, granted), required


@pytest.mark.parametrize(
    ("requested", "allowed_by_credential", "granted"),
    [
        ([READ, WRITE, ADMIN], {ADMIN}, {READ, WRITE, ADMIN}),
        ([READ, ADMIN], {WRITE}, {READ}),
        ([PAIRING, APPROVALS], {READ}, set()),
        ([], {ADMIN}, set()),
        (None, {ADMIN}, set()),
        (["operator.bogus", READ], {ADMIN}, {READ}),
    ],
)
def test_grant_gives_what_was_asked_within_the_credential(
    requested: list[str] | None, allowed_by_credential: set[str], granted: set[str]
) -> None:
    assert gw_scopes.grant(requested, frozenset(allowed_by_credential)) == frozenset(granted)


@pytest.mark.parametrize("method", METHODS)
def test_registered_scope_and_roles_follow_openclaw(method: str) -> None:
    registered = REGISTRY[method]
    assert registered.scope in ALL, registered.scope
    expected = expected_scope(method)
    if expected is not None:
        assert registered.scope == expected, (
            f"{method} is registered with {registered.scope}; OpenClaw's rules give {expected}"
        )
    if method in NODE_ONLY:
        assert registered.roles == frozenset({"node"})
    elif method == "health":
        assert registered.roles == frozenset({"operator", "node"})
    else:
        assert registered.roles == frozenset({"operator"}), registered.roles


# --- enforced by the consumer -----------------------------------------------------------------
SCOPE_SETS: list[list[str]] = [[], [READ], [WRITE], [ADMIN], [APPROVALS], [PAIRING]]


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registered handler answers ``{"stub": name}``: scope checks without effects."""
    for name, registered in list(REGISTRY.items()):

        async def stub(ctx: CallContext, params: NoParams, name: str = name) -> dict[str, Any]:
            return {"stub": name}

        monkeypatch.setitem(
            REGISTRY,
            name,
            dataclasses.replace(registered, handler=stub, params=NoParams, is_async=True),
        )


@pytest_asyncio.fixture
async def admin_token(transactional_db: None) -> AsyncIterator[str]:
    await sync_to_async(gateway_token_create)(name="admin", token=TOKEN, scopes=[ADMIN])
    auth_rate_limiter.reset()
    yield TOKEN
    state.presence.clear()
    await release_worker_db_connections()


async def _call_with(
    method: str, *, scopes: list[str], role: str = "operator"
) -> tuple[list[str], dict[str, Any]]:
    extra: dict[str, Any] = {}
    if role == "node":
        extra = {"mode": "node", "client_id": "node-host", "device": DeviceKey()}
    async with InProcessClient() as client:
        hello = await client.connect(token=TOKEN, scopes=scopes, role=role, **extra)
        assert hello["ok"], hello
        granted = hello["payload"]["auth"]["scopes"]
        return granted, await client.call(method)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("method", METHODS)
async def test_each_method_is_refused_unless_its_scope_is_granted(
    method: str, admin_token: str, stubbed: None
) -> None:
    registered = REGISTRY[method]
    required = expected_scope(method) or registered.scope
    problems = []
    for scopes in SCOPE_SETS:
        if "operator" not in registered.roles:
            break
        granted, res = await _call_with(method, scopes=scopes)
        assert sorted(granted) == sorted(scopes)
        should = allowed(required, set(scopes))
        if should and not res["ok"]:
            problems.append(f"with {scopes or 'no scopes'}: refused: {res['error']}")
        if not should:
            error = res.get("error") or {}
            # As OpenClaw 2026.9.6 answers (captured frames): FORBIDDEN + MISSING_SCOPE.
            if res["ok"] or error != {
                "code": "FORBIDDEN",
                "message": f"missing scope: {required}",
                "details": {
                    "code": "MISSING_SCOPE",
                    "missingScope": required,
                    "requiredScopes": [required],
                },
            }:
                problems.append(f"with {scopes or 'no scopes'}: expected 'missing scope: "
                                f"{required}', got {res}")  # fmt: skip
    _, node_res = await _call_with(method, scopes=[], role="node")
    if "node" in registered.roles:
        if not node_res["ok"]:
            problems.append(f"a node (no operator scopes) was refused: {node_res['error']}")
    elif node_res["ok"] or node_res["error"]["message"] != "unauthorized role: node":
        problems.append(f"a node got {node_res}")
    assert not problems, f"{method} ({required}):\n  " + "\n  ".join(problems)
