"""Admin for agents, routing rules, runs, cron jobs and model providers.

Runs and their steps are written by the runtime only, so they are read-only here. One
module per concern; importing them registers their model admins (Django's admin
autodiscovery imports this package).
"""

from __future__ import annotations

from agents.admin import agent, cron, provider, run
from agents.admin.provider import masked_secret

__all__ = ["agent", "cron", "masked_secret", "provider", "run"]
