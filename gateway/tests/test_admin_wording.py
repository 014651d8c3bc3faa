"""What an operator reads in the admin: help that renders as written, grammar that fits
the count, and runtime rows that cannot be added by hand."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from agents.models import Agent, CronJob
from gateway.models import Node
from sessions_app.models import Session
from sessions_app.tests.factories import SessionFactory
from tests.admin_checks import admin_url

pytestmark = pytest.mark.django_db


def test_the_agent_workspace_help_is_not_eaten_as_html(admin_client: Client) -> None:
    html = admin_client.get(admin_url(Agent, "add")).content.decode()
    assert "workspaces/AGENT_ID" in html
    assert "blank = /workspaces/." not in html


@pytest.mark.parametrize(("count", "text"), [(1, "1 message<"), (2, "2 messages<")])
def test_the_transcript_link_counts_in_good_english(
    admin_client: Client, count: int, text: str
) -> None:
    session = SessionFactory.create(last_seq=count)
    html = admin_client.get(admin_url(Session, "changelist")).content.decode()
    assert text in html, session.key


@pytest.mark.parametrize(
    ("target", "article"), [("isolated", "An isolated job"), ("main", "A main job")]
)
def test_a_cron_job_without_its_payload_is_named_with_the_right_article(
    target: str, article: str
) -> None:
    job = CronJob(name="j", session_target=target, payload={"kind": "nothing"})
    with pytest.raises(ValidationError) as info:
        job.clean()
    assert article in str(info.value)


@pytest.mark.parametrize("model", [Session, Node])
def test_rows_only_the_runtime_writes_cannot_be_added_by_hand(
    admin_client: Client, model: type
) -> None:
    assert admin_client.get(admin_url(model, "add")).status_code == 403
    changelist = admin_client.get(admin_url(model, "changelist")).content.decode()
    assert admin_url(model, "add") not in changelist
