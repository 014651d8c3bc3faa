"""The test side of the fake: register bots, chats and files, push updates, script
failures, and read back what the bot sent. Every method is also reachable over the
control endpoint (``tests/fakes/telegram/control.py``) for a server in another process.

A bad argument raises ``ValueError`` (or ``UnknownBotError`` for a token never
registered) saying what is wrong; no message ever contains a bot token.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from typing import Any

from tests.fakes.telegram.methods import BotApi
from tests.fakes.telegram.state import (
    BOT_USERNAME,
    CHAT_TYPES,
    BotState,
    Chat,
    Failure,
    Incoming,
    Pending,
    build_message,
)
from tests.fakes.telegram.wire import canonical

SentPredicate = Callable[[list[dict[str, Any]]], bool]


def _copy(value: Any) -> Any:
    """A JSON-safe deep copy: what the test holds never aliases the server's state."""
    return json.loads(json.dumps(value))


# Arguments also arrive from the control endpoint as any JSON: checked as objects.
def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return _is_int(value) or isinstance(value, float)


def _is_text(value: object, *, empty: bool = False) -> bool:
    return isinstance(value, str) and (empty or bool(value.strip()))


def _is_chat_id(value: object) -> bool:
    return _is_int(value) or (isinstance(value, str) and value.startswith("@"))


def _check_method_and_count(method: object, count: object) -> None:
    if not _is_text(method):
        raise ValueError("method must be a Bot API method name, like 'sendMessage'")
    if not _is_int(count) or not count >= 1:  # type: ignore[operator]
        raise ValueError(f"count must be a positive int, not {count!r}")


class TestSide(BotApi):
    # -- registration
    def add_bot(
        self,
        token: str,
        *,
        username: str = "testbot",
        id: int | None = None,
        first_name: str = "Test Bot",
        strict_chats: bool = False,
    ) -> dict[str, Any]:
        """Register a bot (replacing one with the same token); return its User.

        ``id`` defaults to the token's numeric prefix, as Telegram's ids are. With
        ``strict_chats``, sending to a chat the bot never saw (``add_chat`` or a pushed
        message) fails with "chat not found", as do replies to unknown messages.
        """
        if not _is_text(token):
            raise ValueError("a bot token must be a non-empty string, like '123456:ABC-def'")
        if not BOT_USERNAME.fullmatch(username):
            raise ValueError(
                f"bot username {username!r} is not one Telegram allows: 5-32 letters, digits "
                "or _, starting with a letter and ending in 'bot' (e.g. 'testbot')"
            )
        prefix = token.split(":", 1)[0]
        bot_id = id if id is not None else int(prefix) if prefix.isdigit() else 4242
        bot = BotState(token, bot_id, username, first_name, strict_chats=strict_chats)
        with self._lock:
            self._bots[token] = bot
            return bot.user()

    def add_chat(
        self,
        token: str,
        chat_id: int | str,
        *,
        chat_type: str = "private",
        title: str | None = None,
        is_forum: bool = False,
        first_name: str | None = None,
        username: str | None = None,
    ) -> dict[str, Any]:
        """Declare a chat the bot knows (its type, title, forum flag); return the Chat."""
        if chat_type not in CHAT_TYPES:
            raise ValueError(f"chat_type {chat_type!r} is not one of {', '.join(CHAT_TYPES)}")
        if not _is_chat_id(chat_id):
            raise ValueError("chat_id must be an int (or '@channelname')")
        chat = Chat(chat_id, chat_type, title, is_forum, first_name, username)
        with self._lock:
            self._bot(token).chats[str(chat_id)] = chat
        return chat.to_json()

    def add_file(
        self, token: str, file_id: str, data: bytes, *, file_path: str | None = None
    ) -> str:
        """Make ``file_id`` downloadable (getFile, then GET /file/bot<token>/<path>)."""
        if not isinstance(data, bytes | bytearray):
            raise ValueError(f"file data must be bytes, not {type(data).__name__}")
        path = (file_path or f"documents/{file_id}").lstrip("/")
        with self._lock:
            self._bot(token).files[file_id] = (path, bytes(data))
        return path

    # -- updates
    def push_update(
        self, token: str, update: dict[str, Any], *, filtered: bool = False
    ) -> dict[str, Any]:
        """Queue a raw update as given (malformed or unknown types included).

        Its ``update_id`` is kept when it has one (a redelivery) and assigned otherwise.
        Raw updates reach getUpdates whatever ``allowed_updates`` says unless
        ``filtered``, so a test can feed the client what Telegram might one day send.
        """
        if not isinstance(update, dict):
            raise ValueError(f"an update must be a dict, not {type(update).__name__}")
        update = dict(_copy(update))
        with self._lock:
            bot = self._bot(token)
            raw_id = update.get("update_id")
            if "update_id" not in update:
                update["update_id"] = raw_id = bot.next_update_id
            key = raw_id if isinstance(raw_id, int) and not isinstance(raw_id, bool) else None
            order = bot.next_update_id if key is None else key
            bot.next_update_id = max(bot.next_update_id, order + 1)
            bot.updates.append(Pending(order, update, filtered))
            self._updates_cv.notify_all()
        return dict(_copy(update))

    def push_message(
        self,
        token: str,
        *,
        chat_id: int | str,
        text: str = "",
        from_id: int | None = None,
        from_name: str = "User",
        username: str | None = None,
        chat_type: str | None = None,
        chat_title: str | None = None,
        is_forum: bool = False,
        message_thread_id: int | None = None,
        entities: list[dict[str, Any]] | None = None,
        reply_to_message: dict[str, Any] | int | None = None,
        photo: list[dict[str, Any]] | None = None,
        document: dict[str, Any] | None = None,
        caption: str | None = None,
    ) -> dict[str, Any]:
        """Queue a real Update carrying a user's message; return the Update.

        ``chat_type`` defaults to the declared chat's type, else ``private``; a channel
        gets a ``channel_post``. ``from_id`` defaults to the chat id in a DM (else 1000).
        ``entities=None`` detects them as Telegram does (commands, @mentions, UTF-16
        offsets); a list is used as given. ``reply_to_message`` is a Message dict or the
        id of a message in that chat (one the bot sent, or a pushed one). ``photo`` (a
        list of PhotoSize) and ``document`` (a Document) carry ``caption``, not ``text``.
        """
        if not _is_chat_id(chat_id):
            raise ValueError("chat_id must be an int (or '@channelname' for a channel)")
        if chat_type is not None and chat_type not in CHAT_TYPES:
            raise ValueError(f"chat_type {chat_type!r} is not one of {', '.join(CHAT_TYPES)}")
        if not _is_text(text, empty=True) or not (caption is None or _is_text(caption, empty=True)):
            raise ValueError("text and caption must be strings")
        if text and (photo or document):
            raise ValueError("a photo or document message has a caption, not text; pass caption=")
        with self._lock:
            bot = self._bot(token)
            chat = self._push_chat(
                bot, chat_id, chat_type, chat_title, is_forum, from_name, username
            )
            spec = Incoming(
                chat, text, from_id, from_name, username, message_thread_id, entities,
                reply_to_message, photo, document, caption,
            )  # fmt: skip
            kind, message = build_message(bot, spec)
        return self.push_update(token, {kind: message}, filtered=True)

    def _push_chat(
        self,
        bot: BotState,
        chat_id: int | str,
        chat_type: str | None,
        title: str | None,
        is_forum: bool,
        from_name: str,
        username: str | None,
    ) -> Chat:
        known = bot.chat(chat_id)
        if known is not None and chat_type in (None, known.type):
            if title or is_forum:
                known.title, known.is_forum = title or known.title, is_forum or known.is_forum
            return known
        kind = chat_type or "private"
        chat = (
            Chat(chat_id, kind, first_name=from_name, username=username)
            if kind == "private"
            else Chat(chat_id, kind, title=title or f"{kind.title()} {chat_id}", is_forum=is_forum)
        )
        bot.chats[str(chat_id)] = chat  # Telegram knows a chat once the bot got a message in it
        return chat

    def push_batch(self, token: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``push_message`` for each dict of its keyword arguments (a burst arriving at once)."""
        return [self.push_message(token, **fields) for fields in messages]

    # -- scripted failures
    def fail(
        self,
        method: str,
        status: int,
        count: int = 1,
        retry_after: float | None = None,
        description: str | None = None,
        *,
        token: str | None = None,
        raw_body: str | None = None,
    ) -> None:
        """The next ``count`` calls of ``method`` (of any bot, or of ``token``'s) fail.

        429 carries ``parameters.retry_after`` (default 1 s); the description defaults
        to Telegram's for the status ("Internal Server Error", "Bad Gateway"...).
        ``raw_body`` sends that text instead of JSON (a proxy's HTML error page).
        """
        _check_method_and_count(method, count)
        if not _is_int(status) or not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status (400-599), not {status!r}")
        if retry_after is not None and not (_is_number(retry_after) and retry_after >= 0):
            raise ValueError(f"retry_after must be seconds >= 0, not {retry_after!r}")
        entry = Failure(status, retry_after, description, token, raw_body)
        with self._lock:
            self._failures.setdefault(method.lower(), deque()).extend([entry] * count)

    def hang(self, method: str, seconds: float, count: int = 1) -> None:
        """Hold the next ``count`` calls of ``method`` for ``seconds`` before Telegram
        "receives" them; a client that gives up meanwhile never had its call processed."""
        _check_method_and_count(method, count)
        if not (_is_number(seconds) and seconds > 0):
            raise ValueError(f"seconds must be a positive number, not {seconds!r}")
        with self._lock:
            self._hangs.setdefault(method.lower(), deque()).extend([float(seconds)] * count)

    def held(self, method: str) -> int:
        """How many calls of ``method`` are being held by ``hang`` right now."""
        with self._lock:
            return self._held.get(method.lower(), 0)

    # -- what the bot did
    def sent_messages(self, token: str, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """The sendMessage calls Telegram accepted, oldest first: ``chat_id``, ``text`` and
        ``parse_mode`` as sent, ``visible_text``, ``message_thread_id``,
        ``reply_to_message_id``, the ``message_id`` given, ``ts``."""
        with self._lock:
            sent = [dict(m) for m in self._bot(token).sent]
        if chat_id is None:
            return sent
        return [m for m in sent if str(m["chat_id"]) == str(chat_id)]

    sent = sent_messages

    def edits(self, token: str) -> list[dict[str, Any]]:
        """The editMessageText calls Telegram accepted, oldest first."""
        with self._lock:
            return [dict(m) for m in self._bot(token).edits]

    def chat_actions(self, token: str) -> list[dict[str, Any]]:
        """The sendChatAction calls accepted: ``chat_id``, ``action``, ``message_thread_id``."""
        with self._lock:
            return [dict(m) for m in self._bot(token).actions]

    def calls(self, token: str, method: str | None = None) -> list[dict[str, Any]]:
        """Every call that reached the bot (failed ones too), as its decoded parameters
        plus ``_method`` and ``_ts``; only ``method``'s when given (any case)."""
        wanted = None if method is None else canonical(method)
        with self._lock:
            calls = list(self._bot(token).calls)
        return [
            _copy({**params, "_method": name, "_ts": ts})
            for name, params, ts in calls
            if wanted is None or name == wanted
        ]

    def wait_for(
        self, token: str, what: int | SentPredicate = 1, *, timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Block until ``what`` messages were sent (or ``what(sent)`` is true); return them
        all. Raises AssertionError after ``timeout`` seconds, saying how many arrived."""
        check: SentPredicate
        if isinstance(what, int):
            count = what

            def check(sent: list[dict[str, Any]]) -> bool:
                return len(sent) >= count
        else:
            check = what
        deadline = time.monotonic() + timeout
        with self._lock:
            bot = self._bot(token)
            while not check(bot.sent):
                left = deadline - time.monotonic()
                if left <= 0:
                    wanted = f"{what} messages" if isinstance(what, int) else "the predicate"
                    raise AssertionError(
                        f"timed out after {timeout:g}s waiting for {wanted}; "
                        f"{len(bot.sent)} sent so far"
                    )
                self._sent_cv.wait(left)
            return [dict(m) for m in bot.sent]

    def wait_for_sent(self, token: str, count: int, *, timeout: float = 30) -> list[dict[str, Any]]:
        return self.wait_for(token, count, timeout=timeout)

    def webhook_of(self, token: str) -> dict[str, Any] | None:
        """``{"url", "secret_token"}`` of the webhook set, or None."""
        with self._lock:
            hook = self._bot(token).webhook
            return dict(hook) if hook else None

    def confirmed_offset(self, token: str) -> int:
        """The highest offset a getUpdates call confirmed (0: none yet)."""
        with self._lock:
            return self._bot(token).confirmed

    def pending_updates(self, token: str) -> int:
        with self._lock:
            return len(self._bot(token).updates)

    # -- webhook delivery, as Telegram does it
    def post_to_webhook(
        self, token: str, update: dict[str, Any], *, secret: str | None = None, timeout: float = 10
    ) -> tuple[int, bytes]:
        """POST ``update`` to the webhook set, with its ``X-Telegram-Bot-Api-Secret-Token``
        (or ``secret`` instead, to test a wrong one); return the status and body."""
        hook = self.webhook_of(token)
        if hook is None:
            raise ValueError(
                "no webhook is set for that bot; the client must call setWebhook first"
            )
        headers = {"Content-Type": "application/json"}
        header = hook["secret_token"] if secret is None else secret
        if header:
            headers["X-Telegram-Bot-Api-Secret-Token"] = header
        request = urllib.request.Request(  # noqa: S310  (the URL the client registered)
            hook["url"], data=json.dumps(update).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def deliver_to_webhook(self, token: str, *, timeout: float = 10) -> list[int]:
        """POST the pending updates to the webhook in order, as Telegram does: each one a
        2xx answered is forgotten; the first other answer stops (it stays pending)."""
        statuses: list[int] = []
        while True:
            with self._lock:
                bot = self._bot(token)
                pending = next((p for p in bot.updates if bot.allows(p)), None)
            if pending is None:
                return statuses
            status, _ = self.post_to_webhook(token, pending.update, timeout=timeout)
            statuses.append(status)
            if not 200 <= status < 300:
                return statuses
            with self._lock:
                if pending in bot.updates:
                    bot.updates.remove(pending)

    def reset(self) -> None:
        """Forget every bot, scripted failure and hold."""
        with self._lock:
            self._bots.clear()
            self._failures.clear()
            self._hangs.clear()
            self._updates_cv.notify_all()
