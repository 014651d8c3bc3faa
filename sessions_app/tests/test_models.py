from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from sessions_app.models import Message, Session


@pytest.fixture
def session() -> Session:
    return Session.objects.create(key="agent:main:main", agent_slug="main")


@pytest.mark.django_db
def test_session_key_is_unique(session: Session) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(key=session.key, agent_slug="main")


@pytest.mark.django_db
def test_message_seq_is_unique_per_session(session: Session) -> None:
    Message.objects.create(session=session, seq=1, role=Message.Role.USER)

    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(session=session, seq=1, role=Message.Role.ASSISTANT)


@pytest.mark.django_db
def test_same_seq_in_another_session_is_fine(session: Session) -> None:
    other = Session.objects.create(key="agent:main:telegram:direct:42", agent_slug="main")
    Message.objects.create(session=session, seq=1, role=Message.Role.USER)
    Message.objects.create(session=other, seq=1, role=Message.Role.USER)

    assert Message.objects.filter(seq=1).count() == 2


@pytest.mark.django_db
def test_message_seq_starts_at_one(session: Session) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Message.objects.create(session=session, seq=0, role=Message.Role.USER)


@pytest.mark.django_db
@pytest.mark.parametrize("hour", [24, 99])
def test_session_reset_hour_is_0_to_23(hour: int) -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(key="agent:main:main", agent_slug="main", reset_at_hour=hour)


@pytest.mark.django_db
@pytest.mark.parametrize("hour", [0, 23, None])
def test_session_reset_hour_in_range_is_stored(hour: int | None) -> None:
    session = Session.objects.create(key="agent:main:main", agent_slug="main", reset_at_hour=hour)

    assert session.reset_at_hour == hour


@pytest.mark.django_db
def test_session_idle_minutes_are_positive() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(key="agent:main:main", agent_slug="main", reset_idle_minutes=0)


@pytest.mark.django_db
def test_session_peer_kind_needs_a_peer_id() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        Session.objects.create(key="agent:main:main", agent_slug="main", peer_kind="direct")


def test_message_text_joins_text_blocks() -> None:
    message = Message(
        seq=1,
        role=Message.Role.ASSISTANT,
        content=[
            {"type": "text", "text": "Hello, "},
            {"type": "tool_use", "name": "exec"},
            {"type": "text", "text": "world"},
            "stray",
        ],
    )

    assert message.text == "Hello, world"
