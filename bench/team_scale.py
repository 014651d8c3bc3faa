"""Team mode scaled out on one machine: 1 gateway + 1 worker, then 2 + 2, under the
chat-turn and the inbound load; and how many idle sockets one gateway holds in 512 MB.

The topology is the one ``docker/compose.yml`` runs, started by ``tests/cluster.py``
(``Cluster``: the compose commands as real processes, ``uvicorn`` gateways, Celery
workers with the threads pool and ``-c --worker-threads``, one beat) on PostgreSQL +
Redis (``--database-url``/``--redis-url`` or ``BENCH_DATABASE_URL``/``BENCH_REDIS_URL``;
a database of its own is best, as each run writes sessions and revokes the previous run's
token), with the fake OpenAI server answering ``echo: <text>`` at once and the fake
Telegram Bot API, each in its own process. The failover settings the tests shorten
(leases, sweeps, cron tick) keep their defaults here. It starts 1 + 1 + beat, measures,
adds a gateway and a worker (scale-out while running, as ``--scale`` does), measures
again:

1. chat-turn load: ``--clients`` sockets (spread round-robin over the gateways, driven
   from 2 load processes), each on its own session, each running ``chat.send`` → its
   run's ``chat`` ``final`` in a closed loop for ``--window`` seconds after a warm-up:
   turns/s, p50/p90/p99;
2. inbound load: the burst of bench/inbound_e2e.py (``--users`` Telegram users x
   ``--per-user`` DMs pushed at once into the fake Bot API, ``dmPolicy`` open,
   ``OPENCLAW_QUEUE_MODE=followup``: one turn and one reply per message) after a warm-up
   message per user: msgs/s from the push to the last reply, p50/p99, lost/duplicated;
3. during each load window, the CPU seconds of the gateways, workers, beat, the
   ``redis-server`` on the Redis URL's port, every ``postgres`` process, the fakes, the
   load processes and the whole machine (bench/_scale_cpu.py); Redis and PostgreSQL are
   shared with anything else the machine runs, so their figures are an upper bound;
4. the scale-out ratios, 2 + 2 over 1 + 1;
5. idle sockets: one more team gateway (the same uvicorn command), ``--idle`` idle
   authenticated sockets opened from 2 processes (open-files limits raised), its RSS
   before, held and after, KB per socket, and whether they fit in 512 MB.

Prints one JSON line. Usage: .venv/bin/python bench/team_scale.py
[--database-url postgres://... --redis-url redis://...] [--window 20] [--clients 20]
[--users 20 --per-user 10] [--skip-inbound] [--idle 10000] [--worker-threads 8]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _scale_cpu
from bench._proc import cpu_seconds, rss_mb
from bench._scale_load import chat_load, hold_idle
from bench._scale_report import MEMORY_MB, latency_ms, summary
from bench._servers import nofile_of, raise_nofile
from bench._team import team_urls
from bench.inbound_e2e import pct, vm_hwm_mb
from tests.cluster import Cluster, team_env
from tests.fakes.llm_server import FakeServerProcess
from tests.fakes.telegram_server import FakeTelegramProcess
from tests.gateway_process import TEAM_TOKEN
from tests.telegram_harness import TOKEN, configure

# tests/cluster.team_env shortens these for failover tests; a benchmark keeps the defaults.
FAILOVER_SETTINGS = (
    "OPENCLAW_WORK_LEASE_SECONDS",
    "OPENCLAW_MODEL_TIMEOUT_S",
    "OPENCLAW_SWEEP_INTERVAL_SECONDS",
    "OPENCLAW_CRON_TICK_SECONDS",
)
WARM_REPLY_TIMEOUT_S = 150.0  # the first poll waits for the channel sweep
REPLY_TIMEOUT_S = 120.0
DUPLICATE_WAIT_S = 1.0


class Bench:
    """The topology and the fakes, and how to snapshot who used the CPU."""

    def __init__(
        self,
        cluster: Cluster,
        llm: FakeServerProcess,
        tg: FakeTelegramProcess,
        redis_url: str,
        database_url: str,
    ) -> None:
        self.cluster = cluster
        self.fakes = [p.pid for p in (llm.proc, tg.proc) if p is not None]
        self.tg = tg
        self.redis = _scale_cpu.redis_pids(redis_url)
        self.postmasters = _scale_cpu.postgres_postmasters()
        self.database_url = database_url
        self.database = urlsplit(database_url).path.lstrip("/")
        self.run = secrets.token_hex(3)

    def snapshot(self, load_pids: list[int] | None = None) -> _scale_cpu.Snapshot:
        c = self.cluster
        groups = {
            "gateways": [s.pid for s in c.gateways],
            "workers": [s.pid for s in c.workers],
            "beat": [s.pid for s in c.beats],
            "fakes": self.fakes,
            "load_processes": load_pids or [],
        }
        return _scale_cpu.snapshot(
            groups,
            redis=self.redis,
            postmasters=self.postmasters,
            database=self.database,
            extra={"bench": time.process_time},
        )

    def db_counts(self) -> dict[str, int]:
        """This database's committed transactions and rows written so far (its backends
        report them within about a second; other databases on the server do not count)."""
        with psycopg.connect(self.database_url, autocommit=True) as db:
            row = db.execute(
                "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted "
                "FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
        assert row is not None
        return {"commits": int(row[0]), "rows_written": int(row[1])}

    @staticmethod
    def per(before: dict[str, int], after: dict[str, int], n: int, unit: str) -> dict[str, float]:
        return (
            {f"pg_{k}_per_{unit}": round((after[k] - before[k]) / n, 1) for k in after} if n else {}
        )

    # --- 1. chat turns ----------------------------------------------------------------
    def chat(self, tag: str, *, clients: int, window_s: float, warmup: int) -> dict[str, Any]:
        ports = [g.port for g in self.cluster.gateways]

        def during(load_pids: list[int]) -> tuple[dict[str, Any], float]:
            db0, before, t0 = self.db_counts(), self.snapshot(load_pids), time.monotonic()
            time.sleep(window_s)
            after, db1 = self.snapshot(load_pids), self.db_counts()
            seconds = time.monotonic() - t0
            return {"before": before, "after": after, "db0": db0, "db1": db1}, seconds

        merged, (snaps, seconds) = chat_load(
            [ports[i % len(ports)] for i in range(clients)],
            token=TEAM_TOKEN,
            prefix=f"scale-{self.run}-{tag}",
            window_s=window_s,
            warmup_turns=warmup,
            during=during,
        )
        lat = merged["latencies"]
        cpu = _scale_cpu.report(snaps["before"], snaps["after"], seconds, len(lat), "turn")
        return {
            "turns": len(lat),
            "turns_per_s": round(len(lat) / window_s, 1),
            **latency_ms(lat),
            "errors": len(merged["errors"]),
            "first_error": merged["errors"][0][:300] if merged["errors"] else None,
            "load_processes_cpu_s": round(merged["cpu_s"], 2),
            # Every operator socket hears every run's chat/agent events (the fan-out).
            "frames_received_per_turn": round(merged["frames"] / len(lat), 1) if lat else None,
            **self.per(snaps["db0"], snaps["db1"], len(lat), "turn"),
            "cpu": cpu,
        }

    # --- 2. inbound -------------------------------------------------------------------
    def _chats(self, users: int) -> list[int]:
        base = random.randint(10**8, 9 * 10**8)
        return [base + u for u in range(users)]

    def _sent(self) -> int:
        return len(self.tg.sent_messages(TOKEN))

    def inbound(self, *, users: int, per_user: int) -> dict[str, Any]:
        tg = self.tg
        already = self._sent()
        warm = [{"chat_id": c, "from_id": c, "text": f"warm {c}"} for c in self._chats(users)]
        tg.push_batch(TOKEN, warm)
        tg.wait_for_sent(TOKEN, already + len(warm), timeout=WARM_REPLY_TIMEOUT_S)
        time.sleep(DUPLICATE_WAIT_S)
        already = self._sent()
        chats = self._chats(users)
        messages = [
            {"chat_id": c, "from_id": c, "text": f"burst {m} from {c}"}
            for m in range(per_user)
            for c in chats
        ]
        expected = Counter((str(m["chat_id"]), f"echo: {m['text']}") for m in messages)
        db0, before = self.db_counts(), self.snapshot()
        pushed, t0 = time.time(), time.monotonic()
        tg.push_batch(TOKEN, messages)
        with contextlib.suppress(AssertionError):  # what did not come counts as lost
            tg.wait_for_sent(TOKEN, already + len(messages), timeout=REPLY_TIMEOUT_S)
        after, seconds = self.snapshot(), time.monotonic() - t0
        time.sleep(DUPLICATE_WAIT_S)  # a duplicate would arrive now
        db1 = self.db_counts()
        ours = {str(c) for c in chats}
        mine = [m for m in tg.sent_messages(TOKEN)[already:] if str(m["chat_id"]) in ours]
        got = Counter((str(m["chat_id"]), str(m["text"])) for m in mine)
        lat = [float(m["ts"]) - pushed for m in mine]
        elapsed = max(lat) if lat else float("inf")
        total = len(messages)
        return {
            "messages": total,
            "msgs_per_s": round(total / elapsed, 1) if lat else 0.0,
            "p50_s": round(statistics.median(lat), 3) if lat else None,
            "p99_s": round(pct(lat, 0.99), 3) if lat else None,
            "push_to_last_reply_s": round(elapsed, 2) if lat else None,
            "lost": sum((expected - got).values()),
            "duplicated": sum((got - expected).values()),
            **self.per(db0, db1, total, "message"),
            "cpu": _scale_cpu.report(before, after, seconds, total, "message"),
        }

    # --- 5. idle sockets --------------------------------------------------------------
    def idle(self, count: int, hold_s: float) -> dict[str, Any]:
        gw = self.cluster.add("gateway")
        try:
            time.sleep(2.0)
            before = rss_mb(gw.pid)

            def measure() -> tuple[float, float]:
                cpu0 = cpu_seconds(gw.pid)
                time.sleep(hold_s)
                return rss_mb(gw.pid), 100 * (cpu_seconds(gw.pid) - cpu0) / hold_s

            opened, (held, cpu_pct) = hold_idle(gw.ws_url, TEAM_TOKEN, count, measure)
            time.sleep(3.0)
            after, peak = rss_mb(gw.pid), vm_hwm_mb([gw.pid])
            nofile = nofile_of(gw.pid)
        finally:
            self.cluster.retire(gw)
        n = opened["opened"]
        kb = (held - before) * 1024 / n if n else 0.0
        return {
            "asked": count,
            **opened,
            "gateway_nofile_soft": nofile,
            "rss_before_mb": round(before, 1),
            "rss_held_mb": round(held, 1),
            "rss_after_close_mb": round(after, 1),
            # VmHWM: the most it ever held, opening and closing included.
            "rss_peak_mb": peak,
            "kb_per_socket": round(kb, 1),
            "gateway_cpu_pct_while_held": round(cpu_pct, 1),
            "fit_in_512_mb": n == count and opened["alive_at_release"] == n and held <= MEMORY_MB,
            "peak_within_512_mb": peak <= MEMORY_MB,
            "sockets_in_512_mb_estimate": int((MEMORY_MB - before) * 1024 / kb) if kb > 0 else None,
        }


def scale_env(database_url: str, redis_url: str, llm: FakeServerProcess) -> dict[str, str]:
    env = team_env(
        database_url=database_url, redis_url=redis_url, llm=llm, OPENCLAW_QUEUE_MODE="followup"
    )
    for name in FAILOVER_SETTINGS:
        env.pop(name, None)
    return env


def measure_topology(bench: Bench, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if args.clients:
        out["chat"] = bench.chat(
            tag, clients=args.clients, window_s=args.window, warmup=args.warmup_turns
        )
    if not args.skip_inbound:
        out["inbound"] = bench.inbound(users=args.users, per_user=args.per_user)
    return out


def run(args: argparse.Namespace, database_url: str, redis_url: str) -> dict[str, Any]:
    with (
        tempfile.TemporaryDirectory(prefix="bench-team-scale-") as tmp,
        FakeServerProcess("openai") as llm,
        FakeTelegramProcess() as tg,
    ):
        tg.add_bot(TOKEN, username="benchbot")
        # Inbound updates are unique per (account, update id) in a database that keeps
        # earlier runs' rows: begin this run's ids past theirs.
        tg.push_update(TOKEN, {"update_id": int(time.time() * 1000)})
        root = Path(tmp)
        env = scale_env(database_url, redis_url, llm)
        manage_env = {**env, "OPENCLAW_DATA_DIR": str(root / "data" / "manage")}
        with Cluster(root, env, concurrency=args.worker_threads) as cluster:
            cluster.migrate()
            inbound = not args.skip_inbound
            if inbound:
                configure(
                    manage_env,
                    ("channels.telegram.enabled", "true"),
                    ("channels.telegram.botToken", TOKEN),
                    ("channels.telegram.apiRoot", tg.root_url),
                    ("channels.telegram.allowFrom", '["*"]'),
                    ("channels.telegram.dmPolicy", "open"),
                    ("session.dmScope", "per-channel-peer"),
                )
            results: dict[str, Any] = {}
            try:
                cluster.start(gateways=1, workers=1, beats=1)
                bench = Bench(cluster, llm, tg, redis_url, database_url)
                results["1x1"] = measure_topology(bench, "1x1", args)
                cluster.add("gateway", wait=False)
                cluster.add("worker", wait=False)
                for service in cluster.services:
                    if service.alive:
                        service.wait_ready()
                results["2x2"] = measure_topology(bench, "2x2", args)
                if args.idle:
                    results["idle"] = bench.idle(args.idle, args.idle_hold)
                results["redis_pids"] = bench.redis
                results["postgres_postmasters"] = bench.postmasters
            except BaseException:
                sys.stderr.write(cluster.logs())
                raise
            finally:
                cluster.stop()
                if inbound:
                    configure(manage_env, ("channels.telegram.enabled", "false"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="PostgreSQL (postgres://...)")
    parser.add_argument("--redis-url", help="Redis (redis://host:port/db)")
    parser.add_argument("--window", type=float, default=20.0, help="chat load window (s)")
    parser.add_argument("--clients", type=int, default=20, help="chat clients (0: skip)")
    parser.add_argument("--warmup-turns", type=int, default=2, help="turns per client before")
    parser.add_argument("--users", type=int, default=20, help="inbound burst: Telegram users")
    parser.add_argument("--per-user", type=int, default=10, help="inbound burst: DMs per user")
    parser.add_argument("--skip-inbound", action="store_true", help="no Telegram load")
    parser.add_argument("--idle", type=int, default=10_000, help="idle sockets (0: skip)")
    parser.add_argument("--idle-hold", type=float, default=10.0, help="hold them this long (s)")
    parser.add_argument("--worker-threads", type=int, default=8, help="-c of each worker")
    args = parser.parse_args()
    if args.clients < 0 or args.idle < 0 or args.window <= 0 or args.users < 1 or args.per_user < 1:
        parser.error("--clients/--idle must be >= 0, --window > 0, --users/--per-user >= 1")
    database_url, redis_url = team_urls(args.database_url, args.redis_url)
    nofile = raise_nofile()
    if nofile < args.idle + 1000:
        raise SystemExit(f"open-files limit {nofile} is too low for {args.idle} idle sockets")
    load_before = os.getloadavg()[0]
    results = run(args, database_url, redis_url)
    out = summary(args, results, (load_before, os.getloadavg()[0]))
    print(json.dumps(out))
    lost = [v for k, v in out["meets_targets"].items() if k.startswith("zero_lost") and not v]
    return 1 if lost else 0


if __name__ == "__main__":
    raise SystemExit(main())
