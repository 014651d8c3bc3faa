"""What the pairing services share: the error, OpenClaw's limits and texts, a request's shape."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, TypedDict

from django.db.models import Model, QuerySet

from pairing.models import PairingRequest

# OpenClaw (src/pairing/pairing-store.ts): codes live one hour, at most three are open
# per channel account, so a flood of strangers cannot fill the operator's queue.
PAIRING_REQUEST_TTL = timedelta(hours=1)
MAX_PENDING_PER_ACCOUNT = 3
# What the sender reads once approved: OpenClaw's PAIRING_APPROVED_MESSAGE
# (src/channels/plugins/pairing-message.ts).
PAIRING_APPROVED_TEXT = "✅ OpenClaw access approved. Send a message to start chatting."

_DISPLAY_NAME_KEYS = ("display_name", "name", "username")


class PairingError(Exception):
    """A pairing or device decision that cannot be made; the message says why."""


class PairingRateLimitedError(PairingError):
    """Too many wrong pairing codes: no attempt is looked at for ``retry_after_s``."""

    def __init__(self, message: str, *, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def display_name_of(meta: dict[str, Any]) -> str:
    for key in _DISPLAY_NAME_KEYS:
        value = meta.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:200]
    return ""


def expire_pending(queryset: QuerySet[PairingRequest], now: datetime) -> int:
    """Close the pending requests of ``queryset`` whose hour is over; return how many."""
    return queryset.filter(status=PairingRequest.Status.PENDING, expires_at__lte=now).update(
        status=PairingRequest.Status.EXPIRED, decided_at=now, updated_at=now
    )


def account_model() -> type[Model]:
    """``channels_app.ChannelAccount``, through the foreign key pairing declares by name.

    Pairing sits below ``channels_app`` and imports nothing of it.
    """
    model = PairingRequest._meta.get_field("channel_account").related_model
    assert isinstance(model, type)
    return model


class PairingRequestEntry(TypedDict):
    """One open request as OpenClaw stores it (``<channel>-pairing.json``), plus where."""

    id: str
    code: str
    createdAt: str
    lastSeenAt: str | None
    expiresAt: str
    channel: str
    accountId: str
    meta: dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def pairing_request_entry(request: PairingRequest) -> PairingRequestEntry:
    """Shape an open request for ``pairing list --json`` and ``pairing.list`` (no query
    when its ``channel_account`` is loaded)."""
    account = request.channel_account
    return {
        "id": request.sender_ref,
        "code": request.code,
        "createdAt": _iso(request.created_at) or "",
        "lastSeenAt": _iso(request.last_seen_at),
        "expiresAt": _iso(request.expires_at) or "",
        "channel": account.kind,
        "accountId": account.account_id,
        "meta": dict(request.sender_meta or {}),
    }
