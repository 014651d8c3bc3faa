"""Sessions services and selectors: transcript seqs, reset, delete, rows, query counts."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from core import events
from sessions_app import selectors
from sessions_app.models import Message, Session
from sessions_app.services import (
    SessionError,
    session_compaction_record,
    session_delete,
    session_get_or_create,
    session_message_append,
    session_patch,
    session_reset,
)

Published = list[tuple[str, dict[str, Any], str | None]]
pytestmark = pytest.mark.django_db


@pytest.fixture
def published() -> Iterator[Published]:
    captured: Published = []

    def publisher(
        event: str,
        payload: dict[str, Any],
        *,
        scope: str | None = None,
        drop_if_slow: bool = False,
        session_key: str | None = None,
    ) -> None:
        json.dumps(payload)  # every payload must survive the wire
        captured.append((event, payload, session_key))

    previous = events._publisher
    events.register_publisher(publisher)
    yield captured
    events.register_publisher(previous)


def _text(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": text}]


@pytest.fixture
def main_session() -> Session:
    session, _ = session_get_or_create(key="agent:main:main")
    return session


def test_it_creates_a_session_once_and_announces_it(
    published: Published, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        session, created = session_get_or_create(key="agent:main:telegram:direct:42")
    again, created_again = session_get_or_create(key="agent:main:telegram:direct:42")

    assert created
    assert not created_again
    assert again.pk == session.pk
    assert (session.agent_slug, session.channel, session.chat_type) == (
        "main",
        "telegram",
        "direct",
    )
    assert [(e, p["reason"], k) for e, p, k in published] == [
        ("sessions.changed", "create", "agent:main:telegram:direct:42")
    ]
    assert published[0][1]["session"]["key"] == "agent:main:telegram:direct:42"


def test_seqs_are_allocated_monotonically(main_session: Session) -> None:
    seqs = [
        session_message_append(session=main_session, role="user", content=_text(f"m{i}")).seq
        for i in range(5)
    ]

    assert seqs == [1, 2, 3, 4, 5]
    main_session.refresh_from_db()
    assert main_session.last_seq == 5
    assert main_session.last_activity_at is not None


def test_seqs_continue_from_the_database_not_a_stale_instance(main_session: Session) -> None:
    stale = Session.objects.get(pk=main_session.pk)
    session_message_append(session=main_session, role="user", content=_text("a"))
    message = session_message_append(session=stale, role="assistant", content=_text("b"))

    assert message.seq == 2


def test_append_announces_the_message_on_commit(
    main_session: Session,
    published: Published,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        message = session_message_append(
            session=main_session,
            role="assistant",
            content=_text("Hello"),
            model="placeholder/echo",
            usage={"input": 3, "output": 2, "totalTokens": 5},
            changed_reason=None,
        )

    assert [e for e, _, _ in published] == ["session.message"]
    payload = published[0][1]
    assert payload["sessionKey"] == "agent:main:main"
    assert payload["messageSeq"] == message.seq
    assert payload["message"]["content"] == [{"type": "text", "text": "Hello"}]
    assert payload["message"]["provider"] == "placeholder"
    main_session.refresh_from_db()
    assert (main_session.input_tokens, main_session.output_tokens) == (3, 2)


def test_a_compaction_is_recorded_counted_and_announced_on_commit(
    main_session: Session,
    published: Published,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    for i in range(3):
        session_message_append(session=main_session, role="user", content=_text(f"q{i}"))
    stale = Session.objects.get(pk=main_session.pk)  # another copy, counted in the database
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message = session_compaction_record(
            session=main_session,
            summary="three questions",
            model="openai/gpt-4o-mini",
            first_kept_seq=3,
            tokens_before=900,
            tokens_after=300,
            summarized=2,
            kept=1,
            request_id="req-7",
        )

    assert (message.role, message.text, message.seq) == ("compaction", "three questions", 4)
    assert message.details == {
        "firstKeptSeq": 3,
        "tokensBefore": 900,
        "tokensAfter": 300,
        "summarized": 2,
        "kept": 1,
        "requestId": "req-7",
    }
    assert main_session.compaction_count == 1  # the caller's copy too
    assert Session.objects.get(pk=main_session.pk).compaction_count == 1
    with django_capture_on_commit_callbacks(execute=True):
        session_compaction_record(
            session=stale,
            summary="again",
            model="openai/gpt-4o-mini",
            first_kept_seq=4,
            tokens_before=400,
            tokens_after=200,
            summarized=1,
        )
    assert Session.objects.get(pk=main_session.pk).compaction_count == 2
    changed = [p for e, p, _ in published if e == "sessions.changed"]
    assert [p["reason"] for p in changed] == ["compact", "compact"]
    assert [e for e, _, _ in published].count("session.message") == 2


def test_unknown_roles_are_refused(main_session: Session) -> None:
    with pytest.raises(SessionError, match="unknown message role"):
        session_message_append(session=main_session, role="robot", content=_text("x"))


def test_reset_mints_a_new_session_id_and_hides_the_old_transcript(main_session: Session) -> None:
    session_patch(key=main_session.key, changes={"label": "Inbox", "model_override": "a/b"})
    session_message_append(
        session=main_session, role="user", content=_text("before"), usage={"input": 9}
    )
    old_id = main_session.session_id

    reset = session_reset(key=main_session.key)
    session_message_append(session=reset, role="user", content=_text("after"))

    assert reset.session_id != old_id
    assert (reset.label, reset.model_override) == ("Inbox", "a/b")
    assert (reset.input_tokens, reset.total_tokens) == (0, 0)
    assert Message.objects.filter(session=reset).count() == 2  # the old row is kept
    history = selectors.chat_history(key=main_session.key)
    assert [m["content"] for m in history.messages] == ["after"]
    assert history.messages[0]["__openclaw"]["seq"] == 2  # seqs keep increasing
    assert history.session_id == str(reset.session_id)


def test_the_main_session_cannot_be_deleted(main_session: Session) -> None:
    with pytest.raises(SessionError, match=r"sessions\.reset"):
        session_delete(key=main_session.key)

    assert Session.objects.filter(pk=main_session.pk).exists()


def test_delete_removes_the_session_and_its_transcript(
    published: Published, django_capture_on_commit_callbacks: Callable[..., Any]
) -> None:
    session, _ = session_get_or_create(key="agent:main:proxydemo")
    session_message_append(session=session, role="user", content=_text("x"))

    with django_capture_on_commit_callbacks(execute=True):
        assert session_delete(key="agent:main:proxydemo") is True
    assert session_delete(key="agent:main:proxydemo") is False

    assert not Message.objects.exists()
    assert published[-1][0] == "sessions.changed"
    assert published[-1][1]["reason"] == "delete"
    assert "session" not in published[-1][1]


def test_patch_sets_and_clears_fields_and_validates_them(main_session: Session) -> None:
    patched = session_patch(
        key=main_session.key, changes={"label": "Work", "thinking_level": "high"}
    )
    assert (patched.label, patched.thinking_level) == ("Work", "high")

    cleared = session_patch(key=main_session.key, changes={"label": None})
    assert cleared.label == ""
    with pytest.raises(SessionError, match="provider/model"):
        session_patch(key=main_session.key, changes={"model_override": "gpt"})
    with pytest.raises(SessionError, match="thinkingLevel"):
        session_patch(key=main_session.key, changes={"thinking_level": "max"})
    with pytest.raises(SessionError, match="cannot patch"):
        session_patch(key=main_session.key, changes={"key": "x"})


def test_patch_creates_a_missing_session() -> None:
    session = session_patch(key="agent:main:new-one", changes={"label": "New"})

    assert Session.objects.get(key="agent:main:new-one").pk == session.pk


# --- selectors ------------------------------------------------------------------------
def _populate(n: int) -> list[Session]:
    sessions = []
    for i in range(n):
        session, _ = session_get_or_create(key=f"agent:main:s{i}")
        session_message_append(session=session, role="user", content=_text(f"question {i}"))
        session_message_append(session=session, role="assistant", content=_text(f"answer {i}"))
        sessions.append(session)
    return sessions


def test_sessions_list_rows_and_preview_in_one_query(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    _populate(6)

    with django_assert_num_queries(1):
        page = selectors.sessions_list(include_last_message=True, default_model="x/y")
    with django_assert_num_queries(2):  # a partial page also counts the whole
        first_two = selectors.sessions_list(limit=2, include_last_message=True)

    rows = page.rows
    assert len(rows) == 6
    assert (page.total_count, page.next_offset) == (6, None)
    assert (len(first_two.rows), first_two.total_count, first_two.next_offset) == (2, 6, 2)
    row = rows[0]  # most recent first
    assert row["key"] == "agent:main:s5"
    assert row["lastMessagePreview"] == "answer 5"
    assert (row["kind"], row["chatType"], row["agentId"]) == ("direct", "direct", "main")
    assert (row["modelProvider"], row["model"]) == ("x", "y")
    assert isinstance(row["updatedAt"], int)
    assert isinstance(row["sessionId"], str)
    json.dumps(rows)


def test_sessions_list_filters(django_assert_num_queries: Callable[..., Any]) -> None:
    _populate(3)
    session_patch(key="agent:main:s1", changes={"label": "Work"})
    session_get_or_create(key="agent:ops:main", agent_slug="ops")

    def keys_of(**kwargs: Any) -> list[str]:
        return [r["key"] for r in selectors.sessions_list(**kwargs).rows]

    assert keys_of(label="Work") == ["agent:main:s1"]
    assert keys_of(agent_id="ops") == ["agent:ops:main"]
    assert keys_of(search="S2") == ["agent:main:s2"]
    assert keys_of(limit=2, offset=2) == keys_of()[2:4]


def test_describe_is_one_query(django_assert_num_queries: Callable[..., Any]) -> None:
    _populate(1)

    with django_assert_num_queries(1):
        row = selectors.session_describe(key="agent:main:s0")
    with django_assert_num_queries(1):
        missing = selectors.session_describe(key="agent:main:nope")

    assert row is not None
    assert row["lastMessagePreview"] == "answer 0"
    assert missing is None


def test_chat_history_shapes_messages_like_openclaw(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    _populate(1)
    for i in range(10):
        session, _ = session_get_or_create(key="agent:main:s0")
        session_message_append(session=session, role="user", content=_text(f"more {i}"))

    with django_assert_num_queries(2):
        history = selectors.chat_history(key="agent:main:s0", limit=200)
    with django_assert_num_queries(3):  # a partial page also counts the whole
        last_three = selectors.chat_history(key="agent:main:s0", limit=3)
    session_id = history.session_id
    assert session_id is not None
    newer = selectors.chat_history(key="agent:main:s0", after=(session_id, 10))
    stale = selectors.chat_history(key="agent:main:s0", after=("another-session", 10))

    first, second = history.messages[:2]
    assert first["role"] == "user"
    assert first["content"] == "question 0"
    assert second["role"] == "assistant"
    assert second["content"] == [{"type": "text", "text": "answer 0"}]
    assert second["stopReason"] == "stop"
    assert isinstance(first["timestamp"], int)
    assert len(history.messages) == 12
    assert [m["content"] for m in last_three.messages] == ["more 7", "more 8", "more 9"]
    assert (history.has_more, history.total_messages, history.last_seq) == (False, 12, 12)
    assert (last_three.has_more, last_three.total_messages) == (True, 12)
    assert [m["content"] for m in newer.messages] == ["more 8", "more 9"]
    assert len(stale.messages) == 12  # the cursor of an older sessionId is ignored
    assert history.session is not None
    assert history.session["key"] == "agent:main:s0"
    json.dumps(history.messages)


def test_chat_history_of_an_unknown_session_is_empty() -> None:
    history = selectors.chat_history(key="agent:main:nope")

    assert (history.session_id, history.messages) == (None, [])


def test_previews_take_two_queries_for_many_sessions(
    django_assert_num_queries: Callable[..., Any],
) -> None:
    _populate(5)
    keys_ = [f"agent:main:s{i}" for i in range(5)]
    session_get_or_create(key="agent:main:empty")

    with django_assert_num_queries(2):
        previews = selectors.sessions_preview(
            keys_=[*keys_, "agent:main:empty", "agent:main:missing"], limit=1
        )

    assert previews[0] == {
        "key": "agent:main:s0",
        "status": "ok",
        "items": [{"role": "assistant", "text": "answer 0"}],
    }
    assert previews[5]["status"] == "empty"
    assert previews[6]["status"] == "missing"


def test_resolve_by_key_session_id_and_label() -> None:
    session = _populate(1)[0]
    session_patch(key=session.key, changes={"label": "Found"})

    assert selectors.session_resolve(key=session.key) == session.key
    assert selectors.session_resolve(session_id=str(session.session_id)) == session.key
    assert selectors.session_resolve(label="Found") == session.key
    assert selectors.session_resolve(label="Other") is None
