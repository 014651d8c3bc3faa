"""Wall-clock time as the OpenClaw protocol writes it: integer milliseconds since the epoch."""

from __future__ import annotations

import time


def now_ms() -> int:
    """Milliseconds since the epoch (``ts``, ``startedAt``, ``updatedAt`` on the wire)."""
    return int(time.time() * 1000)
