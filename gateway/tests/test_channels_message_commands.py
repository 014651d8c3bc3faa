"""``channels list|add|remove`` and ``message send``: the services behind config set and
the outbox, exit 2 on bad input."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from channels_app.models import ChannelAccount, OutboundMessage
from channels_app.tests.factories import InboundMessageFactory

pytestmark = pytest.mark.django_db
TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"


def _run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def test_add_list_and_remove_an_account() -> None:
    said = _run("channels", "add", "telegram", "--token", TOKEN)
    assert "token stored (encrypted)" in said
    assert TOKEN not in said
    account = ChannelAccount.objects.get()
    assert account.credentials["botToken"] == TOKEN
    listed = _run("channels", "list")
    assert "telegram:default" in listed
    assert TOKEN not in listed
    assert "removed" in _run("channels", "remove", "telegram")
    assert not ChannelAccount.objects.exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("channels", "add", "telegram", "--token", "not-a-token"), "botToken"),
        (("channels", "remove", "telegram", "--account", "nope"), "no telegram account 'nope'"),
        (
            ("message", "send", "--channel", "telegram", "--to", "42", "--message", "hi"),
            "no enabled telegram account",
        ),
        (
            ("message", "send", "--channel", "telegram", "--to", " ", "--message", "hi"),
            "--to needs",
        ),
    ],
)
def test_bad_input_exits_2_saying_what_to_do(args: tuple[str, ...], says: str) -> None:
    with pytest.raises(CommandError) as info:
        _run(*args)
    assert says in str(info.value)
    assert info.value.returncode == 2


def test_an_account_with_messages_is_kept(settings: Any) -> None:
    _run("channels", "add", "telegram", "--token", TOKEN)
    InboundMessageFactory.create(account=ChannelAccount.objects.get())
    with pytest.raises(CommandError) as info:
        _run("channels", "remove", "telegram")
    assert "disable it instead" in str(info.value)
    assert ChannelAccount.objects.exists()


def test_message_send_queues_in_the_outbox() -> None:
    _run("channels", "add", "telegram", "--token", TOKEN)
    body = json.loads(
        _run(
            "message",
            "--json",
            "send",
            "--channel",
            "telegram",
            "--to",
            "42",
            "--message",
            "**hi**",
        )
    )
    row = OutboundMessage.objects.get(pk=body["outboundId"])
    assert (row.chat_id, row.text, row.status) == ("42", "**hi**", "pending")
