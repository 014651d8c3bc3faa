"""What every chat-platform connector provides, and the shapes it exchanges.

A connector turns one platform's wire format into ``InboundUpdate`` values and sends
``OutgoingChunk`` values back; it never touches the database. The durable inbox and
outbox (``channels_app.services``) call it from Celery tasks on the ``connectors`` queue:

- ``check``: is this account's credential accepted (Telegram's ``getMe``)?
- ``poll_once``: one bounded long poll from a cursor; the caller stores the updates and
  the returned cursor in one transaction;
- ``parse_webhook``: the updates of one webhook request, after checking its secret;
- ``set_webhook`` / ``delete_webhook``;
- ``render``: a reply's text as the platform's formatted chunks (with a plain-text
  fallback each), within the platform's size limit;
- ``send_chunk``: send one chunk, return the platform's message id;
- ``typing``: show a typing indicator in a chat.

Every failure is a ``ConnectorError``: ``permanent=True`` when retrying cannot help (a
token the platform rejects, a chat the bot was removed from), else transient, with the
platform's ``retry_after`` when it gave one (Telegram's 429).

A connector lives in its own package under ``channels_app/connectors/<kind>/`` and
registers itself there (``registry.register``); the registry imports every such package
when it is first asked, so adding a platform touches only its own folder.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

ChatType = Literal["direct", "group", "channel"]


class ConnectorError(Exception):
    """A platform call that failed; ``str(error)`` says what happened, never a secret."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.retry_after = retry_after


class WebhookRejectedError(Exception):
    """A webhook request that is not accepted: ``status`` (401, 400...) and why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class AccountConfig:
    """What a connector needs to know about one channel account (no database row).

    ``credentials`` holds the decrypted secrets (Telegram: ``{"botToken": ...,
    "webhookSecret": ...}``); never log it or put it in an error message.
    """

    kind: str
    account_id: str
    credentials: Mapping[str, Any]
    api_root: str = ""  # "" = the platform's public API
    bot_id: str = ""  # learned from check(): used to recognise mentions and replies
    bot_username: str = ""


@dataclass(frozen=True)
class BotIdentity:
    id: str
    username: str
    name: str


@dataclass(frozen=True)
class Attachment:
    """A photo, document... of a message: metadata only; ``download`` fetches the bytes."""

    kind: str  # "photo", "document", "video", "audio", "voice", "sticker"
    file_id: str
    file_unique_id: str = ""
    file_name: str = ""
    mime_type: str = ""
    size: int | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class InboundUpdate:
    """One platform update, normalized. ``external_id`` is unique per account and the
    same when the platform redelivers it (Telegram: the ``update_id``).

    An update the gateway does not handle (an unknown type, a malformed message, an
    edit) still comes back, with ``ignore_reason`` saying why: it is stored as ignored,
    so the cursor moves past it and the operator can see what arrived.
    """

    external_id: str
    payload: Mapping[str, Any]  # the raw update, as received
    sender_id: str = ""
    sender_name: str = ""
    sender_username: str = ""
    chat_id: str = ""
    chat_type: ChatType = "direct"
    chat_title: str = ""
    thread_id: str = ""  # Telegram forum topic id ("" when none)
    is_forum: bool = False
    message_id: str = ""
    text: str = ""
    mentioned: bool = False  # the bot was @mentioned, or the message replies to the bot
    reply_to_message_id: str = ""
    attachments: tuple[Attachment, ...] = ()
    ignore_reason: str = ""


@dataclass(frozen=True)
class PollBatch:
    """The updates of one poll and the cursor to store with them (the next offset)."""

    updates: list[InboundUpdate]
    cursor: str


@dataclass(frozen=True)
class OutgoingChunk:
    """One platform message: ``text`` in the platform's format (Telegram HTML) and the
    same text as plain ``fallback``, sent when the platform rejects the formatting."""

    text: str
    fallback: str
    parse_mode: str | None = None


@dataclass(frozen=True)
class Destination:
    chat_id: str
    thread_id: str = ""
    reply_to_message_id: str = ""


@dataclass(frozen=True)
class CredentialField:
    """A secret the admin form asks for (``name`` is the credentials key)."""

    name: str
    label: str
    help_text: str = ""
    required: bool = True


@dataclass
class ConnectorInfo:
    kind: str
    label: str
    credential_fields: tuple[CredentialField, ...] = field(default_factory=tuple)
    supports_webhook: bool = False
    max_message_chars: int = 4096


class Connector(Protocol):
    """One chat platform. Methods are blocking (called from worker threads)."""

    info: ClassVar[ConnectorInfo]

    def check(self, account: AccountConfig) -> BotIdentity: ...

    def poll_once(self, account: AccountConfig, *, cursor: str, timeout_s: int) -> PollBatch: ...

    def parse_webhook(
        self, account: AccountConfig, *, headers: Mapping[str, str], body: bytes
    ) -> list[InboundUpdate]: ...

    def set_webhook(self, account: AccountConfig, *, url: str, secret: str) -> None: ...

    def delete_webhook(self, account: AccountConfig) -> None: ...

    def render(self, text: str) -> list[OutgoingChunk]: ...

    def send_chunk(
        self, account: AccountConfig, chunk: OutgoingChunk, *, to: Destination
    ) -> str: ...

    def typing(self, account: AccountConfig, *, to: Destination) -> None: ...

    def download(
        self, account: AccountConfig, attachment: Attachment, *, max_bytes: int
    ) -> bytes: ...
