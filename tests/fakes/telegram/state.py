"""What the fake Bot API knows per bot, and how a pushed message becomes a real Update.

Locking: one ``threading.Lock`` guards everything (``Core._lock``); two conditions share
it, ``_updates_cv`` (long polls wait for updates) and ``_sent_cv`` (tests wait for
messages sent), so a send never wakes the pollers and a push never wakes the waiters.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.telegram.markup import utf16_len

CHAT_TYPES = ("private", "group", "supergroup", "channel")
# Telegram leaves these out unless allowed_updates asks for them.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,30}[Bb][Oo][Tt]")
MENTION = re.compile(r"(?<![\w@/])@[A-Za-z0-9_]{5,32}(?![\w@])")
COMMAND = re.compile(r"(?<![\w/@])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{5,32})?(?![\w/@])")


class UnknownBotError(LookupError):
    """A test-side call named a token no bot was registered for (the token is not shown)."""

    def __init__(self) -> None:
        super().__init__("no bot is registered for that token; call add_bot(token, ...) first")


@dataclass
class Chat:
    id: int | str
    type: str
    title: str | None = None
    is_forum: bool = False
    first_name: str | None = None
    username: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.type == "private":
            data["first_name"] = self.first_name or "User"
        else:
            data["title"] = self.title or f"Chat {self.id}"
        if self.username:
            data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data

    @classmethod
    def guess(cls, chat_id: int | str) -> Chat:
        """A chat the test never declared: its type from the shape of the id."""
        if isinstance(chat_id, str):
            return cls(chat_id, "channel", title=chat_id[1:], username=chat_id[1:])
        if chat_id > 0:
            return cls(chat_id, "private")
        if str(chat_id).startswith("-100"):
            return cls(chat_id, "supergroup")
        return cls(chat_id, "group")


@dataclass
class Pending:
    """A queued update; ``update_id`` orders and confirms it even when the raw update's
    own field is malformed. ``filtered``: subject to ``allowed_updates``."""

    update_id: int
    update: dict[str, Any]
    filtered: bool

    @property
    def kind(self) -> str:
        return next((k for k in self.update if k != "update_id"), "")


@dataclass
class BotState:
    token: str
    id: int
    username: str
    first_name: str
    strict_chats: bool = False
    updates: deque[Pending] = field(default_factory=deque)
    next_update_id: int = 1
    next_message_id: int = 1
    confirmed: int = 0  # the highest offset a getUpdates confirmed
    poll_generation: int = 0  # a new poll (or setWebhook) ends the one held
    poll_ended_by: str = ""
    allowed_updates: list[str] | None = None
    webhook: dict[str, Any] | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    calls: list[tuple[str, dict[str, Any], float]] = field(default_factory=list)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    chats: dict[str, Chat] = field(default_factory=dict)
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)

    def user(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "is_bot": True,
            "first_name": self.first_name,
            "username": self.username,
        }

    def chat(self, chat_id: int | str) -> Chat | None:
        return self.chats.get(str(chat_id))

    def new_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id

    def allows(self, pending: Pending) -> bool:
        if not pending.filtered:
            return True
        if self.allowed_updates:
            return pending.kind in self.allowed_updates
        return pending.kind not in OPT_IN_UPDATES

    def confirm(self, offset: int) -> None:
        """Forget what ``offset`` confirms (Telegram's getUpdates offset rule)."""
        if offset < 0:  # keep the last -offset updates, forget the rest
            while len(self.updates) > -offset:
                self.updates.popleft()
            if self.updates:
                self.confirmed = max(self.confirmed, self.updates[0].update_id)
        elif offset > 0:
            if any(p.update_id < offset for p in self.updates):
                self.updates = deque(p for p in self.updates if p.update_id >= offset)
            self.confirmed = max(self.confirmed, offset)

    def ready(self, limit: int) -> list[dict[str, Any]]:
        """The pending updates to hand out now, oldest first; drops the ones not allowed."""
        if any(not self.allows(p) for p in self.updates):
            self.updates = deque(p for p in self.updates if self.allows(p))
        return [p.update for p in list(self.updates)[:limit]]


def auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram detects in a user's plain text: commands and @mentions."""
    found = [
        {"type": kind, "offset": utf16_len(text[: m.start()]), "length": utf16_len(m.group())}
        for kind, pattern in (("bot_command", COMMAND), ("mention", MENTION))
        for m in pattern.finditer(text)
    ]
    return sorted(found, key=lambda e: e["offset"])


@dataclass(frozen=True)
class Incoming:
    """What ``push_message`` was asked for (see its docstring)."""

    chat: Chat
    text: str = ""
    from_id: int | None = None
    from_name: str = "User"
    username: str | None = None
    message_thread_id: int | None = None
    entities: list[dict[str, Any]] | None = None
    reply_to_message: dict[str, Any] | int | None = None
    photo: list[dict[str, Any]] | None = None
    document: dict[str, Any] | None = None
    caption: str | None = None


def build_message(bot: BotState, spec: Incoming) -> tuple[str, dict[str, Any]]:
    """The Update field (``message`` or ``channel_post``) and the Message for ``spec``."""
    chat = spec.chat
    message: dict[str, Any] = {
        "message_id": bot.new_message_id(),
        "date": int(time.time()),
        "chat": chat.to_json(),
    }
    if chat.type == "channel":
        message["sender_chat"] = chat.to_json()
    else:
        sender_id = spec.from_id
        if sender_id is None:
            sender_id = chat.id if isinstance(chat.id, int) and chat.id > 0 else 1000
        sender: dict[str, Any] = {"id": sender_id, "is_bot": False, "first_name": spec.from_name}
        if spec.username:
            sender["username"] = spec.username
        message["from"] = sender
    if spec.message_thread_id is not None:
        message["message_thread_id"] = spec.message_thread_id
        if chat.is_forum:
            message["is_topic_message"] = True
    reply = _reply_to(bot, chat, spec.reply_to_message)
    if reply is not None:
        message["reply_to_message"] = reply
    media = bool(spec.photo or spec.document)
    body = (spec.caption or "") if media else spec.text
    if body:
        message["caption" if media else "text"] = body
        entities = auto_entities(body) if spec.entities is None else spec.entities
        if entities:
            message["caption_entities" if media else "entities"] = entities
    if spec.photo:
        message["photo"] = spec.photo
    if spec.document:
        message["document"] = spec.document
    bot.messages[(str(chat.id), message["message_id"])] = message
    return ("channel_post" if chat.type == "channel" else "message"), message


def _reply_to(bot: BotState, chat: Chat, reply: dict[str, Any] | int | None) -> Any:
    if not isinstance(reply, int) or isinstance(reply, bool):
        return reply
    known = bot.messages.get((str(chat.id), reply))
    if known is not None:
        return {k: v for k, v in known.items() if k != "reply_to_message"}
    # A message the bot sent before this test's history began.
    return {
        "message_id": reply,
        "date": int(time.time()),
        "chat": chat.to_json(),
        "from": bot.user(),
        "text": "(an earlier message of the bot)",
    }


@dataclass(frozen=True)
class Failure:
    """A scripted error for one call (see ``fail``); ``token``: only that bot's calls."""

    status: int
    retry_after: float | None = None
    description: str | None = None
    token: str | None = None
    raw_body: str | None = None


class Core:
    """State shared by the Bot API methods and the test-side helpers."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._updates_cv = threading.Condition(self._lock)
        self._sent_cv = threading.Condition(self._lock)
        self._bots: dict[str, BotState] = {}
        self._failures: dict[str, deque[Failure]] = {}  # method (lower case) → what is scripted
        self._hangs: dict[str, deque[float]] = {}
        self._held: dict[str, int] = {}
        self._stopping = threading.Event()

    def _bot(self, token: str) -> BotState:
        """The registered bot; call with the lock held."""
        bot = self._bots.get(token)
        if bot is None:
            raise UnknownBotError
        return bot
