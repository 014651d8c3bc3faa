"""The Telegram connector, on python-telegram-bot (see ``client`` for the sync bridge).

Polling reads getUpdates' raw JSON (``parse``), so an update PTB cannot model, or a
malformed one, is stored as ignored with its reason instead of stopping the poller.
Sending uses PTB's typed methods; a reply rendered as HTML that Telegram cannot parse is
sent again as its plain-text fallback.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
from telegram import Bot, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest

from channels_app.connectors.base import (
    AccountConfig,
    Attachment,
    BotIdentity,
    ConnectorError,
    ConnectorInfo,
    CredentialField,
    Destination,
    InboundUpdate,
    OutgoingChunk,
    PollBatch,
    WebhookRejectedError,
)
from channels_app.connectors.telegram import client
from channels_app.connectors.telegram.format import MAX_MESSAGE_CHARS, render_markdown
from channels_app.connectors.telegram.parse import parse_update, update_id_of

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105  (a header name)
MAX_WEBHOOK_BYTES = 1024 * 1024
ALLOWED_UPDATES = ("message", "edited_message", "channel_post", "edited_channel_post")
TYPING_TIMEOUT_S = 10.0
# Telegram's rule for secret_token: 1-256 characters, A-Z, a-z, 0-9, _ and -.
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")

_identities: dict[tuple[str, str], BotIdentity] = {}
_identities_lock = threading.Lock()


class TelegramConnector:
    info: ClassVar[ConnectorInfo] = ConnectorInfo(
        kind="telegram",
        label="Telegram",
        credential_fields=(
            CredentialField(
                name="botToken",
                label="Bot token",
                help_text="From @BotFather, like 123456789:AAE...; checked with getMe on save.",
            ),
            CredentialField(
                name="webhookSecret",
                label="Webhook secret",
                help_text=(
                    "Only for webhook mode: 1-256 characters of A-Z, a-z, 0-9, _ and -; "
                    "Telegram sends it in every webhook request."
                ),
                required=False,
            ),
        ),
        supports_webhook=True,
        max_message_chars=MAX_MESSAGE_CHARS,
    )

    # --- identity ---------------------------------------------------------------------
    def check(self, account: AccountConfig) -> BotIdentity:
        """getMe: the bot behind the token, or a permanent error if Telegram rejects it."""
        me = client.run(account, lambda bot: bot.get_me(), action="getMe")
        identity = BotIdentity(id=str(me.id), username=me.username or "", name=me.full_name)
        with _identities_lock:
            _identities[(client.token_of(account), client.api_root(account))] = identity
        return identity

    def _identity(self, account: AccountConfig) -> tuple[str, str]:
        """(bot id, username) for mentions: the account's, else getMe's (once per process)."""
        if account.bot_id and account.bot_username:
            return account.bot_id, account.bot_username
        known = _identities.get((client.token_of(account), client.api_root(account)))
        if known is None:
            try:
                known = self.check(account)
            except ConnectorError as exc:
                logger.warning("telegram %s: getMe failed (%s); mentions by @username are "
                               "not recognised", account.account_id, exc)  # fmt: skip
                return account.bot_id, account.bot_username
        return account.bot_id or known.id, account.bot_username or known.username

    # --- receiving --------------------------------------------------------------------
    def poll_once(self, account: AccountConfig, *, cursor: str, timeout_s: int) -> PollBatch:
        """One getUpdates from ``cursor`` (the next offset), waiting at most ``timeout_s``."""
        offset = _offset(cursor, account)
        bot_id, username = self._identity(account)
        data: dict[str, Any] = {"timeout": timeout_s, "allowed_updates": list(ALLOWED_UPDATES)}
        if offset is not None:
            data["offset"] = offset

        async def get_updates(bot: Bot) -> Any:
            # Bot._post, not get_updates: the raw JSON, before PTB models (and may choke on) it.
            return await bot._post("getUpdates", data, read_timeout=client.POLL_SLACK_S + timeout_s)

        raw = client.run(
            account, get_updates, action="getUpdates", timeout_s=timeout_s + client.POLL_SLACK_S + 5
        )
        if not isinstance(raw, list):
            raise ConnectorError(f"Telegram getUpdates returned {type(raw).__name__}, not a list")
        updates: list[InboundUpdate] = []
        highest = offset - 1 if offset is not None else None
        for item in raw:
            update_id = update_id_of(item)
            if update_id is not None and (highest is None or update_id > highest):
                highest = update_id
            update = parse_update(item, bot_id=bot_id, bot_username=username)
            if update is not None:
                updates.append(update)
        next_cursor = str(highest + 1) if highest is not None else cursor
        return PollBatch(updates=updates, cursor=next_cursor)

    def parse_webhook(
        self, account: AccountConfig, *, headers: Mapping[str, str], body: bytes
    ) -> list[InboundUpdate]:
        """The one update of a webhook request, after its secret-token header is checked."""
        expected = account.credentials.get("webhookSecret")
        if not isinstance(expected, str) or not expected:
            raise WebhookRejectedError(
                401, "no webhook secret is configured for this account; set "
                "channels.telegram.webhookSecret and set the webhook again",
            )  # fmt: skip
        given = next((v for k, v in headers.items() if k.lower() == SECRET_HEADER.lower()), "")
        if not hmac.compare_digest(str(given).encode(), expected.encode()):
            raise WebhookRejectedError(401, "wrong or missing secret token")
        if len(body) > MAX_WEBHOOK_BYTES:
            raise WebhookRejectedError(413, f"the update is over {MAX_WEBHOOK_BYTES} bytes")
        try:
            raw = json.loads(body)
        except ValueError as exc:  # UnicodeDecodeError is a ValueError too
            raise WebhookRejectedError(400, f"the body is not JSON: {exc}") from exc
        if not isinstance(raw, dict):
            raise WebhookRejectedError(400, "the body is not a JSON object (a Telegram Update)")
        bot_id, username = self._identity(account)
        update = parse_update(raw, bot_id=bot_id, bot_username=username)
        if update is None:
            raise WebhookRejectedError(400, "the update has no integer update_id")
        return [update]

    def set_webhook(self, account: AccountConfig, *, url: str, secret: str) -> None:
        """Point Telegram at ``url``; it will send ``secret`` in every request."""
        if not _SECRET.fullmatch(secret or ""):
            raise ConnectorError(
                "the webhook secret must be 1-256 characters of A-Z, a-z, 0-9, _ and -; "
                "set channels.telegram.webhookSecret",
                permanent=True,
            )
        client.run(
            account,
            lambda bot: bot.set_webhook(
                url=url, secret_token=secret, allowed_updates=list(ALLOWED_UPDATES)
            ),
            action="setWebhook",
        )

    def delete_webhook(self, account: AccountConfig) -> None:
        client.run(account, lambda bot: bot.delete_webhook(), action="deleteWebhook")

    # --- sending ----------------------------------------------------------------------
    def render(self, text: str) -> list[OutgoingChunk]:
        return render_markdown(text, limit=self.info.max_message_chars)

    def send_chunk(self, account: AccountConfig, chunk: OutgoingChunk, *, to: Destination) -> str:
        """sendMessage; Telegram HTML it cannot parse goes again as the plain fallback."""
        thread = _number(to.thread_id, "thread id")
        reply_to = _number(to.reply_to_message_id, "reply-to message id")
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )

        def send(text: str, parse_mode: str | None) -> Message:
            return client.run(
                account,
                lambda bot: bot.send_message(
                    chat_id=to.chat_id,
                    text=text,
                    parse_mode=parse_mode,
                    message_thread_id=thread,
                    reply_parameters=reply,
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                ),
                action="sendMessage",
            )

        try:
            message = send(chunk.text, chunk.parse_mode)
        except ConnectorError as exc:
            cause = exc.__cause__
            if not (
                chunk.parse_mode
                and isinstance(cause, BadRequest)
                and "can't parse entities" in str(cause).lower()
            ):
                raise
            logger.info("telegram: formatting refused (%s); sending plain text", cause)
            message = send(chunk.fallback, None)
        return str(message.message_id)

    def typing(self, account: AccountConfig, *, to: Destination) -> None:
        thread = _number(to.thread_id, "thread id")
        client.run(
            account,
            lambda bot: bot.send_chat_action(
                chat_id=to.chat_id, action=ChatAction.TYPING, message_thread_id=thread
            ),
            action="sendChatAction",
            timeout_s=TYPING_TIMEOUT_S,
        )

    def download(self, account: AccountConfig, attachment: Attachment, *, max_bytes: int) -> bytes:
        """The attachment's bytes (getFile, then the file URL), refused over ``max_bytes``."""
        _refuse_over(attachment.size, max_bytes, attachment)
        file = client.run(account, lambda bot: bot.get_file(attachment.file_id), action="getFile")
        _refuse_over(file.file_size, max_bytes, attachment)
        url = file.file_path or ""
        if not url.startswith(("http://", "https://")):
            raise ConnectorError(
                f"Telegram getFile gave no downloadable URL for the {attachment.kind} "
                "(a Bot API server in --local mode is not supported)",
                permanent=True,
            )

        async def fetch(http: httpx.AsyncClient) -> bytes:
            async with http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise ConnectorError(
                        f"Telegram file download failed (HTTP {response.status_code})",
                        permanent=400 <= response.status_code < 500 and response.status_code != 429,
                    )
                declared = response.headers.get("content-length", "")
                _refuse_over(int(declared) if declared.isdigit() else None, max_bytes, attachment)
                data = bytearray()
                async for part in response.aiter_bytes():
                    data += part
                    _refuse_over(len(data), max_bytes, attachment)
                return bytes(data)

        return client.run_plain(account, fetch, action="file download")


def _refuse_over(size: int | None, max_bytes: int, attachment: Attachment) -> None:
    if size is not None and size > max_bytes:
        raise ConnectorError(
            f"the {attachment.kind} {attachment.file_name or attachment.file_id!r} is over "
            f"the {max_bytes} bytes allowed ({size} bytes or more); not downloaded",
            permanent=True,
        )


def _number(value: str, what: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise ConnectorError(f"Telegram {what} {value!r} is not a number", permanent=True) from None


def _offset(cursor: str, account: AccountConfig) -> int | None:
    if not cursor:
        return None
    try:
        return int(cursor)
    except ValueError:
        # Updates already stored are dropped again by their update_id: starting over is safe.
        logger.warning(
            "telegram %s: the stored cursor %r is not an offset; polling from the oldest "
            "unconfirmed update",
            account.account_id,
            cursor[:40],
        )
        return None
