"""A fake Telegram Bot API: the wire format the real ``python-telegram-bot`` 22 speaks.

In a test::

    with FakeTelegramServer() as tg:
        tg.add_bot(TOKEN, username="testbot")
        bot = telegram.Bot(TOKEN, base_url=tg.bot_api_url, base_file_url=tg.file_api_url)
        tg.push_message(TOKEN, chat_id=5, text="hi @testbot")   # a user writes
        ...                                                      # the code under test runs
        tg.wait_for(TOKEN, 1)                                    # the bot answered
        assert tg.sent_messages(TOKEN, chat_id=5)[0]["text"] == "..."

What it speaks (``/bot<token>/<method>``, names in any case; JSON, urlencoded or
multipart bodies): ``getMe``; ``getUpdates`` with Telegram's offset rule, long polls that
wake on a push, 409 for a poll superseded by another (or by ``setWebhook``) and while a
webhook is set, ``allowed_updates``; ``sendMessage`` and ``editMessageText`` validated as
Telegram does (empty, over 4096 characters after entity parsing, HTML that Telegram's
parser rejects, with its words; unknown chats and replies when the bot is
``strict_chats``); ``sendChatAction``; ``setWebhook``/``deleteWebhook``/``getWebhookInfo``;
``getFile`` and ``GET /file/bot<token>/<path>``. A well-formed token nobody registered gets
401 ``Unauthorized``; a malformed one, an unknown method or path, 404 ``Not Found``.

Scripted trouble: ``fail(method, status, count, retry_after, description)`` (429 with
``parameters.retry_after``, 5xx with Telegram's descriptions, or a raw HTML body) and
``hang(method, seconds, count)`` (a call held before Telegram "receives" it; if its client
gives up meanwhile it is never processed).

Another process: ``python -m tests.fakes.telegram_server --port N`` (or
``FakeTelegramProcess``), scripted over ``/_fake/*`` (see ``tests/fakes/telegram/control.py``).
"""

from __future__ import annotations

from tests.fakes.telegram.markup import MarkupError, parse_html, utf16_len
from tests.fakes.telegram.process import FakeTelegramProcess, main
from tests.fakes.telegram.server import FakeTelegramServer
from tests.fakes.telegram.state import UnknownBotError
from tests.fakes.telegram.wire import (
    CONFLICT_POLL,
    CONFLICT_SET_WEBHOOK,
    CONFLICT_WEBHOOK,
    MAX_TEXT,
    ApiError,
)

__all__ = [
    "CONFLICT_POLL",
    "CONFLICT_SET_WEBHOOK",
    "CONFLICT_WEBHOOK",
    "MAX_TEXT",
    "ApiError",
    "FakeTelegramProcess",
    "FakeTelegramServer",
    "MarkupError",
    "UnknownBotError",
    "main",
    "parse_html",
    "utf16_len",
]

if __name__ == "__main__":
    raise SystemExit(main())
