"""Cluster nodes where operators see them: ``node.list``, the admin, ``manage.py status``."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from gateway.methods import REGISTRY
from gateway.methods.registry import CallContext
from gateway.models import Node
from gateway.nodes import NodeIdentity, node_heartbeat, node_register, node_stop
from gateway.scopes import ADMIN
from pairing.tests.factories import DeviceFactory
from tests.admin_checks import admin_url
from tests.gateway_process import free_port

pytestmark = pytest.mark.django_db


def _register(node_id: str, *, skills: list[str], slots: int, busy: int = 0) -> NodeIdentity:
    identity = NodeIdentity(
        node_id=node_id,
        host="host-a",
        pid=100,
        queues=["default", "llm", *(f"skill.{s}" for s in skills)],
        declared_skills=skills,
        max_concurrent_tasks=slots,
        display_name=f"celery@{node_id}",
        platform="linux",
        version="0.1.0",
    )
    node_register(identity=identity)
    node_heartbeat(node_id=node_id, instance_id=identity.instance_id, tasks_in_flight=busy)
    return identity


def _node_list() -> Any:
    context = CallContext(
        conn_id="c", role="operator", scopes=frozenset({ADMIN}), client_id="cli",
        client_mode="cli", device_id=None, caps=frozenset(),
    )  # fmt: skip
    method = REGISTRY["node.list"]
    return method.handler(context, method.params.model_validate({}))


def test_node_list_has_openclaws_node_devices_and_the_cluster_workers() -> None:
    _register("zeta:1", skills=["python"], slots=4)
    gone = _register("alpha:2", skills=[], slots=2)
    node_stop(node_id="alpha:2", instance_id=gone.instance_id)
    device = DeviceFactory.create(paired=True, role="node", display_name="Phone")
    DeviceFactory.create(paired=True, role="operator")  # an operator device is no node
    DeviceFactory.create(role="node")  # nor one still waiting for approval

    payload = _node_list()
    assert isinstance(payload["ts"], int)
    # OpenClaw's order: connected first, then by name.
    assert [n["nodeId"] for n in payload["nodes"]] == ["zeta:1", "alpha:2", device.device_id]
    worker, stopped, phone = payload["nodes"]
    assert worker == {
        "nodeId": "zeta:1",
        "displayName": "celery@zeta:1",
        "platform": "linux",
        "version": "0.1.0",
        "clientMode": "worker",
        "caps": ["default", "llm", "python"],
        "commands": [],
        "approvalState": "approved",
        "connectedAtMs": worker["connectedAtMs"],
        "lastSeenAtMs": worker["lastSeenAtMs"],
        "lastSeenReason": "heartbeat",
        "paired": True,
        "connected": True,
    }
    assert worker["lastSeenAtMs"] >= worker["connectedAtMs"]
    assert (stopped["connected"], "connectedAtMs" in stopped) == (False, False)
    assert (phone["displayName"], phone["paired"], phone["connected"]) == ("Phone", True, False)
    assert (phone["caps"], phone["commands"]) == ([], [])


def test_the_admin_lists_nodes_read_only_with_their_state(admin_client: Client) -> None:
    _register("py:1", skills=["python"], slots=4, busy=1)
    Node.objects.create(
        node_id="old:2",
        host="host-b",
        last_heartbeat_at=timezone.now() - timedelta(hours=1),
        max_concurrent_tasks=3,
    )
    page = admin_client.get(admin_url(Node, "changelist")).content.decode()
    for text in ("py:1", "host-a", "default, llm, python", "old:2", "icon-yes.svg", "icon-no.svg"):
        assert text in page
    assert admin_url(Node, "add") not in page
    node = Node.objects.get(node_id="py:1")
    change = admin_client.get(admin_url(Node, "change", node.pk))
    assert change.status_code == 200
    assert 'name="node_id"' not in change.content.decode()  # shown, not editable
    posted = admin_client.post(admin_url(Node, "change", node.pk), {"node_id": "renamed"})
    assert posted.status_code == 403
    assert Node.objects.filter(node_id="py:1").exists()


def test_status_shows_the_nodes_in_text_and_json() -> None:
    _register("py:1", skills=["python"], slots=4, busy=1)
    gone = _register("io:2", skills=[], slots=2)
    node_stop(node_id="io:2", instance_id=gone.instance_id)

    def run(*args: str) -> str:
        out = io.StringIO()
        with pytest.raises(SystemExit):  # no gateway answers on the free port
            call_command("status", "--port", str(free_port()), *args, stdout=out)
        return out.getvalue()

    text = run()
    assert "Nodes: 1 of 2 online, 3 of 4 task slot(s) free" in text
    assert (
        "  py:1 (host-a): online, skills default, llm, python, 1/4 busy, last heartbeat 0 s ago"
        in text
    )
    assert "  io:2 (host-a): offline, skills default, llm, 0/2 busy" in text
    nodes = json.loads(run("--json"))["nodes"]
    assert (nodes["total_nodes"], nodes["online_nodes"], nodes["total_capacity"]) == (2, 1, 4)
    assert nodes["available_capacity"] == 3
    assert [(n["node_id"], n["status"]) for n in nodes["nodes"]] == [
        ("io:2", "offline"),
        ("py:1", "online"),
    ]
