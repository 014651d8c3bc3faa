"""Redis goes away and comes back under a running team topology (issue 14, bad input).

A gateway, a worker and a beat (tests/cluster.py) on PostgreSQL and on a Redis of this
test's own (a ``redis-server`` on a free port, without persistence, as compose runs it),
so that stopping it disturbs no one else. While Redis is down: ``/ready`` answers 503 and
names it, a socket stays open, and requests fail with an error that says what is wrong
or are accepted and kept in the database. When it is back, with no process restarted:
``/ready`` is green, every run accepted meanwhile finishes once and its final reaches the
client waiting on it, and new runs work.

PostgreSQL going away is tested in tests/test_postgres_outage_process.py, with a
PostgreSQL server of its own (tests/postgres_server.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import psycopg
import pytest
import redis

from tests.cluster import (
    Cluster,
    client_of,
    final_of,
    finals,
    history,
    send_chat,
    team_env,
    text_of,
    until,
)
from tests.fakes.llm_server import FakeServerProcess
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.process, pytest.mark.services, pytest.mark.timeout(300)]


def _idle(server: RedisServer) -> bool:
    """Whether no task is being worked on (kombu's ``unacked`` hash is empty).

    kombu 5 has a race here: a worker that loses Redis while it acknowledges a task can
    die with ``AttributeError: 'NoneType' object has no attribute 'hostname'`` in
    ``restore_unacked`` (celery/kombu#582), where compose's restart policy and systemd's
    ``Restart=on-failure`` start it again. This test is about what our code does.
    """
    return cast("int", redis.Redis.from_url(server.url).hlen("unacked")) == 0


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def _ready(cluster: Cluster) -> tuple[int, dict[str, Any]]:
    status, body = cluster.gateways[0].get("/ready", timeout=30)
    return status, json.loads(body) if body else {}


def test_redis_going_away_and_coming_back_loses_nothing_and_needs_no_restart(
    services: dict[str, str], own_redis: RedisServer, tmp_path: Path
) -> None:
    with (
        FakeServerProcess("openai") as llm,
        Cluster(
            tmp_path / "cluster",
            team_env(
                database_url=services["DATABASE_URL"],
                redis_url=own_redis.url,
                llm=llm,
                # Few chores: Redis goes away while the worker holds no task (see _idle).
                OPENCLAW_CRON_TICK_SECONDS="60",
                OPENCLAW_CHANNEL_SWEEP_SECONDS="60",
            ),
        ) as cluster,
    ):
        cluster.migrate()
        cluster.start(gateways=1, workers=1, beats=1)
        pids = [s.pid for s in cluster.services]
        asyncio.run(_scenario(cluster, own_redis))
        assert [s.pid for s in cluster.services if s.alive] == pids, cluster.logs()


async def _scenario(cluster: Cluster, own_redis: RedisServer) -> None:
    key = f"agent:main:outage-{uuid.uuid4().hex[:8]}"
    # One session each: messages queued in one session would be merged into one turn.
    during = [f"{key}-{n}" for n in range(3)]
    waiting = await client_of(cluster.gateways[0])
    try:
        before = await send_chat(waiting, key, "before")
        assert text_of((await final_of(waiting, before))["message"]) == "echo: before"

        await until("the worker to hold no task", lambda: _idle(own_redis))
        own_redis.stop()
        status, body = await asyncio.to_thread(_ready, cluster)
        assert status == 503, body
        assert body["checks"]["redis"]["ok"] is False, body
        assert body["checks"]["database"]["ok"] is True, body

        # A request while Redis is down: accepted (the run is in the database) or refused
        # with an error that names what is wrong; never a hang or a dropped socket.
        accepted: list[str] = []
        for run_id in during:  # the run id is the session key, for short
            res = await waiting.call(
                "chat.send",
                {"sessionKey": run_id, "message": f"during {run_id}", "idempotencyKey": run_id},
            )
            if res["ok"]:
                accepted.append(run_id)
            else:
                message = str(res["error"].get("message", "")).lower()
                assert "redis" in message or "broker" in message, res
        assert not waiting.closed.is_set()
        health = await waiting.call("health")
        assert health["ok"], health

        own_redis.start()  # empty: nothing of the broker's queue or the layer's groups
        await until("/ready to be green again", lambda: _ready(cluster)[0] == 200)

        # Every run accepted meanwhile ends once; its final reaches the waiting socket.
        for run_id in accepted:

            def finished(run_id: str = run_id) -> tuple[str, int] | None:
                return _finished(cluster, run_id)

            row = await until(f"run {run_id} to finish", finished, within=90)
            assert row == ("succeeded", 1), (run_id, row)
        for run_id in during:
            replies = [
                text_of(m) for m in await history(waiting, run_id) if m.get("role") == "assistant"
            ]
            # Accepted: answered once. Refused: never run behind the client's back.
            assert replies == ([f"echo: during {run_id}"] if run_id in accepted else []), run_id
        for run_id in accepted:
            assert [f["state"] for f in await _finals_soon(waiting, run_id)] == ["final"], (
                f"run {run_id} finished but its final never reached the socket that waited "
                "for it: the gateway went deaf after Redis restarted (gateway/bus.py)"
            )

        # New work flows end to end, on the socket that lived through the outage too.
        after = await send_chat(waiting, key, "after")
        assert text_of((await final_of(waiting, after))["message"]) == "echo: after"
    finally:
        await waiting.close()


async def _finals_soon(client: Any, run_id: str) -> list[dict[str, Any]]:
    try:
        await final_of(client, run_id, within=30)
    except AssertionError:
        return []
    return finals(client, run_id)


def _finished(cluster: Cluster, run_id: str) -> tuple[str, int] | None:
    with psycopg.connect(cluster.env["DATABASE_URL"]) as db:
        row = db.execute(
            "SELECT status, attempts FROM agents_run WHERE run_id = %s", [run_id]
        ).fetchone()
    if row is None or row[0] not in ("succeeded", "failed", "aborted"):
        return None
    return str(row[0]), int(row[1])
