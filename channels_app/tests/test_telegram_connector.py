"""The Telegram connector with the real python-telegram-bot against the fake Bot API
(tests/fakes/telegram_server.py): identity, polling, sending, errors, webhooks, files."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from channels_app.connectors.base import (
    AccountConfig,
    Attachment,
    ConnectorError,
    Destination,
    OutgoingChunk,
    WebhookRejectedError,
)
from channels_app.connectors.registry import connector_for
from channels_app.connectors.telegram import client
from channels_app.connectors.telegram.client import TOKEN_REJECTED
from channels_app.connectors.telegram.connector import TelegramConnector
from tests.fakes.telegram_server import FakeTelegramServer

TOKEN = "123456789:AAH-connector-test-token-0123456789ab"
SECRET = "s3cret-webhook_token"
BOT_USERNAME = "helper_bot"


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username=BOT_USERNAME)
        yield server
    client.close_thread_clients()


@pytest.fixture
def telegram() -> TelegramConnector:
    connector = connector_for("telegram")
    assert isinstance(connector, TelegramConnector)
    return connector


def account(tg: FakeTelegramServer, token: str = TOKEN, **credentials: str) -> AccountConfig:
    return AccountConfig(
        kind="telegram",
        account_id="default",
        credentials={"botToken": token, **credentials},
        api_root=tg.root_url,
    )


def poll(telegram: TelegramConnector, tg: FakeTelegramServer, cursor: str = "") -> Any:
    return telegram.poll_once(account(tg), cursor=cursor, timeout_s=0)


# --- identity -----------------------------------------------------------------------
def test_check_returns_the_bot(telegram: TelegramConnector, tg: FakeTelegramServer) -> None:
    me = telegram.check(account(tg))
    assert me.username == BOT_USERNAME
    assert me.id.isdigit()


def test_a_rejected_token_is_permanent_and_never_named(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    wrong = "987654321:AAH-this-token-is-not-registered-000"
    with pytest.raises(ConnectorError) as caught:
        telegram.check(account(tg, token=wrong))
    assert caught.value.permanent
    assert str(caught.value) == TOKEN_REJECTED
    assert wrong not in str(caught.value)
    with pytest.raises(ConnectorError) as polled:
        telegram.poll_once(account(tg, token=wrong), cursor="", timeout_s=0)
    assert polled.value.permanent


def test_no_token_is_a_permanent_error_saying_what_to_set(telegram: TelegramConnector) -> None:
    empty = AccountConfig(kind="telegram", account_id="x", credentials={})
    with pytest.raises(ConnectorError, match=r"set channels\.telegram\.botToken") as caught:
        telegram.check(empty)
    assert caught.value.permanent


def test_an_unreachable_api_is_transient(telegram: TelegramConnector) -> None:
    nowhere = AccountConfig(
        kind="telegram",
        account_id="x",
        credentials={"botToken": TOKEN},
        api_root="http://127.0.0.1:9",
    )
    with pytest.raises(ConnectorError) as caught:
        telegram.check(nowhere)
    assert not caught.value.permanent
    assert TOKEN not in str(caught.value)


# --- polling ------------------------------------------------------------------------
def test_poll_returns_the_updates_and_the_next_offset(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    first = tg.push_message(TOKEN, chat_id=111, from_id=111, text="one")
    second = tg.push_message(TOKEN, chat_id=111, from_id=111, text="two")
    batch = poll(telegram, tg)
    assert [u.text for u in batch.updates] == ["one", "two"]
    assert [u.external_id for u in batch.updates] == [
        str(first["update_id"]),
        str(second["update_id"]),
    ]
    assert batch.cursor == str(second["update_id"] + 1)
    # the offset confirms them: the next poll gets nothing and keeps the cursor
    again = poll(telegram, tg, cursor=batch.cursor)
    assert (again.updates, again.cursor) == ([], batch.cursor)
    third = tg.push_message(TOKEN, chat_id=111, from_id=111, text="three")
    later = poll(telegram, tg, cursor=batch.cursor)
    assert [u.text for u in later.updates] == ["three"]
    assert later.cursor == str(third["update_id"] + 1)


def test_a_direct_message(telegram: TelegramConnector, tg: FakeTelegramServer) -> None:
    tg.push_message(TOKEN, chat_id=111, from_id=111, text="hi there", from_name="Alice")
    (update,) = poll(telegram, tg).updates
    assert (update.chat_id, update.chat_type, update.sender_id) == ("111", "direct", "111")
    assert "Alice" in update.sender_name
    assert update.text == "hi there"
    assert not update.mentioned
    assert not update.ignore_reason
    assert update.payload["message"]["text"] == "hi there"


def raw_message(chat: dict[str, Any], text: str, **fields: Any) -> dict[str, Any]:
    return {
        "message_id": fields.pop("message_id", 50),
        "date": 1700000000,
        "chat": chat,
        "from": {"id": 222, "is_bot": False, "first_name": "Bob", "username": "bob"},
        "text": text,
        **fields,
    }


GROUP = {"id": -100200, "type": "supergroup", "title": "Team"}


def in_group(text: str = "", **fields: Any) -> dict[str, Any]:
    return {"chat_id": -100200, "chat_type": "supergroup", "chat_title": "Team", "from_id": 222, "text": text, **fields}  # fmt: skip


def test_a_group_message_mentioning_the_bot(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    tg.push_message(TOKEN, **in_group(f"hey @{BOT_USERNAME.upper()} what's up"))
    tg.push_message(TOKEN, **in_group("no mention"))
    mentioned, plain = poll(telegram, tg).updates
    assert (mentioned.chat_type, mentioned.chat_id, mentioned.chat_title) == (
        "group",
        "-100200",
        "Team",
    )
    assert mentioned.mentioned
    assert not plain.mentioned


def test_a_forum_topic_and_a_reply_to_the_bot(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    tg.push_message(
        TOKEN, **in_group("and then?", is_forum=True, message_thread_id=33, reply_to_message=40)
    )
    (update,) = poll(telegram, tg).updates  # the bot's id comes from getMe
    assert (update.thread_id, update.is_forum) == ("33", True)
    assert update.reply_to_message_id == "40"
    assert update.mentioned  # a reply to the bot counts as a mention


def test_photos_and_documents_are_attachments(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    photo = [
        {"file_id": "p-small", "file_unique_id": "ps", "width": 90, "height": 60, "file_size": 900},
        {
            "file_id": "p-large",
            "file_unique_id": "pl",
            "width": 1280,
            "height": 853,
            "file_size": 99000,
        },
    ]
    document = {"file_id": "d-1", "file_unique_id": "du", "file_name": "report.pdf", "mime_type": "application/pdf", "file_size": 2048}  # fmt: skip
    tg.push_message(TOKEN, **in_group(caption="see", photo=photo))
    tg.push_message(TOKEN, **in_group(document=document))
    with_photo, with_document = poll(telegram, tg).updates
    assert with_photo.text == "see"
    assert [(a.kind, a.file_id, a.size) for a in with_photo.attachments] == [
        ("photo", "p-large", 99000)
    ]
    (doc,) = with_document.attachments
    assert (doc.kind, doc.file_name, doc.mime_type, doc.size) == (
        "document",
        "report.pdf",
        "application/pdf",
        2048,
    )
    assert not with_document.ignore_reason


def test_malformed_and_unknown_updates_come_back_ignored_and_move_the_cursor(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    tg.push_update(TOKEN, {"update_id": 910, "message": {"message_id": "x", "chat": "nope"}})
    tg.push_update(TOKEN, {"update_id": 911, "poll": {"id": "1", "question": "?"}})
    tg.push_update(TOKEN, {"update_id": 912, "edited_message": raw_message(GROUP, "edit")})
    tg.push_update(TOKEN, {"update_id": 913, "message": raw_message(GROUP, "x" * 100_000)})
    tg.push_update(TOKEN, {"update_id": 914, "message": raw_message(GROUP, "fine")})
    batch = poll(telegram, tg)
    reasons = {u.external_id: u.ignore_reason for u in batch.updates}
    assert reasons["910"].startswith("malformed message")
    assert reasons["911"] == "unsupported update type 'poll'"
    assert reasons["912"] == "edited_message updates are not handled"
    assert "100000 characters" in reasons["913"]
    assert reasons["914"] == ""
    assert batch.cursor == "915"


def test_409_says_another_poller_or_a_webhook_is_active(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    telegram.set_webhook(account(tg), url="https://gw.example/telegram-webhook", secret=SECRET)
    with pytest.raises(ConnectorError, match="another poller or a webhook") as caught:
        poll(telegram, tg)
    assert not caught.value.permanent
    assert "webhook is active" in str(caught.value)  # Telegram's own words are kept
    telegram.delete_webhook(account(tg))
    tg.fail("getUpdates", 409, count=1, description="Conflict: terminated by other getUpdates")
    with pytest.raises(ConnectorError, match="another poller or a webhook"):
        poll(telegram, tg)
    assert poll(telegram, tg).updates == []


# --- sending ------------------------------------------------------------------------
def test_send_html_in_a_topic_as_a_reply(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    (chunk,) = telegram.render("**Hello** <you> & `code`")
    to = Destination(chat_id="-100200", thread_id="33", reply_to_message_id="40")
    message_id = telegram.send_chunk(account(tg), chunk, to=to)
    assert message_id.isdigit()
    (sent,) = tg.sent_messages(TOKEN)
    assert str(sent["message_id"]) == message_id
    assert sent["text"] == "<b>Hello</b> &lt;you&gt; &amp; <code>code</code>"
    assert sent["parse_mode"] == "HTML"
    assert int(sent["message_thread_id"]) == 33
    (call,) = tg.calls(TOKEN, "sendMessage")
    assert call["reply_parameters"] == {"message_id": 40, "allow_sending_without_reply": True}
    assert call["link_preview_options"] == {"is_disabled": True}


def test_html_telegram_cannot_parse_goes_again_as_plain_text(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    broken = OutgoingChunk(text="<b>unclosed", fallback="unclosed, plainly", parse_mode="HTML")
    telegram.send_chunk(account(tg), broken, to=Destination(chat_id="111"))
    (sent,) = tg.sent_messages(TOKEN)
    assert sent["text"] == "unclosed, plainly"
    assert not sent.get("parse_mode")


# PTB 22's RetryAfter warns about its own int retry_after when it is built (not our read).
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
def test_429_is_transient_with_retry_after(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    tg.fail("sendMessage", 429, count=1, retry_after=7)
    chunk = OutgoingChunk(text="hi", fallback="hi")
    with pytest.raises(ConnectorError) as caught:
        telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111"))
    assert (caught.value.permanent, caught.value.retry_after) == (False, 7.0)
    telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111"))  # then it goes
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["hi"]


def test_500_is_transient_and_403_permanent(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    chunk = OutgoingChunk(text="hi", fallback="hi")
    tg.fail("sendMessage", 500, count=1)
    with pytest.raises(ConnectorError) as server_error:
        telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111"))
    assert not server_error.value.permanent
    tg.fail("sendMessage", 403, count=1, description="Forbidden: bot was blocked by the user")
    with pytest.raises(ConnectorError, match="blocked by the user") as forbidden:
        telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111"))
    assert forbidden.value.permanent
    assert tg.sent_messages(TOKEN) == []


def test_a_bad_thread_id_is_a_permanent_error(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    chunk = OutgoingChunk(text="hi", fallback="hi")
    with pytest.raises(ConnectorError, match="thread id 'general' is not a number") as caught:
        telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111", thread_id="general"))
    assert caught.value.permanent


def test_typing(telegram: TelegramConnector, tg: FakeTelegramServer) -> None:
    telegram.typing(account(tg), to=Destination(chat_id="-100200", thread_id="33"))
    (action,) = tg.chat_actions(TOKEN)
    assert (action["action"], str(action["chat_id"])) == ("typing", "-100200")
    assert int(action["message_thread_id"]) == 33
    tg.fail("sendChatAction", 500, count=1)
    with pytest.raises(ConnectorError):
        telegram.typing(account(tg), to=Destination(chat_id="111"))


def test_every_call_reuses_this_threads_bot(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    telegram.check(account(tg))
    telegram.typing(account(tg), to=Destination(chat_id="111"))
    state = client._state()
    assert list(state.clients) == [(TOKEN, tg.root_url.rstrip("/"))]


# --- webhooks -----------------------------------------------------------------------
def webhook(
    telegram: TelegramConnector, tg: FakeTelegramServer, headers: dict[str, str], body: bytes
) -> Any:
    return telegram.parse_webhook(account(tg, webhookSecret=SECRET), headers=headers, body=body)


UPDATE = json.dumps({"update_id": 77, "message": raw_message(GROUP, "via webhook")}).encode()


def test_a_webhook_with_the_right_secret(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    (update,) = webhook(telegram, tg, {"X-Telegram-Bot-Api-Secret-Token": SECRET}, UPDATE)
    assert (update.external_id, update.text) == ("77", "via webhook")
    # header names are case-insensitive
    webhook(telegram, tg, {"x-telegram-bot-api-secret-token": SECRET}, UPDATE)


@pytest.mark.parametrize(
    ("headers", "body", "status", "message"),
    [
        (
            {"X-Telegram-Bot-Api-Secret-Token": "wrong"},
            UPDATE,
            401,
            "wrong or missing secret token",
        ),
        ({}, UPDATE, 401, "wrong or missing secret token"),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b"{not json", 400, "not JSON"),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b"\xff\xfe", 400, "not JSON"),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b"[1, 2]", 400, "not a JSON object"),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b'{"message": {}}', 400, "update_id"),
        ({"X-Telegram-Bot-Api-Secret-Token": SECRET}, b" " * (1024 * 1024 + 1), 413, "over"),
    ],
)
def test_a_webhook_is_refused_with_its_reason(
    telegram: TelegramConnector,
    tg: FakeTelegramServer,
    headers: dict[str, str],
    body: bytes,
    status: int,
    message: str,
) -> None:
    with pytest.raises(WebhookRejectedError) as caught:
        webhook(telegram, tg, headers, body)
    assert caught.value.status == status
    assert message in caught.value.message


def test_a_webhook_without_a_configured_secret_is_refused(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    with pytest.raises(WebhookRejectedError, match="webhookSecret") as caught:
        telegram.parse_webhook(
            account(tg), headers={"X-Telegram-Bot-Api-Secret-Token": ""}, body=UPDATE
        )
    assert caught.value.status == 401


def test_set_and_delete_the_webhook(telegram: TelegramConnector, tg: FakeTelegramServer) -> None:
    telegram.set_webhook(account(tg), url="https://gw.example/telegram-webhook", secret=SECRET)
    assert tg.webhook_of(TOKEN) == {
        "url": "https://gw.example/telegram-webhook",
        "secret_token": SECRET,
    }
    (call,) = tg.calls(TOKEN, "setWebhook")
    assert call["allowed_updates"] == [
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
    ]
    telegram.delete_webhook(account(tg))
    assert tg.webhook_of(TOKEN) is None
    with pytest.raises(ConnectorError, match="1-256 characters") as caught:
        telegram.set_webhook(account(tg), url="https://gw.example/x", secret="has spaces!")
    assert caught.value.permanent


# --- files --------------------------------------------------------------------------
def test_download_with_a_size_cap(telegram: TelegramConnector, tg: FakeTelegramServer) -> None:
    content = b"%PDF-1.7 " + b"x" * 5000
    tg.add_file(TOKEN, "doc-1", content, file_path="documents/report.pdf")
    attachment = Attachment(kind="document", file_id="doc-1", file_name="report.pdf")
    assert telegram.download(account(tg), attachment, max_bytes=10_000) == content
    with pytest.raises(ConnectorError, match="over the 1000 bytes allowed") as caught:
        telegram.download(account(tg), attachment, max_bytes=1000)
    assert caught.value.permanent
    # the size Telegram announced in the message is checked before any request
    big = Attachment(kind="document", file_id="unknown", size=50_000)
    with pytest.raises(ConnectorError, match="over the 1000 bytes"):
        telegram.download(account(tg), big, max_bytes=1000)


# --- threads ------------------------------------------------------------------------
def test_threads_send_at_once_each_with_its_own_bot(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    bots: list[object] = []  # the objects, not their ids: a closed one's id can be reused
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(5):
                chunk = OutgoingChunk(text=f"t{n}-{i}", fallback=f"t{n}-{i}")
                telegram.send_chunk(account(tg), chunk, to=Destination(chat_id=str(100 + n)))
            bots.append(client._state().clients[(TOKEN, tg.root_url)].bot)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            client.close_thread_clients()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len({id(b) for b in bots}) == 8  # never shared across threads (or their loops)
    assert sorted(m["text"] for m in tg.sent_messages(TOKEN)) == sorted(
        f"t{n}-{i}" for n in range(8) for i in range(5)
    )


def test_a_long_poll_does_not_hold_up_sending(
    telegram: TelegramConnector, tg: FakeTelegramServer
) -> None:
    polled: list[Any] = []

    def poller() -> None:
        try:
            polled.append(telegram.poll_once(account(tg), cursor="", timeout_s=2))
        finally:
            client.close_thread_clients()

    thread = threading.Thread(target=poller)
    thread.start()
    time.sleep(0.2)
    started = time.monotonic()
    chunk = OutgoingChunk(text="meanwhile", fallback="meanwhile")
    telegram.send_chunk(account(tg), chunk, to=Destination(chat_id="111"))
    assert time.monotonic() - started < 1.0
    tg.push_message(TOKEN, chat_id=111, text="wakes the poll")
    thread.join(10)
    assert [u.text for u in polled[0].updates] == ["wakes the poll"]
