"""The client side of a chat turn, shared by the chat-turn benchmarks: open a socket and
complete the handshake, send ``chat.send`` and wait for that run's ``final``, summarise
the times."""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time

from websockets.asyncio.client import ClientConnection, connect

from bench._ws import connect_frame, recv_frame

SESSION_KEY = "agent:main:bench"
SCOPES = ["operator.read", "operator.write"]
OPEN_TIMEOUT_S = 10.0
TURN_TIMEOUT_S = 30.0
MAX_FRAMES_PER_TURN = 1_000


async def open_client(port: int, token: str) -> ClientConnection:
    """Open a socket and complete the handshake (challenge, connect, hello-ok)."""
    ws = await connect(
        f"ws://127.0.0.1:{port}/",
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=OPEN_TIMEOUT_S,
        close_timeout=2,
        max_size=None,
    )
    try:
        async with asyncio.timeout(OPEN_TIMEOUT_S):
            challenge = await recv_frame(ws)
            if challenge.get("event") != "connect.challenge":
                raise RuntimeError(f"expected connect.challenge, got {challenge!r:.300}")
            await ws.send(connect_frame(token, SCOPES))
            while (res := await recv_frame(ws)).get("id") != "connect":
                pass
        payload = res.get("payload")
        if not res.get("ok") or not isinstance(payload, dict) or payload.get("type") != "hello-ok":
            raise RuntimeError(f"connect rejected: {res!r:.300}")
    except BaseException:
        await ws.close()
        raise
    return ws


async def chat_turn(
    ws: ClientConnection, *, run_id: str, text: str, session_key: str = SESSION_KEY
) -> dict[str, float]:
    """``chat.send`` → ``chat`` ``final`` of that run; return when things arrived.

    The answer maps ``ack`` (the ``res``), ``started`` (the run's first ``chat`` event,
    ``status``: the worker has claimed the run) and ``final`` to seconds after the send.
    Reads until both the ``res`` and the ``final`` arrived (either may come first). Raises
    on an error answer, a non-final end or a reply that is not the fake's echo.
    """
    request = {
        "type": "req",
        "id": f"send:{run_id}",
        "method": "chat.send",
        "params": {"sessionKey": session_key, "message": text, "idempotencyKey": run_id},
    }
    marks: dict[str, float] = {}
    started = time.perf_counter()
    await ws.send(json.dumps(request))
    async with asyncio.timeout(TURN_TIMEOUT_S):
        for _ in range(MAX_FRAMES_PER_TURN):
            frame = await recv_frame(ws)
            now = time.perf_counter() - started
            if frame.get("type") == "res" and frame.get("id") == request["id"]:
                if not frame.get("ok"):
                    raise RuntimeError(f"chat.send failed: {frame!r:.500}")
                marks["ack"] = now
            elif frame.get("type") == "event" and frame.get("event") == "chat":
                payload = frame.get("payload") or {}
                if payload.get("runId") != run_id:
                    continue
                marks.setdefault("started", now)
                state = payload.get("state")
                if state not in ("final", "error", "aborted"):
                    continue
                marks["final"] = now
                if state != "final":
                    raise RuntimeError(f"turn {run_id} ended {state}: {payload!r:.500}")
                blocks = (payload.get("message") or {}).get("content") or []
                reply = "".join(b.get("text", "") for b in blocks if isinstance(b, dict))
                if reply != f"echo: {text}":
                    raise RuntimeError(f"unexpected reply to {text!r}: {reply!r:.300}")
            if "ack" in marks and "final" in marks:
                return marks
    raise RuntimeError(f"turn {run_id}: no res and final among {MAX_FRAMES_PER_TURN} frames")


def summary_ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p90 = ordered[math.ceil(0.9 * len(ordered)) - 1]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p90_ms": round(p90 * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }
