"""``manage.py pairing list|approve|reject``: OpenClaw's CLI shape, one line per error."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from channels_app.models import OutboundMessage
from channels_app.tests.factories import ChannelAccountFactory
from pairing.models import AllowlistEntry, PairingRequest
from pairing.tests.factories import PairingRequestFactory
from tests.gateway_process import child_env, run_manage

CODE = "K7MX3PQA"


@pytest.fixture(autouse=True)
def _fresh_limiter() -> None:
    cache.clear()  # wrong-code counts of earlier tests (LocMemCache outlives a test)


def _run(*args: str) -> str:
    out = StringIO()
    call_command("pairing", *args, stdout=out)
    return out.getvalue()


def _fails(*args: str) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("pairing", *args, stdout=StringIO())
    assert caught.value.returncode == 2
    return str(caught.value)


@pytest.mark.django_db
def test_list_shows_the_open_requests_and_how_to_approve() -> None:
    account = ChannelAccountFactory.create(account_id="default")
    PairingRequestFactory.create(
        channel_account=account,
        code=CODE,
        sender_ref="4242",
        sender_meta={"chatId": "4242", "name": "Ann", "username": "ann"},
        created_at=timezone.now() - timedelta(minutes=5),
        expires_at=timezone.now() + timedelta(minutes=55),
    )

    lines = _run("list", "telegram").splitlines()

    assert lines == [
        "Pending telegram pairing requests (1):",
        f"  {CODE}  4242  Ann (@ann)  account default  requested 5 min ago, expires in 55 min",
        "Approve one with: manage.py pairing approve telegram <CODE>",
    ]


@pytest.mark.django_db
def test_list_json_in_openclaws_shape() -> None:
    account = ChannelAccountFactory.create(account_id="default")
    PairingRequestFactory.create(channel_account=account, code=CODE, sender_ref="4242")

    document = json.loads(_run("list", "--channel", "telegram", "--json"))

    assert document["channel"] == "telegram"
    (entry,) = document["requests"]
    assert (entry["id"], entry["code"], entry["accountId"]) == ("4242", CODE, "default")
    assert set(entry) == {
        "id", "code", "createdAt", "lastSeenAt", "expiresAt", "channel", "accountId", "meta"
    }  # fmt: skip


@pytest.mark.django_db
def test_list_with_nothing_pending() -> None:
    ChannelAccountFactory.create(account_id="default")
    assert _run("list", "telegram", "--account", "default") == (
        "No pending telegram pairing requests.\n"
    )


@pytest.mark.django_db
def test_approve_allowlists_and_tells_the_sender() -> None:
    request = PairingRequestFactory.create(code=CODE, sender_ref="4242")

    out = _run("approve", "telegram", "k7mx3pqa", "--notify")

    assert out.splitlines() == [
        f"Approved {CODE}: sender 4242 may now talk to the agent on {request.channel_account}.",
        "The sender is told (the notice is in the outbox).",
    ]
    assert AllowlistEntry.objects.filter(sender_ref="4242").exists()
    assert OutboundMessage.objects.get().chat_id == "4242"


@pytest.mark.django_db
def test_approve_with_the_channel_as_an_option_and_an_account() -> None:
    request = PairingRequestFactory.create(code=CODE)
    account_id = request.channel_account.account_id

    _run("approve", CODE, "--channel", "telegram", "--account", account_id)

    request.refresh_from_db()
    assert request.status == PairingRequest.Status.APPROVED


@pytest.mark.django_db
def test_reject_closes_the_request_without_allowlisting() -> None:
    request = PairingRequestFactory.create(code=CODE, sender_ref="4242")

    assert _run("reject", "telegram", CODE) == f"Rejected {CODE} (sender 4242).\n"

    request.refresh_from_db()
    assert request.status == PairingRequest.Status.REJECTED
    assert not AllowlistEntry.objects.exists()
    assert not OutboundMessage.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("approve", "telegram"), "name the channel and the code, e.g. manage.py pairing approve"),
        (("approve", "telegram", CODE, "x"), "too many arguments (telegram K7MX3PQA x)"),
        (("approve", "telegram", CODE, "--channel", "discord"), "two channels given"),
        (("list",), "name the channel, e.g. manage.py pairing list telegram"),
        (("list", "telgram"), "unknown channel 'telgram'; channels: telegram"),
        (("list", "telegram", "--account", "work"), "there is no telegram account 'work'"),
        (("approve", "telegram", "K7MX0PQI"), "'K7MX0PQI' is not a pairing code"),
        (
            ("approve", "telegram", CODE),
            f"no pending pairing request with code {CODE} for telegram; codes expire after "
            "1 hour: ask the sender to write again for a new one",
        ),
        (("reject", "telegram", CODE), f"no pending pairing request with code {CODE}"),
    ],
)
def test_bad_arguments_end_in_one_line_and_exit_code_2(args: tuple[str, ...], message: str) -> None:
    ChannelAccountFactory.create(account_id="default")

    error = _fails(*args)

    assert message in error
    assert "\n" not in error


@pytest.mark.django_db
def test_wrong_codes_are_limited_within_one_run_of_the_command() -> None:
    request = PairingRequestFactory.create(code=CODE)
    for _ in range(5):
        _fails("approve", "telegram", "AAAAAAAA")

    assert "too many wrong pairing codes" in _fails("approve", "telegram", CODE)
    request.refresh_from_db()
    assert request.status == PairingRequest.Status.PENDING


def test_a_fresh_data_dir_is_set_up_then_says_what_to_configure(tmp_path: Path) -> None:
    done = run_manage("pairing", "list", "telegram", env=child_env(tmp_path / "data"))

    assert done.returncode != 0, done.stderr
    first, second = done.stderr.strip().splitlines()
    assert first.startswith(f"Set up the database in {tmp_path / 'data'}")
    assert second.startswith("CommandError: no telegram account is configured")
    assert "config set channels.telegram.botToken" in second
