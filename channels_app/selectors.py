"""Read use-cases of the channels app: accounts and the times of their last messages.

Other apps (the gateway's catalog and health) read channel accounts through these
functions. Credentials are only loaded when asked for, and only ever tested for
presence by the callers; nothing here writes.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from django.db.models import Count, Max, Q

from channels_app.models import ChannelAccount, ChannelKind, InboundMessage, OutboundMessage


class KindCount(NamedTuple):
    kind: str
    total: int
    enabled: int


def channel_accounts(*, with_credentials: bool = False) -> list[ChannelAccount]:
    """Every channel account by kind and account id; ``credentials`` only when asked for
    (reading them decrypts them)."""
    accounts = ChannelAccount.objects.order_by("kind", "account_id")
    if not with_credentials:
        accounts = accounts.defer("credentials")
    return list(accounts)


def channel_kind_labels() -> dict[str, str]:
    """The display label of every channel kind, e.g. ``{"telegram": "Telegram"}``."""
    return {kind: str(label) for kind, label in ChannelKind.choices}


def channel_account_counts() -> list[KindCount]:
    """Per channel kind: how many accounts, and how many of them are enabled."""
    rows = (
        ChannelAccount.objects.values_list("kind")
        .annotate(total=Count("pk"), enabled=Count("pk", filter=Q(enabled=True)))
        .order_by("kind")
    )
    return [KindCount(*row) for row in rows]


def last_inbound_at() -> dict[int, datetime]:
    """The time of the last message received, by channel account pk."""
    rows = InboundMessage.objects.values_list("account_id").annotate(last=Max("received_at"))
    return dict(rows)


def last_outbound_at() -> dict[int, datetime]:
    """The time of the last message sent, by channel account pk."""
    rows = (
        OutboundMessage.objects.filter(sent_at__isnull=False)
        .values_list("account_id")
        .annotate(last=Max("sent_at"))
    )
    return dict(rows)
