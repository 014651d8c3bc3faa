"""Read use-cases of heartbeats: each agent's effective config, the last event.

The configuration is ``HeartbeatSettings.defaults`` (``agents.defaults.heartbeat``)
merged under each agent's own block (``Agent.heartbeat``, ``agents.list[].heartbeat``);
``agents.lib.heartbeat`` holds the rules. Both the health/status shapes and the cron
service read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from agents.lib.heartbeat import HeartbeatConfig, HeartbeatConfigError, heartbeat_agents
from agents.models import Agent, CronRun, HeartbeatSettings

SETTINGS_PK = 1


def heartbeat_settings() -> HeartbeatSettings:
    """The one settings row; an unsaved one with the defaults before the first write."""
    return HeartbeatSettings.objects.filter(pk=SETTINGS_PK).first() or HeartbeatSettings(
        pk=SETTINGS_PK
    )


@dataclass(frozen=True)
class AgentHeartbeat:
    agent_id: str
    runs: bool  # this agent is one of those that run heartbeats
    config: HeartbeatConfig
    error: str = ""  # a stored block that no longer parses (then it does not run)

    @property
    def enabled(self) -> bool:
        return self.runs and self.config.enabled and not self.error


def heartbeat_plan(
    agents: list[Agent] | None = None, settings_row: HeartbeatSettings | None = None
) -> list[AgentHeartbeat]:
    """Every agent's heartbeat, default agent first. Two queries (none with arguments)."""
    if agents is None:
        agents = list(Agent.objects.default_first())
    defaults = (settings_row or heartbeat_settings()).defaults
    running = heartbeat_agents(((a.slug, a.is_default, a.heartbeat) for a in agents), defaults)
    plan = []
    for agent in agents:
        try:
            config = HeartbeatConfig.parse(defaults, agent.heartbeat)
            error = ""
        except HeartbeatConfigError as exc:  # written before a rule changed: shown, not run
            config, error = HeartbeatConfig(every_ms=None, every="disabled"), str(exc)
        plan.append(AgentHeartbeat(agent.slug, agent.slug in running, config, error))
    return plan


def heartbeat_of(agent: Agent) -> AgentHeartbeat:
    """One agent's heartbeat (its config merged over the defaults)."""
    for entry in heartbeat_plan():
        if entry.agent_id == agent.slug:
            return entry
    return AgentHeartbeat(agent.slug, False, HeartbeatConfig(every_ms=None, every="disabled"))


def heartbeat_summary(entry: AgentHeartbeat) -> dict[str, Any]:
    """OpenClaw's ``HeartbeatSummary`` of one agent (health's ``agents[].heartbeat``)."""
    summary = entry.config.summary()
    if not entry.enabled:
        summary.update(enabled=False, every="disabled", everyMs=None)
    return summary


def heartbeat_last_event() -> dict[str, Any] | None:
    """The last ``heartbeat`` event (``last-heartbeat``), or None before the first."""
    return (
        CronRun.objects.filter(heartbeat__isnull=False)
        .order_by("-finished_at", "-pk")
        .values_list("heartbeat", flat=True)
        .first()
    )


def heartbeat_summaries() -> dict[str, dict[str, Any]]:
    """Every agent's ``HeartbeatSummary`` by agent id (two queries)."""
    return {entry.agent_id: heartbeat_summary(entry) for entry in heartbeat_plan()}
