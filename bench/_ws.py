"""WebSocket helpers shared by the benchmarks: the connect frame and reading frames."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from websockets.asyncio.client import ClientConnection


def connect_frame(token: str, scopes: Sequence[str] = ("operator.read",)) -> str:
    """The ``connect`` request of a CLI-like operator client (protocol 4, token auth)."""
    return json.dumps(
        {
            "type": "req",
            "id": "connect",
            "method": "connect",
            "params": {
                "minProtocol": 4,
                "maxProtocol": 4,
                "client": {"id": "cli", "version": "bench", "platform": "linux", "mode": "cli"},
                "auth": {"token": token},
                "role": "operator",
                "scopes": list(scopes),
            },
        }
    )


async def recv_frame(ws: ClientConnection) -> dict[str, Any]:
    frame = json.loads(await ws.recv())
    if not isinstance(frame, dict):
        raise RuntimeError(f"not a JSON object: {frame!r:.200}")
    return frame
