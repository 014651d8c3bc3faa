"""PostgreSQL goes away and comes back under a running team topology (issue 14, bad input).

A gateway, a worker and a beat (tests/cluster.py) on a PostgreSQL and a Redis of this
test's own (tests/postgres_server.py, tests/redis_server.py), so that crashing the
database disturbs no one else. PostgreSQL is stopped with ``-m immediate``: every
backend ends at once, as in a crash, and the connections each process keeps are dead.

First a restart nobody sees: the next turn works, because a kept connection is checked
before reuse (``CONN_HEALTH_CHECKS``). Then an outage under load, longer than a model
call: ``/ready`` answers 503 naming the database (Redis is fine), ``/health`` answers,
the socket stays open, and each request fails within a bound with an error that says the
database is unavailable and to retry (an HTTP API call gets a 503 saying so, a new
client's connect is refused the same way). A run that was waiting for the model when the
database went away is not lost. When the database is back, with no process restarted:
``/ready`` is green, that run ends once and its final reaches the client waiting on it,
the refused requests sent again are answered once each, and new turns work.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

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
from tests.fakes.llm_server import FakeServerProcess, Hang, Text
from tests.gateway_process import TEAM_TOKEN
from tests.openclaw_client import GatewayClosedError, OpenClawClient
from tests.postgres_server import PostgresServer
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.process, pytest.mark.services, pytest.mark.timeout(300)]

# How long a request may take to fail while the database is down (a refused connection
# fails at once; the connect timeout is 5 s).
FAIL_WITHIN_S = 20.0
# How long the database stays down: past the in-flight model call (Hang) and several
# sweeps and cron ticks of the worker.
OUTAGE_S = 10.0
MODEL_CALL_S = 4.0


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


def test_postgres_going_away_and_coming_back_loses_nothing_and_needs_no_restart(
    own_postgres: PostgresServer, own_redis: RedisServer, tmp_path: Path
) -> None:
    with (
        FakeServerProcess("openai") as llm,
        Cluster(
            tmp_path / "cluster",
            team_env(database_url=own_postgres.url, redis_url=own_redis.url, llm=llm),
        ) as cluster,
    ):
        cluster.migrate()
        cluster.start(gateways=1, workers=1, beats=1)
        pids = [s.pid for s in cluster.services]
        try:
            asyncio.run(_scenario(cluster, own_postgres, llm))
        except Exception as exc:
            logs = f"{cluster.logs(6000)}\n--- postgres:\n{own_postgres.output()[-3000:]}"
            raise AssertionError(f"{exc!r}\n{logs}") from exc
        assert [s.pid for s in cluster.services if s.alive] == pids, cluster.logs()


async def _scenario(cluster: Cluster, pg: PostgresServer, llm: FakeServerProcess) -> None:
    key = f"agent:main:pg-outage-{uuid.uuid4().hex[:8]}"
    waiting = await client_of(cluster.gateways[0])
    try:
        before = await send_chat(waiting, key, "before")
        assert text_of((await final_of(waiting, before))["message"]) == "echo: before"

        # A restart between two requests: every kept connection is dead, and the next
        # turn works all the same (checked before reuse, not failed once).
        pg.stop()
        pg.start()
        between = await send_chat(waiting, key, "between")
        assert text_of((await final_of(waiting, between))["message"]) == "echo: between"

        # A run waiting for the model when the database goes away.
        seen = len(llm.requests())
        llm.script(Hang(MODEL_CALL_S, then=Text("in flight")))
        flying = await send_chat(waiting, f"{key}-flying", "flying")
        await until("the worker to call the model", lambda: len(llm.requests()) > seen)

        pg.stop()
        status, body = await asyncio.to_thread(_ready, cluster)
        assert status == 503, body
        assert body["down"] == ["database"], body
        assert body["checks"]["database"]["ok"] is False, body
        assert body["checks"]["redis"]["ok"] is True, body
        assert (await asyncio.to_thread(cluster.gateways[0].get, "/health"))[0] == 200
        status, api = await asyncio.to_thread(_api_nodes, cluster)
        assert status == 503, api
        assert api["error"]["code"] == "DATABASE_UNAVAILABLE", api
        assert "database is unavailable" in api["error"]["message"], api

        refused = await _load_while_down(waiting, key)
        assert not waiting.closed.is_set()
        status, body = await asyncio.to_thread(_ready, cluster)
        assert (status, body["down"]) == (503, ["database"]), body
        # New clients: a browser page (its origin policy is not cached) and one behind
        # a proxy (the trusted proxies are not cached either).
        gateway = cluster.gateways[0]
        await _connect_refused(gateway.ws_url, origin=gateway.url)
        await _connect_refused(gateway.ws_url, headers={"X-Forwarded-For": "203.0.113.7"})

        pg.start()  # the same data and port, after crash recovery
        await until("/ready to be green again", lambda: _ready(cluster)[0] == 200)

        # The run that was in flight ends once; its final reaches the waiting socket.
        row = await until("the in-flight run to end", lambda: _ended(pg, flying), within=90)
        assert row[0] == "succeeded", row
        await final_of(waiting, flying, within=30)
        assert len(await _replies(waiting, f"{key}-flying")) == 1

        # Refused requests never ran behind the client's back; sent again as they were,
        # each is answered once.
        for run_id in refused:
            assert await _replies(waiting, run_id) == [], run_id
            res = await waiting.call("chat.send", _chat_params(run_id))
            assert res["ok"], res
        for run_id in refused:
            await final_of(waiting, run_id, within=60)
        after = await send_chat(waiting, key, "after")
        assert text_of((await final_of(waiting, after))["message"]) == "echo: after"
        for run_id in refused:
            assert await _replies(waiting, run_id) == [f"echo: during {run_id}"], run_id
            assert [f["state"] for f in finals(waiting, run_id)] == ["final"], run_id
        assert [f["state"] for f in finals(waiting, flying)] == ["final"], finals(waiting, flying)
        assert await _replies(waiting, key) == ["echo: before", "echo: between", "echo: after"]
        assert not waiting.closed.is_set()
    finally:
        await waiting.close()


async def _load_while_down(client: OpenClawClient, key: str) -> list[str]:
    """Requests on one socket for ``OUTAGE_S``: each refused within a bound, saying why.

    Returns the run ids refused (each also its session key: one session each, so that
    nothing queued in one session is merged into one turn).
    """
    refused: list[str] = []
    loop = asyncio.get_running_loop()
    down_until = loop.time() + OUTAGE_S
    while loop.time() < down_until:
        run_id = f"{key}-{len(refused)}"
        res = await asyncio.wait_for(client.call("chat.send", _chat_params(run_id)), FAIL_WITHIN_S)
        _assert_database_error(res)
        refused.append(run_id)
        res = await asyncio.wait_for(
            client.call("chat.history", {"sessionKey": key}), FAIL_WITHIN_S
        )
        _assert_database_error(res)
        health = await asyncio.wait_for(client.call("health"), FAIL_WITHIN_S)
        if not health["ok"]:
            _assert_database_error(health)
        await asyncio.sleep(1)
    return refused


async def _connect_refused(url: str, **client: Any) -> None:
    """A client connecting while the database is down is told so (unless its token is
    still cached), and the socket is closed with 1013, "try again later"."""
    late = OpenClawClient(url, timeout=FAIL_WITHIN_S, **client)
    try:
        await late.open()
    except Exception as exc:
        raise AssertionError(f"the WebSocket upgrade failed: {exc!r}") from None
    try:
        hello = await late.connect(token=TEAM_TOKEN, scopes=["operator.read"])
    except GatewayClosedError:
        raise AssertionError("the socket closed without an answer") from None
    try:
        if hello["ok"]:
            return  # the token was still in the process's cache: no database call
        _assert_database_error(hello, retryable=None)
        await until("the socket to close", late.closed.is_set, within=FAIL_WITHIN_S)
        assert late.close_code == 1013, late.close_code
    finally:
        await late.close()


def _chat_params(run_id: str) -> dict[str, Any]:
    return {"sessionKey": run_id, "message": f"during {run_id}", "idempotencyKey": run_id}


def _assert_database_error(res: dict[str, Any], retryable: bool | None = True) -> None:
    """A refusal that says what is wrong and what to do, not a generic failure."""
    assert not res["ok"], res
    error = res["error"]
    message = str(error.get("message", ""))
    assert "the database is unavailable" in message, res
    assert "retry" in message, res
    assert error["code"] == "UNAVAILABLE", res
    assert error.get("details", {}).get("code") == "DATABASE_UNAVAILABLE", res
    assert error.get("retryable") is retryable, res


def _ready(cluster: Cluster) -> tuple[int, dict[str, Any]]:
    status, body = cluster.gateways[0].get("/ready", timeout=30)
    return status, json.loads(body) if body else {}


def _api_nodes(cluster: Cluster) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 (the gateway this test started)
        cluster.gateways[0].url + "/api/v1/nodes",
        headers={"Authorization": f"Bearer {TEAM_TOKEN}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=FAIL_WITHIN_S) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _ended(pg: PostgresServer, run_id: str) -> tuple[str, int] | None:
    with psycopg.connect(pg.url, connect_timeout=5) as db:
        row = db.execute(
            "SELECT status, attempts FROM agents_run WHERE run_id = %s", [run_id]
        ).fetchone()
    if row is None or row[0] not in ("succeeded", "failed", "aborted"):
        return None
    return str(row[0]), int(row[1])


async def _replies(client: OpenClawClient, session_key: str) -> list[str]:
    return [text_of(m) for m in await history(client, session_key) if m.get("role") == "assistant"]
