"""The channels' quick sweep: work queued by another process, and pollers to start.

``manage.py`` commands (``pairing approve``, ``config set``) write rows and queue their
tasks, but in embedded mode their broker is their own process's memory: the gateway
never hears of them. Every ``CHANNEL_SWEEP_SECONDS`` (4 s) the gateway's beat runs this
sweep, which queues the inbox and outbox rows that have waited ``STALE_S`` without a
task taking them (an outbox row waiting for its planned retry is left alone) and starts
pollers for accounts that have none. Two indexed queries and one small one; work queued
normally is taken long before it is stale, so the sweep rarely finds anything. Leases
that ran out are the minute sweeper's (``gateway.work_sweep``).
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from channels_app.models import InboundMessage, OutboundMessage
from channels_app.services.polling import pollers_ensure
from channels_app.work import INBOUND_TASK, OUTBOUND_TASK, send

STALE_S = 10
BATCH = 500


def channel_work_sweep() -> dict[str, int]:
    """Queue stale waiting inbox/outbox rows and start missing pollers; return counts."""
    now = timezone.now()
    stale = now - timedelta(seconds=STALE_S)
    inbound = list(
        InboundMessage.objects.filter(
            status=InboundMessage.Status.RECEIVED, updated_at__lt=stale
        ).values_list("pk", flat=True)[:BATCH]
    )
    outbound = list(
        OutboundMessage.objects.filter(status=OutboundMessage.Status.PENDING, updated_at__lt=stale)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("pk", flat=True)[:BATCH]
    )
    for pk in inbound:
        send(INBOUND_TASK, pk)
    for pk in outbound:
        send(OUTBOUND_TASK, pk)
    pollers = pollers_ensure()
    return {"inbound": len(inbound), "outbound": len(outbound), "pollers": len(pollers)}
