"""Telegram ``Update`` JSON → ``InboundUpdate``, defensively (no network, no Django).

The raw JSON is read, not PTB's ``Update`` objects: PTB's ``de_json`` raises on some
malformed shapes, and one such update would then stop the whole batch (and the poller
behind it). Here a malformed update becomes an ignored one with the reason, an update
type we do not handle too, and only an update without an ``update_id`` (which cannot be
stored, as it has no identity) is dropped, with a log line.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import Any

from channels_app.connectors.base import Attachment, ChatType, InboundUpdate

logger = logging.getLogger(__name__)

# Telegram caps a text at 4096 characters and a caption at 1024; a longer one did not
# come from Telegram. Up to MAX_TEXT_CHARS is taken as it is (a self-hosted Bot API server
# may differ); past it the text is cut to that bound and the update is ignored, with the
# reason, rather than answered from a fragment.
MAX_TEXT_CHARS = 16_384

MESSAGE_KINDS = ("message", "channel_post")
EDIT_KINDS = ("edited_message", "edited_channel_post")
ATTACHMENT_KINDS = ("photo", "document", "video", "audio", "voice", "sticker")
_CHAT_TYPES: dict[str, ChatType] = {
    "private": "direct",
    "group": "group",
    "supergroup": "group",
    "channel": "channel",
}


class MalformedError(ValueError):
    """What is wrong with a message, for its ignore reason."""


def update_id_of(raw: object) -> int | None:
    """The update's ``update_id``, or ``None`` when it has none that is an integer."""
    if not isinstance(raw, Mapping):
        return None
    value = raw.get("update_id")
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def parse_update(raw: object, *, bot_id: str = "", bot_username: str = "") -> InboundUpdate | None:
    """One update, normalized; ``None`` (logged) when it has no ``update_id``.

    ``bot_id``/``bot_username`` (from ``getMe``) recognise mentions of the bot and
    replies to it. Never raises on the content of ``raw``.
    """
    update_id = update_id_of(raw)
    if update_id is None:
        logger.warning("telegram: skipped an update without an integer update_id: %.200r", raw)
        return None
    assert isinstance(raw, Mapping)  # update_id_of checked it
    base = InboundUpdate(external_id=str(update_id), payload=raw)
    kinds = [key for key in raw if key != "update_id"]
    kind = next((k for k in kinds if k in MESSAGE_KINDS or k in EDIT_KINDS), None)
    if kind is None:
        reason = f"unsupported update type {kinds[0]!r}" if kinds else "the update has no content"
        return dataclasses.replace(base, ignore_reason=reason)
    try:
        update = _message_update(base, raw[kind], bot_id=bot_id, bot_username=bot_username)
    except MalformedError as exc:
        update = dataclasses.replace(base, ignore_reason=f"malformed {kind}: {exc}")
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        logger.warning("telegram: update %s could not be read: %r", update_id, exc)
        reason = f"malformed {kind}: could not read it ({type(exc).__name__})"
        update = dataclasses.replace(base, ignore_reason=reason)
    if kind in EDIT_KINDS and not update.ignore_reason:
        update = dataclasses.replace(update, ignore_reason=f"{kind} updates are not handled")
    return update


def _message_update(
    base: InboundUpdate, message: object, *, bot_id: str, bot_username: str
) -> InboundUpdate:
    if not isinstance(message, Mapping):
        raise MalformedError("the message is not an object")
    message_id = _int(message.get("message_id"), "message_id")
    chat = message.get("chat")
    if not isinstance(chat, Mapping):
        raise MalformedError("the message has no chat")
    chat_id = _int(chat.get("id"), "chat.id")
    chat_type = _CHAT_TYPES.get(str(chat.get("type")))
    if chat_type is None:
        raise MalformedError(f"unknown chat type {chat.get('type')!r}")
    sender_id, sender_name, sender_username = _sender(message)
    text, entities = _text(message)
    reply_to, reply_from = _reply(message)
    thread_id = ""
    if message.get("is_topic_message") is True and message.get("message_thread_id") is not None:
        thread_id = str(_int(message.get("message_thread_id"), "message_thread_id"))
        if reply_to == thread_id:  # every topic message "replies" to the topic's first one
            reply_to, reply_from = "", ""
    update = dataclasses.replace(
        base,
        sender_id=sender_id,
        sender_name=sender_name,
        sender_username=sender_username,
        chat_id=str(chat_id),
        chat_type=chat_type,
        chat_title=_chat_title(chat),
        thread_id=thread_id,
        is_forum=chat.get("is_forum") is True,
        message_id=str(message_id),
        text=text,
        mentioned=bool(bot_id and reply_from == bot_id)
        or _mentions(text, entities, bot_id=bot_id, bot_username=bot_username),
        reply_to_message_id=reply_to,
        attachments=_attachments(message),
    )
    if len(text) > MAX_TEXT_CHARS:
        return dataclasses.replace(
            update,
            text=text[:MAX_TEXT_CHARS],
            ignore_reason=(
                f"the text is {len(text)} characters, over the {MAX_TEXT_CHARS} accepted "
                f"(Telegram's own limit is 4096); cut to {MAX_TEXT_CHARS} and not answered"
            ),
        )
    if not text and not update.attachments:
        present = [k for k in message if k not in _COMMON_FIELDS]
        what = ", ".join(sorted(present)[:5]) or "nothing"
        return dataclasses.replace(
            update, ignore_reason=f"no text or supported attachment (has: {what})"
        )
    return update


_COMMON_FIELDS = frozenset(
    {"message_id", "date", "chat", "from", "sender_chat", "message_thread_id",
     "is_topic_message", "reply_to_message", "entities", "caption_entities", "text",
     "caption", "edit_date", "author_signature", "has_protected_content"}
)  # fmt: skip


def _int(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedError(f"{name} is not an integer ({value!r:.40})")
    return value


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _sender(message: Mapping[str, Any]) -> tuple[str, str, str]:
    """(id, name, username) of who wrote it: the chat it was sent as (a channel post, an
    anonymous admin, a linked channel), else the user."""
    who = message.get("sender_chat")
    if isinstance(who, Mapping) and who.get("id") is not None:
        return (
            str(_int(who.get("id"), "sender_chat.id")),
            _chat_title(who),
            _str(who.get("username")),
        )
    user = message.get("from")
    if isinstance(user, Mapping) and user.get("id") is not None:
        name = " ".join(p for p in (_str(user.get("first_name")), _str(user.get("last_name"))) if p)
        return str(_int(user.get("id"), "from.id")), name, _str(user.get("username"))
    return "", "", ""


def _chat_title(chat: Mapping[str, Any]) -> str:
    title = _str(chat.get("title"))
    if title:
        return title
    name = " ".join(p for p in (_str(chat.get("first_name")), _str(chat.get("last_name"))) if p)
    return name or _str(chat.get("username"))


def _text(message: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]]:
    if message.get("text") is not None:
        text, entities = message.get("text"), message.get("entities")
    else:
        text, entities = message.get("caption"), message.get("caption_entities")
    if text is not None and not isinstance(text, str):
        raise MalformedError("the text is not a string")
    if entities is not None and not isinstance(entities, list):
        raise MalformedError("the entities are not a list")
    return text or "", [e for e in entities or [] if isinstance(e, Mapping)]


def _reply(message: Mapping[str, Any]) -> tuple[str, str]:
    """(message id, sender id) of the message this one replies to, or ("", "")."""
    reply = message.get("reply_to_message")
    if not isinstance(reply, Mapping):
        return "", ""
    reply_id = str(_int(reply.get("message_id"), "reply_to_message.message_id"))
    user = reply.get("from")
    sender = user.get("id") if isinstance(user, Mapping) else None
    return reply_id, "" if sender is None else str(sender)


def entity_text(text: str, entity: Mapping[str, Any]) -> str:
    """The part of ``text`` an entity covers (its offsets count UTF-16 code units)."""
    offset, length = entity.get("offset"), entity.get("length")
    if not isinstance(offset, int) or not isinstance(length, int) or offset < 0 or length < 0:
        return ""
    units = text.encode("utf-16-le")
    return units[2 * offset : 2 * (offset + length)].decode("utf-16-le", errors="replace")


def _mentions(
    text: str, entities: list[Mapping[str, Any]], *, bot_id: str, bot_username: str
) -> bool:
    handle = f"@{bot_username}".casefold() if bot_username else ""
    for entity in entities:
        kind = entity.get("type")
        if kind == "text_mention" and bot_id:
            user = entity.get("user")
            if isinstance(user, Mapping) and str(user.get("id")) == bot_id:
                return True
        elif kind in {"mention", "bot_command"} and handle:
            # "@this_bot", or "/status@this_bot": a command addressed to this bot in a group
            covered = entity_text(text, entity).casefold()
            if covered == handle or (kind == "bot_command" and covered.endswith(handle)):
                return True
    return False


def _attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    for kind in ATTACHMENT_KINDS:
        value = message.get(kind)
        if value is None:
            continue
        if kind == "photo":
            if not isinstance(value, list) or not value:
                raise MalformedError("photo is not a list of sizes")
            sizes = [v for v in value if isinstance(v, Mapping)]
            if not sizes:
                raise MalformedError("photo has no sizes")
            value = max(sizes, key=_photo_area)
        if not isinstance(value, Mapping):
            raise MalformedError(f"{kind} is not an object")
        found.append(_attachment(kind, value))
    return tuple(found)


def _photo_area(size: Mapping[str, Any]) -> tuple[int, int]:
    width, height, file_size = size.get("width"), size.get("height"), size.get("file_size")
    area = width * height if isinstance(width, int) and isinstance(height, int) else 0
    return area, file_size if isinstance(file_size, int) else 0


def _attachment(kind: str, value: Mapping[str, Any]) -> Attachment:
    file_id = value.get("file_id")
    if not isinstance(file_id, str) or not file_id:
        raise MalformedError(f"{kind} has no file_id")

    def number(key: str) -> int | None:
        got = value.get(key)
        return got if isinstance(got, int) and not isinstance(got, bool) else None

    return Attachment(
        kind=kind,
        file_id=file_id,
        file_unique_id=_str(value.get("file_unique_id")),
        file_name=_str(value.get("file_name")),
        mime_type=_str(value.get("mime_type")),
        size=number("file_size"),
        width=number("width"),
        height=number("height"),
    )
