"""The run watchdog: one daemon thread per process over the runs this process drives.

Why it exists: Celery's threads pool ignores ``time_limit`` and ``soft_time_limit``
(the embedded gateway and the documented team worker both use it), and the run loop
reads its cancel flag and deadline only between streamed chunks and tool polls. A
provider that stalls (up to ``AGENT_MODEL_TIMEOUT_S``) or a tool that hangs therefore
held ``chat.abort``, the run's time limit and the process's shutdown hostage.

A turn registers its run here while it runs (``agents.runtime.loop.run_advance``). While any run is
registered the thread wakes every ``POLL_S`` and reads, in ONE query, the cancel flags
and lease owners of this process's runs (``chat.abort`` may come through any process;
one in this process wakes the thread at once). A run to stop (``cancel``; ``lost``: its
lease went to another worker; ``timeout``: ``GRACE_S`` past its deadline; ``shutdown``)
gets its flag set, which the loop raises at its next check and tools polling
``is_cancelled`` see (exec then kills its process group), and its in-flight provider
request cut (``providers._interrupt``). A turn that still has not ended
``HARD_GRACE_S`` later is ended in the database from this thread (failed with
``errorKind: timeout``, or aborted) so the client gets its final event; the stuck
thread later finds its lease gone and writes nothing.

Idle (no run in flight) the thread waits on a condition: no query, no CPU. The hot path
pays an attribute read per check and two dict operations per turn.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import close_old_connections, connection

from agents.models import Run
from agents.providers import _interrupt
from core.dbdown import DATABASE_DOWN, Outage
from core.leases import lease_release

logger = logging.getLogger(__name__)

# How often the cancel flags of in-flight runs are read: the bound on how late a
# chat.abort from another process, or a lease lost to another worker, is seen.
POLL_S = 0.3
# Past the run's deadline before the watchdog stops it: the loop's own check normally
# ends it at the deadline; the watchdog is for a turn stuck where it cannot check.
GRACE_S = 1.0
# After the watchdog stopped a run, before it ends the run in the database itself.
HARD_GRACE_S = 5.0

STOP_CANCEL = "cancel"
STOP_TIMEOUT = "timeout"
STOP_LOST = "lost"
STOP_SHUTDOWN = "shutdown"


@dataclass(eq=False)
class Flight:
    """One run in flight in this process. ``doing`` says what it does (for the log)."""

    run_pk: int
    run_id: str
    session_key: str
    owner: str
    deadline: float  # time.monotonic()
    # Called on the watchdog thread when the turn did not end HARD_GRACE_S after it was
    # stopped (``cancel`` or ``timeout``): ends the run in the database.
    on_overdue: Callable[[str], None] | None = None
    thread_id: int = field(default_factory=threading.get_ident)
    started: float = field(default_factory=time.monotonic)
    doing: str = "starting"
    stop: str | None = None
    stopped_at: float | None = None
    forced: bool = False
    # Set when the run is stopped: a turn waiting (cooldown, retry) wakes at once.
    wake: threading.Event = field(default_factory=threading.Event)


class Watchdog:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._flights: set[Flight] = set()
        self._poked = False
        self._shutting_down = False
        self._thread: threading.Thread | None = None
        self._idle = True  # the thread waits for a run to register (no timed polling)
        self._outage = Outage("run watchdog")

    # --- the turn's side ---------------------------------------------------------------
    def register(self, flight: Flight) -> Flight:
        with self._cond:
            self._flights.add(flight)
            shutting_down = self._shutting_down
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="run-watchdog", daemon=True)
                self._thread.start()
            if self._idle:
                # Only an idle thread needs waking: one already polling sees the run at
                # its next look. Waking it on every turn cost each turn a GIL hand-over.
                self._cond.notify_all()
        if shutting_down:
            # Claimed while the process began to stop: hand it straight back.
            self.stop(flight, STOP_SHUTDOWN)
        return flight

    def unregister(self, flight: Flight) -> None:
        with self._cond:
            self._flights.discard(flight)
            _interrupt.clear(flight.thread_id)
            if self._shutting_down:
                self._cond.notify_all()  # shutdown() waits for the runs to leave

    def poke(self) -> None:
        """Read the cancel flags now (a chat.abort committed in this process)."""
        with self._cond:
            if self._flights:
                self._poked = True
                self._cond.notify_all()

    def shutting_down(self) -> bool:
        return self._shutting_down

    def in_flight(self) -> list[Flight]:
        with self._cond:
            return list(self._flights)

    def stop(self, flight: Flight, why: str) -> bool:
        """Make the run stop: its flag, then its provider request.

        False when it was stopped already or has ended: under the lock that
        ``unregister`` takes, so a thread that has moved on to its next run is never cut.
        """
        with self._cond:
            if flight.stop is not None or flight not in self._flights:
                return False
            flight.stop = why
            flight.stopped_at = time.monotonic()
            flight.wake.set()
            _interrupt.interrupt(flight.thread_id)
        return True

    # --- shutdown ----------------------------------------------------------------------
    def shutdown(self, wait_s: float) -> list[Flight]:
        """Cut off every run of this process and hand its lease back; claim no new ones.

        Waits up to ``wait_s`` for the turns to hand their runs back themselves (they
        stop at once: stream cut, tool process group killed); a run whose thread is
        still stuck is handed back from here. Returns the runs cut off; logs one
        WARNING line per run saying what it was doing.
        """
        with self._cond:
            self._shutting_down = True
            flights = list(self._flights)
        doing = {flight: flight.doing for flight in flights}
        for flight in flights:
            self.stop(flight, STOP_SHUTDOWN)
        end = time.monotonic() + wait_s
        with self._cond:
            while (left := end - time.monotonic()) > 0 and any(f in self._flights for f in flights):
                self._cond.wait(left)
            stuck = [f for f in flights if f in self._flights]
        for flight in flights:
            how = "lease handed back"
            if flight in stuck:
                how = (
                    "lease handed back (its thread did not stop)"
                    if hand_back(flight)
                    else "its lease could not be handed back now; the next start does it"
                )
            logger.warning(
                "shutdown cut off run %s (session %s) while %s, %.1f s into it; %s: "
                "it resumes at the next start",
                flight.run_id,
                flight.session_key,
                doing[flight],
                time.monotonic() - flight.started,
                how,
                extra={"run_id": flight.run_id},
            )
        return flights

    # --- the watchdog thread -----------------------------------------------------------
    def _loop(self) -> None:
        while True:
            with self._cond:
                if not self._flights:
                    # Idle: no connection held, no wake-ups until a run registers.
                    connection.close()
                    self._idle = True
                    while not self._flights:
                        self._cond.wait()
                    self._idle = False
                self._cond.wait_for(lambda: self._poked, timeout=POLL_S)
                poked, self._poked = self._poked, False
                # A run is looked at POLL_S after it started (at once when poked): a turn
                # of a few tens of milliseconds costs no query at all.
                now = time.monotonic()
                flights = [f for f in self._flights if poked or now - f.started >= POLL_S]
            if not flights:
                continue
            try:
                close_old_connections()
                self._look(flights)
            except DATABASE_DOWN as exc:
                # The watchdog outlives a database outage (logged once); it looks again.
                self._outage.failed(exc)
                time.sleep(POLL_S)
            except Exception:
                logger.exception("run watchdog: checking the runs in flight failed")
                time.sleep(POLL_S)
            else:
                self._outage.ok()

    def _look(self, flights: list[Flight]) -> None:
        now = time.monotonic()
        running = [f for f in flights if f.stop is None]
        if running:
            rows = {
                pk: (cancel, owner)
                for pk, cancel, owner in Run.objects.filter(
                    pk__in={f.run_pk for f in running}
                ).values_list("pk", "cancel_requested", "lease_owner")
            }
            for flight in running:
                # A row this connection cannot see (deleted, or a test's open transaction)
                # is left to the turn's own check; the deadline still holds.
                row = rows.get(flight.run_pk)
                if row is not None and row[1] != flight.owner[:100]:
                    self.stop(flight, STOP_LOST)
                elif row is not None and row[0]:
                    self.stop(flight, STOP_CANCEL)
                elif now >= flight.deadline + GRACE_S:
                    logger.warning(
                        "run %s is past its time limit while %s; stopping it",
                        flight.run_id,
                        flight.doing,
                        extra={"run_id": flight.run_id},
                    )
                    self.stop(flight, STOP_TIMEOUT)
        for flight in flights:
            if (
                flight.stop in (STOP_CANCEL, STOP_TIMEOUT)
                and not flight.forced
                and flight.stopped_at is not None
                and now - flight.stopped_at >= HARD_GRACE_S
                and flight.on_overdue is not None
            ):
                flight.forced = True
                logger.warning(
                    "run %s did not stop within %.0f s (%s while %s); ending it here",
                    flight.run_id,
                    HARD_GRACE_S,
                    flight.stop,
                    flight.doing,
                    extra={"run_id": flight.run_id},
                )
                flight.on_overdue(flight.stop)


def hand_back(flight: Flight) -> bool:
    """Release the run of ``flight`` back to queued (not ended): the next worker or start
    resumes it. True when this owner still held it; an error is logged, not raised."""
    try:
        return lease_release(
            model=Run,
            pk=flight.run_pk,
            owner=flight.owner,
            from_statuses=[Run.Status.RUNNING],
            to_status=Run.Status.QUEUED,
        )
    except Exception:
        logger.exception("run %s: handing its lease back failed", flight.run_id)
        return False


_watchdog = Watchdog()


def _after_fork() -> None:
    # A forked child (Celery prefork) has none of its parent's threads or runs.
    global _watchdog  # noqa: PLW0603
    _watchdog = Watchdog()


os.register_at_fork(after_in_child=_after_fork)


def watchdog() -> Watchdog:
    return _watchdog
