"""Admin actions that call the services: abort a run, reset a session, enable or disable
a channel account, rotate a gateway token; and who may run them."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from agents.models import Agent, Run
from agents.services.runs import run_start
from channels_app.models import ChannelAccount
from channels_app.tests.factories import ChannelAccountFactory
from gateway.models import GatewayToken
from gateway.services import gateway_token_create
from sessions_app.models import Session
from tests.admin_checks import admin_url

pytestmark = pytest.mark.django_db


def _act(client: Client, model: type, action: str, pks: list[int]) -> Any:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


@pytest.fixture
def agent() -> Agent:
    return Agent.objects.create(slug="main", name="Main", is_default=True)


def test_abort_ends_a_queued_run_and_skips_finished_ones(
    admin_client: Client, agent: Agent
) -> None:
    queued = run_start(session_key="main", message="hi", idempotency_key="admin-abort-1").run
    done = run_start(session_key="agent:main:other", message="x", idempotency_key="done-1").run
    Run.objects.filter(pk=done.pk).update(status=Run.Status.SUCCEEDED)

    response = _act(admin_client, Run, "abort", [queued.pk, done.pk])

    assert "1 aborted, 1 skipped (not in flight)" in response.content.decode()
    assert Run.objects.get(pk=queued.pk).status == Run.Status.ABORTED
    assert Run.objects.get(pk=done.pk).status == Run.Status.SUCCEEDED


def test_reset_gives_the_session_a_new_id(admin_client: Client, agent: Agent) -> None:
    run_start(session_key="main", message="hi", idempotency_key="admin-reset-1")
    session = Session.objects.get(key="agent:main:main")
    response = _act(admin_client, Session, "reset", [session.pk])
    assert "1 session(s) start over" in response.content.decode()
    session.refresh_from_db()
    assert session.last_reset_at is not None
    assert session.messages.count() == 1  # the transcript is kept


def test_disable_and_enable_an_account(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"botToken": "123:abc"})
    assert (
        "1 account(s) disabled"
        in _act(admin_client, ChannelAccount, "disable", [account.pk]).content.decode()
    )
    assert ChannelAccount.objects.get(pk=account.pk).enabled is False
    _act(admin_client, ChannelAccount, "enable", [account.pk])
    assert ChannelAccount.objects.get(pk=account.pk).enabled is True


def test_rotate_shows_the_new_token_once_and_revokes_the_old(admin_client: Client) -> None:
    old = gateway_token_create(name="laptop", scopes=["operator.read"])
    page = _act(admin_client, GatewayToken, "rotate", [old.record.pk]).content.decode()
    new = GatewayToken.objects.exclude(pk=old.record.pk).get()
    assert new.name == "laptop"
    assert new.prefix in page
    assert "cannot be shown again" in page
    assert GatewayToken.objects.get(pk=old.record.pk).revoked_at is not None


def test_a_viewer_is_offered_none_of_them(agent: Agent) -> None:
    viewer = User.objects.create_user("v", password="x" * 20, is_staff=True)
    viewer.groups.add(Group.objects.get(name="viewers"))
    client = Client()
    client.force_login(viewer)
    queued = run_start(session_key="main", message="hi", idempotency_key="viewer-1").run
    for model in (Run, Session, ChannelAccount, GatewayToken):
        page = client.get(admin_url(model, "changelist")).content.decode()
        assert 'name="action"' not in page, model
    _act(client, Run, "abort", [queued.pk])
    assert Run.objects.get(pk=queued.pk).status == Run.Status.QUEUED
