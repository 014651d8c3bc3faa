"""Registers the durable inbox and outbox as leased work with the sweeper."""

from __future__ import annotations

from channels_app.models import InboundMessage, OutboundMessage
from core.leases import WorkKind, register_work_kind

register_work_kind(
    WorkKind(
        label="inbound",
        model=InboundMessage,
        waiting_status=InboundMessage.Status.RECEIVED,
        claimed_statuses=(InboundMessage.Status.PROCESSING,),
    )
)
register_work_kind(
    WorkKind(
        label="outbound",
        model=OutboundMessage,
        waiting_status=OutboundMessage.Status.PENDING,
        claimed_statuses=(OutboundMessage.Status.SENDING,),
    )
)
