"""``POST /v1/chat/completions`` (non-streaming) against a live gateway and a fake OpenAI server.

Starts the fake OpenAI API in its own process (``tests.fakes.openai_server``: it answers
``echo: <last user text>`` at once, in one chunk), then ``manage.py gateway`` in a fresh
data dir with ``gateway.http.endpoints.chatCompletions.enabled`` set and
``OPENCLAW_MODEL=openai/gpt-4o-mini`` pointed at the fake, and measures over loopback
HTTP/1.1 keep-alive connections (``httpx``, one connection per client):

- 1 client: ``--requests`` sequential requests; requests/s, p50 and p90;
- 20 concurrent clients, each a closed loop (one request in flight), 2 x ``--requests``
  requests in all: requests/s (completed / wall time), p50 and p90 of each request.

Each request is one agent turn, answered through the event bus. By default a request
carries no ``user`` (OpenAI's usual call): every request is a new session, as OpenClaw
makes it (``agent:main:openai:<uuid>``); ``--user`` gives each client its own ``user``
(one session per client, its history growing). Warm-up requests come first and are not
counted. Prints one JSON line. Usage: .venv/bin/python bench/http_api.py [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._proc import REPO, cpu_seconds, free_port, rss_mb, wait_http
from tests.fakes.llm_server import FakeServerProcess
from tests.gateway_process import child_env, run_manage

MODEL = "openai/gpt-4o-mini"
TARGETS = {"p50_ms_1_client": 20.0}
WARMUP = 20
CONCURRENT = 20
TIMEOUT_S = 60.0


def summary_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(p90 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


async def one(http: httpx.AsyncClient, text: str, user: str | None) -> float:
    body: dict[str, Any] = {"model": "openclaw", "messages": [{"role": "user", "content": text}]}
    if user:
        body["user"] = user
    started = time.perf_counter()
    response = await http.post("/v1/chat/completions", json=body)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
    reply = response.json()["choices"][0]["message"]["content"]
    if reply != f"echo: {text}":
        raise RuntimeError(f"unexpected reply to {text!r}: {reply!r:.300}")
    return elapsed


async def client_loop(
    base: str, token: str, *, name: str, count: int, use_user: bool
) -> list[float]:
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(
        base_url=base, headers=headers, timeout=TIMEOUT_S, limits=limits
    ) as http:
        user = name if use_user else None
        return [await one(http, f"{name} {i}", user) for i in range(count)]


async def measure(base: str, token: str, *, requests: int, use_user: bool) -> dict[str, Any]:
    await client_loop(base, token, name="warmup", count=WARMUP, use_user=use_user)
    started = time.perf_counter()
    single = await client_loop(base, token, name="solo", count=requests, use_user=use_user)
    single_wall = time.perf_counter() - started
    per_client = max(1, 2 * requests // CONCURRENT)
    started = time.perf_counter()
    results = await asyncio.gather(
        *(
            client_loop(base, token, name=f"c{i}", count=per_client, use_user=use_user)
            for i in range(CONCURRENT)
        )
    )
    many_wall = time.perf_counter() - started
    many = [sample for samples in results for sample in samples]
    return {
        "one_client": {
            "requests": len(single),
            "requests_per_s": round(len(single) / single_wall, 1),
            **summary_ms(single),
        },
        f"{CONCURRENT}_clients": {
            "requests": len(many),
            "requests_per_s": round(len(many) / many_wall, 1),
            **summary_ms(many),
        },
    }


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def run(requests: int, use_user: bool) -> dict[str, Any]:
    token = secrets.token_urlsafe(32)
    with (
        tempfile.TemporaryDirectory(prefix="openclaw-bench-") as tmp,
        FakeServerProcess("openai") as fake,
    ):
        env = child_env(
            Path(tmp) / "data",
            OPENCLAW_GATEWAY_TOKEN=token,
            OPENCLAW_MODEL=MODEL,
            OPENCLAW_MODEL_FALLBACKS="",
            OPENAI_BASE_URL=fake.base_url,
            OPENAI_API_KEY="sk-test-" + secrets.token_hex(16),
        )
        for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "DATABASE_URL", "REDIS_URL"):
            env.pop(name, None)
        done = run_manage(
            "config", "set", "gateway.http.endpoints.chatCompletions.enabled", "true", env=env
        )
        if done.returncode != 0:
            raise RuntimeError(f"config set failed: {done.stderr}")
        port = free_port()
        log = Path(tmp) / "gateway.stderr"
        with log.open("wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "manage.py", "gateway", "--port", str(port)],
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )
            try:
                wait_http(f"http://127.0.0.1:{port}/health", proc)
                cpu0 = cpu_seconds(proc.pid)
                result = asyncio.run(
                    measure(f"http://127.0.0.1:{port}", token, requests=requests, use_user=use_user)
                )
                done_requests = WARMUP + sum(v["requests"] for v in result.values())
                result["gateway_cpu_ms_per_request"] = round(
                    1000 * (cpu_seconds(proc.pid) - cpu0) / done_requests, 2
                )
                result["rss_tree_mb"] = round(rss_mb(proc.pid), 1)
            except BaseException:
                stop(proc)
                sys.stderr.write(log.read_text(errors="replace")[-4000:])
                raise
            stop(proc)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=200, help="requests timed per phase")
    parser.add_argument("--user", action="store_true", help="one session per client")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    r = run(args.requests, args.user)
    solo, many = r["one_client"], r[f"{CONCURRENT}_clients"]
    out = {
        "bench": "http_api",
        "endpoint": "POST /v1/chat/completions (non-streaming)",
        "model": MODEL,
        "sessions": "one per client (user)" if args.user else "a new one per request",
        "rps_1_client": solo["requests_per_s"],
        "p50_ms_1_client": solo["p50_ms"],
        "p90_ms_1_client": solo["p90_ms"],
        f"rps_{CONCURRENT}_clients": many["requests_per_s"],
        f"p50_ms_{CONCURRENT}_clients": many["p50_ms"],
        f"p90_ms_{CONCURRENT}_clients": many["p90_ms"],
        "detail": {"one_client": solo, f"{CONCURRENT}_clients": many},
        "gateway_cpu_ms_per_request": r["gateway_cpu_ms_per_request"],
        "rss_after_tree_mb": r["rss_tree_mb"],
        "loadavg_1m_before": round(load_before, 2),
        "cpus": os.cpu_count(),
        "targets": TARGETS,
        "meets_targets": {"p50_1_client": solo["p50_ms"] <= TARGETS["p50_ms_1_client"]},
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
