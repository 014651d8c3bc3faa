"""The Bot API methods the fake answers, validated as Telegram validates them.

``BotApi.call(token, method, params)`` returns the ``result`` or raises ``ApiError``.
Scripted failures (``fail``) are taken here, before the method runs; every call that
reached a registered bot is recorded in ``calls`` (what Telegram received).
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.telegram.markup import MarkupError, parse_html, trim
from tests.fakes.telegram.state import BotState, Chat, Core
from tests.fakes.telegram.wire import (
    CONFLICT_POLL,
    CONFLICT_SET_WEBHOOK,
    CONFLICT_WEBHOOK,
    DESCRIPTIONS,
    MAX_DOWNLOAD,
    MAX_TEXT,
    TOKEN_SHAPE,
    ApiError,
    bool_param,
    canonical,
    chat_ref,
    float_param,
    int_param,
)

CHAT_ACTIONS = frozenset(
    {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
     "upload_voice", "upload_document", "choose_sticker", "find_location",
     "record_video_note", "upload_video_note"}
)  # fmt: skip
PARSE_MODES = ("html", "markdown", "markdownv2")
SECRET_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)


def render_text(params: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    """The text Telegram would show for ``text``/``parse_mode``, and its entities.

    HTML is parsed like Telegram; Markdown modes are taken as plain text (the fake does not
    parse them). The length is counted in characters after surrounding whitespace is trimmed.
    """
    text = params.get("text")
    if not isinstance(text, str) or not text:
        raise ApiError(400, "Bad Request: message text is empty")
    mode = str(params.get("parse_mode") or "").lower()
    if mode and mode not in PARSE_MODES:
        raise ApiError(400, "Bad Request: unsupported parse_mode")
    entities: list[dict[str, Any]] = []
    if mode == "html":
        try:
            text, entities = parse_html(text)
        except MarkupError as exc:
            raise ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
    text, entities = trim(text, entities)
    if not text:
        raise ApiError(400, "Bad Request: message text is empty")
    if len(text) > MAX_TEXT:
        raise ApiError(400, "Bad Request: message is too long")
    return text, entities


class BotApi(Core):
    # -- dispatch
    def call(self, token: str, method: str, params: dict[str, Any]) -> Any:
        name = canonical(method)
        with self._lock:
            bot = self._bots.get(token)
            if bot is None:
                # Telegram: 404 for a token that is not even shaped like one, else 401.
                if TOKEN_SHAPE.fullmatch(token):
                    raise ApiError(401, "Unauthorized")
                raise ApiError(404, "Not Found")
            bot.calls.append((name, params, time.time()))
        self._take_failure(token, name.lower())
        handler = getattr(self, f"_m_{name.lower()}", None)
        if handler is None:
            raise ApiError(404, "Not Found")
        return handler(bot, params)

    def _take_failure(self, token: str, method: str) -> None:
        with self._lock:
            queue = self._failures.get(method)
            found = next((f for f in queue or () if f.token in (None, token)), None)
            if queue is None or found is None:
                return
            queue.remove(found)
        wait = found.retry_after
        if found.status == 429:
            wait = 1.0 if wait is None else wait
            text = found.description or f"Too Many Requests: retry after {int(wait)}"
        else:
            text = found.description or DESCRIPTIONS.get(found.status, f"Error {found.status}")
        raise ApiError(found.status, text, retry_after=wait, raw_body=found.raw_body)

    def _chat(self, bot: BotState, params: dict[str, Any]) -> Chat:
        """The chat a call names; with ``strict_chats``, only chats Telegram would know."""
        ref = chat_ref(params.get("chat_id"))
        chat = bot.chat(ref)
        if chat is None:
            if bot.strict_chats:
                raise ApiError(400, "Bad Request: chat not found")
            chat = Chat.guess(ref)
        thread = int_param(params, "message_thread_id")
        if thread is not None and bot.strict_chats and not chat.is_forum:
            raise ApiError(400, "Bad Request: message thread not found")
        return chat

    # -- identity and updates
    def _m_getme(self, bot: BotState, params: dict[str, Any]) -> Any:
        return {
            **bot.user(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_getupdates(self, bot: BotState, params: dict[str, Any]) -> Any:
        offset = int_param(params, "offset", 0) or 0
        limit = max(1, min(100, int_param(params, "limit", 100) or 100))
        timeout = max(0.0, float_param(params, "timeout", 0.0))
        allowed = params.get("allowed_updates")
        if allowed is not None and not (
            isinstance(allowed, list) and all(isinstance(a, str) for a in allowed)
        ):
            raise ApiError(400, "Bad Request: can't parse allowed_updates JSON array")
        deadline = time.monotonic() + timeout
        with self._lock:
            if bot.webhook:
                raise ApiError(409, CONFLICT_WEBHOOK)
            bot.poll_generation += 1
            bot.poll_ended_by = CONFLICT_POLL
            generation = bot.poll_generation
            self._updates_cv.notify_all()  # the poll held before this one ends with 409
            if allowed is not None:
                bot.allowed_updates = list(allowed)
            bot.confirm(offset)
            while True:
                if bot.poll_generation != generation:
                    raise ApiError(409, bot.poll_ended_by)
                ready = bot.ready(limit)
                left = deadline - time.monotonic()
                if ready or left <= 0 or self._stopping.is_set():
                    return ready
                self._updates_cv.wait(left)

    # -- messages
    def _m_sendmessage(self, bot: BotState, params: dict[str, Any]) -> Any:
        shown, entities = render_text(params)
        reply = params.get("reply_parameters")
        reply_to = int_param(reply, "message_id") if isinstance(reply, dict) else None
        if reply_to is None:
            reply_to = int_param(params, "reply_to_message_id")
        thread = int_param(params, "message_thread_id")
        with self._lock:
            chat = self._chat(bot, params)
            replied = bot.messages.get((str(chat.id), reply_to)) if reply_to else None
            lenient = bool_param(params, "allow_sending_without_reply") or (
                isinstance(reply, dict) and bool_param(reply, "allow_sending_without_reply")
            )
            if reply_to and replied is None and bot.strict_chats and not lenient:
                raise ApiError(400, "Bad Request: message to be replied not found")
            message = self._bot_message(bot, chat, shown, entities, thread)
            if replied is not None:
                message["reply_to_message"] = {
                    k: v for k, v in replied.items() if k != "reply_to_message"
                }
            bot.sent.append(
                {
                    "chat_id": chat.id,
                    "text": params["text"],
                    "parse_mode": params.get("parse_mode"),
                    "message_thread_id": thread,
                    "reply_to_message_id": reply_to,
                    "message_id": message["message_id"],
                    "visible_text": shown,
                    "ts": time.time(),
                }
            )
            self._sent_cv.notify_all()
            return dict(message)

    def _bot_message(
        self,
        bot: BotState,
        chat: Chat,
        text: str,
        entities: list[dict[str, Any]],
        thread: int | None,
    ) -> dict[str, Any]:
        message: dict[str, Any] = {
            "message_id": bot.new_message_id(),
            "from": bot.user(),
            "chat": chat.to_json(),
            "date": int(time.time()),
            "text": text,
        }
        if entities:
            message["entities"] = entities
        if thread is not None:
            message["message_thread_id"] = thread
            if chat.is_forum:
                message["is_topic_message"] = True
        bot.messages[(str(chat.id), message["message_id"])] = message
        return message

    def _m_editmessagetext(self, bot: BotState, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            raise ApiError(400, "Bad Request: message to edit not found")
        message_id = int_param(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        shown, entities = render_text(params)
        with self._lock:
            chat = self._chat(bot, params)
            message = bot.messages.get((str(chat.id), message_id))
            if message is None or message.get("from", {}).get("id") != bot.id:
                raise ApiError(400, "Bad Request: message to edit not found")
            if message.get("text") == shown and message.get("entities", []) == entities:
                raise ApiError(400, NOT_MODIFIED)
            message["text"] = shown
            message.pop("entities", None)
            if entities:
                message["entities"] = entities
            message["edit_date"] = int(time.time())
            bot.edits.append(
                {
                    "chat_id": chat.id,
                    "message_id": message_id,
                    "text": params["text"],
                    "parse_mode": params.get("parse_mode"),
                    "visible_text": shown,
                    "ts": time.time(),
                }
            )
            self._sent_cv.notify_all()
            return dict(message)

    def _m_sendchataction(self, bot: BotState, params: dict[str, Any]) -> Any:
        action = params.get("action")
        if not action:
            raise ApiError(400, "Bad Request: action is empty")
        if action not in CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        thread = int_param(params, "message_thread_id")
        with self._lock:
            chat = self._chat(bot, params)
            bot.actions.append(
                {
                    "chat_id": chat.id,
                    "action": action,
                    "message_thread_id": thread,
                    "ts": time.time(),
                }
            )
        return True

    # -- webhooks
    def _m_setwebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        url = str(params.get("url") or "")
        secret = str(params.get("secret_token") or "")
        if url and not url.startswith(("http://", "https://")):
            # Telegram takes https only; the fake also takes http:// for local test servers.
            raise ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        if len(secret) > 256:
            raise ApiError(400, "Bad Request: secret token is too long")
        if not set(secret) <= SECRET_CHARS:
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        with self._lock:
            if not url:
                bot.webhook = None
            else:
                bot.webhook = {"url": url, "secret_token": secret}
                if isinstance(allowed, list):
                    bot.allowed_updates = [str(a) for a in allowed]
                bot.poll_generation += 1  # a poll held now ends
                bot.poll_ended_by = CONFLICT_SET_WEBHOOK
                self._updates_cv.notify_all()
            if bool_param(params, "drop_pending_updates"):
                bot.updates.clear()
        return True

    def _m_deletewebhook(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self._lock:
            bot.webhook = None
            if bool_param(params, "drop_pending_updates"):
                bot.updates.clear()
        return True

    def _m_getwebhookinfo(self, bot: BotState, params: dict[str, Any]) -> Any:
        with self._lock:
            info: dict[str, Any] = {
                "url": bot.webhook["url"] if bot.webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(bot.updates),
            }
            if bot.webhook:
                info["max_connections"] = 40
                if bot.allowed_updates:
                    info["allowed_updates"] = list(bot.allowed_updates)
            return info

    # -- files
    def _m_getfile(self, bot: BotState, params: dict[str, Any]) -> Any:
        file_id = str(params.get("file_id") or "")
        if not file_id:
            raise ApiError(400, "Bad Request: file_id is empty")
        with self._lock:
            found = bot.files.get(file_id)
        if found is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        path, data = found
        if len(data) > MAX_DOWNLOAD:
            raise ApiError(400, "Bad Request: file is too big")
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}"[:32],
            "file_size": len(data),
            "file_path": path,
        }

    def file_bytes(self, token: str, path: str) -> bytes | None:
        """What ``GET /file/bot<token>/<path>`` serves (None: 404)."""
        with self._lock:
            bot = self._bots.get(token)
            if bot is None:
                return None
            return next((data for p, data in bot.files.values() if p == path), None)
