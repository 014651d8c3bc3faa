from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import transaction
from django.utils import timezone

from agents.models import Agent, Run
from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage
from core import leases
from sessions_app.models import Session

CaptureOnCommit = Callable[..., AbstractContextManager[list[Callable[[], Any]]]]

TASK = "test.drive_run"
NOW = timezone.now()
EXPIRED = NOW - timedelta(seconds=1)
UNEXPIRED = NOW + timedelta(seconds=60)


@pytest.fixture
def registry() -> Iterator[dict[str, leases.WorkKind]]:
    """The real registry (runs, inbound, outbound), restored after the test.

    The inbox and outbox start without a task here, so the tests can tell kinds with a
    processor (``_with_task``) from kinds without one.
    """
    saved = dict(leases._registry)
    for label in ("inbound", "outbound"):
        leases.register_work_kind(dataclasses.replace(saved[label], task_name=None))
    yield leases._registry
    leases._registry.clear()
    leases._registry.update(saved)


@pytest.fixture
def send_task() -> Iterator[mock.MagicMock]:
    with mock.patch("core.broker.current_app") as app:
        yield app.send_task


def _with_task(registry: dict[str, leases.WorkKind], label: str, **changes: Any) -> None:
    leases.register_work_kind(dataclasses.replace(registry[label], task_name=TASK, **changes))


def _agent() -> Agent:
    agent, _ = Agent.objects.get_or_create(slug="main")
    return agent


def _run(
    run_id: str, status: str = Run.Status.QUEUED, expires: datetime | None = None, owner: str = ""
) -> Run:
    agent = _agent()
    session, _ = Session.objects.get_or_create(key="agent:main:main", agent_slug=agent.slug)
    return Run.objects.create(
        run_id=run_id,
        agent=agent,
        session=session,
        status=status,
        lease_owner=owner,
        lease_expires_at=expires,
    )


def _account() -> ChannelAccount:
    account, _ = ChannelAccount.objects.get_or_create(kind="telegram", account_id="default")
    return account


def _inbound(external_id: str, status: str, expires: datetime | None = None) -> InboundMessage:
    return InboundMessage.objects.create(
        account=_account(),
        external_id=external_id,
        sender_id="42",
        chat_id="42",
        received_at=NOW,
        status=status,
        lease_owner="worker-1" if expires else "",
        lease_expires_at=expires,
    )


def _outbound(status: str, expires: datetime | None = None) -> OutboundMessage:
    return OutboundMessage.objects.create(
        account=_account(),
        chat_id="42",
        text="hi",
        status=status,
        lease_owner="worker-1" if expires else "",
        lease_expires_at=expires,
    )


def _claim(run: Run, owner: str) -> bool:
    return leases.lease_claim(
        model=Run,
        pk=run.pk,
        from_statuses=[Run.Status.QUEUED],
        to_status=Run.Status.RUNNING,
        owner=owner,
        seconds=30,
        now=NOW,
    )


# --- lease_claim / lease_renew --------------------------------------------------------


@pytest.mark.django_db
def test_lease_claim_takes_a_waiting_row() -> None:
    run = _run("r1")

    claimed = leases.lease_claim(
        model=Run,
        pk=run.pk,
        from_statuses=[Run.Status.QUEUED],
        to_status=Run.Status.RUNNING,
        owner="worker-1",
        seconds=30,
        now=NOW,
    )

    assert claimed is True
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING
    assert run.lease_owner == "worker-1"
    assert run.lease_expires_at == NOW + timedelta(seconds=30)
    assert run.attempts == 1


@pytest.mark.django_db
def test_second_lease_claim_fails_and_leaves_the_first_owner() -> None:
    run = _run("r1")

    assert _claim(run, "worker-1") is True
    assert _claim(run, "worker-2") is False

    run.refresh_from_db()
    assert run.lease_owner == "worker-1"
    assert run.attempts == 1


@pytest.mark.django_db
def test_lease_claim_of_a_missing_row_fails() -> None:
    assert not leases.lease_claim(
        model=Run,
        pk=999_999,
        from_statuses=[Run.Status.QUEUED],
        to_status=Run.Status.RUNNING,
        owner="worker-1",
        seconds=30,
    )


@pytest.mark.django_db
def test_lease_claim_truncates_long_owners_to_the_column() -> None:
    run = _run("r1")
    owner = "host-" + "x" * 200

    assert leases.lease_claim(
        model=Run,
        pk=run.pk,
        from_statuses=[Run.Status.QUEUED],
        to_status=Run.Status.RUNNING,
        owner=owner,
        seconds=30,
    )
    # The same long name still renews: both sides truncate alike.
    assert leases.lease_renew(model=Run, pk=run.pk, owner=owner, seconds=30)
    run.refresh_from_db()
    assert run.lease_owner == owner[:100]


@pytest.mark.django_db
def test_lease_renew_extends_the_owners_lease() -> None:
    run = _run("r1", Run.Status.RUNNING, expires=NOW + timedelta(seconds=5), owner="worker-1")

    assert leases.lease_renew(model=Run, pk=run.pk, owner="worker-1", seconds=60, now=NOW)

    run.refresh_from_db()
    assert run.lease_expires_at == NOW + timedelta(seconds=60)


@pytest.mark.django_db
def test_lease_renew_by_another_worker_fails() -> None:
    expires = NOW + timedelta(seconds=5)
    run = _run("r1", Run.Status.RUNNING, expires=expires, owner="worker-1")

    assert not leases.lease_renew(model=Run, pk=run.pk, owner="worker-2", seconds=60, now=NOW)

    run.refresh_from_db()
    assert run.lease_expires_at == expires
    assert run.lease_owner == "worker-1"


# --- work_recover ---------------------------------------------------------------------


@pytest.mark.django_db
def test_work_recover_hands_expired_rows_back_to_waiting(
    registry: dict[str, leases.WorkKind], send_task: mock.MagicMock
) -> None:
    run = _run("expired", Run.Status.RUNNING, expires=EXPIRED, owner="dead-worker")
    inbound = _inbound("1", InboundMessage.Status.PROCESSING, expires=EXPIRED)
    outbound = _outbound(OutboundMessage.Status.SENDING, expires=EXPIRED)

    report = leases.work_recover(now=NOW)

    assert report.released == {"runs": 1, "inbound": 1, "outbound": 1}
    for row, waiting in (
        (run, Run.Status.QUEUED),
        (inbound, InboundMessage.Status.RECEIVED),
        (outbound, OutboundMessage.Status.PENDING),
    ):
        row.refresh_from_db()
        assert row.status == waiting
        assert row.lease_owner == ""
        assert row.lease_expires_at is None
    # Runs have their processor (agents.run_advance), enqueued once the transaction
    # commits (never here: the test's transaction is rolled back); inbound and outbound
    # have none in this registry, so nothing is enqueued for them.
    assert report.enqueued == {"runs": 1, "inbound": 0, "outbound": 0}
    send_task.assert_not_called()


@pytest.mark.django_db
def test_work_recover_leaves_unexpired_and_finished_rows_alone(
    registry: dict[str, leases.WorkKind], send_task: mock.MagicMock
) -> None:
    alive = _run("alive", Run.Status.RUNNING, expires=UNEXPIRED, owner="worker-1")
    done = _run("done", Run.Status.SUCCEEDED, expires=EXPIRED, owner="worker-1")
    inbound = _inbound("1", InboundMessage.Status.PROCESSED, expires=EXPIRED)

    report = leases.work_recover(now=NOW)

    assert report.released == {"runs": 0, "inbound": 0, "outbound": 0}
    assert report.total == 0
    alive.refresh_from_db()
    assert (alive.status, alive.lease_owner) == (Run.Status.RUNNING, "worker-1")
    done.refresh_from_db()
    assert done.status == Run.Status.SUCCEEDED
    inbound.refresh_from_db()
    assert inbound.status == InboundMessage.Status.PROCESSED


@pytest.mark.django_db
def test_work_recover_enqueues_released_rows_on_commit_for_kinds_with_a_task(
    registry: dict[str, leases.WorkKind],
    send_task: mock.MagicMock,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_task(registry, "runs")
    first = _run("a", Run.Status.RUNNING, expires=EXPIRED, owner="dead")
    second = _run("b", Run.Status.RUNNING, expires=EXPIRED, owner="dead")
    _inbound("1", InboundMessage.Status.PROCESSING, expires=EXPIRED)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = leases.work_recover(now=NOW)
        send_task.assert_not_called()  # not before commit

    assert len(callbacks) == 1
    assert report.released == {"runs": 2, "inbound": 1, "outbound": 0}
    assert report.enqueued == {"runs": 2, "inbound": 0, "outbound": 0}
    assert report.total == 5
    assert sorted(c.kwargs["args"][0] for c in send_task.call_args_list) == [first.pk, second.pk]
    assert {c.args[0] for c in send_task.call_args_list} == {TASK}


@pytest.mark.django_db(transaction=True)
def test_work_recover_enqueues_nothing_when_the_transaction_rolls_back(
    registry: dict[str, leases.WorkKind], send_task: mock.MagicMock
) -> None:
    _with_task(registry, "runs")
    run = _run("a", Run.Status.RUNNING, expires=EXPIRED, owner="dead")

    def recover_then_fail() -> None:
        with transaction.atomic():
            leases.work_recover(now=NOW)
            raise RuntimeError("caller failed")

    with pytest.raises(RuntimeError, match="caller failed"):
        recover_then_fail()

    send_task.assert_not_called()
    run.refresh_from_db()
    assert run.status == Run.Status.RUNNING

    leases.work_recover(now=NOW)  # autocommit: enqueued as soon as its block commits

    send_task.assert_called_once_with(TASK, args=[run.pk], countdown=None)


@pytest.mark.django_db
def test_work_recover_skips_waiting_rows_unless_asked(
    registry: dict[str, leases.WorkKind],
    send_task: mock.MagicMock,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_task(registry, "runs")
    _run("waiting")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        report = leases.work_recover(now=NOW)

    assert callbacks == []
    assert report.enqueued["runs"] == 0
    send_task.assert_not_called()


@pytest.mark.django_db
def test_work_recover_include_waiting_enqueues_waiting_and_released_rows(
    registry: dict[str, leases.WorkKind],
    send_task: mock.MagicMock,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_task(registry, "runs")
    _with_task(registry, "outbound")
    waiting = _run("waiting")
    expired = _run("expired", Run.Status.RUNNING, expires=EXPIRED, owner="dead")
    _run("alive", Run.Status.RUNNING, expires=UNEXPIRED, owner="worker-1")
    _run("done", Run.Status.SUCCEEDED)
    pending = _outbound(OutboundMessage.Status.PENDING)
    _inbound("1", InboundMessage.Status.RECEIVED)  # no task for inbound: not enqueued

    with django_capture_on_commit_callbacks(execute=True):
        report = leases.work_recover(now=NOW, include_waiting=True)

    assert report.released == {"runs": 1, "inbound": 0, "outbound": 0}
    assert report.enqueued == {"runs": 2, "inbound": 0, "outbound": 1}
    assert send_task.call_args_list == [
        mock.call(TASK, args=[pk], countdown=None) for pk in sorted([waiting.pk, expired.pk])
    ] + [mock.call(TASK, args=[pending.pk], countdown=None)]


@pytest.mark.django_db
def test_work_recover_stale_after_skips_recently_enqueued_waiting_rows(
    registry: dict[str, leases.WorkKind],
    send_task: mock.MagicMock,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_task(registry, "runs")
    stale = _run("stale")
    fresh = _run("fresh")
    # update() bypasses auto_now, so the row keeps this old timestamp.
    Run.objects.filter(pk=stale.pk).update(updated_at=NOW - timedelta(seconds=120))
    Run.objects.filter(pk=fresh.pk).update(updated_at=NOW - timedelta(seconds=10))

    with django_capture_on_commit_callbacks(execute=True):
        report = leases.work_recover(now=NOW, include_waiting=True, stale_after_seconds=60)

    assert report.enqueued["runs"] == 1
    send_task.assert_called_once_with(TASK, args=[stale.pk], countdown=None)


@pytest.mark.django_db
def test_work_recover_releases_at_most_a_batch_per_kind(
    registry: dict[str, leases.WorkKind],
    send_task: mock.MagicMock,
    django_capture_on_commit_callbacks: CaptureOnCommit,
) -> None:
    _with_task(registry, "runs", batch_size=2)
    for n in range(3):
        _run(f"r{n}", Run.Status.RUNNING, expires=EXPIRED, owner="dead")

    with django_capture_on_commit_callbacks(execute=True):
        report = leases.work_recover(now=NOW)

    assert report.released["runs"] == 2
    assert send_task.call_count == 2
    assert Run.objects.filter(status=Run.Status.RUNNING).count() == 1
