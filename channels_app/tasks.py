"""Celery tasks of the channels app (interfaces: ids in, one service call).

All on the ``connectors`` queue (CELERY_TASK_ROUTES: ``channels.*``). The services queue
them by name (``channels_app.work``); the sweeper re-drives the inbox and outbox.
"""

from __future__ import annotations

from celery import shared_task
from celery.contrib.django.task import DjangoTask
from django.db import close_old_connections

from channels_app.services.inbound import inbound_process
from channels_app.services.polling import POLL_LEASE_S, poll_account, pollers_ensure
from channels_app.services.sending import outbound_send
from channels_app.services.sweep import channel_work_sweep
from channels_app.services.typing import TYPING_SEND_TASK, typing_send, typing_tick
from channels_app.work import INBOUND_TASK, OUTBOUND_TASK, POLL_TASK
from core.dbdown import chore
from core.leases import lease_owner_id


@shared_task(name=INBOUND_TASK, base=DjangoTask, acks_late=True, ignore_result=True)
def inbound_process_task(inbound_pk: int) -> None:
    """Decide and act on one stored inbound message (a redelivery does nothing)."""
    close_old_connections()
    inbound_process(inbound_pk=inbound_pk)


@shared_task(name=OUTBOUND_TASK, base=DjangoTask, acks_late=True, ignore_result=True)
def outbound_send_task(outbound_pk: int) -> None:
    """Send one outbox row (a redelivery for a row sent or being sent does nothing)."""
    close_old_connections()
    outbound_send(outbound_pk=outbound_pk, owner=lease_owner_id())


# Acked on receipt: a lost link is replaced by pollers_ensure once its lease runs out.
@shared_task(
    name=POLL_TASK,
    base=DjangoTask,
    acks_late=False,
    ignore_result=True,
    soft_time_limit=POLL_LEASE_S,
    time_limit=POLL_LEASE_S + 10,
)
def poll_task(account_pk: int, owner: str) -> None:
    """One bounded long poll of one account, then the next link of its chain."""
    close_old_connections()
    poll_account(account_pk=account_pk, owner=owner)


@shared_task(name="channels.pollers_ensure", base=DjangoTask, ignore_result=True)
def pollers_ensure_task() -> None:
    """Start a poller for each pollable account that has none (after config changes)."""
    close_old_connections()
    pollers_ensure()


@shared_task(name=TYPING_SEND_TASK, base=DjangoTask, acks_late=False, ignore_result=True)
def typing_send_task(kind: str, account_id: str, chat_id: str, thread_id: str) -> None:
    """Show the typing indicator in one chat."""
    close_old_connections()
    typing_send(kind=kind, account_id=account_id, chat_id=chat_id, thread_id=thread_id)


@shared_task(name="channels.sweep", base=DjangoTask, ignore_result=True)
@chore("channel sweep")
def channel_sweep_task() -> None:
    """Typing in chats with a running run; channel work another process stored; missing
    pollers (every CHANNEL_SWEEP_SECONDS, 4 s)."""
    close_old_connections()
    typing_tick()
    channel_work_sweep()
