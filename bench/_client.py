"""A minimal OpenClaw protocol client for the benchmarks: handshake, requests, many sockets."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench._ws import connect_frame, recv_frame

CONNECT_CONCURRENCY = 25  # per process: keeps SYN bursts under daphne's listen backlog (50)
OPEN_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 10.0
CONNECT_BUDGET_S = 90.0  # opening every client of one phase
MAX_SKIPPED_FRAMES = 100  # events skipped while waiting for one response


def open_socket(url: str) -> connect:
    return connect(
        url,
        compression=None,
        proxy=None,
        ping_interval=None,
        open_timeout=OPEN_TIMEOUT_S,
        close_timeout=2,
    )


def health_frame(request_id: str) -> str:
    return json.dumps({"type": "req", "id": request_id, "method": "health"})


async def wait_for_id(ws: ClientConnection, request_id: str) -> dict[str, Any]:
    """Return the frame carrying ``request_id``, skipping events (bounded)."""
    for _ in range(MAX_SKIPPED_FRAMES):
        frame = await recv_frame(ws)
        if frame.get("id") == request_id:
            return frame
    raise RuntimeError(f"no answer to {request_id} among {MAX_SKIPPED_FRAMES} frames")


async def handshake(ws: ClientConnection, token: str) -> None:
    async with asyncio.timeout(CALL_TIMEOUT_S):
        for _ in range(MAX_SKIPPED_FRAMES):
            frame = await recv_frame(ws)
            if frame.get("type") == "event" and frame.get("event") == "connect.challenge":
                break
        else:
            raise RuntimeError("no connect.challenge")
        await ws.send(connect_frame(token))
        res = await wait_for_id(ws, "connect")
    payload = res.get("payload")
    if not res.get("ok") or not isinstance(payload, dict) or payload.get("type") != "hello-ok":
        raise RuntimeError(f"connect rejected: {res!r:.300}")


async def open_client(url: str, token: str | None) -> ClientConnection:
    """Open a socket; with a token, complete the gateway handshake too."""
    ws = await open_socket(url)
    if token is not None:
        try:
            await handshake(ws, token)
        except BaseException:
            await ws.close()
            raise
    return ws


async def close_all(conns: list[ClientConnection]) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(30):
            await asyncio.gather(*(ws.close() for ws in conns), return_exceptions=True)


async def open_many(url: str, token: str | None, count: int) -> list[ClientConnection]:
    """Open ``count`` clients, a few at a time; all or nothing."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def one() -> ClientConnection:
        async with gate:
            return await open_client(url, token)

    async with asyncio.timeout(CONNECT_BUDGET_S):
        results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
    conns = [r for r in results if isinstance(r, ClientConnection)]
    failures = [r for r in results if isinstance(r, BaseException)]
    if failures:
        await close_all(conns)
        raise RuntimeError(f"{len(failures)}/{count} clients failed to open: {failures[0]!r}")
    return conns
