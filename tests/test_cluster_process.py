"""Team mode scales out: 2 gateways + 2 workers + beat as real processes (issue 14, item 1).

One topology for the module (tests/cluster.py: the commands of docker/compose.yml) on
PostgreSQL + Redis, the fake OpenAI server and the fake Telegram Bot API; real WebSocket
clients (OpenClaw's handshake), real SIGKILLs. Before each test, whatever a previous
one killed is replaced, so each starts from 2 + 2 + 1.

The shared test database outlives the run: sessions, chats and cron jobs are unique to
the run, the Telegram account is switched off at the end, and its fake's update ids
start past any earlier run's.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
import redis
from celery import Celery

from tests.cluster import (
    Cluster,
    Service,
    client_of,
    final_of,
    finals,
    history,
    send_chat,
    team_env,
    text_of,
    until,
    wait_until,
)
from tests.fakes.llm_server import FakeServerProcess, Hang
from tests.fakes.telegram_server import FakeTelegramServer
from tests.telegram_harness import TOKEN, configure, telegram_setup, texts_to

pytestmark = [pytest.mark.process, pytest.mark.services, pytest.mark.timeout(300)]

RUN = uuid.uuid4().hex[:8]  # this run's sessions, chats and jobs
# Long enough for a poll lease (60 s) to run out and the 4 s channel sweep to notice.
FAILOVER_S = 120.0


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeServerProcess]:
    with FakeServerProcess("openai") as server:
        yield server


@pytest.fixture(scope="module")
def fake_tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username="testbot")
        # Inbound messages are unique on (account, update id) in a database that keeps
        # earlier runs' rows: begin this run's ids past theirs.
        server.push_update(TOKEN, {"update_id": int(time.time() * 1000)})
        yield server


@pytest.fixture(scope="module")
def cluster(
    services: dict[str, str],
    fake_llm: FakeServerProcess,
    fake_tg: FakeTelegramServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("cluster")
    env = team_env(
        database_url=services["DATABASE_URL"], redis_url=services["REDIS_URL"], llm=fake_llm
    )
    manage_env = {**env, "OPENCLAW_DATA_DIR": str(root / "data" / "manage")}
    with Cluster(root, env) as topology:
        topology.migrate()
        telegram_setup(
            manage_env,
            fake_tg,
            ("channels.telegram.enabled", "true"),
            ("channels.telegram.allowFrom", '["*"]'),
            ("channels.telegram.dmPolicy", "open"),
        )
        try:
            topology.start(gateways=2, workers=2, beats=1)
            yield topology
        finally:
            topology.stop()
            configure(manage_env, ("channels.telegram.enabled", "false"))


@pytest.fixture(autouse=True)
def whole(cluster: Cluster) -> Cluster:
    """2 gateways, 2 workers and a beat at the start of every test."""
    cluster.heal()
    return cluster


def _db(cluster: Cluster) -> psycopg.Connection[Any]:
    return psycopg.connect(cluster.env["DATABASE_URL"], autocommit=True)


def _session(name: str) -> str:
    return f"agent:main:{name}-{RUN}"


def _chat_id() -> int:
    return random.randint(10**8, 10**9)


# --- events cross gateways --------------------------------------------------------------
def test_a_client_on_one_gateway_hears_the_runs_started_through_the_other(
    cluster: Cluster,
) -> None:
    a_gw, b_gw = cluster.gateways

    async def scenario() -> None:
        a, b = await client_of(a_gw), await client_of(b_gw)
        try:
            from_b = await send_chat(b, _session("cross-b"), "started on B")
            from_a = await send_chat(a, _session("cross-a"), "started on A")
            for client in (a, b):
                for run_id, text in ((from_b, "started on B"), (from_a, "started on A")):
                    final = await final_of(client, run_id)
                    assert final["state"] == "final", final
                    assert text_of(final["message"]) == f"echo: {text}"
            # The run's agent events (lifecycle, assistant stream) cross too.
            assert any(
                e.get("event") == "agent" and e["payload"].get("runId") == from_b for e in a.events
            ), [e.get("event") for e in a.events]
        finally:
            await a.close()
            await b.close()

    asyncio.run(scenario())


def test_a_client_hears_the_run_of_a_telegram_message_handled_on_a_worker(
    cluster: Cluster, fake_tg: FakeTelegramServer
) -> None:
    chat = _chat_id()

    async def scenario() -> list[dict[str, Any]]:
        clients = [await client_of(gw) for gw in cluster.gateways]
        try:
            fake_tg.push_message(TOKEN, chat_id=chat, from_id=chat, text="via telegram")

            def telegram_final(client: Any) -> dict[str, Any] | None:
                return next(
                    (
                        e["payload"]
                        for e in client.events
                        if e.get("event") == "chat"
                        and e["payload"].get("state") == "final"
                        and str(chat) in str(e["payload"].get("sessionKey"))
                    ),
                    None,
                )

            heard = []
            for client in clients:

                def probe(client: Any = client) -> dict[str, Any] | None:
                    return telegram_final(client)

                heard.append(await until("the telegram run's final", probe))
            return heard
        finally:
            for client in clients:
                await client.close()

    heard = asyncio.run(scenario())
    assert [text_of(p["message"]) for p in heard] == ["echo: via telegram"] * 2
    assert heard[0]["runId"] == heard[1]["runId"]
    wait_until("the reply on Telegram", lambda: texts_to(fake_tg, chat))
    assert texts_to(fake_tg, chat) == ["echo: via telegram"]


# --- the Telegram poller: one at a time, and failover -------------------------------------
def _account(cluster: Cluster) -> tuple[int, str, str]:
    """(pk, poll lease owner, last error) of the Telegram account."""
    with _db(cluster) as db:
        row = db.execute(
            "SELECT id, poll_lease_owner, last_error FROM channels_app_channelaccount "
            "WHERE kind = 'telegram' AND enabled ORDER BY id LIMIT 1"
        ).fetchone()
    assert row is not None, "no enabled Telegram account"
    return int(row[0]), str(row[1]), str(row[2])


def _polls(fake_tg: FakeTelegramServer, since: float) -> int:
    return sum(c["_ts"] >= since for c in fake_tg.calls(TOKEN, "getUpdates"))


def test_one_poller_per_telegram_account_and_another_worker_takes_over_when_it_dies(
    cluster: Cluster, fake_tg: FakeTelegramServer
) -> None:
    pk = wait_until("a poller", lambda: _account(cluster)[1] and _account(cluster)[0])

    # Other chains try to poll the same account, on both workers, while the sweeps go on:
    # the lease turns each away, and the live chain is never interrupted (two getUpdates
    # at once would end the first with Telegram's 409 Conflict, an error on the account).
    broker = Celery("intruder", broker=cluster.env["REDIS_URL"], set_as_current=False)
    try:
        for n in range(6):
            broker.send_task("channels.poll", args=[pk, f"intruder-{RUN}-{n}"], queue="connectors")
    finally:
        broker.close()
    queue = redis.Redis.from_url(cluster.env["REDIS_URL"])
    wait_until("the workers to take them", lambda: queue.llen("connectors") == 0)
    chat = _chat_id()
    fake_tg.push_message(TOKEN, chat_id=chat, from_id=chat, text="one poller")
    wait_until("the reply", lambda: texts_to(fake_tg, chat))
    _, still, error = _account(cluster)
    assert not still.startswith("intruder"), still
    assert "conflict" not in error.lower(), error

    # Hold the next getUpdates at the fake, then SIGKILL a worker: if it held the poll,
    # the fake sees its connection close; if not, the other one holds it, and dies next.
    fake_tg.hang("getUpdates", 600)
    wait_until("a held poll", lambda: fake_tg.held("getUpdates") == 1, within=60)
    first, second = cluster.workers
    first.kill()
    try:
        wait_until("the held poll's client to go", lambda: fake_tg.held("getUpdates") == 0, 5)
        survivor = second
    except AssertionError:
        survivor = cluster.heal()[0]  # a fresh worker, to take over from the second
        second.kill()
        wait_until("the held poll's client to go", lambda: fake_tg.held("getUpdates") == 0)
    killed_at = time.time()

    # The lease runs out (nobody renews it) and the sweep starts a chain on the survivor.
    wait_until("a poll after the kill", lambda: _polls(fake_tg, killed_at), within=FAILOVER_S)
    chat = _chat_id()
    fake_tg.push_message(TOKEN, chat_id=chat, from_id=chat, text="after failover")
    wait_until("the reply after failover", lambda: texts_to(fake_tg, chat), within=60)
    time.sleep(1.0)  # a duplicate would be sent by now
    assert texts_to(fake_tg, chat) == ["echo: after failover"]
    assert survivor.alive
    assert "conflict" not in _account(cluster)[2].lower()


# --- a gateway killed -----------------------------------------------------------------------
def test_killing_a_gateway_drops_only_its_sockets_and_its_clients_catch_up_on_another(
    cluster: Cluster, fake_llm: FakeServerProcess
) -> None:
    doomed, other = cluster.gateways
    key = _session("gw-kill")

    async def scenario() -> None:
        on_doomed = [await client_of(doomed) for _ in range(3)]
        on_other = [await client_of(other) for _ in range(2)]
        try:
            # A run in flight (the model answers after 4 s) when the gateway dies.
            fake_llm.script(Hang(4))
            run_id = await send_chat(on_doomed[0], key, "while it dies")
            doomed.kill(signal.SIGKILL)
            for client in on_doomed:
                await asyncio.wait_for(client.closed.wait(), 30)
            assert all(not c.closed.is_set() for c in on_other)
            final = await final_of(on_other[0], run_id)
            assert text_of(final["message"]) == "echo: while it dies"
            # Its clients reconnect to the other gateway and catch up from history.
            back = await client_of(other)
            on_other.append(back)
            replies = [m for m in await history(back, key) if m.get("role") == "assistant"]
            assert [text_of(m) for m in replies] == ["echo: while it dies"]
            # The survivor's sockets carry on: requests and new runs.
            for client in on_other[:2]:
                res = await client.call("health")
                assert res["ok"], res
            again = await send_chat(back, key, "after the kill")
            assert text_of((await final_of(back, again))["message"]) == "echo: after the kill"
        finally:
            for client in on_doomed + on_other:
                await client.close()

    asyncio.run(scenario())


# --- a worker killed mid-run ----------------------------------------------------------------
def _run_row(cluster: Cluster, run_id: str) -> tuple[str, str, int] | None:
    """(status, lease owner, attempts) of a run."""
    with _db(cluster) as db:
        row = db.execute(
            "SELECT status, lease_owner, attempts FROM agents_run WHERE run_id = %s", [run_id]
        ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]), int(row[2]))


def test_killing_a_worker_mid_run_resumes_the_run_once_on_the_other(
    cluster: Cluster, fake_llm: FakeServerProcess
) -> None:
    key = _session("worker-kill")
    workers = {w.pid: w for w in cluster.workers}

    async def scenario() -> tuple[str, list[dict[str, Any]], list[dict[str, Any]]]:
        client = await client_of(cluster.gateways[0])
        try:
            before = len(fake_llm.requests())
            fake_llm.script(Hang(120))  # the first model call never answers in time
            run_id = await send_chat(client, key, "survive this")
            await until("the model call", lambda: len(fake_llm.requests()) > before)

            def holder() -> Service | None:
                row = _run_row(cluster, run_id)
                pid = int(row[1].split(":")[1]) if row and row[1] else 0
                return workers.get(pid)

            victim = await until("the worker running the turn", holder)
            victim.kill(signal.SIGKILL)
            await final_of(client, run_id, within=FAILOVER_S)
            await asyncio.sleep(1.0)  # a second final would have arrived by now
            return run_id, finals(client, run_id), await history(client, key)
        finally:
            await client.close()

    run_id, ends, messages = asyncio.run(scenario())
    assert [e["state"] for e in ends] == ["final"], ends
    assert text_of(ends[0]["message"]) == "echo: survive this"
    replies = [m for m in messages if m.get("role") == "assistant"]
    assert [text_of(m) for m in replies] == ["echo: survive this"]
    status, _, attempts = _run_row(cluster, run_id) or ("", "", 0)
    assert (status, attempts) == ("succeeded", 2)


# --- two beats ------------------------------------------------------------------------------
def test_with_two_beats_a_cron_job_runs_once_per_slot(cluster: Cluster) -> None:
    extra = cluster.add("beat")
    name = f"two-beats-{RUN}"

    async def add_job() -> str:
        client = await client_of(cluster.gateways[0])
        try:
            res = await client.call(
                "cron.add",
                {
                    "name": name,
                    "schedule": {"kind": "every", "everyMs": 1000},
                    "payload": {"kind": "systemEvent", "text": "tick"},
                    "wakeMode": "next-heartbeat",
                },
            )
            assert res["ok"], res
            return str(res["payload"]["id"])
        finally:
            await client.close()

    async def remove_job(job_id: str) -> None:
        client = await client_of(cluster.gateways[0])
        try:
            assert (await client.call("cron.remove", {"id": job_id}))["ok"]
        finally:
            await client.close()

    def slots() -> list[tuple[Any, int]]:
        with _db(cluster) as db:
            return [
                (row[0], int(row[1]))
                for row in db.execute(
                    "SELECT scheduled_for, count(*) FROM agents_cronrun WHERE job_name = %s "
                    "GROUP BY 1 ORDER BY 1",
                    [name],
                ).fetchall()
            ]

    job_id = asyncio.run(add_job())
    try:
        wait_until("five slots", lambda: len(slots()) >= 5, within=60)
    finally:
        asyncio.run(remove_job(job_id))
        cluster.retire(extra)
    assert len(cluster.beats) == 1
    twice = [(slot, n) for slot, n in slots() if n != 1]
    assert twice == [], twice
