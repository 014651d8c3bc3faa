"""Load generators of bench/team_scale.py, each in its own process (``spawn``), so the
clients' CPU stays off the bench's own process and uses both cores like the servers do.

- chat-turn load: each client holds one authenticated socket and its own session, and
  runs ``chat.send`` → that run's ``chat`` ``final`` in a closed loop for the window;
- idle sockets: open many authenticated sockets, hold them until told, close them.

Every operator socket hears every run's ``chat`` and ``agent`` events (OpenClaw
broadcasts them), so with C clients each turn reaches C sockets. A client skips the frames
of other runs before decoding their JSON (a substring test on its run id), which keeps the
load generators' CPU small next to the gateways'.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import multiprocessing.process
import multiprocessing.queues
import queue
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.synchronize import Barrier
from multiprocessing.synchronize import Event as EventType
from typing import Any, TypeVar

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from bench._client import close_all, open_many
from bench._proc import stop_workers
from bench._servers import raise_nofile
from bench._turns import open_client

T = TypeVar("T")
LOAD_PROCESSES = 2
TURN_TIMEOUT_S = 30.0
START_BUDGET_S = 120.0  # opening and warming every client of one process
IDLE_BATCH = 1_000  # sockets per open_many call (its budget is 90 s a call)
IDLE_OPEN_BUDGET_S = 300.0
Out = multiprocessing.queues.Queue  # of (kind, value) tuples
_received = {"frames": 0}  # frames this load process's sockets received (its one loop)


# --- chat turns ---------------------------------------------------------------------------
async def turn(ws: ClientConnection, *, run_id: str, session_key: str, text: str) -> float:
    """``chat.send`` → its ``res`` and its run's ``chat`` ``final``: seconds until both came."""
    request_id = f"send:{run_id}"
    marker = json.dumps(run_id)  # with its quotes: run "x-1" is not found in "x-12"
    started = time.perf_counter()
    await ws.send(
        json.dumps(
            {
                "type": "req",
                "id": request_id,
                "method": "chat.send",
                "params": {"sessionKey": session_key, "message": text, "idempotencyKey": run_id},
            }
        )
    )
    acked = final = False
    async with asyncio.timeout(TURN_TIMEOUT_S):
        while not (acked and final):
            raw = await ws.recv()
            _received["frames"] += 1
            if marker not in str(raw):
                continue
            frame = json.loads(raw)
            if frame.get("type") == "res" and frame.get("id") == request_id:
                if not frame.get("ok"):
                    raise RuntimeError(f"chat.send failed: {frame!r:.300}")
                acked = True
            elif frame.get("event") == "chat":
                payload = frame.get("payload") or {}
                state = payload.get("state")
                if payload.get("runId") != run_id or state not in ("final", "error", "aborted"):
                    continue
                blocks = (payload.get("message") or {}).get("content") or []
                reply = "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
                if state != "final" or reply != f"echo: {text}":
                    raise RuntimeError(f"run {run_id} ended {state}: {reply!r:.200}")
                final = True
    return time.perf_counter() - started


@dataclass(frozen=True)
class ChatJob:
    clients: tuple[tuple[int, int], ...]  # (client index, gateway port)
    token: str
    prefix: str  # unique per phase: session keys and run ids
    window_s: float
    warmup_turns: int
    worker: int


async def _client(
    ws: ClientConnection, job: ChatJob, index: int, turns: int, deadline: float | None
) -> dict[str, Any]:
    """Sequential turns on the client's session: ``turns`` of them, or until ``deadline``
    (only turns that ended inside the window count)."""
    key = f"agent:main:{job.prefix}-c{index}"
    latencies: list[float] = []
    errors: list[str] = []
    n = 0
    while (deadline is None and n < turns) or (
        deadline is not None and time.monotonic() < deadline
    ):
        tag = "w" if deadline is None else "t"
        try:
            elapsed = await turn(
                ws, run_id=f"{job.prefix}-c{index}-{tag}{n}", session_key=key, text=f"turn {n}"
            )
        except ConnectionClosed as exc:
            errors.append(repr(exc))
            break
        except (TimeoutError, RuntimeError) as exc:
            errors.append(repr(exc))
            elapsed = -1.0
        n += 1
        if elapsed >= 0 and (deadline is None or time.monotonic() <= deadline):
            latencies.append(elapsed)
    return {"latencies": latencies, "errors": errors}


async def _chat(job: ChatJob, barrier: Barrier, out: Out) -> dict[str, Any]:  # type: ignore[type-arg]
    conns: list[ClientConnection] = []
    try:
        async with asyncio.timeout(START_BUDGET_S):
            for _, port in job.clients:
                conns.append(await open_client(port, job.token))
            warm = await asyncio.gather(
                *(
                    _client(ws, job, i, job.warmup_turns, None)
                    for ws, (i, _) in zip(conns, job.clients, strict=True)
                )
            )
        warm_errors = [e for w in warm for e in w["errors"]]
        if warm_errors:
            raise RuntimeError(f"warm-up turns failed: {warm_errors[0]}")
        await asyncio.to_thread(barrier.wait, START_BUDGET_S)
        out.put(("go", job.worker))
        cpu0, _received["frames"] = time.process_time(), 0
        deadline = time.monotonic() + job.window_s
        done = await asyncio.gather(
            *(
                _client(ws, job, i, 0, deadline)
                for ws, (i, _) in zip(conns, job.clients, strict=True)
            )
        )
        cpu = time.process_time() - cpu0
    finally:
        await close_all(conns)
    return {
        "latencies": [x for d in done for x in d["latencies"]],
        "errors": [e for d in done for e in d["errors"]],
        "cpu_s": cpu,
        "frames": _received["frames"],
    }


def chat_worker(job: ChatJob, barrier: Barrier, out: Out) -> None:  # type: ignore[type-arg]
    raise_nofile()
    try:
        result = asyncio.run(_chat(job, barrier, out))
    except BaseException as exc:
        barrier.abort()
        out.put(("error", f"load process {job.worker}: {exc!r}"))
        return
    out.put(("result", result))


def chat_load(
    ports: Sequence[int],
    *,
    token: str,
    prefix: str,
    window_s: float,
    warmup_turns: int,
    during: Callable[[list[int]], T],
) -> tuple[dict[str, Any], T]:
    """Run ``len(ports)`` clients (client i on ``ports[i]``) split over LOAD_PROCESSES
    processes; call ``during(load pids)`` once every client is warm, when the window
    opens (it should sleep out the window), and return (the merged results, its answer)."""
    ctx = multiprocessing.get_context("spawn")
    clients = list(enumerate(ports))
    shares = [clients[i::LOAD_PROCESSES] for i in range(LOAD_PROCESSES)]
    shares = [s for s in shares if s]
    barrier = ctx.Barrier(len(shares))
    out: Out = ctx.Queue()  # type: ignore[type-arg]
    procs = [
        ctx.Process(
            target=chat_worker,
            args=(ChatJob(tuple(s), token, prefix, window_s, warmup_turns, n), barrier, out),
            daemon=True,
        )
        for n, s in enumerate(shares)
    ]
    results: list[dict[str, Any]] = []
    answer: T | None = None
    deadline = time.monotonic() + START_BUDGET_S + window_s + TURN_TIMEOUT_S + 60
    try:
        for proc in procs:
            proc.start()
        while len(results) < len(procs):
            if time.monotonic() > deadline:
                raise TimeoutError("the chat load did not finish")
            try:
                kind, value = out.get(timeout=1.0)
            except queue.Empty:
                dead = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(f"a load process died (exit codes {dead})") from None
                continue
            if kind == "error":
                raise RuntimeError(value)
            if kind == "go" and answer is None:
                answer = during([p.pid for p in procs if p.pid is not None])
            elif kind == "result":
                results.append(value)
    finally:
        stop_workers(procs, join_s=30)
        out.close()
    assert answer is not None
    merged = {
        "latencies": [x for r in results for x in r["latencies"]],
        "errors": [e for r in results for e in r["errors"]],
        "cpu_s": sum(r["cpu_s"] for r in results),
        "frames": sum(r["frames"] for r in results),
    }
    return merged, answer


# --- idle sockets -------------------------------------------------------------------------
async def _idle(url: str, token: str, count: int, out: Out, release: EventType) -> None:  # type: ignore[type-arg]
    started = time.monotonic()
    conns: list[ClientConnection] = []
    error = ""
    try:
        async with asyncio.timeout(IDLE_OPEN_BUDGET_S):
            while len(conns) < count:
                try:
                    conns += await open_many(url, token, min(IDLE_BATCH, count - len(conns)))
                except RuntimeError as exc:  # open_many closed that batch
                    error = str(exc)
                    break
        out.put(
            ("open", {"opened": len(conns), "open_s": time.monotonic() - started, "error": error})
        )
        await asyncio.to_thread(release.wait, IDLE_OPEN_BUDGET_S)
        out.put(("alive", sum(ws.state is State.OPEN for ws in conns)))
    finally:
        await close_all(conns)


def idle_worker(url: str, token: str, count: int, out: Out, release: EventType) -> None:  # type: ignore[type-arg]
    raise_nofile()
    try:
        asyncio.run(_idle(url, token, count, out, release))
    except BaseException as exc:
        out.put(("error", repr(exc)))


def hold_idle(
    url: str, token: str, count: int, measure: Callable[[], T]
) -> tuple[dict[str, Any], T]:
    """Open ``count`` idle authenticated sockets from LOAD_PROCESSES processes, call
    ``measure()`` while all are held, then close them; return (what opened, its answer)."""
    ctx = multiprocessing.get_context("spawn")
    out: Out = ctx.Queue()  # type: ignore[type-arg]
    release = ctx.Event()
    shares = [count // LOAD_PROCESSES + (i < count % LOAD_PROCESSES) for i in range(LOAD_PROCESSES)]
    procs = [
        ctx.Process(target=idle_worker, args=(url, token, n, out, release), daemon=True)
        for n in shares
    ]
    opened: list[dict[str, Any]] = []
    alive: list[int] = []
    errors: list[str] = []
    try:
        for proc in procs:
            proc.start()
        while len(opened) + len(errors) < len(procs):
            kind, value = out.get(timeout=IDLE_OPEN_BUDGET_S + 30)
            (opened if kind == "open" else errors).append(value)
        answer = measure()
        release.set()
        while len(alive) + len(errors) < len(procs):
            kind, value = out.get(timeout=60)
            (alive if kind == "alive" else errors).append(value)
    finally:
        release.set()
        stop_workers(procs, join_s=30)
        out.close()
    return {
        "opened": sum(o["opened"] for o in opened),
        "open_s": round(max((o["open_s"] for o in opened), default=0.0), 1),
        "alive_at_release": sum(alive),
        "errors": [o["error"] for o in opened if o["error"]] + errors,
    }, answer
