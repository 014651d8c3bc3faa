"""The health summary counts each agent's own sessions."""

from __future__ import annotations

import pytest

from agents.models import Agent
from gateway.selectors import health_summary
from sessions_app.models import Session


@pytest.mark.django_db
def test_each_agent_reports_its_own_sessions() -> None:
    Agent.objects.create(slug="main", is_default=True)
    Agent.objects.create(slug="work")
    for key, agent in [
        ("agent:main:main", "main"),
        ("agent:work:a", "work"),
        ("agent:work:b", "work"),
    ]:
        Session.objects.create(key=key, agent_slug=agent)

    summary = health_summary()

    by_agent = {a["agentId"]: a["sessions"]["count"] for a in summary["agents"]}
    assert by_agent == {"main": 1, "work": 2}
    assert summary["sessions"]["count"] == 3
    assert summary["defaultAgentId"] == "main"
