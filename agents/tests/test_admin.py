"""Admin of the agents app: pages load with flat query counts, forms go through services."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pytest_django import DjangoAssertNumQueries

from agents.models import Agent, AuthProfileState, CronJob, ModelProvider, Run, RunStep
from agents.tests.factories import (
    AgentFactory,
    AuthProfileStateFactory,
    CronJobFactory,
    ModelProviderFactory,
    RoutingRuleFactory,
    RunFactory,
    RunStepFactory,
)
from tests.admin_checks import admin_url, assert_add_and_change_load, assert_changelist_queries_flat

pytestmark = pytest.mark.django_db


_url = admin_url


@pytest.mark.parametrize(
    ("factory", "max_queries"),
    [
        pytest.param(AgentFactory, 5, id="agent"),
        pytest.param(RoutingRuleFactory, 6, id="routingrule"),
        pytest.param(RunFactory, 6, id="run"),
        pytest.param(RunStepFactory, 4, id="runstep"),
        pytest.param(CronJobFactory, 6, id="cronjob"),
    ],
)
def test_changelist_query_count_is_bounded_and_does_not_grow_with_rows(
    admin_client: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    factory: Any,
    max_queries: int,
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, factory, max_queries
    )


@pytest.mark.parametrize(
    ("factory", "add_status"),
    [
        pytest.param(AgentFactory, 200, id="agent"),
        pytest.param(RoutingRuleFactory, 200, id="routingrule"),
        pytest.param(CronJobFactory, 200, id="cronjob"),
        # Written by the runtime only.
        pytest.param(RunFactory, 403, id="run"),
        pytest.param(RunStepFactory, 403, id="runstep"),
    ],
)
def test_add_and_change_views_load(admin_client: Client, factory: Any, add_status: int) -> None:
    assert_add_and_change_load(admin_client, factory, add_status)


def _agent_form(**overrides: str) -> dict[str, str]:
    data = {
        "slug": "helper",
        "name": "Helper",
        "emoji": "",
        "model_primary": "openai/gpt-4o-mini",
        "model_fallbacks": "[]",
        "tool_profile": Agent.ToolProfile.FULL,
        "tools_allow": "[]",
        "tools_deny": "[]",
        "sandbox_mode": Agent.SandboxMode.OFF,
        "sandbox_workspace_access": Agent.WorkspaceAccess.NONE,
        "sandbox_tools_allow": "[]",
        "sandbox_tools_deny": "[]",
        "workspace": "",
    }
    data.update(overrides)
    return data


def test_agent_add_saves_through_the_service(admin_client: Client) -> None:
    response = admin_client.post(_url(Agent, "add"), _agent_form(make_default="on"))

    assert response.status_code == 302
    agent = Agent.objects.get(slug="helper")
    assert agent.is_default


def test_agent_form_explains_a_bad_json_list(admin_client: Client) -> None:
    response = admin_client.post(_url(Agent, "add"), _agent_form(tools_allow='"exec"'))

    assert response.status_code == 200
    assert "Enter a JSON list of non-empty strings" in response.content.decode()
    assert not Agent.objects.filter(slug="helper").exists()


def test_agent_made_default_demotes_the_previous_default(admin_client: Client) -> None:
    previous = AgentFactory.create(is_default=True)

    admin_client.post(_url(Agent, "add"), _agent_form(make_default="on"))

    previous.refresh_from_db()
    assert not previous.is_default
    assert Agent.objects.get(slug="helper").is_default


def test_routing_rule_autocomplete_finds_agents(admin_client: Client) -> None:
    AgentFactory.create(slug="support")
    response = admin_client.get(
        reverse("admin:autocomplete"),
        {
            "term": "supp",
            "app_label": "agents",
            "model_name": "routingrule",
            "field_name": "agent",
        },
    )

    assert response.status_code == 200
    assert [item["text"] for item in response.json()["results"]] == ["support"]


def test_run_change_view_shows_its_steps_read_only(
    admin_client: Client, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    run = RunFactory.create(max_steps=25)
    url = _url(Run, "change", run.pk)
    for n in range(1, 6):
        RunStepFactory.create(
            run=run, step_no=n, kind=RunStep.Kind.TOOL_CALL, tool_name=f"tool_{n}"
        )
    with django_assert_max_num_queries(7) as with_five:
        admin_client.get(url)
    for n in range(6, 16):
        RunStepFactory.create(
            run=run, step_no=n, kind=RunStep.Kind.TOOL_CALL, tool_name=f"tool_{n}"
        )

    with django_assert_max_num_queries(7) as with_fifteen:
        response = admin_client.get(url)

    html = response.content.decode()
    assert response.status_code == 200
    assert len(with_fifteen) == len(with_five)
    assert all(f"tool_{n}" in html for n in range(1, 16))
    # Read-only: the steps are shown, not offered as form inputs.
    assert 'name="steps-0-step_no"' not in html


def test_cron_job_form_rejects_a_payload_of_the_wrong_kind(admin_client: Client) -> None:
    agent = AgentFactory.create()
    response = admin_client.post(
        _url(CronJob, "add"),
        {
            "name": "digest",
            "description": "",
            "enabled": "on",
            "agent": agent.pk,
            "session_key": "",
            "schedule_kind": CronJob.ScheduleKind.CRON,
            "cron_expr": "0 9 * * 1-5",
            "tz": "Europe/Berlin",
            "session_target": CronJob.SessionTarget.ISOLATED,
            "wake_mode": CronJob.WakeMode.NOW,
            "payload": '{"kind": "systemEvent", "text": "hi"}',
            "delivery": "{}",
            "failure_alert": "{}",
        },
    )

    assert response.status_code == 200
    assert "agentTurn" in response.content.decode()
    assert not CronJob.objects.exists()


# --- model providers and their cooldowns -----------------------------------------------
@pytest.mark.parametrize(
    ("factory", "max_queries", "add_status"),
    [
        pytest.param(ModelProviderFactory, 6, 200, id="modelprovider"),
        pytest.param(AuthProfileStateFactory, 6, 403, id="authprofilestate"),
    ],
)
def test_provider_admin_pages(
    admin_client: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    factory: Any,
    max_queries: int,
    add_status: int,
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, factory, max_queries
    )
    assert_add_and_change_load(admin_client, factory, add_status)


def test_a_provider_key_is_write_only_and_encrypted(admin_client: Client) -> None:
    from django.db import connection

    secret = "sk-admin-typed-key-0123456789"
    response = admin_client.post(
        _url(ModelProvider, "add"),
        {
            "provider": "ollama",
            "label": "local",
            "api": "openai-chat",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": secret,
            "model_ids": '["llama3.2"]',
            "priority": "0",
            "enabled": "on",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    row = ModelProvider.objects.get(provider="ollama")
    assert row.api_key == secret
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key FROM agents_modelprovider WHERE id = %s", [row.pk])
        assert secret not in cursor.fetchone()[0]
    page = admin_client.get(_url(ModelProvider, "change", row.pk)).content.decode()
    assert secret not in page
    assert "••••6789" in page
    # Saving without typing a key keeps the stored one.
    response = admin_client.post(
        _url(ModelProvider, "change", row.pk),
        {
            "provider": "ollama",
            "label": "renamed",
            "api": "openai-chat",
            "base_url": "http://127.0.0.1:11434/v1",
            "api_key": "",
            "model_ids": '["llama3.2"]',
            "priority": "0",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert (row.label, row.api_key) == ("renamed", secret)


def test_a_provider_without_key_or_base_url_is_refused(admin_client: Client) -> None:
    response = admin_client.post(
        _url(ModelProvider, "add"),
        {"provider": "anthropic", "api": "anthropic-messages", "model_ids": "[]", "priority": "0"},
    )
    assert response.status_code == 200
    assert "Anthropic needs an API key." in response.content.decode()
    assert not ModelProvider.objects.exists()


def test_clear_cooldown_action(admin_client: Client) -> None:
    from django.utils import timezone

    state = AuthProfileState.objects.create(
        profile_id="openai:env", error_count=3, cooldown_until=timezone.now()
    )
    admin_client.post(
        _url(AuthProfileState, "changelist"),
        {"action": "clear_cooldown", "_selected_action": [state.pk]},
    )
    state.refresh_from_db()
    assert (state.error_count, state.cooldown_until) == (0, None)


def test_agent_form_has_a_sandbox_fieldset_that_explains_the_defaults(
    admin_client: Client,
) -> None:
    page = admin_client.get(_url(Agent, "add")).content.decode()

    fieldset = page.split(">Sandbox</h2>", 1)[1].split("</fieldset>", 1)[0]
    for field in (
        "sandbox_mode",
        "sandbox_workspace_access",
        "sandbox_tools_allow",
        "sandbox_tools_deny",
    ):
        assert f'name="{field}"' in fieldset
    assert "a folder of its own per session" in fieldset
    assert "read-only (write, edit and apply_patch are removed)" in fieldset
    assert "naming a tool here also lifts its default deny" in fieldset


def test_agent_sandbox_settings_save_and_are_validated(admin_client: Client) -> None:
    response = admin_client.post(
        _url(Agent, "add"),
        _agent_form(
            sandbox_mode=Agent.SandboxMode.NON_MAIN,
            sandbox_workspace_access=Agent.WorkspaceAccess.RW,
            sandbox_tools_allow='["web_fetch"]',
            sandbox_tools_deny='["exec"]',
        ),
    )
    assert response.status_code == 302
    agent = Agent.objects.get(slug="helper")
    assert agent.sandbox_workspace_access == Agent.WorkspaceAccess.RW
    assert (agent.sandbox_tools_allow, agent.sandbox_tools_deny) == (["web_fetch"], ["exec"])

    bad = admin_client.post(
        _url(Agent, "add"), _agent_form(slug="other", sandbox_tools_deny='"exec"')
    )
    assert bad.status_code == 200
    assert "Enter a JSON list of non-empty strings" in bad.content.decode()
    assert not Agent.objects.filter(slug="other").exists()
