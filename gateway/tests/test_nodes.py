"""Cluster nodes: registration, heartbeats, expiry on a fixed clock, a duplicate id refused,
a stale one taken over, the sweep, and skill routing (gateway.nodes)."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from gateway import node_selectors
from gateway.lib import nodes as node_lib
from gateway.models import Node
from gateway.node_member import node_id_for
from gateway.nodes import (
    FORGET_AFTER,
    NodeError,
    NodeIdentity,
    NodeIdInUseError,
    NoNodeForSkillError,
    enqueue_for_skill,
    node_heartbeat,
    node_register,
    node_stop,
    node_sweep,
    route_for_skill,
)
from tests.gateway_process import child_env, run_manage

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _identity(node_id: str = "w1", **overrides: Any) -> NodeIdentity:
    values: dict[str, Any] = {
        "node_id": node_id,
        "host": "host-a",
        "pid": 4242,
        "queues": ["default", "llm"],
        "declared_skills": [],
        "max_concurrent_tasks": 4,
        "display_name": f"celery@{node_id}",
        "platform": "linux",
        "version": "0.1.0",
    }
    values.update(overrides)
    if values["declared_skills"] and "queues" not in overrides:
        values["queues"] = node_lib.node_queues(values["queues"], values["declared_skills"])
    return NodeIdentity(**values)


def _at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


# --- the grammar (no database) ---------------------------------------------------------
def test_skills_are_the_plain_queues_plus_the_declared_ones() -> None:
    queues = node_lib.node_queues(["default", "llm"], ["python", "browser"])
    assert queues == ["default", "llm", "skill.browser", "skill.python"]
    assert node_lib.node_skills(queues, ["python", "browser"]) == [
        "browser",
        "default",
        "llm",
        "python",
    ]


def test_a_skill_goes_to_its_skill_queue_or_to_the_queue_of_that_name() -> None:
    assert node_lib.queue_for_skill("python", [["llm"], ["default", "skill.python"]]) == (
        "skill.python"
    )
    assert node_lib.queue_for_skill("llm", [["default", "llm"]]) == "llm"
    assert node_lib.queue_for_skill("gpu", [["default", "llm"]]) is None


@pytest.mark.parametrize("bad", ["", "has space", "a/b", "-lead", "x" * 129])
def test_bad_node_ids_are_refused_with_what_to_write(bad: str) -> None:
    with pytest.raises(node_lib.NodeConfigError, match="is not a node id: use 1-128"):
        node_lib.check_node_id(bad)


@pytest.mark.parametrize("bad", ["Python", "a.b", "", "with space"])
def test_bad_skills_are_refused_with_what_to_write(bad: str) -> None:
    with pytest.raises(node_lib.NodeConfigError, match="is not a skill name"):
        node_lib.check_skills(["python", bad])


def test_the_default_node_id_is_host_and_pid_cut_to_fit() -> None:
    assert node_lib.default_node_id(hostname="pi", pid=7) == "pi:7"
    long_id = node_lib.default_node_id(hostname="h" * 300, pid=12345)
    assert len(long_id) == 128
    assert long_id.endswith(":12345")


def test_embedded_worker_processes_suffix_a_configured_id(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.NODE_ID = "team-a"
    assert node_id_for(host="h", pid=1) == "team-a"
    settings.EMBEDDED_BROKER_SOCKET = "/tmp/broker.sock"
    monkeypatch.setenv("OPENCLAW_WORKER_INDEX", "1")
    assert node_id_for(host="h", pid=1) == "team-a-w1"
    settings.NODE_ID = ""
    assert node_id_for(host="h", pid=1) == "h:1"


def test_a_bad_skill_setting_stops_start_up_with_one_line(tmp_path: Any) -> None:
    result = run_manage(
        "check", env=child_env(tmp_path / "data", OPENCLAW_NODE_SKILLS="python,Web Browser")
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: OPENCLAW_NODE_SKILLS: 'Web Browser' is not a skill name: use 1-64 lowercase "
        "letters, digits, _ and -, starting with a letter or digit (e.g. python, browser)"
    ]


# --- register, heartbeat, stop ---------------------------------------------------------
@pytest.mark.django_db
def test_a_registered_node_is_online_with_its_skills_and_capacity() -> None:
    identity = _identity(declared_skills=["python"])
    node = node_register(identity=identity, now=_at(0))
    assert (node.node_id, node.host, node.pid, node.status) == ("w1", "host-a", 4242, "online")
    assert node.skills == ["default", "llm", "python"]
    assert node.queues == ["default", "llm", "skill.python"]
    assert (node.max_concurrent_tasks, node.tasks_in_flight) == (4, 0)
    assert node.instance_id == identity.instance_id
    assert node.last_heartbeat_at == node.started_at == node.status_changed_at == _at(0)


@pytest.mark.django_db
def test_heartbeats_keep_a_node_online_and_report_its_tasks_in_flight() -> None:
    identity = _identity()
    node_register(identity=identity, now=_at(0))
    for second in (5, 10, 15):
        assert node_heartbeat(
            node_id="w1", instance_id=identity.instance_id, tasks_in_flight=3, now=_at(second)
        )
    node = Node.objects.get()
    assert (node.last_heartbeat_at, node.tasks_in_flight) == (_at(15), 3)
    assert [v.node.node_id for v in node_selectors.nodes_all(now=_at(100))] == ["w1"]
    assert node_selectors.nodes_online(now=_at(100)) == [node]
    # Another instance's heartbeat under the same id changes nothing.
    assert not node_heartbeat(
        node_id="w1", instance_id=uuid.uuid4(), tasks_in_flight=0, now=_at(20)
    )


@pytest.mark.django_db
def test_a_node_goes_offline_after_the_timeout_and_the_sweep_records_it(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.NODE_OFFLINE_AFTER_SECONDS = 90
    identity = _identity()
    node_register(identity=identity, now=_at(0))
    assert node_selectors.node_view("w1", now=_at(90)).online  # type: ignore[union-attr]
    assert node_sweep(now=_at(90)).went_offline == []
    assert not node_selectors.node_view("w1", now=_at(91)).online  # type: ignore[union-attr]

    with caplog.at_level(logging.WARNING, logger="gateway.nodes"):
        assert node_sweep(now=_at(91)).went_offline == ["w1"]
    assert "node w1 is offline: pid 4242 on host-a, last heartbeat 91 s ago" in caplog.text
    node = Node.objects.get()
    assert (node.status, node.status_changed_at, node.tasks_in_flight) == ("offline", _at(91), 0)
    assert node_sweep(now=_at(120)).went_offline == []  # recorded once

    # A heartbeat after a long pause brings it back, and that transition is recorded too.
    assert node_heartbeat(
        node_id="w1", instance_id=identity.instance_id, tasks_in_flight=1, now=_at(150)
    )
    node.refresh_from_db()
    assert (node.status, node.status_changed_at) == ("online", _at(150))


@pytest.mark.django_db
def test_the_sweep_leaves_a_node_whose_heartbeat_just_landed(settings: Any) -> None:
    settings.NODE_OFFLINE_AFTER_SECONDS = 90
    identity = _identity()
    node_register(identity=identity, now=_at(0))
    stale = list(Node.objects.stale(_at(100)))
    node_heartbeat(node_id="w1", instance_id=identity.instance_id, tasks_in_flight=0, now=_at(99))
    with mock.patch.object(
        Node.objects, "stale", side_effect=[stale, Node.objects.stale(_at(100))]
    ):
        assert node_sweep(now=_at(100)).went_offline == []
    assert Node.objects.get().status == "online"


@pytest.mark.django_db
def test_the_sweep_forgets_nodes_gone_for_a_day() -> None:
    node_register(identity=_identity("gone"), now=_at(0))
    node_register(identity=_identity("recent"), now=_at(0))
    node_sweep(now=_at(100))
    Node.objects.filter(node_id="recent").update(status_changed_at=_at(3600))
    later = _at(100) + FORGET_AFTER + timedelta(seconds=1)
    assert node_sweep(now=later).forgotten == 1
    assert list(Node.objects.values_list("node_id", flat=True)) == ["recent"]


@pytest.mark.django_db
def test_a_clean_stop_takes_the_node_offline_at_once() -> None:
    identity = _identity()
    node_register(identity=identity, now=_at(0))
    assert node_stop(node_id="w1", instance_id=identity.instance_id, now=_at(3))
    view = node_selectors.node_view("w1", now=_at(4))
    assert view is not None
    assert (view.online, view.node.status, view.node.status_changed_at) == (
        False,
        "offline",
        _at(3),
    )
    assert not node_stop(node_id="w1", instance_id=identity.instance_id, now=_at(5))
    # The id is free at once: a restart under it is no takeover of a live node.
    node_register(identity=_identity(), now=_at(6))


# --- one id, two processes ---------------------------------------------------------------
@pytest.mark.django_db
def test_an_id_held_by_a_live_node_is_refused_with_who_holds_it(settings: Any) -> None:
    settings.NODE_OFFLINE_AFTER_SECONDS = 90
    first = _identity()
    node_register(identity=first, now=_at(0))
    node_heartbeat(node_id="w1", instance_id=first.instance_id, tasks_in_flight=0, now=_at(60))
    with pytest.raises(NodeIdInUseError) as refused:
        node_register(identity=_identity(host="host-b", pid=7), now=_at(70))
    assert str(refused.value) == (
        "node id 'w1' is held by a live node (pid 4242 on host-a, last heartbeat 10 s ago); "
        "stop that worker, or give this one another OPENCLAW_NODE_ID"
    )
    assert Node.objects.get().instance_id == first.instance_id


@pytest.mark.django_db
def test_a_stale_holder_is_taken_over_and_loses_its_heartbeats(
    settings: Any, caplog: pytest.LogCaptureFixture
) -> None:
    settings.NODE_OFFLINE_AFTER_SECONDS = 90
    first = _identity()
    node_register(identity=first, now=_at(0))
    second = _identity(host="host-b", pid=7, max_concurrent_tasks=2)
    with caplog.at_level(logging.WARNING, logger="gateway.nodes"):
        node = node_register(identity=second, now=_at(91))
    assert "node w1: taking over the id from a stale holder (pid 4242 on host-a" in caplog.text
    assert (node.instance_id, node.host, node.pid) == (second.instance_id, "host-b", 7)
    assert (node.max_concurrent_tasks, node.started_at, node.status) == (2, _at(91), "online")
    # The old process, back from its pause, finds the id is no longer its own.
    assert not node_heartbeat(
        node_id="w1", instance_id=first.instance_id, tasks_in_flight=0, now=_at(92)
    )
    assert not node_stop(node_id="w1", instance_id=first.instance_id, now=_at(93))
    assert Node.objects.get().status == "online"


# --- skill routing and capacity ---------------------------------------------------------
@pytest.mark.django_db
def test_a_skill_is_routed_to_an_online_node_having_it() -> None:
    node_register(identity=_identity("py", declared_skills=["python"]))
    node_register(identity=_identity("io", queues=["connectors"]))
    assert route_for_skill("python") == "skill.python"
    assert route_for_skill("connectors") == "connectors"
    assert route_for_skill("llm") == "llm"
    assert [v.node.node_id for v in node_selectors.nodes_with_skill("python")] == ["py"]


@pytest.mark.django_db
def test_a_skill_no_online_node_has_is_a_clear_error() -> None:
    identity = _identity("br", declared_skills=["browser"])
    node_register(identity=identity)
    node_stop(node_id="br", instance_id=identity.instance_id)
    node_register(identity=_identity("py", declared_skills=["python"]))
    with pytest.raises(NoNodeForSkillError) as missing:
        route_for_skill("browser")
    assert str(missing.value) == (
        "no online node has the skill 'browser' (1 node(s) online, with skills: "
        "default, llm, python); start a worker with OPENCLAW_NODE_SKILLS=browser"
    )
    with pytest.raises(NodeError, match="'Browser' is not a skill name"):
        route_for_skill("Browser")


@pytest.mark.django_db
def test_enqueue_for_skill_sends_by_name_to_the_skill_queue_on_commit(
    django_capture_on_commit_callbacks: Any,
) -> None:
    node_register(identity=_identity("py", declared_skills=["python"]))
    with (
        mock.patch("gateway.nodes.current_app.send_task") as send,
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert enqueue_for_skill("gateway.node_sweep", skill="python", kwargs={}) == (
            "skill.python"
        )
        send.assert_not_called()
    send.assert_called_once_with("gateway.node_sweep", kwargs={}, queue="skill.python")
    with pytest.raises(NoNodeForSkillError):
        enqueue_for_skill("gateway.node_sweep", skill="gpu")


@pytest.mark.django_db
def test_cluster_health_counts_the_capacity_of_online_nodes(
    django_assert_num_queries: Any,
) -> None:
    busy = _identity("busy", max_concurrent_tasks=4)
    node_register(identity=busy, now=_at(0))
    node_heartbeat(node_id="busy", instance_id=busy.instance_id, tasks_in_flight=3, now=_at(5))
    overloaded = _identity("over", max_concurrent_tasks=2)
    node_register(identity=overloaded, now=_at(0))
    node_heartbeat(
        node_id="over", instance_id=overloaded.instance_id, tasks_in_flight=5, now=_at(5)
    )
    node_register(identity=_identity("old", max_concurrent_tasks=8), now=_at(-500))
    with django_assert_num_queries(1):
        health = node_selectors.cluster_health(now=_at(10))
    assert health.as_dict() == {
        "total_nodes": 3,
        "online_nodes": 2,
        "total_capacity": 6,
        "available_capacity": 1,
        "timestamp": "2026-12-01T12:00:10.000Z",
    }
