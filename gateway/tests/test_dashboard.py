"""The admin's index page is the operator's dashboard."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from agents.models import Agent, Run
from agents.services.runs import run_start
from channels_app.tests.factories import ChannelAccountFactory
from gateway.admin_site import GatewayAdminSite
from pairing.tests.factories import PairingRequestFactory

pytestmark = pytest.mark.django_db


def test_every_model_is_on_the_gateway_admin_site() -> None:
    assert isinstance(admin.site, GatewayAdminSite)
    assert Run in admin.site._registry


def test_the_dashboard_shows_what_to_look_at_first(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    ChannelAccountFactory.create(last_error="Unauthorized: the token was revoked")
    request = PairingRequestFactory.create()
    run_start(session_key="main", message="hi", idempotency_key="dash-1")
    failed = run_start(session_key="agent:main:x", message="x", idempotency_key="dash-2").run
    Run.objects.filter(pk=failed.pk).update(
        status=Run.Status.FAILED, error_message="provider said no", finished_at=timezone.now()
    )
    PairingRequestFactory.create(expires_at=timezone.now() - timedelta(hours=1))  # expired

    html = admin_client.get("/admin/").content.decode()

    assert 'id="dashboard"' in html
    assert "0 running, 1 queued" in html
    assert "Unauthorized: the token was revoked" in html
    assert request.code in html
    assert html.count("/admin/pairing/pairingrequest/") >= 1
    assert "provider said no" in html
    assert "1 run failed" in html
    assert "OpenClaw gateway" in html  # the site header


def test_the_dashboard_needs_a_bounded_number_of_queries(
    admin_client: Client, django_assert_max_num_queries: object
) -> None:
    for n in range(8):
        ChannelAccountFactory.create(account_id=f"acc{n}")
        PairingRequestFactory.create()
    with django_assert_max_num_queries(14):  # type: ignore[operator]
        assert admin_client.get("/admin/").status_code == 200
