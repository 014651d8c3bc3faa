"""Telegram Update JSON → InboundUpdate (channels_app.connectors.telegram.parse): pure."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from channels_app.connectors.base import Attachment
from channels_app.connectors.telegram.parse import MAX_TEXT_CHARS, entity_text, parse_update

BOT_ID = "7000"
BOT = "Helper_Bot"
ALICE = {
    "id": 111,
    "is_bot": False,
    "first_name": "Alice",
    "last_name": "Liddell",
    "username": "alice",
}


def message(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "message_id": 5,
        "date": 1700000000,
        "chat": {"id": 111, "type": "private", "first_name": "Alice", "username": "alice"},
        "from": ALICE,
        "text": "hello",
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def parse(raw: Any) -> Any:
    return parse_update(raw, bot_id=BOT_ID, bot_username=BOT)


def group(**fields: Any) -> dict[str, Any]:
    chat = {"id": -100200, "type": "supergroup", "title": "Team"}
    return message(chat=chat, **fields)


def test_a_direct_message() -> None:
    raw = {"update_id": 10, "message": message(), "future_field": {"kept": True}}
    update = parse(raw)
    assert update.external_id == "10"
    assert update.payload is raw  # unknown fields stay in the payload
    assert (update.chat_id, update.chat_type, update.chat_title) == ("111", "direct", "Alice")
    assert (update.sender_id, update.sender_name, update.sender_username) == (
        "111",
        "Alice Liddell",
        "alice",
    )
    assert (update.message_id, update.text, update.thread_id) == ("5", "hello", "")
    assert not update.mentioned
    assert not update.ignore_reason


@pytest.mark.parametrize(
    ("chat_type", "expected"),
    [("private", "direct"), ("group", "group"), ("supergroup", "group"), ("channel", "channel")],
)
def test_chat_types(chat_type: str, expected: str) -> None:
    raw = {"update_id": 1, "message": message(chat={"id": -5, "type": chat_type, "title": "T"})}
    assert parse(raw).chat_type == expected


def test_a_channel_post_is_from_the_channel() -> None:
    channel = {"id": -100300, "type": "channel", "title": "News", "username": "news"}
    raw = {
        "update_id": 2,
        "channel_post": message(chat=channel, sender_chat=channel, **{"from": None}),
    }
    update = parse(raw)
    assert (update.chat_type, update.chat_id, update.chat_title) == ("channel", "-100300", "News")
    assert (update.sender_id, update.sender_name, update.sender_username) == (
        "-100300",
        "News",
        "news",
    )


def test_text_from_a_caption() -> None:
    raw = {"update_id": 3, "message": message(text=None, caption="look", photo=[{"file_id": "p"}])}
    assert parse(raw).text == "look"


# --- mentions ----------------------------------------------------------------------
def mention(text: str, kind: str = "mention", **extra: Any) -> dict[str, Any]:
    at = text.index("@") if "@" in text else 0
    entity = {
        "type": kind,
        "offset": len(text[:at].encode("utf-16-le")) // 2,
        "length": len(text) - at,
    }
    entity.update(extra)
    return {"update_id": 4, "message": group(text=text, entities=[entity])}


def test_a_group_mention_of_the_bot_case_insensitive() -> None:
    assert parse(mention("hi @helper_bot")).mentioned
    assert parse(mention("hi @HELPER_BOT")).mentioned
    assert not parse(mention("hi @other_bot")).mentioned
    assert not parse(
        {"update_id": 4, "message": group(text="hi @helper_bot")}
    ).mentioned  # no entity


def test_mention_offsets_count_utf16_units() -> None:
    update = parse(mention("😀😀 ok @helper_bot"))
    assert update.mentioned
    assert entity_text("😀 @x", {"offset": 3, "length": 2}) == "@x"


def test_a_text_mention_and_a_command_addressed_to_the_bot() -> None:
    raw = mention("Helper", kind="text_mention", user={"id": 7000, "first_name": "Helper"})
    assert parse(raw).mentioned
    assert parse(mention("/status@Helper_Bot", kind="bot_command")).mentioned
    assert not parse(mention("/status@other", kind="bot_command")).mentioned


def test_a_reply_to_the_bot_counts_as_a_mention() -> None:
    bot_message = {
        "message_id": 3,
        "date": 1,
        "chat": {"id": -100200, "type": "supergroup"},
        "from": {"id": 7000, "is_bot": True, "first_name": "Helper"},
    }
    update = parse({"update_id": 5, "message": group(text="and?", reply_to_message=bot_message)})
    assert update.mentioned
    assert update.reply_to_message_id == "3"
    someone = {**bot_message, "from": ALICE}
    assert not parse({"update_id": 5, "message": group(reply_to_message=someone)}).mentioned


def test_a_forum_topic_message() -> None:
    topic_start = {
        "message_id": 77,
        "date": 1,
        "chat": {"id": -100200, "type": "supergroup"},
        "forum_topic_created": {"name": "Ops"},
        "from": ALICE,
    }
    chat = {"id": -100200, "type": "supergroup", "title": "Team", "is_forum": True}
    raw = {
        "update_id": 6,
        "message": message(
            chat=chat, message_thread_id=77, is_topic_message=True, reply_to_message=topic_start
        ),
    }
    update = parse(raw)
    assert (update.thread_id, update.is_forum) == ("77", True)
    assert update.reply_to_message_id == ""  # the topic's first message is not a reply target
    # a reply thread in a plain group is no topic
    plain = {"update_id": 7, "message": group(message_thread_id=12)}
    assert parse(plain).thread_id == ""


# --- attachments --------------------------------------------------------------------
def test_photo_takes_the_largest_size_and_documents_keep_their_metadata() -> None:
    photo = [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
        {"file_id": "big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 90000},
        {"file_id": "mid", "file_unique_id": "m", "width": 320, "height": 240, "file_size": 9000},
    ]
    document = {
        "file_id": "d1",
        "file_unique_id": "du",
        "file_name": "a.pdf",
        "mime_type": "application/pdf",
        "file_size": 1234,
    }
    update = parse(
        {
            "update_id": 8,
            "message": message(text=None, caption="both", photo=photo, document=document),
        }
    )
    assert update.attachments == (
        Attachment(
            kind="photo", file_id="big", file_unique_id="b", size=90000, width=1280, height=960
        ),
        Attachment(
            kind="document",
            file_id="d1",
            file_unique_id="du",
            file_name="a.pdf",
            mime_type="application/pdf",
            size=1234,
        ),
    )
    assert not update.ignore_reason


@pytest.mark.parametrize("kind", ["video", "audio", "voice", "sticker"])
def test_other_attachment_kinds(kind: str) -> None:
    media = {"file_id": f"{kind}-1", "file_unique_id": "u", "file_size": 10, "mime_type": "x/y"}
    update = parse({"update_id": 9, "message": message(text=None, **{kind: media})})
    assert [a.kind for a in update.attachments] == [kind]
    assert not update.ignore_reason


# --- what is ignored, and why -------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ({"update_id": 1, "edited_message": message()}, "edited_message updates are not handled"),
        (
            {"update_id": 1, "callback_query": {"id": "x"}},
            "unsupported update type 'callback_query'",
        ),
        ({"update_id": 1}, "the update has no content"),
        ({"update_id": 1, "message": "text"}, "malformed message: the message is not an object"),
        (
            {"update_id": 1, "message": message(chat=None)},
            "malformed message: the message has no chat",
        ),
        (
            {"update_id": 1, "message": message(chat={"id": "x", "type": "private"})},
            "malformed message: chat.id is not an integer",
        ),
        (
            {"update_id": 1, "message": message(chat={"id": 1, "type": "moon"})},
            "malformed message: unknown chat type 'moon'",
        ),
        (
            {"update_id": 1, "message": message(message_id=None)},
            "malformed message: message_id is not an integer",
        ),
        (
            {"update_id": 1, "message": message(text=5)},
            "malformed message: the text is not a string",
        ),
        (
            {"update_id": 1, "message": message(entities="x")},
            "malformed message: the entities are not a list",
        ),
        (
            {"update_id": 1, "message": message(photo="x")},
            "malformed message: photo is not a list of sizes",
        ),
        (
            {"update_id": 1, "message": message(document={"file_size": 3})},
            "malformed message: document has no file_id",
        ),
        (
            {"update_id": 1, "message": message(**{"from": {"id": "nope"}})},
            "malformed message: from.id is not an integer",
        ),
        (
            {"update_id": 1, "message": message(text=None, location={"latitude": 1})},
            "no text or supported attachment (has: location)",
        ),
        (
            {"update_id": 1, "message": message(text=None, new_chat_members=[ALICE])},
            "no text or supported attachment (has: new_chat_members)",
        ),
    ],
)
def test_unsupported_and_malformed_updates_come_back_ignored(
    raw: dict[str, Any], reason: str
) -> None:
    update = parse(raw)
    assert update.external_id == "1"
    assert update.ignore_reason.startswith(reason), update.ignore_reason
    assert update.payload is raw


def test_a_huge_text_is_cut_and_ignored() -> None:
    text = "a" * 100_000
    update = parse({"update_id": 11, "message": message(text=text)})
    assert len(update.text) == MAX_TEXT_CHARS
    assert "100000 characters" in update.ignore_reason
    assert "not answered" in update.ignore_reason
    # Telegram's own 4096 passes untouched
    assert not parse({"update_id": 12, "message": message(text="b" * 4096)}).ignore_reason


@pytest.mark.parametrize(
    "raw", [{"message": message()}, {"update_id": "12"}, {"update_id": True}, [], "x", None]
)
def test_an_update_without_an_integer_update_id_is_skipped_with_a_log_line(
    raw: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert parse(raw) is None
    assert "without an integer update_id" in caplog.text
