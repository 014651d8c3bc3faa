"""The admin dashboard: what an operator checks first, on the admin's index page.

The gateway's own state (up since, sockets, clients) comes from this process's memory;
the rest is a handful of bounded queries: channel accounts with their state and last
error, runs in flight, pending pairing requests, and the last day's failures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.utils import timezone

from agents.models import Run
from channels_app.admin.accounts import account_state
from channels_app.connectors.registry import connector_kinds
from channels_app.models import ChannelAccount, OutboundMessage
from gateway import bus, state
from gateway.web.status import uptime_text
from pairing.models import PairingRequest

RECENT = 5


@dataclass(frozen=True)
class Dashboard:
    uptime: str
    sockets: int
    clients: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    runs_in_flight: int
    runs_queued: int
    pairing_pending: list[PairingRequest]
    failed_runs: list[Run]
    failed_outbound: int


def dashboard() -> Dashboard:
    now = timezone.now()
    day = now - timedelta(days=1)
    kinds = connector_kinds()
    accounts = [
        {
            "account": str(account),
            "pk": account.pk,
            "state": account_state(account, now=now, kinds=kinds),
            "last_error": account.last_error,
        }
        for account in ChannelAccount.objects.order_by("kind", "account_id")[:50]
    ]
    return Dashboard(
        uptime=uptime_text(state.uptime_ms()),
        sockets=sum(1 for s in bus.subscribers() if getattr(s, "principal", None) is not None),
        clients=state.presence_list(),
        accounts=accounts,
        runs_in_flight=Run.objects.filter(status=Run.Status.RUNNING).count(),
        runs_queued=Run.objects.filter(status=Run.Status.QUEUED).count(),
        pairing_pending=list(
            PairingRequest.objects.filter(status=PairingRequest.Status.PENDING, expires_at__gt=now)
            .select_related("channel_account")
            .order_by("-created_at")[:RECENT]
        ),
        failed_runs=list(
            Run.objects.filter(status=Run.Status.FAILED, finished_at__gte=day)
            .select_related("session")
            .order_by("-finished_at")[:RECENT]
        ),
        failed_outbound=OutboundMessage.objects.filter(
            status=OutboundMessage.Status.FAILED, updated_at__gte=day
        ).count(),
    )
