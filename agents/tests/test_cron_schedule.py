"""Cron schedules and OpenClaw's job JSON, without a database (agents.lib)."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from agents.lib import cron_schedule, cron_spec
from agents.lib.cron_schedule import Schedule, ScheduleError, next_run
from agents.lib.cron_spec import CronSpecError, merge_patch, parse_job, spec_openclaw

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
JOB = "6f7c6ea2-2b5f-4aad-9020-ea18398cc1d3"


def cron(expr: str, tz: str = "", stagger: int | None = 0) -> Schedule:
    return Schedule(kind="cron", expr=expr, tz=tz, stagger_ms=stagger)


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# --- the three kinds ----------------------------------------------------------------------
def test_at_runs_once_at_its_time() -> None:
    at = NOW + timedelta(minutes=20)
    schedule = Schedule(kind="at", at=at)

    assert next_run(schedule, after=NOW, job_id=JOB) == at
    assert next_run(schedule, after=at, job_id=JOB) is None


def test_at_accepts_an_iso_time_a_duration_or_epoch_ms() -> None:
    assert cron_schedule.parse_at("20m", now=NOW) == NOW + timedelta(minutes=20)
    assert cron_schedule.parse_at("+1h30m", now=NOW) == NOW + timedelta(minutes=90)
    assert cron_schedule.parse_at("2026-03-02T09:00:00Z", now=NOW) == utc(2026, 3, 2, 9)
    # Offset-less: read in the job's time zone (CET is UTC+1 in March).
    berlin = cron_schedule.parse_at("2026-03-02T09:00:00", now=NOW, tz="Europe/Berlin")
    assert berlin == utc(2026, 3, 2, 8)
    assert cron_schedule.parse_at("1772442000000", now=NOW) == utc(2026, 3, 2, 9)


def test_every_keeps_to_its_grid_from_the_anchor() -> None:
    schedule = Schedule(kind="every", every_ms=3_600_000, anchor=utc(2026, 3, 1, 9, 15))

    assert next_run(schedule, after=NOW, job_id=JOB) == utc(2026, 3, 1, 12, 15)
    assert next_run(schedule, after=utc(2026, 3, 1, 12, 15), job_id=JOB) == utc(2026, 3, 1, 13, 15)
    # Before the anchor: the anchor itself.
    assert next_run(schedule, after=utc(2026, 3, 1, 8), job_id=JOB) == utc(2026, 3, 1, 9, 15)


def test_every_after_a_long_outage_gives_the_next_future_slot_not_the_missed_ones() -> None:
    schedule = Schedule(kind="every", every_ms=60_000, anchor=NOW)
    back = NOW + timedelta(days=3, seconds=30)

    assert next_run(schedule, after=back, job_id=JOB) == NOW + timedelta(days=3, minutes=1)


def test_cron_five_and_six_fields_in_utc() -> None:
    assert next_run(cron("0 9 * * 1-5"), after=NOW, job_id=JOB) == utc(2026, 3, 2, 9)  # Monday
    # Six fields: seconds first, as OpenClaw's croner reads them.
    assert next_run(cron("30 15 12 * * *"), after=NOW, job_id=JOB) == utc(2026, 3, 1, 12, 15, 30)
    assert next_run(cron("@hourly"), after=NOW, job_id=JOB) == utc(2026, 3, 1, 13)


def test_cron_in_a_time_zone() -> None:
    schedule = cron("0 9 * * *", "America/New_York")

    assert next_run(schedule, after=NOW, job_id=JOB) == utc(2026, 3, 1, 14)  # EST, UTC-5


# --- daylight saving time -------------------------------------------------------------------
def test_spring_forward_a_skipped_time_runs_once_when_the_clocks_jump() -> None:
    # Europe/Berlin, 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:30 never is.
    daily = cron("30 2 * * *", "Europe/Berlin")
    first = next_run(daily, after=utc(2026, 3, 28, 12), job_id=JOB)

    assert first == utc(2026, 3, 29, 1, 0)
    assert next_run(daily, after=first, job_id=JOB) == utc(2026, 3, 30, 0, 30)  # 02:30 CEST


def test_spring_forward_an_hourly_job_runs_once_for_the_missing_hour() -> None:
    hourly = cron("0 * * * *", "Europe/Berlin")
    runs: list[datetime] = []
    cursor: datetime | None = utc(2026, 3, 28, 23, 30)
    for _ in range(4):
        assert cursor is not None
        cursor = next_run(hourly, after=cursor, job_id=JOB)
        assert cursor is not None
        runs.append(cursor)

    # 01:00 CET, then 02:00 (skipped: the jump at 01:00 UTC), 03:00 CEST (same instant), 04:00.
    assert runs == [
        utc(2026, 3, 29, 0),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 2),
        utc(2026, 3, 29, 3),
    ]


def test_fall_back_a_repeated_time_runs_once_at_its_first_occurrence() -> None:
    # 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens at 00:30 and 01:30 UTC.
    daily = cron("30 2 * * *", "Europe/Berlin")
    first = next_run(daily, after=utc(2026, 10, 24, 12), job_id=JOB)

    assert first == utc(2026, 10, 25, 0, 30)
    assert next_run(daily, after=first, job_id=JOB) == utc(2026, 10, 26, 1, 30)


def test_fall_back_after_the_first_pass_the_repeated_hour_is_not_run_again() -> None:
    half_hourly = cron("*/30 * * * *", "Europe/Berlin")
    # 01:10 UTC is 02:10 CET, inside the second pass of 02:00-02:59.
    assert next_run(half_hourly, after=utc(2026, 10, 25, 1, 10), job_id=JOB) == utc(2026, 10, 25, 2)
    assert next_run(half_hourly, after=utc(2026, 10, 25, 0, 45), job_id=JOB) == utc(2026, 10, 25, 2)


# --- stagger ----------------------------------------------------------------------------
def test_top_of_hour_jobs_get_openclaws_deterministic_stagger() -> None:
    offset = int.from_bytes(hashlib.sha256(JOB.encode()).digest()[:4], "big") % 300_000

    assert cron_schedule.effective_stagger_ms("0 * * * *", None) == 300_000
    assert cron_schedule.effective_stagger_ms("0 0 */2 * * *", None) == 300_000
    assert cron_schedule.effective_stagger_ms("0 9 * * *", None) == 0  # a fixed hour
    assert cron_schedule.effective_stagger_ms("0 * * * *", 0) == 0  # --exact
    assert cron_schedule.stagger_offset_ms(JOB, 300_000) == offset
    staggered = next_run(cron("0 * * * *", stagger=None), after=NOW, job_id=JOB)
    assert staggered == utc(2026, 3, 1, 12) + timedelta(milliseconds=offset)
    # Another job lands elsewhere in the window, the same place every time.
    other = next_run(cron("0 * * * *", stagger=None), after=NOW, job_id="other")
    assert other != staggered
    assert other == next_run(cron("0 * * * *", stagger=None), after=NOW, job_id="other")


def test_an_explicit_stagger_spreads_any_expression() -> None:
    offset = cron_schedule.stagger_offset_ms(JOB, 60_000)
    run = next_run(cron("30 9 * * *", stagger=60_000), after=NOW, job_id=JOB)

    assert run == utc(2026, 3, 2, 9, 30) + timedelta(milliseconds=offset)


# --- bad input ------------------------------------------------------------------------
@pytest.mark.parametrize("expr", ["not a cron", "* * *", "61 * * * *", "* * * * * * *"])
def test_bad_expressions_are_refused_clearly(expr: str) -> None:
    with pytest.raises(ScheduleError, match="is not a cron expression of 5 fields"):
        cron_schedule.check_expr(expr)


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (Schedule(kind="every", every_ms=0), "everyMs must be between 1000"),
        (Schedule(kind="every", every_ms=999), "everyMs must be between 1000"),
        (Schedule(kind="at", at=NOW - timedelta(seconds=1)), "is in the past"),
        (Schedule(kind="at"), "needs a time"),
        (cron("0 9 * * *", "Mars/Olympus"), "is not an IANA time zone"),
        (cron("0 0 30 2 *"), "never fires"),
        (Schedule(kind="sometimes"), "is not one of at, every, cron"),
    ],
)
def test_schedules_that_can_never_run_are_refused(schedule: Schedule, message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        cron_schedule.validate(schedule, now=NOW, job_id=JOB)


def test_durations() -> None:
    assert cron_schedule.parse_duration_ms("1h30m") == 5_400_000
    assert cron_schedule.parse_duration_ms("500ms") == 500
    assert cron_schedule.parse_duration_ms("2d") == 172_800_000
    for bad in ("", "soon", "10 minutes", "1h-"):
        with pytest.raises(ScheduleError, match="is not a duration"):
            cron_schedule.parse_duration_ms(bad)


# --- OpenClaw's job JSON -----------------------------------------------------------------
def job(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "digest",
        "schedule": {"kind": "every", "everyMs": 3_600_000},
        "payload": {"kind": "systemEvent", "text": "check the inbox"},
    }
    base.update(fields)
    return base


def test_the_cli_shape_of_a_main_job_parses_and_round_trips() -> None:
    spec = parse_job(job(wakeMode="now", sessionTarget="main"), now=NOW, job_id=JOB)

    assert (spec.session_target, spec.payload["kind"], spec.delete_after_run) == (
        "main",
        "systemEvent",
        False,
    )
    shape = spec_openclaw(spec)
    assert shape["schedule"] == {"kind": "every", "everyMs": 3_600_000}
    assert parse_job(shape, now=NOW, job_id=JOB) == spec


def test_an_agent_turn_defaults_to_isolated_and_keeps_its_options() -> None:
    payload = {
        "kind": "agentTurn",
        "message": "summarize",
        "model": "openai/gpt-4o-mini",
        "timeoutSeconds": 60,
        "toolsAllow": ["read", "ls"],
        "thinking": "low",
    }
    spec = parse_job(
        job(payload=payload, delivery={"mode": "announce", "channel": "telegram", "to": 42}),
        now=NOW,
        job_id=JOB,
    )

    assert spec.session_target == "isolated"
    assert spec.payload == payload
    assert spec.delivery == {"mode": "announce", "channel": "telegram", "to": "42"}


def test_one_shot_jobs_delete_themselves_by_default() -> None:
    at = {"kind": "at", "at": "2026-03-02T09:00:00Z"}
    assert parse_job(job(schedule=at), now=NOW, job_id=JOB).delete_after_run
    kept = parse_job(job(schedule=at, deleteAfterRun=False), now=NOW, job_id=JOB)
    assert not kept.delete_after_run


def test_session_targets() -> None:
    turn = {"kind": "agentTurn", "message": "hi"}
    named = parse_job(
        job(payload=turn, sessionTarget="session:agent:main:ops"), now=NOW, job_id=JOB
    )
    current = parse_job(
        job(payload=turn, sessionTarget="current", sessionKey="agent:main:x"), now=NOW, job_id=JOB
    )

    assert (named.session_target, named.target_session_key) == ("session", "agent:main:ops")
    assert (current.session_target, current.target_session_key) == ("session", "agent:main:x")
    assert spec_openclaw(named)["sessionTarget"] == "session:agent:main:ops"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"name": " "}, "name is required"),
        ({"schedule": None}, "schedule is required"),
        ({"schedule": {"kind": "every", "everyMs": 0}}, "everyMs must be between"),
        ({"schedule": {"kind": "cron", "expr": "nope"}}, "is not a cron expression"),
        ({"schedule": {"kind": "cron", "expr": "0 9 * * *", "tz": "Nowhere/Town"}}, "IANA"),
        ({"schedule": {"kind": "on-exit", "command": "ls"}}, "'on-exit' is not supported"),
        ({"payload": {"kind": "systemEvent", "text": ""}}, "text is required"),
        ({"payload": {"kind": "command", "argv": ["ls"]}}, "'command' is not supported"),
        ({"sessionTarget": "isolated"}, "agentTurn payload; systemEvent is for main"),
        ({"sessionTarget": "main", "payload": {"kind": "agentTurn", "message": "x"}}, "main job"),
        ({"sessionTarget": "elsewhere"}, "is not main, isolated"),
        ({"sessionTarget": "current"}, "needs sessionKey"),
        ({"wakeMode": "later"}, "wakeMode 'later'"),
        ({"delivery": {"mode": "announce"}}, "announce delivery is for isolated jobs"),
        ({"enabled": "yes"}, "enabled and deleteAfterRun must be true or false"),
        (
            {"payload": {"kind": "agentTurn", "message": "x", "model": "gpt"}},
            "is not provider/model",
        ),
        (
            {"payload": {"kind": "agentTurn", "message": "x"}, "delivery": {"mode": "webhook"}},
            "webhook delivery is not supported",
        ),
        (
            {
                "payload": {"kind": "agentTurn", "message": "x", "toolsAllow": ["read"]},
                "sessionTarget": "session:agent:main:x",
            },
            "toolsAllow applies to isolated jobs only",
        ),
    ],
)
def test_bad_jobs_are_refused_with_a_clear_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(CronSpecError, match=message):
        parse_job(job(**fields), now=NOW, job_id=JOB)


def test_a_patch_replaces_the_schedule_and_merges_the_payload() -> None:
    current = spec_openclaw(
        parse_job(
            job(payload={"kind": "agentTurn", "message": "a", "model": "openai/x"}),
            now=NOW,
            job_id=JOB,
        )
    )
    merged = merge_patch(
        current,
        {"schedule": {"kind": "cron", "expr": "0 9 * * *"}, "payload": {"message": "b"}, "id": "x"},
    )

    assert merged["schedule"] == {"kind": "cron", "expr": "0 9 * * *"}
    assert merged["payload"] == {"kind": "agentTurn", "message": "b", "model": "openai/x"}
    assert "id" not in merged
    # Another payload kind moves the job to the matching target.
    moved = merge_patch(current, {"payload": {"kind": "systemEvent", "text": "t"}})
    assert moved["sessionTarget"] == "main"
    assert "delivery" not in moved
    with pytest.raises(CronSpecError):
        merge_patch(current, ["not", "a", "patch"])  # type: ignore[arg-type]
    assert cron_spec.NAME_MAX_LENGTH == 200
