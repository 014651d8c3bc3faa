"""``channels.status``: one AccountSnapshot per channel account, no secrets."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.utils import timezone

from channels_app import selectors as channel_selectors
from core.fields import Undecryptable
from gateway.catalog.wire import ms

if TYPE_CHECKING:
    from channels_app.models import ChannelAccount


def token_source(credentials: object) -> str:
    """``config``, ``none`` or ``undecryptable``: whether credentials exist, never what."""
    if isinstance(credentials, Undecryptable):
        return "undecryptable"
    return "config" if isinstance(credentials, dict) and credentials else "none"


def _state(account: ChannelAccount, *, failed: bool, running: bool) -> str:
    """``disabled``, ``failed`` (the platform refused it), ``polling``/``webhook`` or
    ``starting`` (enabled, no poller holds it yet)."""
    if not account.enabled:
        return "disabled"
    if failed:
        return "failed"
    return account.mode if running else "starting"


def channels_status() -> dict[str, Any]:
    """Return ``channels.status``: one AccountSnapshot per channel account, no secrets.

    Three queries: the accounts, and the last inbound and outbound time per account.
    """
    now = timezone.now()
    accounts = channel_selectors.channel_accounts(with_credentials=True)
    last_in = channel_selectors.last_inbound_at()
    last_out = channel_selectors.last_outbound_at()
    labels = channel_selectors.channel_kind_labels()
    snapshots: dict[str, list[dict[str, Any]]] = {}
    for account in accounts:
        # Only whether credentials exist is read; the values never leave this function.
        source = token_source(account.credentials)
        failed = account.failed_at is not None
        webhook = account.mode == account.Mode.WEBHOOK
        polling = bool(
            account.poll_lease_owner
            and account.poll_lease_expires_at
            and account.poll_lease_expires_at > now
        )
        running = bool(account.enabled and not failed and (polling or webhook))
        snapshot: dict[str, Any] = {
            "accountId": account.account_id,
            "name": account.name or None,
            "enabled": account.enabled,
            "configured": source == "config",
            "running": running,
            "connected": running,
            "mode": account.mode,
            "state": _state(account, failed=failed, running=running),
            "lastError": account.last_error
            or ("credentials cannot be decrypted" if source == "undecryptable" else None),
            "lastErrorAt": ms(account.last_error_at),
            "failedAt": ms(account.failed_at),
            "lastUpdateAt": ms(account.last_update_at),
            "bot": (
                {"id": account.bot_id, "username": account.bot_username} if account.bot_id else None
            ),
            "lastInboundAt": ms(last_in.get(account.pk)),
            "lastOutboundAt": ms(last_out.get(account.pk)),
            "dmPolicy": account.dm_policy,
            "allowFrom": [str(x) for x in account.allow_from],
            "tokenSource": source,
        }
        snapshots.setdefault(account.kind, []).append(snapshot)
    order = list(snapshots)
    return {
        "ts": ms(now),
        "channelOrder": order,
        "channelLabels": {kind: labels.get(kind, kind) for kind in order},
        "channelDetailLabels": {kind: labels.get(kind, kind) for kind in order},
        "channelMeta": [
            {"id": kind, "label": labels.get(kind, kind), "detailLabel": labels.get(kind, kind)}
            for kind in order
        ],
        "channels": {
            kind: {
                "configured": any(s["configured"] for s in rows),
                "running": any(s["running"] for s in rows),
                "accounts": len(rows),
            }
            for kind, rows in snapshots.items()
        },
        "channelAccounts": snapshots,
        "channelDefaultAccountId": {
            kind: next(
                (s["accountId"] for s in rows if s["accountId"] == "default"), rows[0]["accountId"]
            )
            for kind, rows in snapshots.items()
        },
    }


def degraded_secret_owners() -> list[str]:
    """The config paths of channel accounts whose credentials cannot be decrypted."""
    # Reads only whether the stored credentials can be decrypted, never their values.
    return [
        f"channels.{account.kind}.accounts.{account.account_id}"
        for account in channel_selectors.channel_accounts(with_credentials=True)
        if token_source(account.credentials) == "undecryptable"
    ]
