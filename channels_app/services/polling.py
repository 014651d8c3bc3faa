"""Long polling: one bounded poll at a time per account, held by the account's lease.

A poller is a chain of ``channels.poll`` tasks carrying one owner id: each claims the
account's poll lease (``poll_lease_owner`` / ``poll_lease_expires_at``, compare-and-set,
so only one chain polls an account), polls once for at most ``POLL_TIMEOUT_S``, stores
the updates with the next cursor in one transaction (``inbound_store``), and queues the
next link. ``pollers_ensure`` (at start-up, after an account changes, and on every
sweep) starts a chain for each enabled polling account whose lease is free or ran out,
so a chain lost with a worker is replaced within a lease.

Errors: a permanent one (Telegram rejected the token) marks the account failed with
the reason (shown in the admin and ``channels.status``) and stops its poller until the
account is fixed; a transient one backs off 1, 2, 4 ... 60 s (``poll_retry_at``), and the
other accounts keep polling.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from channels_app.connectors.base import ConnectorError
from channels_app.connectors.registry import connector_for
from channels_app.models import ChannelAccount
from channels_app.services.accounts import account_config
from channels_app.services.inbound import inbound_store
from channels_app.work import POLL_TASK, send
from core.leases import lease_owner_id

logger = logging.getLogger(__name__)

POLL_TIMEOUT_S = 25
# Longer than one poll plus storing its batch: a live chain never loses its lease.
POLL_LEASE_S = POLL_TIMEOUT_S + 35
BACKOFF_MAX_S = 60.0


def _pollable() -> Q:
    return Q(enabled=True, mode=ChannelAccount.Mode.POLLING, failed_at__isnull=True)


def _claim(account_pk: int, owner: str) -> ChannelAccount | None:
    now = timezone.now()
    free = (
        Q(poll_lease_owner="")
        | Q(poll_lease_expires_at__isnull=True)
        | Q(poll_lease_expires_at__lt=now)
        | Q(poll_lease_owner=owner[:100])
    )
    claimed = (
        ChannelAccount.objects.filter(_pollable(), free, pk=account_pk).update(
            poll_lease_owner=owner[:100],
            poll_lease_expires_at=now + timedelta(seconds=POLL_LEASE_S),
        )
        == 1
    )
    return ChannelAccount.objects.filter(pk=account_pk).first() if claimed else None


def _release(account_pk: int, owner: str) -> None:
    ChannelAccount.objects.filter(pk=account_pk, poll_lease_owner=owner[:100]).update(
        poll_lease_owner="", poll_lease_expires_at=None
    )


def _mark_failed(account: ChannelAccount, owner: str, reason: str) -> None:
    now = timezone.now()
    ChannelAccount.objects.filter(pk=account.pk).update(
        failed_at=now, last_error=reason[:2000], last_error_at=now
    )
    _release(account.pk, owner)
    logger.warning("%s: polling stopped: %s", account, reason)


def _back_off(account: ChannelAccount, owner: str, error: ConnectorError) -> float:
    failures = account.poll_failures + 1
    delay = max(min(BACKOFF_MAX_S, 2.0 ** (failures - 1)), float(error.retry_after or 0))
    now = timezone.now()
    ChannelAccount.objects.filter(pk=account.pk, poll_lease_owner=owner[:100]).update(
        poll_failures=failures,
        poll_retry_at=now + timedelta(seconds=delay),
        last_error=str(error)[:2000],
        last_error_at=now,
        poll_lease_expires_at=now + timedelta(seconds=delay + POLL_LEASE_S),
    )
    logger.info("%s: poll failed (%s); next in %.0f s", account, error, delay)
    return delay


def poll_account(*, account_pk: int, owner: str) -> str:
    """One link of an account's poller chain; queues the next link itself.

    Returns ``polled``, ``later`` (backing off), ``failed`` or ``skip`` (another chain
    holds the account, or it is disabled, failed or in webhook mode: the chain ends).
    """
    account = _claim(account_pk, owner)
    if account is None:
        return "skip"
    now = timezone.now()
    if account.poll_retry_at and account.poll_retry_at > now:
        send(
            POLL_TASK,
            account.pk,
            extra=[owner],
            countdown=(account.poll_retry_at - now).total_seconds(),
        )
        return "later"
    try:
        connector = connector_for(account.kind)
        config = account_config(account)
        if not config.credentials.get("botToken"):
            raise ConnectorError(
                f"{account}: no bot token is configured; set channels.{account.kind}.botToken",
                permanent=True,
            )
        batch = connector.poll_once(config, cursor=account.cursor, timeout_s=POLL_TIMEOUT_S)
    except ConnectorError as exc:
        if exc.permanent:
            _mark_failed(account, owner, exc.message)
            return "failed"
        send(POLL_TASK, account.pk, extra=[owner], countdown=_back_off(account, owner, exc))
        return "later"
    inbound_store(account=account, updates=batch.updates, cursor=batch.cursor, poll_owner=owner)
    if account.poll_failures or account.poll_retry_at:
        ChannelAccount.objects.filter(pk=account.pk).update(
            poll_failures=0, poll_retry_at=None, last_error=""
        )
    send(POLL_TASK, account.pk, extra=[owner])
    return "polled"


def pollers_ensure(*, reclaim: bool = False) -> list[int]:
    """Start a poller chain for each pollable account without a live one.

    ``reclaim``: also take over leases that have not run out (embedded start-up: the
    process that held them is gone). Returns the pks of the accounts started.
    """
    now = timezone.now()
    accounts = ChannelAccount.objects.filter(_pollable())
    if not reclaim:
        accounts = accounts.filter(
            Q(poll_lease_owner="")
            | Q(poll_lease_expires_at__isnull=True)
            | Q(poll_lease_expires_at__lt=now)
        )
    started = []
    for pk in accounts.values_list("pk", flat=True):
        owner = lease_owner_id()
        if reclaim:
            ChannelAccount.objects.filter(pk=pk).update(
                poll_lease_owner=owner, poll_lease_expires_at=None
            )
        send(POLL_TASK, pk, extra=[owner])
        started.append(pk)
    return started
