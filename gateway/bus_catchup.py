"""What a team gateway's sockets heard of runs, and catching up the ends they missed.

The bus is a wake-up (ARCHITECTURE.md §5): while a gateway's subscription was lost (Redis
restarted, the connection dropped), runs went on ending on the workers and their
``chat`` finals went nowhere. Once subscribed again, the gateway reads from the database
which runs ended in that window, plus the runs its sockets had seen start and not end,
and re-announces their terminal ``chat`` events to its own sockets, rebuilt by
``agents.runtime.replay`` in the shape the run's ending published. ``RunMemory`` makes
each run's end reach the sockets once: a final that comes both from the catch-up and,
late, from Redis is passed on only the first time.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from channels.db import database_sync_to_async

from agents.runtime.replay import EndedChat, ended_run_chats

logger = logging.getLogger(__name__)

# gateway.subscriptions.FINAL_CHAT_STATES (importing it would close a cycle through
# gateway.state, which imports the bus).
TERMINAL_CHAT_STATES = frozenset({"final", "error", "aborted"})
RUN_EVENTS = frozenset({"chat", "agent"})
REMEMBERED_RUNS = 10_000
MAX_OPEN_RUNS_READ = 1_000
# Runs that ended this long before the subscription was last known to work are read too:
# their ``finished_at`` is the worker host's clock, and the loss may predate its proof.
CATCH_UP_MARGIN_S = 10.0


class RunMemory:
    """The runs whose end this process passed on, and the last ``seq`` of open ones
    (bounded; used on the event loop only)."""

    def __init__(self, size: int = REMEMBERED_RUNS) -> None:
        self.size = size
        self.ended: OrderedDict[str, None] = OrderedDict()
        self.open: OrderedDict[str, int] = OrderedDict()

    def admit(self, message: dict[str, Any]) -> bool:
        """Note a bus message; False if it is a run's end already passed on (drop it)."""
        if message.get("event") not in RUN_EVENTS:
            return True
        payload = message.get("payload")
        if not isinstance(payload, dict) or not isinstance(payload.get("runId"), str):
            return True
        run_id: str = payload["runId"]
        if message["event"] == "chat" and payload.get("state") in TERMINAL_CHAT_STATES:
            if run_id in self.ended:
                return False
            self.open.pop(run_id, None)
            _remember(self.ended, run_id, None, self.size)
        elif run_id not in self.ended:
            seq = payload.get("seq")
            last = max(self.open.get(run_id, 0), seq if isinstance(seq, int) else 0)
            _remember(self.open, run_id, last, self.size)
        return True


def _remember(entries: OrderedDict[str, Any], key: str, value: Any, size: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > size:
        entries.popitem(last=False)


async def missed_run_ends(memory: RunMemory, *, deaf_since: float) -> list[EndedChat]:
    """The terminal ``chat`` events of the runs that ended since ``deaf_since`` (wall
    clock, less the margin) or that this process saw start and not end."""
    since = datetime.fromtimestamp(deaf_since - CATCH_UP_MARGIN_S, tz=UTC)
    open_runs = dict(list(memory.open.items())[-MAX_OPEN_RUNS_READ:])  # the newest
    return await database_sync_to_async(ended_run_chats)(
        finished_since=since, run_ids=list(open_runs), seqs=open_runs
    )
