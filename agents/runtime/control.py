"""Whether a turn may go on: its cancel flag, its lease and its deadline.

Between steps, before every streamed chunk is shown, and while a tool runs, the turn
checks its cancel flag (``chat.abort``), its lease (renewed) and its deadline
(``AGENT_RUN_TIMEOUT_S``). Where it cannot check (a stalled provider, a stuck tool), the
process's watchdog (``agents.runtime.watchdog``) stops it and says so in its ``Flight``.

The flag is read from the database at once after a cancel was requested in this process
(``note_cancel``: ``chat.abort``, ``/stop``, the interrupt queue mode), else at most
every ``CHECK_EVERY_S``: a cancel from another process (team mode) is seen that late,
one from this process before the next chunk is shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.models import Run
from agents.runtime.watchdog import Flight
from core.leases import lease_owner_id, lease_renew

# The cancel flag is read at most this often unless a cancel was noted in this process
# (``note_cancel``): the bound on how late a cancel from another process is seen.
CHECK_EVERY_S = 0.1
SLEEP_SLICE_S = 0.1
# A wait (cooldown) re-checks the database this often; the watchdog wakes it at once on
# abort, time limit or shutdown.
WAIT_SLICE_S = 1.0
LEASE_RENEW_EVERY_S = 30.0


class StopRunError(Exception):
    """Raised inside the loop when the run must stop: ``cancel``, ``lost``, ``timeout``
    or ``shutdown`` (this process stops: the run is handed back, not ended)."""

    def __init__(self, why: str) -> None:
        super().__init__(why)
        self.why = why


@dataclass(frozen=True)
class CancelSeen:
    """When the turn last read its cancel flag: ``time.monotonic()`` and ``cancel_mark()``
    taken before the read."""

    at: float
    mark: int


_cancel_marks = 0
_cancel_marks_lock = threading.Lock()


def note_cancel() -> None:
    """A cancel was (or is about to be) requested in this process: every turn in flight
    here reads its flag before it shows its next chunk. Call it when the flag is set and
    again on commit (a read before the commit does not see it yet)."""
    global _cancel_marks  # noqa: PLW0603
    with _cancel_marks_lock:
        _cancel_marks += 1


def cancel_mark() -> int:
    return _cancel_marks


def lease_seconds() -> int:
    return int(settings.WORK_LEASE_SECONDS)


def worker_id() -> str:
    return lease_owner_id()


# Table and column names come from the model, values are parameters.
_CHECK_SQL = f'SELECT "cancel_requested", "lease_owner" FROM "{Run._meta.db_table}" WHERE "id" = %s'  # noqa: S608


def _cancel_and_owner(run_pk: int) -> tuple[bool, str] | None:
    """(cancel_requested, lease_owner) of a run: the per-chunk check, so plain SQL.

    Read before every streamed chunk; the ORM would spend ~1 ms building the query.
    """
    with connection.cursor() as cursor:
        cursor.execute(_CHECK_SQL, [run_pk])
        row = cursor.fetchone()
    return None if row is None else (bool(row[0]), str(row[1]))


class Control:
    """The checks of one turn, for the worker ``owner`` that holds the run's lease."""

    def __init__(
        self,
        *,
        run_pk: int,
        owner: str,
        started_at: datetime | None,
        clock: Callable[[], float] = time.monotonic,
        seen: CancelSeen | None = None,
    ) -> None:
        self.run_pk = run_pk
        self.owner = owner
        self.clock = clock
        # The last read of the flag (the claim's): real time, not self.clock.
        self.seen = seen or CancelSeen(at=-CHECK_EVERY_S, mark=-1)
        self.last_renew_at = clock()
        elapsed = (timezone.now() - (started_at or timezone.now())).total_seconds()
        self.deadline = clock() + max(0.0, settings.AGENT_RUN_TIMEOUT_S - elapsed)
        # This run in the process's watchdog (``run_advance`` registers it).
        self.flight: Flight | None = None

    def check(self, *, force: bool = False) -> None:
        """Raise ``StopRunError`` on abort, lost lease, deadline or shutdown."""
        self.stopped()
        now = self.clock()
        if now >= self.deadline:
            raise StopRunError("timeout")
        mark = cancel_mark()
        at = time.monotonic()
        if not force and mark == self.seen.mark and at - self.seen.at < CHECK_EVERY_S:
            return
        self.seen = CancelSeen(at=at, mark=mark)
        row = _cancel_and_owner(self.run_pk)
        if row is None or row[1] != self.owner[:100]:
            raise StopRunError("lost")
        if row[0]:
            raise StopRunError("cancel")
        if now - self.last_renew_at >= min(LEASE_RENEW_EVERY_S, lease_seconds() / 3):
            if not lease_renew(
                model=Run, pk=self.run_pk, owner=self.owner, seconds=lease_seconds()
            ):
                raise StopRunError("lost")
            self.last_renew_at = now

    def hold(self) -> None:
        """Renew the lease inside the current transaction, or stop: the run is not ours.

        Called first in every transaction that records a step's result, so a worker the
        sweeper gave up on can never write over the steps of the worker that took over.
        """
        if not lease_renew(model=Run, pk=self.run_pk, owner=self.owner, seconds=lease_seconds()):
            raise StopRunError("lost")
        self.last_renew_at = self.clock()

    def stopped(self) -> None:
        """Raise ``StopRunError`` if the watchdog stopped this run (no query)."""
        flight = self.flight
        if flight is not None and flight.stop is not None:
            raise StopRunError(flight.stop)

    def doing(self, what: str) -> None:
        """Say what the run does now: the watchdog's and the shutdown's log lines."""
        if self.flight is not None:
            self.flight.doing = what

    def is_cancelled(self) -> bool:
        try:
            self.check()
        except StopRunError:
            return True
        return False

    def sleep(self, seconds: float) -> None:
        # Real time, not self.clock: a test's frozen clock must not make a wait endless.
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.check(force=True)
            if self.flight is not None:
                self.flight.wake.wait(min(left, WAIT_SLICE_S))
            else:
                time.sleep(min(left, SLEEP_SLICE_S))
        self.check(force=True)
