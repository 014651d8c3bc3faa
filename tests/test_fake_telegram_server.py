"""The fake Telegram Bot API (tests/fakes/telegram_server.py), driven by the REAL
python-telegram-bot client: every behaviour the connector's tests rely on is checked here
against what PTB makes of it (its exception types, its models)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import AsyncIterator, Coroutine, Iterator
from contextlib import asynccontextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

import pytest
import telegram
from telegram import error as tg_error

from tests.fakes.telegram_server import (
    CONFLICT_POLL,
    CONFLICT_WEBHOOK,
    FakeTelegramProcess,
    FakeTelegramServer,
    UnknownBotError,
)

TOKEN = "123:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
OTHER = "456:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB"
T = TypeVar("T")
# PTB 22 warns that RetryAfter.retry_after will become a timedelta (retry_seconds takes both).
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


@pytest.fixture
def tg() -> Iterator[FakeTelegramServer]:
    with FakeTelegramServer() as server:
        server.add_bot(TOKEN, username="testbot")
        yield server


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@asynccontextmanager
async def client(
    tg: FakeTelegramServer | FakeTelegramProcess, token: str = TOKEN, *, init: bool = True
) -> AsyncIterator[telegram.Bot]:
    """A real PTB Bot pointed at the fake, initialized (getMe) and shut down after.

    ``init=False`` for a token the fake refuses: its connections are closed directly
    (PTB's ``shutdown()`` does nothing for a Bot that was never initialized)."""
    bot = telegram.Bot(token, base_url=tg.bot_api_url, base_file_url=tg.file_api_url)
    if init:
        async with bot:
            yield bot
        return
    try:
        yield bot
    finally:
        await bot.request.shutdown()


def texts(updates: tuple[telegram.Update, ...]) -> list[str | None]:
    return [message(u).text for u in updates]


def message(update: telegram.Update) -> telegram.Message:
    assert update.effective_message is not None, update
    return update.effective_message


def retry_seconds(exc: tg_error.RetryAfter) -> float:
    value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)


def raw(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    """A plain HTTP call (other clients' encodings); returns (status, parsed JSON)."""
    request = urllib.request.Request(url, data=data, headers=headers or {})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


# --- identity and routing -----------------------------------------------------------
def test_get_me_and_tokens_it_does_not_know(tg: FakeTelegramServer) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            me = await bot.get_me()
            assert (me.username, me.id, me.is_bot, me.can_join_groups) == (
                "testbot",
                123,
                True,
                True,
            )
        async with client(tg, OTHER, init=False) as stranger:
            with pytest.raises(tg_error.InvalidToken, match="Unauthorized"):
                await stranger.get_me()
        async with client(tg, "not-a-token", init=False) as malformed:
            with pytest.raises(tg_error.InvalidToken, match="Not Found"):
                await malformed.get_me()

    run(go())
    assert raw(f"{tg.bot_api_url}{OTHER}/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )


def test_unknown_methods_and_paths_are_404_and_names_are_case_insensitive(
    tg: FakeTelegramServer,
) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            with pytest.raises(tg_error.EndPointNotFound):
                await bot.do_api_request("sendSomethingNew")

    run(go())
    not_found = {"ok": False, "error_code": 404, "description": "Not Found"}
    for path in ("/", "/bot", f"/bot{TOKEN}", f"/bot{TOKEN}/getMe/extra", "/nothing/here"):
        assert raw(tg.root_url + path) == (404, not_found), path
    status, body = raw(f"{tg.bot_api_url}{TOKEN}/GETME")
    assert (status, body["result"]["username"]) == (200, "testbot")


def test_json_query_string_and_multipart_bodies_are_read_too(tg: FakeTelegramServer) -> None:
    url = f"{tg.bot_api_url}{TOKEN}/sendMessage"
    as_json = json.dumps({"chat_id": 5, "text": "json", "reply_parameters": {"message_id": 1}})
    assert raw(url, as_json.encode(), {"Content-Type": "application/json"})[0] == 200
    assert raw(f"{url}?chat_id=5&text=query")[0] == 200
    boundary = "xyz"
    form = (
        "".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
            for k, v in {"chat_id": "5", "text": "multi part"}.items()
        )
        + f"--{boundary}--\r\n"
    )
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert raw(url, form.encode(), headers)[0] == 200
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["json", "query", "multi part"]
    assert tg.sent_messages(TOKEN)[0]["reply_to_message_id"] == 1
    status, body = raw(url, b"{not json", {"Content-Type": "application/json"})
    assert (status, body["description"]) == (
        400,
        "Bad Request: can't parse JSON encoded request body",
    )


# --- getUpdates ---------------------------------------------------------------------
def test_get_updates_confirms_by_offset_and_a_long_poll_wakes_on_a_push(
    tg: FakeTelegramServer,
) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            first = tg.push_message(TOKEN, chat_id=5, text="one @testbot", from_id=7)
            tg.push_message(TOKEN, chat_id=5, text="two")
            updates = await bot.get_updates(timeout=0)
            assert texts(updates) == ["one @testbot", "two"]
            assert updates[0].update_id == first["update_id"]
            assert getattr(message(updates[0]).from_user, "id", None) == 7
            again = await bot.get_updates(offset=updates[1].update_id, timeout=0)
            assert texts(again) == ["two"]  # only the first was confirmed
            assert tg.confirmed_offset(TOKEN) == updates[1].update_id
            later = threading.Timer(0.3, lambda: tg.push_message(TOKEN, chat_id=5, text="later"))
            later.start()
            started = time.monotonic()
            woke = await bot.get_updates(offset=updates[1].update_id + 1, timeout=10)
            assert texts(woke) == ["later"]
            assert time.monotonic() - started < 5  # woken by the push, not the timeout
            started = time.monotonic()
            assert await bot.get_updates(offset=woke[0].update_id + 1, timeout=1) == ()
            assert time.monotonic() - started >= 0.95  # held for the timeout, then empty
            assert tg.pending_updates(TOKEN) == 0

    run(go())


def test_limit_and_a_negative_offset(tg: FakeTelegramServer) -> None:
    for i in range(5):
        tg.push_message(TOKEN, chat_id=5, text=f"m{i}")

    async def go() -> None:
        async with client(tg) as bot:
            assert texts(await bot.get_updates(limit=2, timeout=0)) == [
                "m0",
                "m1",
            ]
            # -2: the last two only; everything before them is forgotten
            assert texts(await bot.get_updates(offset=-2, timeout=0)) == [
                "m3",
                "m4",
            ]
            assert texts(await bot.get_updates(timeout=0)) == ["m3", "m4"]

    run(go())


def test_a_competing_poll_ends_the_older_one_with_409(tg: FakeTelegramServer) -> None:
    async def go() -> None:
        async with client(tg) as one, client(tg) as two:
            first = asyncio.create_task(one.get_updates(timeout=5))
            await asyncio.sleep(0.3)
            second = asyncio.create_task(two.get_updates(timeout=1))
            with pytest.raises(tg_error.Conflict) as caught:
                await first
            assert str(caught.value) == CONFLICT_POLL
            assert await second == ()  # the newer poll carries on

    run(go())


def test_allowed_updates_filter_what_telegram_builds_but_not_raw_updates(
    tg: FakeTelegramServer,
) -> None:
    tg.push_message(TOKEN, chat_id=-1001, chat_type="channel", text="a post")
    tg.push_message(TOKEN, chat_id=5, text="a message")
    tg.push_update(TOKEN, {"poll": {"id": "1", "question": "?"}})

    # the raw JSON: PTB's own models would choke on the incomplete poll
    query = urllib.parse.urlencode({"timeout": 0, "allowed_updates": '["message"]'})
    _, body = raw(f"{tg.bot_api_url}{TOKEN}/getUpdates?{query}")
    assert [sorted(set(u) - {"update_id"}) for u in body["result"]] == [["message"], ["poll"]]


# --- sendMessage --------------------------------------------------------------------
def test_send_message_is_recorded_and_answered_with_the_parsed_message(
    tg: FakeTelegramServer,
) -> None:
    async def go() -> telegram.Message:
        async with client(tg) as bot:
            return await bot.send_message(
                -1001234, "<b>bold</b> &amp; <a href=\"https://x.org\">link</a>",
                parse_mode="HTML", message_thread_id=9,
                reply_parameters=telegram.ReplyParameters(3, allow_sending_without_reply=True),
                link_preview_options=telegram.LinkPreviewOptions(is_disabled=True),
            )  # fmt: skip

    sent = run(go())
    assert (sent.text, sent.chat.type, sent.message_thread_id) == ("bold & link", "supergroup", 9)
    assert [(e.type, e.offset, e.length) for e in sent.entities] == [
        ("bold", 0, 4),
        ("text_link", 7, 4),
    ]
    [record] = tg.sent_messages(TOKEN, chat_id=-1001234)
    assert record == {
        "chat_id": -1001234,
        "text": '<b>bold</b> &amp; <a href="https://x.org">link</a>',
        "parse_mode": "HTML",
        "message_thread_id": 9,
        "reply_to_message_id": 3,
        "message_id": sent.message_id,
        "visible_text": "bold & link",
        "ts": record["ts"],
    }
    [call] = tg.calls(TOKEN, "sendmessage")
    assert call["link_preview_options"] == {"is_disabled": True}
    assert call["_method"] == "sendMessage"


@pytest.mark.parametrize(
    ("html", "error"),
    [
        ("<b>open", 'Can\'t find end tag corresponding to start tag "b"'),
        ("a <div>b</div>", 'Unsupported start tag "div" at byte offset 2'),
        ("x < y", 'Unsupported start tag "" at byte offset 2'),
        ("<i>a</b>", 'Unmatched end tag at byte offset 4, expected "</i>", found "</b>"'),
        ("a</b>", "Unexpected end tag at byte offset 1"),
        ('<span class="red">x</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<b", "Unclosed start tag at byte offset 0"),
        ("é<b>é</b  x", "Unclosed end tag at byte offset 7"),  # UTF-8 bytes
    ],
)
def test_html_telegram_cannot_parse_is_a_bad_request(
    tg: FakeTelegramServer, html: str, error: str
) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            with pytest.raises(tg_error.BadRequest, match="Can't parse entities"):
                await bot.send_message(5, html, parse_mode="HTML")

    run(go())
    # PTB lower-cases all but the first letter; Telegram's own words, over plain HTTP:
    status, body = raw(
        f"{tg.bot_api_url}{TOKEN}/sendMessage",
        json.dumps({"chat_id": 5, "text": html, "parse_mode": "HTML"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert (status, body["description"]) == (400, f"Bad Request: can't parse entities: {error}")
    assert tg.sent_messages(TOKEN) == []


def test_html_telegram_accepts(tg: FakeTelegramServer) -> None:
    accepted = [
        "<B>caps</B> <strong>s</strong> <em>e</em> <ins>i</ins> <strike>s</strike> <del>d</del>",
        '<tg-spoiler>x</tg-spoiler> <span class="tg-spoiler">y</span> a > b &lt;ok&gt; &nbsp;',
        '<pre><code class="language-python">print(1)</code></pre> <blockquote expandable>q</blockquote>',
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji> <a href="tg://user?id=1">u</>',
    ]

    async def go() -> list[telegram.Message]:
        async with client(tg) as bot:
            return [await bot.send_message(5, text, parse_mode="HTML") for text in accepted]

    first, second, third, fourth = run(go())
    assert first.text == "caps s e i s d"
    assert second.text == "x y a > b <ok> &nbsp;"  # only Telegram's four named entities decode
    assert [(e.type, e.language) for e in third.entities] == [
        ("pre", "python"),
        ("expandable_blockquote", None),
    ]
    assert fourth.entities[0].custom_emoji_id == "5368324170671202286"


def test_empty_and_too_long_texts(tg: FakeTelegramServer) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            for empty in (" \n ", "<b> </b>"):
                with pytest.raises(tg_error.BadRequest, match="Message text is empty"):
                    await bot.send_message(5, empty, parse_mode="HTML")
            with pytest.raises(tg_error.BadRequest, match="Message is too long"):
                await bot.send_message(5, "x" * 4097)
            await bot.send_message(5, "x" * 4096 + "   ")  # trimmed before counting
            await bot.send_message(
                5, "<b>" + "x" * 4096 + "</b>", parse_mode="HTML"
            )  # tags are free
            with pytest.raises(tg_error.BadRequest, match="Message is too long"):
                await bot.send_message(5, "&lt;" * 4097, parse_mode="HTML")  # entities are one each
            with pytest.raises(tg_error.BadRequest, match="Unsupported parse_mode"):
                await bot.send_message(5, "x", parse_mode="Textile")

    run(go())
    assert len(tg.sent_messages(TOKEN)) == 2


def test_strict_chats_know_only_what_telegram_would(tg: FakeTelegramServer) -> None:
    tg.add_bot(OTHER, username="strict_bot", strict_chats=True)
    tg.add_chat(OTHER, -100777, chat_type="supergroup", title="Forum", is_forum=True)

    async def go() -> None:
        async with client(tg, OTHER) as bot:
            with pytest.raises(tg_error.BadRequest, match="Chat not found"):
                await bot.send_message(42, "hello?")
            tg.push_message(OTHER, chat_id=42, text="hi")  # now the bot has seen chat 42
            sent = await bot.send_message(42, "hello")
            with pytest.raises(tg_error.BadRequest, match="Message thread not found"):
                await bot.send_message(42, "x", message_thread_id=3)
            in_topic = await bot.send_message(-100777, "x", message_thread_id=3)
            assert (in_topic.chat.title, in_topic.is_topic_message) == ("Forum", True)
            with pytest.raises(tg_error.BadRequest, match="Message to be replied not found"):
                await bot.send_message(42, "x", reply_parameters=telegram.ReplyParameters(999))
            lenient = telegram.ReplyParameters(999, allow_sending_without_reply=True)
            await bot.send_message(42, "x", reply_parameters=lenient)
            reply = await bot.send_message(
                42, "re", reply_parameters=telegram.ReplyParameters(sent.message_id)
            )
            assert reply.reply_to_message is not None
            assert reply.reply_to_message.text == "hello"

    run(go())


# --- scripted failures --------------------------------------------------------------
def test_scripted_429_5xx_and_403(tg: FakeTelegramServer) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            tg.fail("sendMessage", 429, count=2, retry_after=3)
            for _ in range(2):
                with pytest.raises(tg_error.RetryAfter) as caught:
                    await bot.send_message(5, "hi")
                assert retry_seconds(caught.value) == 3
            tg.fail("sendMessage", 500)
            with pytest.raises(tg_error.NetworkError) as server_error:
                await bot.send_message(5, "hi")
            # PTB's answer to a 5xx: a plain NetworkError, retryable (not a BadRequest)
            assert type(server_error.value) is tg_error.NetworkError
            assert str(server_error.value) == "Internal Server Error"
            tg.fail("sendMessage", 502, raw_body="<html><body>502 Bad Gateway</body></html>")
            with pytest.raises(tg_error.NetworkError, match="Bad Gateway"):
                await bot.send_message(5, "hi")
            tg.fail("sendMessage", 403)
            with pytest.raises(tg_error.Forbidden, match="bot was blocked by the user"):
                await bot.send_message(5, "hi")
            await bot.send_message(5, "hi")

    run(go())
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["hi"]
    assert len(tg.calls(TOKEN, "sendMessage")) == 6  # the refused calls reached Telegram too


def test_a_failure_scripted_for_one_bot_leaves_the_others_alone(tg: FakeTelegramServer) -> None:
    tg.add_bot(OTHER, username="otherbot")

    async def go() -> None:
        async with client(tg) as bot, client(tg, OTHER) as other:
            tg.fail("getMe", 500, token=OTHER)
            assert (await bot.get_me()).username == "testbot"
            with pytest.raises(tg_error.NetworkError):
                await other.get_me()
            assert (await other.get_me()).username == "otherbot"

    run(go())


def test_a_held_call_is_processed_late_or_never_if_its_client_left(
    tg: FakeTelegramServer,
) -> None:
    tg.hang("sendMessage", 0.5)
    tg.hang("sendMessage", seconds=1.0)

    async def go() -> None:
        async with client(tg) as bot:
            started = time.monotonic()
            await bot.send_message(5, "late")
            assert time.monotonic() - started >= 0.45
            task = asyncio.create_task(bot.send_message(5, "lost"))
            await asyncio.sleep(0.3)
            assert tg.held("sendMessage") == 1
            task.cancel()

    run(go())
    time.sleep(1.2)
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["late"]
    assert tg.held("sendMessage") == 0


# --- other methods ------------------------------------------------------------------
def test_chat_actions_and_edits(tg: FakeTelegramServer) -> None:
    async def go() -> None:
        async with client(tg) as bot:
            assert await bot.send_chat_action(-100200, "typing", message_thread_id=33)
            with pytest.raises(tg_error.BadRequest, match="Wrong parameter action"):
                await bot.send_chat_action(5, "dancing")
            sent = await bot.send_message(5, "draft")
            edited = await bot.edit_message_text(
                "<i>final</i>", 5, sent.message_id, parse_mode="HTML"
            )
            assert isinstance(edited, telegram.Message)
            assert (edited.text, edited.entities[0].type) == ("final", "italic")
            assert edited.edit_date is not None
            with pytest.raises(tg_error.BadRequest, match="Message is not modified"):
                await bot.edit_message_text("<i>final</i>", 5, sent.message_id, parse_mode="HTML")
            with pytest.raises(tg_error.BadRequest, match="Message to edit not found"):
                await bot.edit_message_text("x", 5, 9999)

    run(go())
    [action] = tg.chat_actions(TOKEN)
    assert (action["chat_id"], action["action"], action["message_thread_id"]) == (
        -100200,
        "typing",
        33,
    )
    [edit] = tg.edits(TOKEN)
    assert (edit["text"], edit["visible_text"]) == ("<i>final</i>", "final")
    assert [m["text"] for m in tg.sent_messages(TOKEN)] == ["draft"]


class _Receiver(BaseHTTPRequestHandler):
    """A webhook endpoint that records what Telegram POSTs and answers 200."""

    received: list[tuple[str | None, Any]]

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.received.append((self.headers.get("X-Telegram-Bot-Api-Secret-Token"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_webhook_set_info_delivery_and_delete(tg: FakeTelegramServer) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.received = []
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{receiver.server_address[1]}/telegram-webhook"
    try:

        async def go() -> None:
            async with client(tg) as bot:
                held = asyncio.create_task(bot.get_updates(timeout=5))
                await asyncio.sleep(0.3)
                assert await bot.set_webhook(url, secret_token="s3-_x", allowed_updates=["message"])
                with pytest.raises(tg_error.Conflict, match="terminated by setWebhook request"):
                    await held
                info = await bot.get_webhook_info()
                assert (info.url, info.allowed_updates) == (url, ("message",))
                with pytest.raises(tg_error.Conflict) as caught:
                    await bot.get_updates(timeout=0)
                assert str(caught.value) == CONFLICT_WEBHOOK
                with pytest.raises(tg_error.BadRequest, match="unallowed characters"):
                    await bot.set_webhook(url, secret_token="has spaces!")

        run(go())
        assert tg.webhook_of(TOKEN) == {"url": url, "secret_token": "s3-_x"}
        first = tg.push_message(TOKEN, chat_id=5, text="via webhook")
        tg.push_message(TOKEN, chat_id=5, text="and another")
        assert tg.deliver_to_webhook(TOKEN) == [200, 200]
        assert tg.pending_updates(TOKEN) == 0
        assert tg.post_to_webhook(TOKEN, {"update_id": 1}, secret="wrong")[0] == 200
        assert [secret for secret, _ in _Receiver.received] == ["s3-_x", "s3-_x", "wrong"]
        assert _Receiver.received[0][1] == first

        async def delete() -> None:
            async with client(tg) as bot:
                assert await bot.delete_webhook()
                assert (await bot.get_webhook_info()).url == ""

        run(delete())
        assert tg.webhook_of(TOKEN) is None
        with pytest.raises(ValueError, match="no webhook is set"):
            tg.post_to_webhook(TOKEN, {"update_id": 2})
    finally:
        receiver.shutdown()
        receiver.server_close()


def test_get_file_and_download(tg: FakeTelegramServer) -> None:
    tg.add_file(TOKEN, "F1", b"%PDF-1.4 fake", file_path="documents/file_1.pdf")

    async def go() -> None:
        async with client(tg) as bot:
            file = await bot.get_file("F1")
            assert (file.file_size, file.file_path) == (
                13,
                f"{tg.root_url}/file/bot{TOKEN}/documents/file_1.pdf",
            )
            assert bytes(await file.download_as_bytearray()) == b"%PDF-1.4 fake"
            with pytest.raises(tg_error.BadRequest, match="Invalid file_id"):
                await bot.get_file("nope")

    run(go())
    assert raw(f"{tg.file_api_url}{TOKEN}/documents/other.pdf")[0] == 404
    assert raw(f"{tg.file_api_url}{OTHER}/documents/file_1.pdf")[0] == 404


# --- the updates push_message builds -----------------------------------------------
def test_pushed_messages_are_real_updates_ptb_reads(tg: FakeTelegramServer) -> None:
    async def go() -> telegram.Message:
        async with client(tg) as bot:
            return await bot.send_message(-100200, "earlier answer")

    answer = run(go())
    tg.push_message(TOKEN, chat_id=5, text="🏟 hi @testbot /start@testbot", username="al")
    tg.push_message(
        TOKEN, chat_id=-100200, chat_type="supergroup", chat_title="Team", is_forum=True,
        message_thread_id=33, from_id=222, text="and then?", reply_to_message=answer.message_id,
    )  # fmt: skip
    photo = [{"file_id": "p1", "file_unique_id": "u1", "width": 90, "height": 60}]
    tg.push_message(TOKEN, chat_id=5, caption="see @testbot", photo=photo)
    document = {"file_id": "d1", "file_unique_id": "u2", "file_name": "a.pdf"}
    tg.push_message(TOKEN, chat_id=5, document=document)

    async def poll() -> tuple[telegram.Update, ...]:
        async with client(tg) as bot:
            return await bot.get_updates(timeout=0)

    dm, topic, with_photo, with_document = (message(u) for u in run(poll()))
    assert (dm.chat.type, getattr(dm.from_user, "username", None)) == ("private", "al")
    # offsets count UTF-16 code units: the emoji is two
    assert [(e.type, e.offset, e.length) for e in dm.entities] == [
        ("mention", 6, 8),
        ("bot_command", 15, 14),
    ]
    assert list(dm.parse_entities(["mention"]).values()) == ["@testbot"]
    assert (topic.chat.title, topic.chat.is_forum, topic.message_thread_id) == ("Team", True, 33)
    assert topic.is_topic_message
    replied = topic.reply_to_message
    assert replied is not None
    assert replied.text == "earlier answer"
    assert getattr(replied.from_user, "username", None) == "testbot"
    assert (with_photo.caption, with_photo.photo[0].file_id) == ("see @testbot", "p1")
    assert with_photo.caption_entities[0].type == "mention"
    assert with_document.document is not None
    assert (with_document.document.file_name, with_document.text) == ("a.pdf", None)


def test_a_redelivered_update_keeps_its_id(tg: FakeTelegramServer) -> None:
    update = tg.push_message(TOKEN, chat_id=5, text="twice")
    tg.push_update(TOKEN, update)
    tg.push_update(TOKEN, {"message": {"message_id": "x", "chat": "broken"}})

    ids = [u["update_id"] for u in raw(f"{tg.bot_api_url}{TOKEN}/getUpdates")[1]["result"]]
    assert ids == [update["update_id"], update["update_id"], update["update_id"] + 1]


def test_bad_test_side_inputs_say_what_is_wrong(tg: FakeTelegramServer) -> None:
    with pytest.raises(UnknownBotError, match="call add_bot") as caught:
        tg.push_message(OTHER, chat_id=5, text="x")
    assert "BBBB" not in str(caught.value)  # no token in any message
    with pytest.raises(ValueError, match="ending in 'bot'"):
        tg.add_bot(OTHER, username="alice")
    with pytest.raises(ValueError, match=r"HTTP error status \(400-599\)"):
        tg.fail("sendMessage", 200)
    with pytest.raises(ValueError, match="positive int"):
        tg.fail("sendMessage", 500, count=0)
    with pytest.raises(ValueError, match="chat_type 'room' is not one of private"):
        tg.push_message(TOKEN, chat_id=5, chat_type="room")
    with pytest.raises(ValueError, match="caption, not text"):
        tg.push_message(TOKEN, chat_id=5, text="x", photo=[{"file_id": "p"}])
    with pytest.raises(ValueError, match="seconds must be a positive number"):
        tg.hang("sendMessage", 0)
    with pytest.raises(AssertionError, match="0 sent so far"):
        tg.wait_for(TOKEN, 1, timeout=0.1)


def test_two_hundred_messages_each_way_in_well_under_a_second_each(
    tg: FakeTelegramServer,
) -> None:
    """The benchmark's load (200 updates in, 200 messages out a second) with room to spare."""

    async def go() -> float:
        async with client(tg) as bot:
            started = time.monotonic()
            for i in range(200):
                tg.push_message(TOKEN, chat_id=1000 + i % 10, text=f"m{i}")
            offset, seen = 0, 0
            while seen < 200:
                updates = await bot.get_updates(offset=offset, timeout=1)
                seen += len(updates)
                offset = updates[-1].update_id + 1
            await asyncio.gather(*(bot.send_message(1000 + i % 10, f"r{i}") for i in range(200)))
            return time.monotonic() - started

    elapsed = run(go())
    assert len(tg.wait_for(TOKEN, 200, timeout=1)) == 200
    assert elapsed < 3.0, f"400 round trips took {elapsed:.2f}s"


# --- process mode -------------------------------------------------------------------
def test_process_mode_is_scripted_over_the_control_endpoint() -> None:
    with FakeTelegramProcess() as tg:
        assert tg.health()
        tg.add_bot(TOKEN)
        tg.push_message(TOKEN, chat_id=5, text="from the test")
        tg.fail("sendMessage", 429, retry_after=1)
        tg.add_file(TOKEN, "F1", b"\x00bytes\xff", file_path="photos/p.jpg")

        async def go() -> None:
            async with client(tg) as bot:
                [update] = await bot.get_updates(timeout=0)
                assert message(update).text == "from the test"
                with pytest.raises(tg_error.RetryAfter):
                    await bot.send_message(5, "x")
                await bot.send_message(5, "y")
                file = await bot.get_file("F1")
                assert bytes(await file.download_as_bytearray()) == b"\x00bytes\xff"
                await bot.send_chat_action(5, "typing")

        run(go())
        assert [m["text"] for m in tg.wait_for_sent(TOKEN, 1, timeout=5)] == ["y"]
        assert [m["text"] for m in tg.sent_messages(TOKEN, chat_id=5)] == ["y"]
        assert tg.chat_actions(TOKEN)[0]["action"] == "typing"
        assert len(tg.calls(TOKEN, "sendMessage")) == 2
        assert (tg.confirmed_offset(TOKEN), tg.pending_updates(TOKEN)) == (0, 1)
        with pytest.raises(ValueError, match="ending in 'bot'"):
            tg.add_bot(OTHER, username="alice")
        with pytest.raises(ValueError, match="needs 'token'"):
            tg.push_message("", chat_id=5)
        with pytest.raises(ValueError, match="no bot is registered"):
            tg.sent_messages(OTHER)
        with pytest.raises(AssertionError, match="1 sent so far"):
            tg.wait_for_sent(TOKEN, 2, timeout=0.2)
        status, body = raw(f"{tg.root_url}/_fake/nothing")
        assert (status, body["ok"]) == (404, False)
        assert "use one of" in body["error"]
        tg.add_chat(TOKEN, -100300, chat_type="supergroup", title="Ops")
        pushed = tg.push_message(TOKEN, chat_id=-100300, from_id=9, text="/status")
        assert pushed["message"]["chat"] == {"id": -100300, "type": "supergroup", "title": "Ops"}
        assert pushed["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 7}]
        raw_update = tg.push_update(TOKEN, {"edited_message": {"message_id": 1}})
        assert raw_update["update_id"] == pushed["update_id"] + 1
        tg.hang("getMe", 0.2)
        assert (tg.held("getMe"), tg.webhook_of(TOKEN), tg.edits(TOKEN)) == (0, None, [])
        tg.reset()
        assert raw(f"{tg.bot_api_url}{TOKEN}/getMe")[0] == 401
