"""Leased work: claim by compare-and-set, hand back what a dead worker held.

The database is the source of truth; broker messages are only wake-ups. Each kind of
work (runs, inbound messages, outbound messages) registers here which statuses mean
"waiting" and "claimed", and which Celery task drives a row. ``work_recover`` hands rows
whose lease ran out back to the waiting status and enqueues their task again; at
start-up it also re-enqueues every waiting row, since an in-process broker loses its
queue with the process.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from core.broker import send_task
from core.models import LeasedWorkModel

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WorkKind:
    label: str
    model: type[LeasedWorkModel]
    waiting_status: str
    claimed_statuses: tuple[str, ...]
    # Celery task name that drives one row (called with the row's pk); None while the
    # processor for this kind is not installed: rows are handed back and left waiting.
    task_name: str | None = None
    batch_size: int = 500


@dataclass
class RecoveryReport:
    released: dict[str, int] = field(default_factory=dict)
    enqueued: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.released.values()) + sum(self.enqueued.values())


_registry: dict[str, WorkKind] = {}


def lease_owner_id() -> str:
    """A fresh lease owner: ``<host>:<pid>:<random>``, so a lease names who holds it."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def register_work_kind(kind: WorkKind) -> None:
    """Register (or replace) a kind of leased work."""
    _registry[kind.label] = kind


def work_kinds() -> list[WorkKind]:
    return list(_registry.values())


def lease_claim(
    *,
    model: type[LeasedWorkModel],
    pk: int,
    from_statuses: Iterable[str],
    to_status: str,
    owner: str,
    seconds: int,
    now: datetime | None = None,
) -> bool:
    """Claim one row by compare-and-set; return False if another worker has it."""
    now = now or timezone.now()
    claimed = model._default_manager.filter(pk=pk, status__in=list(from_statuses)).update(
        status=to_status,
        lease_owner=owner[:100],
        lease_expires_at=now + timedelta(seconds=seconds),
        attempts=F("attempts") + 1,
    )
    return claimed == 1


def lease_renew(
    *, model: type[LeasedWorkModel], pk: int, owner: str, seconds: int, now: datetime | None = None
) -> bool:
    """Extend a lease this owner still holds; False means it was taken back."""
    now = now or timezone.now()
    return (
        model._default_manager.filter(pk=pk, lease_owner=owner[:100]).update(
            lease_expires_at=now + timedelta(seconds=seconds)
        )
        == 1
    )


def lease_release(
    *,
    model: type[LeasedWorkModel],
    pk: int,
    owner: str,
    from_statuses: Iterable[str],
    to_status: str,
) -> bool:
    """Hand a row this owner still holds back to waiting, as if its lease had run out.

    For a worker that stops on purpose (shutdown): the row is not failed, the next
    worker (or the next start-up's ``work_recover``) takes it from where it was.
    """
    return (
        model._default_manager.filter(
            pk=pk, status__in=list(from_statuses), lease_owner=owner[:100]
        ).update(status=to_status, lease_owner="", lease_expires_at=None)
        == 1
    )


def _enqueue(task_name: str, pks: list[int]) -> None:
    for pk in pks:
        send_task(task_name, [pk])


def work_recover(
    *,
    now: datetime | None = None,
    include_waiting: bool = False,
    stale_after_seconds: int = 0,
    dead_owner_prefix: str = "",
) -> RecoveryReport:
    """Hand back rows whose lease expired and re-enqueue waiting rows.

    ``include_waiting``: also enqueue rows already waiting (start-up, or a periodic sweep
    with ``stale_after_seconds`` to skip rows that were just enqueued). Enqueues happen
    on commit. A row another worker renews meanwhile is left alone (the CAS includes the
    expired lease).

    ``dead_owner_prefix``: also hand back, expired or not, the leases whose owner starts
    with it: a process known to be dead (``<host>:<pid>:``, a worker process the
    embedded gateway saw exit).
    """
    now = now or timezone.now()
    report = RecoveryReport()
    for kind in work_kinds():
        manager = kind.model._default_manager
        with transaction.atomic():
            gone = Q(lease_expires_at__lt=now)
            if dead_owner_prefix:
                gone |= Q(lease_owner__startswith=dead_owner_prefix)
            expired = list(
                manager.filter(gone, status__in=kind.claimed_statuses).values_list("pk", flat=True)[
                    : kind.batch_size
                ]
            )
            released = manager.filter(
                gone, pk__in=expired, status__in=kind.claimed_statuses
            ).update(status=kind.waiting_status, lease_owner="", lease_expires_at=None)
            report.released[kind.label] = released
            to_enqueue = expired if released else []
            if include_waiting:
                waiting = manager.filter(status=kind.waiting_status)
                if stale_after_seconds:
                    waiting = waiting.filter(
                        updated_at__lt=now - timedelta(seconds=stale_after_seconds)
                    )
                to_enqueue = sorted(
                    {*to_enqueue, *waiting.values_list("pk", flat=True)[: kind.batch_size]}
                )
            if kind.task_name and to_enqueue:
                task_name = kind.task_name
                pks = list(to_enqueue)
                transaction.on_commit(lambda t=task_name, p=pks: _enqueue(t, p))  # type: ignore[misc]
                report.enqueued[kind.label] = len(pks)
            else:
                report.enqueued[kind.label] = 0
                if to_enqueue:
                    logger.info(
                        "%s: %d waiting rows have no processor installed yet",
                        kind.label,
                        len(to_enqueue),
                    )
    return report
