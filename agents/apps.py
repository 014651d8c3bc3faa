from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        from agents import work  # noqa: F401  (registers runs with the sweeper)
        from agents.agent_cache import forget_agents
        from agents.models import Agent, ModelProvider
        from agents.runtime.model_config import forget_profiles
        from agents.tools.sandbox import resolve_launchers
        from core.redact import forget

        # The sandbox's launchers (setpriv, bwrap, unshare) are found once, by absolute
        # path in the system folders, before any model can plant one of its own: in the
        # gateway, in every Celery worker and in every command alike.
        resolve_launchers()

        for signal in (post_save, post_delete):
            signal.connect(forget_profiles, sender=ModelProvider, dispatch_uid="forget_profiles")
            signal.connect(forget_agents, sender=Agent, dispatch_uid="forget_agents")
            signal.connect(
                lambda **_: forget(),
                sender=ModelProvider,
                dispatch_uid="forget_secrets",
                weak=False,
            )
