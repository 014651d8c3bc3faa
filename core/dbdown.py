"""The database went away: what that raises, and how every door says so.

While PostgreSQL is down (restarting, failing over, unreachable), each database call
fails at once with ``OperationalError`` (refused, reset, terminated) or, on a kept
connection that died, ``InterfaceError``. A request that meets one gets an answer that
says the database is unavailable and to retry, and the log gets one line, not a
traceback per request. Django drops the dead connection at the next
``close_old_connections()`` (``CONN_HEALTH_CHECKS`` checks a kept one before reuse), so
every process works again once the database answers, without a restart.

Deadlocks and lock timeouts raise ``OperationalError`` too; "retry" is right for them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from django.db import InterfaceError, OperationalError

P = ParamSpec("P")
T = TypeVar("T")

logger = logging.getLogger(__name__)

DATABASE_DOWN = (OperationalError, InterfaceError)
RETRY_AFTER_MS = 2000
CODE = "DATABASE_UNAVAILABLE"


def database_down_message(what: str, exc: BaseException) -> str:
    """What a client is told: no address, no SQL, only the exception's type."""
    return (
        f"{what} failed: the database is unavailable ({type(exc).__name__}); retry in a few seconds"
    )


def log_database_down(logger: logging.Logger, what: str, exc: BaseException) -> None:
    """One WARNING line (the driver's message on one line, cut short)."""
    logger.warning("%s: the database is unavailable: %s", what, " ".join(str(exc).split())[:300])


def raising(
    what: str, error: Callable[[BaseException], Exception]
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a database call so that the database being down raises ``error(exc)``
    (the door's own refusal, which it already answers), logged as one line."""

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        @wraps(fn)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except DATABASE_DOWN as exc:
                log_database_down(logger, what, exc)
                raise error(exc) from None

        return wrapped

    return decorate


class Outage:
    """A loop or a periodic chore that meets the database down every few seconds logs
    the outage once when it starts and once when it ends, not a traceback per try."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._since: float | None = None
        self._lock = threading.Lock()

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            first = self._since is None
            if first:
                self._since = time.monotonic()
        if first:
            log_database_down(logger, self.what, exc)

    def ok(self) -> None:
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            logger.info(
                "%s: the database answers again (after %.0f s)",
                self.what,
                time.monotonic() - since,
            )


def chore(what: str) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Decorate a periodic task (a sweep, the cron tick): the database being down skips
    this round with the outage logged once (``Outage``); the next round tries again."""
    outage = Outage(what)

    def decorate(fn: Callable[P, None]) -> Callable[P, None]:
        @wraps(fn)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                fn(*args, **kwargs)
            except DATABASE_DOWN as exc:
                outage.failed(exc)
                return
            outage.ok()

        return wrapped

    return decorate
