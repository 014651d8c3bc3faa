"""When a session is stale and starts over (reference spec §4.2). Pure: no Django.

OpenClaw evaluates freshness on the next inbound message, not by a timer:

- ``daily``: stale when the last activity was before the most recent ``atHour`` o'clock
  (gateway-local time; default 04:00);
- ``idle``: stale when more than ``idleMinutes`` passed since the last activity (default
  60 in idle mode);
- ``daily`` with ``idleMinutes`` set: whichever boundary comes first;
- ``never`` (a per-session override here): never stale.

A session's own ``reset_mode``/``reset_at_hour``/``reset_idle_minutes`` override the
configured ``session.reset`` field by field (blank/None inherits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta, tzinfo

DAILY = "daily"
IDLE = "idle"
NEVER = "never"
# session.reset.mode values (``never`` is a per-session override only).
RESET_MODES = (DAILY, IDLE)
DEFAULT_MODE = DAILY
DEFAULT_AT_HOUR = 4
DEFAULT_IDLE_MINUTES = 60


@dataclass(frozen=True)
class ResetPolicy:
    """``mode`` daily|idle|never; ``at_hour`` 0-23; ``idle_minutes`` ≥ 1 or None."""

    mode: str = DEFAULT_MODE
    at_hour: int = DEFAULT_AT_HOUR
    idle_minutes: int | None = None


@dataclass(frozen=True)
class Freshness:
    """``stale`` and, when stale, why: ``daily`` or ``idle`` (the boundary passed first)."""

    stale: bool
    reason: str = ""
    daily_reset_at: datetime | None = None
    idle_expires_at: datetime | None = None


def effective_policy(
    configured: ResetPolicy,
    *,
    mode: str = "",
    at_hour: int | None = None,
    idle_minutes: int | None = None,
) -> ResetPolicy:
    """The configured policy with a session's overrides applied (blank/None inherits)."""
    return ResetPolicy(
        mode=mode or configured.mode,
        at_hour=configured.at_hour if at_hour is None else at_hour,
        idle_minutes=configured.idle_minutes if idle_minutes is None else idle_minutes,
    )


def daily_reset_at(now: datetime, at_hour: int, tz: tzinfo) -> datetime:
    """The most recent ``at_hour`` o'clock in ``tz`` at or before ``now`` (aware)."""
    hour = min(max(int(at_hour), 0), 23)
    local = now.astimezone(tz)
    boundary = datetime.combine(local.date(), time(hour), tzinfo=tz)
    if local < boundary:
        boundary = datetime.combine(local.date() - timedelta(days=1), time(hour), tzinfo=tz)
    return boundary


def evaluate(
    *, last_activity: datetime | None, now: datetime, tz: tzinfo, policy: ResetPolicy
) -> Freshness:
    """Whether a session last active at ``last_activity`` is stale at ``now``.

    A session that never had any activity is fresh (there is nothing to start over).
    Datetimes must be timezone-aware.
    """
    if policy.mode == NEVER or last_activity is None:
        return Freshness(stale=False)
    daily_at = daily_reset_at(now, policy.at_hour, tz) if policy.mode == DAILY else None
    idle_minutes = policy.idle_minutes
    if idle_minutes is None and policy.mode == IDLE:
        idle_minutes = DEFAULT_IDLE_MINUTES
    idle_at = (
        last_activity + timedelta(minutes=max(int(idle_minutes), 1))
        if idle_minutes is not None
        else None
    )
    stale_daily = daily_at is not None and last_activity < daily_at
    stale_idle = idle_at is not None and now > idle_at
    # Both passed: the reason is the boundary that passed first.
    passed = sorted(
        (at, name)
        for at, name, stale in ((daily_at, DAILY, stale_daily), (idle_at, IDLE, stale_idle))
        if stale and at is not None
    )
    reason = passed[0][1] if passed else ""
    return Freshness(
        stale=bool(reason), reason=reason, daily_reset_at=daily_at, idle_expires_at=idle_at
    )
