"""In-chat commands (``agents.services.chat_commands``): parsing, and each command's effect.

The commands run against the real services (sessions, runs, pairing and the channel
outbox behind ``core.delivery``); nothing of ours is mocked.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from agents.models import Run
from agents.runtime import model_config
from agents.services.chat_commands import (
    NOT_OWNER_TEXT,
    CommandReply,
    ParsedCommand,
    chat_command_handle,
    command_parse,
)
from agents.services.chat_commands.status import format_age, format_tokens
from agents.services.runs import run_start
from agents.tests.factories import AgentFactory
from channels_app.models import OutboundMessage
from channels_app.tests.factories import ChannelAccountFactory
from pairing.models import AllowlistEntry, PairingRequest
from pairing.services import PAIRING_APPROVED_TEXT
from pairing.tests.factories import PairingRequestFactory
from sessions_app.models import Session
from sessions_app.services import session_get_or_create, session_message_append

KEY = "agent:main:telegram:direct:42"


# --- parsing (no database) --------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("/status", ParsedCommand("status", "")),
        ("  /STATUS  ", ParsedCommand("status", "")),
        ("/Model openai/gpt-4o", ParsedCommand("model", "openai/gpt-4o")),
        ("/new@my_bot gpt-4o", ParsedCommand("new", "gpt-4o")),
        ("/approve\nk7mx3pqa", ParsedCommand("approve", "k7mx3pqa")),
        ("/reset", ParsedCommand("reset", "")),
        ("/stop", ParsedCommand("stop", "")),
        ("stop", ParsedCommand("stop", "")),
        ("Please stop!", ParsedCommand("stop", "")),
        ("ESC.", ParsedCommand("stop", "")),
    ],
)
def test_commands_are_recognised_in_any_case_and_with_a_bot_suffix(
    text: str, parsed: ParsedCommand
) -> None:
    assert command_parse(text) == parsed


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "/help",  # not ours: the model gets it, as OpenClaw does with unknown commands
        "/statusx",
        "/ status",
        "/status/now",
        "what does /status do?",
        "stop the music",
        "https://example.com/new",
    ],
)
def test_everything_else_goes_to_the_model(text: str) -> None:
    assert command_parse(text) is None


def test_a_command_for_another_bot_is_not_ours_when_our_name_is_known() -> None:
    assert command_parse("/status@other_bot", bot_username="my_bot") is None
    assert command_parse("/status@My_Bot", bot_username="@my_bot") == ParsedCommand("status", "")
    assert command_parse("/status@other_bot") == ParsedCommand("status", "")


def test_token_and_age_formats_match_openclaws_card() -> None:
    assert [format_tokens(n) for n in (0, 999, 1_000, 1_234, 200_000, 2_000_000)] == [
        "0",
        "999",
        "1k",
        "1.2k",
        "200k",
        "2m",
    ]
    assert [format_age(s) for s in (5, 90, 7_200, 200_000)] == ["5s", "1m", "2h", "2d"]


# --- commands against the database ------------------------------------------------------
@pytest.fixture
def openai_configured(settings: Any) -> None:
    settings.OPENCLAW_MODEL = ""
    settings.OPENCLAW_MODEL_FALLBACKS = []
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API_KEY = "sk-test-0123456789"
    settings.OPENAI_BASE_URL = ""
    settings.OPENAI_MODELS = []
    model_config.forget_profiles()


def _handle(text: str, *, owner: bool = True, key: str = KEY, **kwargs: Any) -> CommandReply:
    reply = chat_command_handle(text=text, session_key=key, sender_is_owner=owner, **kwargs)
    assert reply is not None, text
    return reply


@pytest.mark.django_db
def test_a_message_for_the_model_costs_no_query(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(0):
        assert (
            chat_command_handle(text="hello there", session_key=KEY, sender_is_owner=False) is None
        )
        assert chat_command_handle(text="/help", session_key=KEY, sender_is_owner=True) is None


@pytest.mark.django_db
def test_new_starts_a_fresh_session_and_says_so(openai_configured: None) -> None:
    AgentFactory.create(slug="main", is_default=True)
    session, _ = session_get_or_create(key=KEY)
    session_message_append(session=session, role="user", content=[{"type": "text", "text": "hi"}])
    old_id = session.session_id

    reply = _handle("/new", owner=False)

    session.refresh_from_db()
    assert session.session_id != old_id
    assert session.last_reset_at is not None
    assert reply.ok
    assert reply.command == "new"
    assert reply.text.startswith("✅ New session started")
    assert _handle("/RESET").text.startswith("✅ Session reset")


@pytest.mark.django_db
def test_new_with_a_model_also_sets_the_model(openai_configured: None) -> None:
    AgentFactory.create(slug="main", is_default=True)

    reply = _handle("/new openai/gpt-4o")

    session = Session.objects.get(key=KEY)
    assert session.model_override == "openai/gpt-4o"
    assert "Model: openai/gpt-4o." in reply.text


@pytest.mark.django_db
def test_new_with_an_unknown_model_changes_nothing(openai_configured: None) -> None:
    AgentFactory.create(slug="main", is_default=True)
    session, _ = session_get_or_create(key=KEY)
    old_id = session.session_id

    reply = _handle("/new mistral/large")

    session.refresh_from_db()
    assert (session.session_id, session.model_override) == (old_id, "")
    assert not reply.ok
    assert "provider 'mistral' is not configured" in reply.text
    assert "configured models: openai/gpt-4o-mini" in reply.text
    assert "/new alone starts a fresh session" in reply.text


@pytest.mark.django_db
def test_model_sets_clears_and_shows_the_sessions_model(openai_configured: None) -> None:
    AgentFactory.create(slug="main", is_default=True, model_primary="")

    shown = _handle("/model")
    assert shown.text.splitlines()[0] == "🧠 Model: openai/gpt-4o-mini (gateway default)"
    assert "Change it with /model provider/model, e.g. /model openai/gpt-4o-mini" in shown.text

    assert _handle("/model gpt-4o").text == "✅ Model set to openai/gpt-4o for this session."
    assert Session.objects.get(key=KEY).model_override == "openai/gpt-4o"
    assert "(session, set with /model)" in _handle("/model").text
    # Any model of a configured provider: providers serve more than the catalog lists.
    assert _handle("/model openai/o3-pro").ok

    cleared = _handle("/model default")
    assert cleared.text.startswith("✅ Model override cleared. 🧠 Model: openai/gpt-4o-mini")
    assert Session.objects.get(key=KEY).model_override == ""


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("mistral/large", "provider 'mistral' is not configured here"),
        ("llama3", "unknown model 'llama3'; configured models: openai/gpt-4o-mini"),
        ("openai/", "'openai/' is not provider/model"),
        ("gpt-4o please", "'gpt-4o please' is not a model"),
    ],
)
def test_model_refuses_what_cannot_run_and_says_what_can(
    openai_configured: None, argument: str, message: str
) -> None:
    AgentFactory.create(slug="main", is_default=True)

    reply = _handle(f"/model {argument}")

    assert not reply.ok
    assert message in reply.text
    assert not Session.objects.filter(key=KEY).exclude(model_override="").exists()


@pytest.mark.django_db
def test_status_shows_the_sessions_card(openai_configured: None, settings: Any) -> None:
    settings.AGENT_QUEUE_MODE = "collect"
    AgentFactory.create(slug="main", name="Main", is_default=True, model_primary="openai/gpt-4o")
    session, _ = session_get_or_create(key=KEY)
    session_message_append(
        session=session,
        role="assistant",
        content=[{"type": "text", "text": "hello"}],
        usage={"input": 1200, "output": 300, "totalTokens": 1500},
    )
    Session.objects.filter(pk=session.pk).update(compaction_count=2)
    run_start(session_key=KEY, message="next", idempotency_key="status-run")
    Run.objects.filter(run_id="status-run").update(
        status=Run.Status.RUNNING, started_at=timezone.now()
    )

    text = _handle("/status", owner=False).text

    assert text.splitlines() == [
        "🦞 OpenClaw status",
        "🤖 Agent: main (Main)",
        "🧠 Model: openai/gpt-4o (agent default)",
        "🧮 Tokens: 1.2k in / 300 out",
        "📚 Context: 1.5k/128k (1%) · 🧹 Compactions: 2",
        f"🧵 Session: {KEY} • updated 0s ago",
        "🪢 Queue: collect",
        "🏃 Run: status-run running for 0s · /stop to abort",
    ]


@pytest.mark.django_db
def test_status_of_a_session_not_started_yet(openai_configured: None) -> None:
    text = _handle("/status").text

    assert f"🧵 Session: {KEY} • no messages yet" in text
    assert "🏃 Run: idle" in text
    assert not Session.objects.exists()  # a read: /status creates nothing


@pytest.mark.django_db
def test_stop_aborts_the_sessions_runs(openai_configured: None) -> None:
    AgentFactory.create(slug="main", is_default=True)
    start = run_start(session_key=KEY, message="long task", idempotency_key="stop-me")

    reply = _handle("please stop", owner=False)

    assert reply.aborted_run_ids == ["stop-me"]
    assert reply.text == "⚙️ Agent was aborted."
    start.run.refresh_from_db()
    assert start.run.status == Run.Status.ABORTED
    again = _handle("/stop")
    assert (again.aborted_run_ids, again.text) == ([], "Nothing to stop: no run is active here.")


# --- /approve ---------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fresh_wrong_code_counts() -> None:
    cache.clear()  # the wrong-code counts of earlier tests (LocMemCache outlives a test)


@pytest.mark.django_db
def test_approve_is_for_owners_only() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")

    reply = _handle(
        "/approve K7MX3PQA",
        owner=False,
        channel="telegram",
        account_id=request.channel_account.account_id,
    )

    assert (reply.ok, reply.text) == (False, f"⚠️ {NOT_OWNER_TEXT}")
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING


@pytest.mark.django_db
def test_an_owner_approves_a_code_of_their_bot_and_the_sender_is_told() -> None:
    request = PairingRequestFactory.create(
        code="K7MX3PQA", sender_ref="555", sender_meta={"chatId": "555", "name": "Ann"}
    )
    account = request.channel_account

    reply = _handle("/approve k7mx-3pqa", channel="telegram", account_id=account.account_id)

    assert reply.ok, reply.text
    assert reply.text == (
        f"✅ Approved K7MX3PQA: sender 555 can now talk to the agent on {account}. "
        "They have been told."
    )
    assert AllowlistEntry.objects.filter(channel_account=account, sender_ref="555").exists()
    notice = OutboundMessage.objects.get()
    assert (notice.account_id, notice.chat_id, notice.text) == (
        account.pk,
        "555",
        PAIRING_APPROVED_TEXT,
    )


@pytest.mark.django_db
def test_approve_from_a_bot_only_reaches_that_bots_requests() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")
    other = ChannelAccountFactory.create()

    reply = _handle("/approve K7MX3PQA", channel="telegram", account_id=other.account_id)

    assert not reply.ok
    assert (
        f"no pending pairing request with code K7MX3PQA for telegram account {other.account_id}"
        in reply.text
    )
    cross = _handle("/approve discord K7MX3PQA", channel="telegram", account_id=other.account_id)
    assert cross.text == "⚠️ From telegram you can approve telegram pairing codes only."
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING


@pytest.mark.django_db
def test_approve_from_the_gateway_finds_the_code_on_any_channel() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")

    assert _handle("/approve K7MX3PQA").ok
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.APPROVED


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("/approve", "Usage: /approve CODE"),
        ("/approve a b c", "Usage: /approve CODE"),
        ("/approve K7MX0PQI", "'K7MX0PQI' is not a pairing code"),
        ("/approve telgram K7MX3PQA", "unknown channel 'telgram'; channels: telegram"),
        (
            "/approve K7MX3PQA",
            "no pending pairing request with code K7MX3PQA on any channel; codes expire "
            "after 1 hour: ask the sender to write again for a new one",
        ),
    ],
)
def test_approve_explains_what_is_wrong(text: str, message: str) -> None:
    reply = _handle(text)

    assert not reply.ok
    assert message in reply.text


@pytest.mark.django_db
def test_wrong_codes_from_a_chat_are_rate_limited() -> None:
    request = PairingRequestFactory.create(code="K7MX3PQA")
    account_id = request.channel_account.account_id
    for _ in range(5):
        assert not _handle("/approve AAAAAAAA", channel="telegram", account_id=account_id).ok

    limited = _handle("/approve K7MX3PQA", channel="telegram", account_id=account_id)

    assert not limited.ok
    assert "too many wrong pairing codes (5 within 60 s); wait" in limited.text
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING
    # Another chat (another approver) is not held back by this one's guesses.
    other_chat = _handle(
        "/approve K7MX3PQA", channel="telegram", account_id=account_id, key=KEY + "0"
    )
    assert other_chat.ok, other_chat.text
