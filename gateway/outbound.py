"""One connection's outbound queue: frames wait here, a writer task sends them in order.

A slow client only ever stalls itself: its writer waits in ``send()`` while the others'
run. Past ``maxBufferedBytes`` (``GATEWAY_MAX_BUFFERED_BYTES``) a droppable frame is
skipped and anything else closes the connection with 1008 "slow consumer".
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings

from gateway.lib.protocol import CLOSE_POLICY

logger = logging.getLogger(__name__)


class Outbound:
    """Frames queued as JSON text, with their byte count kept against the allowance."""

    def __init__(
        self,
        *,
        conn_id: str,
        send: Callable[[str], Awaitable[None]],
        close: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.conn_id = conn_id
        self._send = send
        self._close = close
        self._ready = asyncio.Event()
        self._queue: deque[str | tuple[int, str]] = deque()
        self.buffered_bytes = 0
        self.closing = False

    def enqueue(self, frame: dict[str, Any], *, drop_if_slow: bool = False) -> bool:
        """Queue a frame; return False if it was dropped (closing, or slow and droppable)."""
        if self.closing:
            return False
        # ASCII-escaped: a lone surrogate echoed from client input stays valid UTF-8.
        text = json.dumps(frame, separators=(",", ":"))
        size = len(text)
        if self.buffered_bytes + size > settings.GATEWAY_MAX_BUFFERED_BYTES:
            if drop_if_slow:
                return False
            logger.warning("closing slow consumer %s", self.conn_id)
            self._queue.clear()
            self.buffered_bytes = 0
            self.close(CLOSE_POLICY, "slow consumer")
            return False
        self._queue.append(text)
        self.buffered_bytes += size
        self._ready.set()
        return True

    def close(self, code: int, reason: str) -> None:
        """Close after everything already queued has been sent."""
        if self.closing:
            return
        self._queue.append((code, reason))
        self._ready.set()
        self.closing = True

    async def write_loop(self) -> None:
        """The connection's writer task: send what is queued, in order, until closed."""
        while True:
            await self._ready.wait()
            self._ready.clear()
            while self._queue:
                item = self._queue.popleft()
                if isinstance(item, tuple):
                    await self._close(*item)
                    return
                self.buffered_bytes -= len(item)
                await self._send(item)  # waits while the client reads slowly
