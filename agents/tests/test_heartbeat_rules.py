"""Heartbeat rules without a database (agents.lib.heartbeat): OpenClaw's ``every``, the
config blocks and their errors, which agents run one, active hours, the HEARTBEAT_OK
acknowledgement and the empty HEARTBEAT.md."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from agents.lib import heartbeat as rules
from agents.lib.heartbeat import (
    ActiveHours,
    HeartbeatConfig,
    HeartbeatConfigError,
    effectively_empty,
    heartbeat_agents,
    parse_every,
    strip_heartbeat_token,
)
from agents.lib.workspace import template_text


def utc(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# --- every ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30m", 1_800_000),
        ("1h", 3_600_000),
        (" 2H ", 7_200_000),
        ("90s", 90_000),
        ("1d", 86_400_000),
        ("1.5h", 5_400_000),
        ("45", 2_700_000),  # a bare number is minutes
        (45, 2_700_000),
        (0, None),
        ("0m", None),  # off
        ("0", None),
    ],
)
def test_every_parses_durations_with_minutes_as_the_default_unit(
    value: Any, expected: int | None
) -> None:
    assert parse_every(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("soon", "'soon' is not a duration; write e.g. '30m'"),
        ("1h30m", "is not a duration"),
        ("-5m", "is not a duration"),
        ("500ms", "out of range"),
        ("30s", "out of range"),
        ("366d", "out of range"),
        (True, "takes a duration such as '30m'"),
        (["30m"], "takes a duration such as '30m'"),
    ],
)
def test_every_refuses_what_is_not_a_duration(value: Any, message: str) -> None:
    with pytest.raises(HeartbeatConfigError, match=message):
        parse_every(value)


def test_format_every_uses_the_largest_unit_that_divides() -> None:
    assert [rules.format_every(v) for v in (1_800_000, 3_600_000, 86_400_000, 90_000, 1500)] == [
        "30m",
        "1h",
        "1d",
        "90s",
        "1500ms",
    ]


# --- one block, merged ----------------------------------------------------------------------
def test_no_block_is_thirty_minutes_to_nobody_with_the_default_prompt() -> None:
    config = HeartbeatConfig.parse()
    assert (config.enabled, config.every, config.every_ms) == (True, "30m", 1_800_000)
    assert (config.target, config.to, config.ack_max_chars) == ("none", "", 300)
    assert config.active_hours is None
    assert config.effective_prompt == rules.DEFAULT_PROMPT
    assert "HEARTBEAT_OK" in rules.DEFAULT_PROMPT
    assert config.summary() == {
        "enabled": True,
        "every": "30m",
        "everyMs": 1_800_000,
        "prompt": rules.DEFAULT_PROMPT,
        "target": "none",
        "ackMaxChars": 300,
    }


def test_an_agents_block_wins_over_the_defaults_key_by_key() -> None:
    defaults = {
        "every": "1h",
        "target": "telegram",
        "to": "123",
        "ackMaxChars": 50,
        "activeHours": {"start": "08:00", "end": "22:00", "timezone": "Europe/Berlin"},
    }
    own = {"every": "2h", "target": "Last", "prompt": " Check the inbox. ", "to": None}

    config = HeartbeatConfig.parse(defaults, own)

    assert (config.every, config.every_ms) == ("2h", 7_200_000)
    assert config.target == "last"  # lower-cased
    assert config.to == "123"  # None does not unset the default
    assert config.ack_max_chars == 50
    assert config.effective_prompt == "Check the inbox."
    assert config.active_hours == ActiveHours("08:00", "22:00", "Europe/Berlin")
    assert HeartbeatConfig.parse(None, None) == HeartbeatConfig.parse()


def test_every_0m_turns_it_off() -> None:
    config = HeartbeatConfig.parse({"every": "30m"}, {"every": "0m"})
    assert (config.enabled, config.every, config.every_ms) == (False, "disabled", None)
    assert config.summary()["enabled"] is False
    assert config.summary()["everyMs"] is None


def test_a_model_shows_in_the_summary() -> None:
    summary = HeartbeatConfig.parse({"model": "openai/gpt-4o-mini"}).summary()
    assert summary["model"] == "openai/gpt-4o-mini"
    assert "model" not in HeartbeatConfig.parse().summary()


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("30m", "heartbeat takes an object"),
        ({"evry": "30m"}, "heartbeat has no key 'evry'; it takes every, target"),
        ({"every": "often"}, "heartbeat.every 'often' is not a duration"),
        ({"ackMaxChars": -1}, "ackMaxChars takes a whole number ≥ 0"),
        ({"ackMaxChars": "300"}, "ackMaxChars takes a whole number"),
        ({"ackMaxChars": True}, "ackMaxChars takes a whole number"),
        ({"target": "tele gram"}, "heartbeat.target 'tele gram' is not a target; use 'none'"),
        ({"target": 5}, "heartbeat.target takes a string"),
        ({"to": 123}, "heartbeat.to takes a string"),
        ({"model": "gpt-4o-mini"}, "heartbeat.model 'gpt-4o-mini' is not provider/model"),
        ({"model": "openai/"}, "is not provider/model, e.g. 'openai/gpt-4o-mini'"),
        ({"activeHours": "08:00-20:00"}, "heartbeat.activeHours takes an object"),
        ({"activeHours": {"start": "08:00"}}, "activeHours.end must be a time HH:MM"),
        ({"activeHours": {"start": "8", "end": "20:00"}}, "activeHours.start must be a time"),
        ({"activeHours": {"start": "08:00", "end": "25:00"}}, "activeHours.end must be a time"),
        ({"activeHours": {"start": "08:60", "end": "20:00"}}, "activeHours.start must be"),
        ({"activeHours": {"start": "24:00", "end": "06:00"}}, "start cannot be 24:00"),
        ({"activeHours": {"start": "08:00", "end": "20:00", "tz": "UTC"}}, "no key 'tz'"),
        (
            {"activeHours": {"start": "08:00", "end": "20:00", "timezone": "Mars/Olympus"}},
            "timezone 'Mars/Olympus' is not a time zone; use an IANA name",
        ),
        ({"activeHours": {"start": "08:00", "end": "20:00", "timezone": 1}}, "IANA zone name"),
    ],
)
def test_bad_blocks_are_refused_with_what_to_write(block: Any, message: str) -> None:
    with pytest.raises(HeartbeatConfigError, match=message):
        HeartbeatConfig.parse(block)


def test_a_bad_key_in_the_agents_block_is_refused_even_over_good_defaults() -> None:
    with pytest.raises(HeartbeatConfigError, match="no key 'color'"):
        HeartbeatConfig.parse({"every": "1h"}, {"color": "red"})


def test_active_hours_accept_24_00_as_end_and_user_or_local_zones() -> None:
    config = HeartbeatConfig.parse(
        {"activeHours": {"start": " 08:00 ", "end": "24:00", "timezone": "user"}}
    )
    assert config.active_hours == ActiveHours("08:00", "24:00", "user")
    assert HeartbeatConfig.parse({"activeHours": None}).active_hours is None


# --- which agents run one --------------------------------------------------------------------
AGENTS_NO_BLOCKS = [("main", True, None), ("ops", False, None), ("work", False, None)]


def test_with_no_config_only_the_default_agent_runs() -> None:
    assert heartbeat_agents(AGENTS_NO_BLOCKS, None) == {"main"}


def test_a_defaults_block_runs_every_agent() -> None:
    assert heartbeat_agents(AGENTS_NO_BLOCKS, {"every": "1h"}) == {"main", "ops", "work"}


def test_a_defaults_agent_id_runs_that_agent_only() -> None:
    assert heartbeat_agents(AGENTS_NO_BLOCKS, {"agentId": " Ops "}) == {"ops"}
    assert heartbeat_agents(AGENTS_NO_BLOCKS, {"agentId": "ghost"}) == set()


def test_any_agent_with_its_own_block_means_only_those_run() -> None:
    agents = [("main", True, None), ("ops", False, {"every": "1h"}), ("work", False, {})]
    assert heartbeat_agents(agents, {"every": "30m", "agentId": "main"}) == {"ops", "work"}
    assert heartbeat_agents(agents, None) == {"ops", "work"}


# --- active hours ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (utc(3, 1, 7, 59), False),
        (utc(3, 1, 8, 0), True),  # start inclusive
        (utc(3, 1, 12, 30), True),
        (utc(3, 1, 19, 59), True),
        (utc(3, 1, 20, 0), False),  # end exclusive
        (utc(3, 1, 23, 0), False),
    ],
)
def test_a_day_window_is_start_inclusive_end_exclusive(moment: datetime, inside: bool) -> None:
    assert ActiveHours("08:00", "20:00", "UTC").contains(moment) is inside


@pytest.mark.parametrize(
    ("moment", "inside"),
    [
        (utc(3, 1, 21, 59), False),
        (utc(3, 1, 22, 0), True),
        (utc(3, 1, 23, 59), True),
        (utc(3, 2, 0, 0), True),
        (utc(3, 2, 5, 59), True),
        (utc(3, 2, 6, 0), False),
        (utc(3, 2, 12, 0), False),
    ],
)
def test_an_overnight_window_spans_midnight(moment: datetime, inside: bool) -> None:
    assert ActiveHours("22:00", "06:00", "UTC").contains(moment) is inside


def test_24_00_as_end_runs_until_midnight() -> None:
    hours = ActiveHours("18:00", "24:00", "UTC")
    assert hours.contains(utc(3, 1, 23, 59))
    assert hours.contains(utc(3, 1, 18, 0))
    assert not hours.contains(utc(3, 2, 0, 0))
    assert not hours.contains(utc(3, 1, 17, 59))
    assert ActiveHours("00:00", "24:00", "UTC").contains(utc(3, 1, 0, 0))


def test_start_equal_to_end_is_never_active() -> None:
    hours = ActiveHours("09:00", "09:00", "UTC")
    assert not any(hours.contains(utc(3, 1, h, m)) for h in range(24) for m in (0, 30))


def test_a_window_follows_its_zones_summer_and_winter_time() -> None:
    berlin = ActiveHours("09:00", "17:00", "Europe/Berlin")
    # 07:30 UTC is 09:30 in summer (CEST, +2) but 08:30 in winter (CET, +1).
    assert berlin.contains(utc(7, 1, 7, 30))
    assert not berlin.contains(utc(1, 15, 7, 30))
    # 15:30 UTC is 17:30 in summer (after the end), 16:30 in winter (inside).
    assert not berlin.contains(utc(7, 1, 15, 30))
    assert berlin.contains(utc(1, 15, 15, 30))
    # The day the clocks go forward (2026-03-29 at 01:00 UTC): 07:00 UTC is 09:00 CEST.
    assert berlin.contains(utc(3, 29, 7, 0))
    assert not berlin.contains(utc(3, 28, 7, 0))  # 08:00 CET the day before


def test_user_and_local_follow_the_gateways_zone() -> None:
    hours = ActiveHours("09:00", "17:00", "user")
    assert hours.contains(utc(7, 1, 7, 30), user_timezone="Europe/Berlin")
    assert not hours.contains(utc(7, 1, 7, 30), user_timezone="UTC")
    assert not hours.contains(utc(7, 1, 7, 30))  # no zone: UTC
    assert ActiveHours("09:00", "17:00", "local").contains(
        utc(7, 1, 7, 30), user_timezone="Europe/Berlin"
    )


# --- HEARTBEAT_OK ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reply",
    [
        "HEARTBEAT_OK",
        "  HEARTBEAT_OK  \n",
        "HEARTBEAT_OK.",
        "HEARTBEAT_OK!",
        "**HEARTBEAT_OK**",
        "`HEARTBEAT_OK`",
        "<b>HEARTBEAT_OK</b>",
        "HEARTBEAT_OK HEARTBEAT_OK",
    ],
)
def test_a_bare_token_is_an_acknowledgement(reply: str) -> None:
    stripped = strip_heartbeat_token(reply)
    assert (stripped.should_skip, stripped.text, stripped.did_strip) == (True, "", True)


def test_a_token_with_a_short_note_at_either_end_is_an_acknowledgement() -> None:
    start = strip_heartbeat_token("HEARTBEAT_OK: all quiet, inbox empty.")
    assert (start.should_skip, start.text) == (True, "all quiet, inbox empty.")
    end = strip_heartbeat_token("Nothing new today. HEARTBEAT_OK")
    assert (end.should_skip, end.text) == (True, "Nothing new today.")
    bold_end = strip_heartbeat_token("Nothing new today. **HEARTBEAT_OK**")
    assert (bold_end.should_skip, bold_end.text) == (True, "Nothing new today.")


def test_a_token_in_the_middle_is_not_stripped() -> None:
    reply = "The disk is full; HEARTBEAT_OK would be wrong here. Please look."
    stripped = strip_heartbeat_token(reply)
    assert (stripped.should_skip, stripped.text, stripped.did_strip) == (False, reply, False)


def test_an_alert_without_the_token_is_delivered() -> None:
    stripped = strip_heartbeat_token("  Disk almost full  ")
    assert (stripped.should_skip, stripped.text, stripped.did_strip) == (
        False,
        "Disk almost full",
        False,
    )


def test_a_remainder_longer_than_ack_max_chars_is_delivered() -> None:
    long_note = "x" * 301
    stripped = strip_heartbeat_token(f"HEARTBEAT_OK {long_note}")
    assert (stripped.should_skip, stripped.text, stripped.did_strip) == (False, long_note, True)
    assert strip_heartbeat_token(f"HEARTBEAT_OK {'x' * 300}").should_skip  # exactly 300: ack
    assert not strip_heartbeat_token("HEARTBEAT_OK see above", ack_max_chars=0).should_skip
    assert strip_heartbeat_token("HEARTBEAT_OK", ack_max_chars=0).should_skip


def test_an_empty_reply_is_skipped_without_a_strip() -> None:
    stripped = strip_heartbeat_token("   ")
    assert (stripped.should_skip, stripped.text, stripped.did_strip) == (True, "", False)


# --- an empty HEARTBEAT.md --------------------------------------------------------------
def test_the_workspace_template_has_nothing_to_do() -> None:
    assert effectively_empty(template_text("HEARTBEAT.md"))


@pytest.mark.parametrize(
    "content",
    [
        "",
        "\n\n",
        "# Heartbeat\n## Today\n",
        "# Checklist\n- \n* [ ]\n+ [x]\n-\n",
        "<!-- a comment\nover lines with - items -->\n# Title\n",
    ],
)
def test_headers_empty_items_and_comments_are_empty(content: str) -> None:
    assert effectively_empty(content)


@pytest.mark.parametrize(
    "content",
    [
        template_text("HEARTBEAT.md") + "- check the inbox for anything urgent\n",
        "# Checklist\n- [ ] renew the certificate\n",
        "Look at the build server.",
        "#hashtag is not a header\n",
        "<!-- comment --> but text after it\n",
    ],
)
def test_a_real_item_is_not_empty(content: str) -> None:
    assert not effectively_empty(content)


def test_a_missing_file_is_not_empty() -> None:
    assert not effectively_empty(None)


# --- the phase -------------------------------------------------------------------------------
def test_the_phase_is_fixed_per_agent_and_inside_the_interval() -> None:
    interval = 1_800_000
    phases = {rules.phase_ms("seed", agent, interval) for agent in ("main", "ops", "work", "x")}
    assert all(0 <= phase < interval for phase in phases)
    assert len(phases) == 4  # the agents' slots are spread out
    assert rules.phase_ms("seed", "main", interval) == rules.phase_ms("seed", "main", interval)
    assert rules.phase_ms("seed", "main", interval) != rules.phase_ms("other", "main", interval)
