"""When a cron job runs: OpenClaw's three schedule kinds (reference spec §9). Pure.

- ``at``: once, at an ISO 8601 time (an offset-less time is read in the job's time zone,
  else UTC) or after a duration such as ``20m`` (``parse_at``);
- ``every``: every ``every_ms`` milliseconds on a grid from ``anchor`` (the job's
  creation unless given): the next slot is ``anchor + k * every_ms`` after now, so a
  job missed while the gateway was down runs once, then continues on its grid;
- ``cron``: a 5-field (minute first) or 6-field (seconds first) expression, as
  OpenClaw's croner reads it, evaluated on the wall clock of an IANA time zone (UTC
  when none is given). A top-of-hour expression (``0 * * * *``, ``0 */2 * * *``) is
  staggered by up to 5 minutes unless ``stagger_ms`` is set (0 means exact); the offset
  is deterministic per job: the first 4 bytes of sha256(job id), big-endian, modulo the
  stagger window, as OpenClaw computes it.

Daylight saving time (zoneinfo): a wall-clock time that does not exist (the hour the
clocks skip) runs once, at the moment the clocks jump; a wall-clock time that happens
twice (the hour repeated when clocks go back) runs once, at its first occurrence.
"""

from __future__ import annotations

import hashlib
import re
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter
from croniter.croniter import CroniterBadDateError, CroniterError

KINDS = ("at", "every", "cron")
MIN_EVERY_MS = 1000  # the dispatcher ticks in seconds; OpenClaw accepts 1 ms and rounds up
MAX_EVERY_MS = 100 * 365 * 86_400_000
DEFAULT_TOP_OF_HOUR_STAGGER_MS = 300_000
MAX_STAGGER_MS = 86_400_000
# Upper bound of wall-clock candidates looked at for one next run: a seconds-field
# expression can match 3,600 times inside a repeated hour before one lands after it.
_MAX_CANDIDATES = 10_000
_NICKNAMES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", re.IGNORECASE)
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_HOUR_PART = re.compile(r"^(?:\d+|\d+-\d+)(?:/\d+)?$|^[*?](?:/\d+)?$")


class ScheduleError(ValueError):
    """A schedule that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class Schedule:
    """One job's schedule; only the fields of its ``kind`` are set."""

    kind: str
    at: datetime | None = None
    every_ms: int | None = None
    anchor: datetime | None = None
    expr: str = ""
    tz: str = ""
    stagger_ms: int | None = None


# --- parsing -----------------------------------------------------------------------------
def parse_duration_ms(text: str) -> int:
    """``20m``, ``1h30m``, ``90s``, ``2d``, ``500ms`` (bare digits are milliseconds)."""
    raw = text.strip()
    if raw.isdigit():
        return int(raw)
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_MS[match.group(2).lower()]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ScheduleError(f"{text!r} is not a duration; write e.g. 30s, 20m, 1h30m or 2d")
    return int(total)


def zone(tz: str) -> zoneinfo.ZoneInfo:
    """The IANA time zone ``tz`` (UTC for ""); ScheduleError for an unknown name."""
    name = tz.strip() or "UTC"
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            f"{tz!r} is not an IANA time zone; write e.g. Europe/Berlin or UTC"
        ) from None


def parse_time(text: str, *, tz: str = "") -> datetime:
    """An ISO 8601 time; without an offset it is read in ``tz`` (UTC when none)."""
    raw = text.strip()
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ScheduleError(
            f"{text!r} is not an ISO 8601 time; write e.g. 2026-03-01T09:00:00Z"
        ) from None
    if value.tzinfo is None:
        value = _wall_to_instant(value, zone(tz))
    return value.astimezone(UTC)


def parse_at(text: str, *, now: datetime, tz: str = "") -> datetime:
    """``at``: an ISO 8601 time, epoch milliseconds, or a duration from now (``20m``, ``+2h``)."""
    raw = text.strip()
    if not raw:
        raise ScheduleError("the 'at' time is empty; write an ISO time or a duration like 20m")
    if raw.isdigit():
        return datetime.fromtimestamp(int(raw) / 1000, UTC)
    if any(c in raw for c in "-T:") and raw[0].isdigit():
        return parse_time(raw, tz=tz)
    return now + timedelta(milliseconds=parse_duration_ms(raw.removeprefix("+")))


def normalize_expr(expr: str) -> str:
    """The expression with single spaces, a nickname (``@daily``) spelled out."""
    text = " ".join(expr.split())
    return _NICKNAMES.get(text.lower(), text)


def check_expr(expr: str) -> str:
    """Return the normalized expression; ScheduleError unless it has 5 or 6 valid fields."""
    text = normalize_expr(expr)
    fields = text.split(" ")
    six = len(fields) == 6
    if len(fields) not in (5, 6) or not croniter.is_valid(text, second_at_beginning=six):
        raise ScheduleError(
            f"{expr!r} is not a cron expression of 5 fields (minute hour day month weekday, "
            "e.g. '0 9 * * 1-5') or 6 (seconds first, e.g. '0 30 9 * * *')"
        )
    return text


def validate(schedule: Schedule, *, now: datetime, job_id: str, allow_past: bool = False) -> None:
    """Raise ScheduleError for a schedule that can never run (or is malformed).

    ``at`` must lie in the future unless ``allow_past`` (an imported job keeps its time).
    """
    if schedule.kind not in KINDS:
        raise ScheduleError(f"schedule kind {schedule.kind!r} is not one of at, every, cron")
    if schedule.kind == "at":
        if schedule.at is None:
            raise ScheduleError("an 'at' schedule needs a time, e.g. 2026-03-01T09:00:00Z or 20m")
        if not allow_past and schedule.at <= now:
            raise ScheduleError(
                f"the 'at' time {schedule.at.isoformat()} is in the past; pick a future time"
            )
        return
    if schedule.kind == "every":
        every = schedule.every_ms
        if every is None or not MIN_EVERY_MS <= every <= MAX_EVERY_MS:
            raise ScheduleError(
                f"everyMs must be between {MIN_EVERY_MS} (1 s) and {MAX_EVERY_MS} ms; got {every}"
            )
        return
    check_expr(schedule.expr)
    zone(schedule.tz)
    if schedule.stagger_ms is not None and not 0 <= schedule.stagger_ms <= MAX_STAGGER_MS:
        raise ScheduleError(f"staggerMs must be between 0 and {MAX_STAGGER_MS} (one day)")
    if next_run(schedule, after=now, job_id=job_id) is None:
        raise ScheduleError(f"the cron expression {schedule.expr!r} never fires; check its days")


# --- next run ------------------------------------------------------------------------------
def next_run(schedule: Schedule, *, after: datetime, job_id: str) -> datetime | None:
    """The first run strictly after ``after`` (aware), or None when there is none."""
    if schedule.kind == "at":
        return schedule.at if schedule.at is not None and schedule.at > after else None
    if schedule.kind == "every":
        if not schedule.every_ms or schedule.every_ms < 1:
            return None
        anchor = schedule.anchor or after
        if after < anchor:
            return anchor
        step = timedelta(milliseconds=schedule.every_ms)
        return anchor + ((after - anchor) // step + 1) * step
    return _cron_next(schedule, after=after, job_id=job_id)


def effective_stagger_ms(expr: str, stagger_ms: int | None) -> int:
    """The explicit stagger, else 5 minutes for a recurring top-of-hour expression."""
    if stagger_ms is not None:
        return max(0, stagger_ms)
    fields = normalize_expr(expr).split(" ")
    if len(fields) == 6:
        fields = fields[1:] if fields[0] == "0" else []
    if len(fields) == 5 and fields[0] == "0":
        parts = fields[1].split(",")
        if all(_HOUR_PART.match(p) for p in parts) and any(p[0] in "*?" for p in parts):
            return DEFAULT_TOP_OF_HOUR_STAGGER_MS
    return 0


def stagger_offset_ms(job_id: str, stagger_ms: int) -> int:
    """The job's fixed place in the stagger window (OpenClaw's resolveStableCronOffsetMs)."""
    if stagger_ms <= 1:
        return 0
    digest = hashlib.sha256(job_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") % stagger_ms


def _cron_next(schedule: Schedule, *, after: datetime, job_id: str) -> datetime | None:
    offset = timedelta(
        milliseconds=stagger_offset_ms(
            job_id, effective_stagger_ms(schedule.expr, schedule.stagger_ms)
        )
    )
    # A staggered slot is the expression's slot plus the offset: look for the
    # expression's first slot after (after - offset).
    base = cron_next_unstaggered(schedule.expr, schedule.tz, after=after - offset)
    return None if base is None else base + offset


def cron_next_unstaggered(expr: str, tz: str, *, after: datetime) -> datetime | None:
    """The expression's first instant strictly after ``after`` in ``tz`` (DST as above)."""
    text = check_expr(expr)
    where = zone(tz)
    wall = after.astimezone(where).replace(tzinfo=None, microsecond=0)
    # Iterate wall-clock candidates and map each to an instant: the wall clock repeats
    # an hour in autumn, so a candidate can map to an instant before ``after``.
    try:
        candidates = croniter(
            text,
            wall - timedelta(seconds=1),
            ret_type=datetime,
            second_at_beginning=len(text.split(" ")) == 6,
            max_years_between_matches=8,
        )
        for _ in range(_MAX_CANDIDATES):
            instant = _wall_to_instant(candidates.get_next(datetime), where)
            if instant > after:
                return instant
    except (CroniterBadDateError, CroniterError):
        return None
    return None


def _wall_to_instant(wall: datetime, where: zoneinfo.ZoneInfo) -> datetime:
    """The instant of a wall-clock time: its first occurrence, or for a time inside the
    spring-forward gap, the moment the clocks jump."""
    first = wall.replace(tzinfo=where, fold=0)
    instant = first.astimezone(UTC)
    if instant.astimezone(where).replace(tzinfo=None) == wall.replace(tzinfo=None):
        return instant
    # In the gap: fold=1 reads the wall time with the earlier offset, fold=0 with the
    # later one; the jump lies between the two instants (found to the second).
    low = int(wall.replace(tzinfo=where, fold=1).astimezone(UTC).timestamp())
    high = int(instant.timestamp())
    low, high = min(low, high), max(low, high)
    after_offset = datetime.fromtimestamp(high, UTC).astimezone(where).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(where).utcoffset() == after_offset:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)
