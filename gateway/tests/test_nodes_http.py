"""The cluster node API: the gateway token, the shapes, 404 for an unknown node, 405."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client

from gateway import scopes
from gateway.lib.tokens import token_hash
from gateway.nodes import NodeIdentity, node_heartbeat, node_register, node_stop
from gateway.ratelimit import auth_rate_limiter
from gateway.tests.factories import GatewayTokenFactory

# The views reach the database on worker threads (gateway.http.common.db).
pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "nodes-token-0123456789abcdefghijklmno"
PAIRING_ONLY = "nodes-pair-0123456789abcdefghijklmno"
AUTH: dict[str, Any] = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}"}
REMOTE: dict[str, Any] = {"REMOTE_ADDR": "203.0.113.9"}
NODE_KEYS = {
    "node_id", "display_name", "host", "pid", "platform", "version", "skills", "queues",
    "status", "online", "max_concurrent_tasks", "tasks_in_flight", "available_capacity",
    "last_heartbeat_at", "seconds_since_heartbeat", "started_at", "status_changed_at",
}  # fmt: skip
URLS = [
    "/api/v1/nodes",
    "/api/v1/nodes/online",
    "/api/v1/nodes/skills/python",
    "/api/v1/nodes/py-1/health",
    "/api/v1/cluster/health",
]


def _identity(node_id: str, *, skills: list[str], queues: list[str], slots: int) -> NodeIdentity:
    return NodeIdentity(
        node_id=node_id,
        host="host-a",
        pid=100,
        queues=queues + [f"skill.{s}" for s in skills],
        declared_skills=skills,
        max_concurrent_tasks=slots,
        display_name=f"celery@{node_id}",
        platform="linux",
        version="0.1.0",
    )


@pytest.fixture(autouse=True)
def _setup() -> Iterator[None]:
    GatewayTokenFactory(token_hash=token_hash(TOKEN), scopes=[scopes.READ])
    GatewayTokenFactory(token_hash=token_hash(PAIRING_ONLY), scopes=[scopes.PAIRING])
    py = _identity("py-1", skills=["python"], queues=["default", "llm"], slots=4)
    node_register(identity=py)
    node_heartbeat(node_id="py-1", instance_id=py.instance_id, tasks_in_flight=1)
    node_register(identity=_identity("io-1", skills=[], queues=["connectors"], slots=2))
    gone = _identity("br-1", skills=["browser", "python"], queues=["llm"], slots=8)
    node_register(identity=gone)
    node_stop(node_id="br-1", instance_id=gone.instance_id)
    auth_rate_limiter.reset()
    yield
    auth_rate_limiter.reset()


def test_the_node_list_has_every_node_with_its_state_skills_and_capacity(client: Client) -> None:
    response = client.get("/api/v1/nodes", **AUTH)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json; charset=utf-8"
    body = response.json()
    assert body["count"] == 3
    assert [n["node_id"] for n in body["nodes"]] == ["br-1", "io-1", "py-1"]
    assert all(set(node) == NODE_KEYS for node in body["nodes"])
    gone, io, py = body["nodes"]
    assert (gone["status"], gone["online"], gone["available_capacity"]) == ("offline", False, 0)
    assert py["skills"] == ["default", "llm", "python"]
    assert py["queues"] == ["default", "llm", "skill.python"]
    assert (py["status"], py["max_concurrent_tasks"], py["tasks_in_flight"]) == ("online", 4, 1)
    assert (py["available_capacity"], py["display_name"], py["host"]) == (
        3,
        "celery@py-1",
        "host-a",
    )
    assert py["last_heartbeat_at"].endswith("Z")
    assert 0 <= py["seconds_since_heartbeat"] < 60
    assert io["skills"] == ["connectors"]


def test_online_and_by_skill_list_only_online_nodes(client: Client) -> None:
    online = client.get("/api/v1/nodes/online", **AUTH).json()
    assert [n["node_id"] for n in online["nodes"]] == ["io-1", "py-1"]
    python = client.get("/api/v1/nodes/skills/python", **AUTH).json()
    assert (python["skill"], python["count"]) == ("python", 1)
    assert [n["node_id"] for n in python["nodes"]] == ["py-1"]
    browser = client.get("/api/v1/nodes/skills/browser", **AUTH).json()
    assert (browser["count"], browser["nodes"]) == (0, [])
    bad = client.get("/api/v1/nodes/skills/Not%20A%20Skill", **AUTH)
    assert bad.status_code == 400
    assert "is not a skill name" in bad.json()["error"]["message"]


def test_a_nodes_health_is_200_online_and_503_offline(client: Client, settings: Any) -> None:
    settings.NODE_OFFLINE_AFTER_SECONDS = 90
    up = client.get("/api/v1/nodes/py-1/health", **AUTH)
    assert up.status_code == 200
    body = up.json()
    assert set(body) == {
        "node_id", "status", "online", "last_heartbeat_at", "seconds_since_heartbeat",
        "offline_after_seconds", "max_concurrent_tasks", "tasks_in_flight",
        "available_capacity", "timestamp",
    }  # fmt: skip
    assert (body["status"], body["offline_after_seconds"], body["available_capacity"]) == (
        "online",
        90,
        3,
    )
    down = client.get("/api/v1/nodes/br-1/health", **AUTH)
    assert down.status_code == 503
    assert (down.json()["status"], down.json()["tasks_in_flight"]) == ("offline", 0)


def test_an_unknown_node_is_a_404_with_a_json_error(client: Client) -> None:
    response = client.get("/api/v1/nodes/nope:1/health", **AUTH)
    assert response.status_code == 404
    assert response.json() == {
        "error": {"type": "not_found", "message": "no node 'nope:1'; GET /api/v1/nodes lists them"}
    }


def test_cluster_health_sums_the_online_nodes(client: Client) -> None:
    body = client.get("/api/v1/cluster/health", **AUTH).json()
    assert set(body) == {
        "total_nodes", "online_nodes", "total_capacity", "available_capacity", "timestamp",
    }  # fmt: skip
    assert (body["total_nodes"], body["online_nodes"]) == (3, 2)
    assert (body["total_capacity"], body["available_capacity"]) == (6, 5)
    assert body["timestamp"].endswith("Z")


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize(
    "headers",
    [{}, {"HTTP_AUTHORIZATION": "Bearer wrong-token-0123456789"}, {"HTTP_AUTHORIZATION": TOKEN}],
    ids=["none", "wrong", "not-bearer"],
)
def test_without_a_valid_token_every_route_is_401(
    client: Client, url: str, headers: dict[str, Any]
) -> None:
    response = client.get(url, **headers, **REMOTE)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"]["type"] == "unauthorized"
    assert "Authorization: Bearer" in response.json()["error"]["message"]


def test_repeated_failures_are_locked_out_with_429(client: Client) -> None:
    for _ in range(10):
        client.get("/api/v1/nodes", HTTP_AUTHORIZATION="Bearer nope", **REMOTE)
    response = client.get("/api/v1/nodes", **AUTH, **REMOTE)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert response.json()["error"]["type"] == "rate_limited"


def test_a_token_without_read_scope_is_403(client: Client) -> None:
    response = client.get("/api/v1/nodes", HTTP_AUTHORIZATION=f"Bearer {PAIRING_ONLY}")
    assert response.status_code == 403
    assert response.json()["error"] == {
        "type": "forbidden",
        "message": "missing scope: operator.read",
    }


@pytest.mark.parametrize("url", URLS)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_other_methods_are_405(client: Client, url: str, method: str) -> None:
    response = getattr(client, method)(url, **AUTH)
    assert response.status_code == 405
    assert response["Allow"] == "GET"
    assert response.json()["error"]["type"] == "method_not_allowed"
