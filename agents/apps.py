from __future__ import annotations

from collections.abc import Iterable

from django.apps import AppConfig, apps
from django.db.models.signals import post_delete, post_save


def provider_api_keys() -> Iterable[object]:
    """The model providers' API keys: secrets for ``core.redact`` to keep out of text."""
    providers = apps.get_model("agents", "ModelProvider")._default_manager
    return providers.exclude(api_key="").values_list("api_key", flat=True)


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Imports here, not at the top: models and what imports them load only once the
        # app registry is ready (Django's rule for AppConfig modules).
        from agents import work  # noqa: F401, PLC0415  (registers runs with the sweeper)
        from agents.agent_cache import forget_agents  # noqa: PLC0415  (app registry)
        from agents.models import Agent, ModelProvider, RoutingRule  # noqa: PLC0415  (app registry)
        from agents.runtime.model_config import forget_profiles  # noqa: PLC0415  (app registry)
        from agents.selectors import routing_forget  # noqa: PLC0415  (app registry)
        from agents.tools.sandbox import resolve_launchers  # noqa: PLC0415  (app registry)
        from core import redact  # noqa: PLC0415  (app registry)

        # The sandbox's launchers (setpriv, bwrap, unshare) are found once, by absolute
        # path in the system folders, before any model can plant one of its own: in the
        # gateway, in every Celery worker and in every command alike.
        resolve_launchers()

        redact.register_secret_source(provider_api_keys)
        for signal in (post_save, post_delete):
            signal.connect(forget_profiles, sender=ModelProvider, dispatch_uid="forget_profiles")
            signal.connect(forget_agents, sender=Agent, dispatch_uid="forget_agents")
            # The routing table names agents by id and the default agent: both change it.
            signal.connect(routing_forget, sender=Agent, dispatch_uid="forget_routes_agent")
            signal.connect(routing_forget, sender=RoutingRule, dispatch_uid="forget_routes")
            signal.connect(redact.forget, sender=ModelProvider, dispatch_uid="forget_secrets")
