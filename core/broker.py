"""Publishing a task message, when the broker may be down.

Every task message wakes a worker for a row that is already committed (a run, an inbound
or outbound message, a cron job): the database is the source of truth. So a broker that
cannot be reached (team mode's Redis restarting) must not turn an accepted request into
an error, nor undo what was stored: the message is left out, one WARNING says so, and
the work sweeper (``core.leases.work_recover``, every ``OPENCLAW_SWEEP_INTERVAL_SECONDS``)
enqueues the waiting row once the broker answers again.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import current_app
from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def send_task(name: str, args: Sequence[object], *, countdown: float | None = None) -> bool:
    """Publish ``name(*args)``; False (logged) when the broker is unreachable."""
    try:
        current_app.send_task(name, args=list(args), countdown=countdown)
    except OperationalError as exc:
        logger.warning(
            "the broker is unreachable; %s%s is left to the work sweeper (%s)",
            name,
            tuple(args),
            exc,
        )
        return False
    return True
