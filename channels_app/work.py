"""The durable inbox and outbox as leased work, and the names of the tasks that drive them.

Tasks are sent by name (``send_task``), so the services that queue work never import
the task modules. The sweeper (``core.leases.work_recover``) re-drives waiting rows and
rows whose lease ran out with the same tasks.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from channels_app.models import InboundMessage, OutboundMessage
from core.broker import send_task
from core.leases import WorkKind, register_work_kind

INBOUND_TASK = "channels.inbound_process"
OUTBOUND_TASK = "channels.outbound_send"
POLL_TASK = "channels.poll"

register_work_kind(
    WorkKind(
        label="inbound",
        model=InboundMessage,
        waiting_status=InboundMessage.Status.RECEIVED,
        claimed_statuses=(InboundMessage.Status.PROCESSING,),
        task_name=INBOUND_TASK,
    )
)
register_work_kind(
    WorkKind(
        label="outbound",
        model=OutboundMessage,
        waiting_status=OutboundMessage.Status.PENDING,
        claimed_statuses=(OutboundMessage.Status.SENDING,),
        task_name=OUTBOUND_TASK,
    )
)


def send(task_name: str, pk: int, *, extra: Sequence[object] = (), countdown: float = 0) -> None:
    """Queue ``task_name(pk, *extra)`` now (a broker that is down: ``core.broker``)."""
    send_task(task_name, [pk, *extra], countdown=countdown if countdown > 0 else None)


def enqueue_on_commit(task_name: str, pks: Sequence[int], *, extra: Sequence[object] = ()) -> None:
    """Queue ``task_name(pk, *extra)`` for each pk once the transaction commits."""
    if not pks:
        return
    pending = list(pks)
    args = list(extra)

    def go() -> None:
        for pk in pending:
            send(task_name, pk, extra=args)

    transaction.on_commit(go)
