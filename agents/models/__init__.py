"""Agents, their routing rules (OpenClaw ``bindings``), runs, cron jobs and model providers.

One module per concern; every model is importable from here, as Django expects.
"""

from __future__ import annotations

from agents.models.agent import Agent, AgentQuerySet, RoutingRule
from agents.models.cron import CronJob, CronRun
from agents.models.heartbeat import HeartbeatSettings
from agents.models.provider import AuthProfileState, ModelProvider
from agents.models.run import Run, RunStep

__all__ = [
    "Agent",
    "AgentQuerySet",
    "AuthProfileState",
    "CronJob",
    "CronRun",
    "HeartbeatSettings",
    "ModelProvider",
    "RoutingRule",
    "Run",
    "RunStep",
]
