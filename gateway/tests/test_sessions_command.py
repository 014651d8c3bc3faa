"""``manage.py sessions list|show|reset``: text and --json, exit 2 on bad input."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.models import Agent
from sessions_app.models import Session
from sessions_app.services import session_get_or_create, session_message_append

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("sessions", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def session() -> Session:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    made, _ = session_get_or_create(key="agent:main:main", agent_slug="main")
    for role, text in (("user", "what is 2+2?"), ("assistant", "4")):
        session_message_append(session=made, role=role, content=[{"type": "text", "text": text}])
    return made


def test_list_in_text_and_json(session: Session) -> None:
    assert "agent:main:main" in _run("list")
    body = json.loads(_run("--json", "list"))
    assert [s["key"] for s in body["sessions"]] == ["agent:main:main"]
    assert body["count"] == 1


def test_show_by_the_short_key_with_its_messages(session: Session) -> None:
    text = _run("show", "main")
    assert "agent:main:main" in text
    assert "user: what is 2+2?" in text
    assert "assistant: 4" in text
    body = json.loads(_run("--json", "show", "main", "--messages", "1"))
    assert body["session"]["key"] == "agent:main:main"
    assert len(body["messages"]) == 1


def test_reset_starts_over_and_keeps_the_transcript(session: Session) -> None:
    old = str(session.session_id)
    body = json.loads(_run("--json", "reset", "agent:main:main"))
    assert body["sessionId"] != old
    assert json.loads(_run("--json", "show", "main"))["messages"] == []
    assert session.messages.count() == 2


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("show", "agent:main:nope"), "no session 'agent:main:nope'"),
        (("reset", "agent:main:nope"), "sessions list"),
        (("list", "--limit", "0"), "--limit takes 1 to 500"),
    ],
)
def test_bad_input_exits_2_saying_what_to_do(
    session: Session, args: tuple[str, ...], says: str
) -> None:
    with pytest.raises(CommandError) as info:
        _run(*args)
    assert says in str(info.value)
    assert info.value.returncode == 2
