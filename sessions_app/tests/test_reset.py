"""Daily and idle resets: the pure policy, and the inbound session service (frozen clock)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import events
from sessions_app.lib.reset import Freshness, ResetPolicy, effective_policy, evaluate
from sessions_app.models import Session
from sessions_app.services import (
    SessionError,
    session_for_inbound,
    session_get_or_create,
    session_message_append,
    session_settings_set,
)

UTC_TZ = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")


def _at(text: str, tz: ZoneInfo = UTC_TZ) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


# --- the pure policy --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("last", "now", "stale"),
    [
        ("2026-06-10 03:59", "2026-06-10 04:01", True),  # the 04:00 boundary passed
        ("2026-06-10 04:00", "2026-06-10 23:00", False),  # active at the boundary itself
        ("2026-06-09 05:00", "2026-06-10 03:00", False),  # today's 04:00 not reached yet
        ("2026-06-09 03:00", "2026-06-10 03:00", True),  # yesterday's 04:00 passed since
        ("2026-06-01 12:00", "2026-06-10 12:00", True),  # days ago
    ],
)
def test_daily_resets_at_four_by_default(last: str, now: str, stale: bool) -> None:
    result = evaluate(last_activity=_at(last), now=_at(now), tz=UTC_TZ, policy=ResetPolicy())
    assert result.stale is stale
    assert result.reason == ("daily" if stale else "")


def test_the_daily_boundary_is_gateway_local_time() -> None:
    # 04:00 in Berlin in summer (UTC+2) is 02:00 UTC.
    last, now = _at("2026-06-10 01:30"), _at("2026-06-10 02:30")
    assert evaluate(last_activity=last, now=now, tz=BERLIN, policy=ResetPolicy()).stale
    assert not evaluate(last_activity=last, now=now, tz=UTC_TZ, policy=ResetPolicy()).stale
    result = evaluate(last_activity=last, now=now, tz=BERLIN, policy=ResetPolicy())
    assert result.daily_reset_at == _at("2026-06-10 04:00", BERLIN)


def test_the_daily_boundary_on_a_daylight_saving_day() -> None:
    # Berlin moves to summer time at 02:00 on 2026-03-29: 04:00 local is then 02:00 UTC.
    policy = ResetPolicy(at_hour=4)
    before, after = _at("2026-03-29 01:59"), _at("2026-03-29 02:01")
    assert evaluate(last_activity=before, now=after, tz=BERLIN, policy=policy).stale
    assert not evaluate(last_activity=after, now=after, tz=BERLIN, policy=policy).stale


def test_at_hour_moves_the_boundary() -> None:
    policy = ResetPolicy(at_hour=23)
    last = _at("2026-06-10 22:00")
    assert not evaluate(
        last_activity=last, now=_at("2026-06-10 22:59"), tz=UTC_TZ, policy=policy
    ).stale
    assert evaluate(last_activity=last, now=_at("2026-06-10 23:00"), tz=UTC_TZ, policy=policy).stale


@pytest.mark.parametrize(
    ("policy", "idle_minutes", "stale"),
    [
        (ResetPolicy(mode="idle"), 59, False),  # idle mode: 60 minutes by default
        (ResetPolicy(mode="idle"), 61, True),
        (ResetPolicy(mode="idle", idle_minutes=30), 29, False),
        (ResetPolicy(mode="idle", idle_minutes=30), 31, True),
        (ResetPolicy(mode="idle", idle_minutes=30), 60 * 24 * 3, True),
    ],
)
def test_idle_resets_after_idle_minutes(
    policy: ResetPolicy, idle_minutes: int, stale: bool
) -> None:
    # 10:00 to 10:00 the next day and beyond: no daily boundary in idle mode.
    last = _at("2026-06-10 10:00")
    result = evaluate(
        last_activity=last, now=last + timedelta(minutes=idle_minutes), tz=UTC_TZ, policy=policy
    )
    assert result.stale is stale
    assert result.reason == ("idle" if stale else "")
    assert result.daily_reset_at is None


def test_daily_and_idle_whichever_comes_first() -> None:
    policy = ResetPolicy(mode="daily", at_hour=4, idle_minutes=30)
    # The daily boundary (04:00) passed before the idle window ran out (04:20).
    daily_first = evaluate(
        last_activity=_at("2026-06-10 03:50"), now=_at("2026-06-10 04:25"), tz=UTC_TZ, policy=policy
    )
    assert daily_first == Freshness(
        stale=True,
        reason="daily",
        daily_reset_at=_at("2026-06-10 04:00"),
        idle_expires_at=_at("2026-06-10 04:20"),
    )
    # The idle window ran out (01:30) before the daily boundary.
    idle_first = evaluate(
        last_activity=_at("2026-06-10 01:00"), now=_at("2026-06-10 04:10"), tz=UTC_TZ, policy=policy
    )
    assert (idle_first.stale, idle_first.reason) == (True, "idle")
    # Idle alone, the same day after the boundary.
    idle_only = evaluate(
        last_activity=_at("2026-06-10 09:00"), now=_at("2026-06-10 09:31"), tz=UTC_TZ, policy=policy
    )
    assert (idle_only.stale, idle_only.reason) == (True, "idle")
    fresh = evaluate(
        last_activity=_at("2026-06-10 09:00"), now=_at("2026-06-10 09:29"), tz=UTC_TZ, policy=policy
    )
    assert not fresh.stale


def test_never_and_no_activity_are_fresh() -> None:
    old, now = _at("2020-01-01 00:00"), _at("2026-06-10 12:00")
    assert not evaluate(last_activity=old, now=now, tz=UTC_TZ, policy=ResetPolicy("never")).stale
    assert not evaluate(last_activity=None, now=now, tz=UTC_TZ, policy=ResetPolicy()).stale


def test_a_session_overrides_the_configured_policy_field_by_field() -> None:
    configured = ResetPolicy(mode="daily", at_hour=4, idle_minutes=None)
    assert effective_policy(configured) == configured
    assert effective_policy(configured, mode="idle") == ResetPolicy("idle", 4, None)
    assert effective_policy(configured, at_hour=0, idle_minutes=15) == ResetPolicy("daily", 0, 15)
    assert effective_policy(configured, mode="never").mode == "never"


# --- the inbound session service ---------------------------------------------------------
Published = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[datetime], None]:
    """Freeze ``django.utils.timezone.now`` (what the services read) at a given instant."""
    frozen: list[datetime] = [datetime(2026, 6, 10, 12, 0, tzinfo=UTC)]
    monkeypatch.setattr("django.utils.timezone.now", lambda: frozen[0])

    def set_now(when: datetime) -> None:
        frozen[0] = when

    return set_now


@pytest.fixture
def published() -> Iterator[Published]:
    captured: Published = []

    def publisher(event: str, payload: dict[str, Any], **kwargs: Any) -> None:
        json.dumps(payload)
        captured.append((event, payload))

    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


KEY = "agent:main:telegram:direct:42"


def _inbound(key: str = KEY, **overrides: Any) -> tuple[Session, bool]:
    args: dict[str, Any] = {
        "key": key,
        "agent_slug": "main",
        "channel": "telegram",
        "account_id": "default",
        "peer_kind": "direct",
        "peer_id": "42",
        "chat_type": "direct",
        "display_name": "Ada",
        "origin": {"channel": "telegram", "accountId": "default", "chatId": "42"},
    }
    args.update(overrides)
    return session_for_inbound(**args)


def _talk(session: Session) -> None:
    session_message_append(session=session, role="user", content=[{"type": "text", "text": "hi"}])


@pytest.mark.django_db
def test_the_first_message_creates_the_session(clock: Callable[[datetime], None]) -> None:
    session, reset = _inbound(key="agent:main:direct:42")
    assert not reset
    assert (session.key, session.agent_slug, session.channel, session.account_id) == (
        "agent:main:direct:42",
        "main",
        "telegram",  # a per-peer key names no channel: the message's is kept
        "default",
    )
    assert (session.peer_kind, session.peer_id, session.chat_type) == ("direct", "42", "direct")
    assert session.display_name == "Ada"
    assert session.origin["chatId"] == "42"
    group, _ = _inbound(
        key="agent:main:telegram:group:-1", peer_kind="group", peer_id="-1", chat_type="group"
    )
    assert group.chat_type == "group"


@pytest.mark.django_db
@pytest.mark.usefixtures("published")
def test_a_daily_reset_on_the_first_message_after_four(
    settings: Any,
    clock: Callable[[datetime], None],
    published: Published,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    settings.TIME_ZONE = "Europe/Berlin"
    clock(_at("2026-06-09 23:00", BERLIN))
    session, _ = _inbound()
    _talk(session)
    old_id = session.session_id

    clock(_at("2026-06-10 03:59", BERLIN))
    same, reset = _inbound()
    assert not reset
    assert same.session_id == old_id

    clock(_at("2026-06-10 04:01", BERLIN))
    with django_capture_on_commit_callbacks(execute=True):
        fresh, reset = _inbound()
    assert reset
    assert fresh.pk == session.pk
    assert fresh.session_id != old_id
    assert fresh.last_reset_at == _at("2026-06-10 04:01", BERLIN)
    assert [(e, p["reason"]) for e, p in published] == [("sessions.changed", "daily")]

    # The reset counts as activity: the next message is in the new session.
    again, reset = _inbound()
    assert not reset
    assert again.session_id == fresh.session_id


@pytest.mark.django_db
def test_an_idle_reset(clock: Callable[[datetime], None]) -> None:
    session_settings_set(reset={"mode": "idle", "idleMinutes": 30})
    session, _ = _inbound()
    _talk(session)
    start = _at("2026-06-10 12:00")

    clock(start + timedelta(minutes=29))
    assert _inbound()[1] is False
    clock(start + timedelta(minutes=31))
    fresh, reset = _inbound()
    assert reset
    assert fresh.session_id != session.session_id
    stored = Session.objects.get(pk=session.pk)
    assert stored.session_id == fresh.session_id


@pytest.mark.django_db
def test_a_sessions_own_reset_fields_override_the_settings(
    clock: Callable[[datetime], None],
) -> None:
    never, _ = _inbound()
    _talk(never)
    Session.objects.filter(pk=never.pk).update(reset_mode="never")
    idle, _ = _inbound(key="agent:main:telegram:direct:7", peer_id="7")
    _talk(idle)
    Session.objects.filter(pk=idle.pk).update(reset_idle_minutes=10)

    clock(_at("2026-06-10 12:11"))  # daily (the setting) has not passed; idle 10 has
    assert _inbound()[1] is False
    assert _inbound(key="agent:main:telegram:direct:7", peer_id="7")[1] is True

    clock(_at("2026-06-20 12:00"))  # days later: "never" still never
    assert _inbound()[1] is False


@pytest.mark.django_db
def test_a_session_without_activity_is_not_reset(clock: Callable[[datetime], None]) -> None:
    session_get_or_create(key=KEY)
    clock(_at("2026-07-01 12:00"))
    assert _inbound()[1] is False


@pytest.mark.django_db
def test_the_common_case_costs_one_query(clock: Callable[[datetime], None]) -> None:
    session, _ = _inbound()
    _talk(session)
    _inbound()  # settings now cached
    with CaptureQueriesContext(connection) as queries:
        _, reset = _inbound()
    assert not reset
    selects = [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("SELECT")]
    assert len(selects) == 1, selects


@pytest.mark.django_db
def test_a_bad_chat_type_is_refused() -> None:
    with pytest.raises(SessionError, match="chat type 'supergroup' is not one of direct, group"):
        _inbound(chat_type="supergroup")
    assert not Session.objects.exists()
