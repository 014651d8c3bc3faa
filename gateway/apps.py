from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class GatewayConfig(AppConfig):
    name = "gateway"
    verbose_name = "Gateway"

    def ready(self) -> None:
        # Imports here, not at the top: models and what imports them load only once the
        # app registry is ready (Django's rule for AppConfig modules).
        # Lower apps announce events through core.events; the gateway delivers them.
        from core.events import register_publisher  # noqa: PLC0415  (app registry)
        from gateway.bus import publish  # noqa: PLC0415  (app registry)

        register_publisher(publish)

        # The audit log: operator writes (admin, RPC, commands) become AuditEntry rows.
        from core.audit import register_recorder  # noqa: PLC0415  (app registry)
        from gateway import audit  # noqa: PLC0415  (app registry)

        register_recorder(audit.entry_record)
        audit.connect_receivers()

        # Cache invalidation only (STYLE.md allows signals for that): a saved or deleted
        # token or agent must not be served from the connect cache.
        from agents.models import Agent  # noqa: PLC0415  (app registry)
        from gateway import authcache  # noqa: PLC0415  (app registry)
        from gateway.models import GatewayToken  # noqa: PLC0415  (app registry)

        for model in (GatewayToken, Agent):
            post_save.connect(
                authcache.clear, sender=model, dispatch_uid=f"authcache-{model.__name__}"
            )
            post_delete.connect(
                authcache.clear, sender=model, dispatch_uid=f"authcache-d-{model.__name__}"
            )
