from __future__ import annotations

from collections.abc import Iterable

from celery import current_app
from django.apps import AppConfig, apps
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def pollers_ensure_on_commit(**_kwargs: object) -> None:
    """An account was saved (admin, config): start its poller once that commits."""
    transaction.on_commit(lambda: current_app.send_task("channels.pollers_ensure"))


def channel_credentials() -> Iterable[object]:
    """The channel accounts' credentials: secrets for ``core.redact`` to keep out of text."""
    accounts = apps.get_model("channels_app", "ChannelAccount")._default_manager
    return accounts.values_list("credentials", flat=True)


class ChannelsAppConfig(AppConfig):
    name = "channels_app"
    verbose_name = "Channels"

    def ready(self) -> None:
        # Imports here, not at the top: models and what imports them load only once the
        # app registry is ready (Django's rule for AppConfig modules).
        from channels_app import work  # noqa: F401, PLC0415  (registers inbox/outbox with the sweeper)
        from channels_app.services.outbound import (  # noqa: PLC0415  (app registry)
            enabled_accounts_forget,
            outbound_deliver,
        )
        from core import redact  # noqa: PLC0415  (app registry)
        from core.delivery import register_deliverer  # noqa: PLC0415  (app registry)

        # Lower apps (the message tool, a run answering a channel message) queue
        # messages through core.delivery; this app's outbox accepts them.
        register_deliverer(outbound_deliver)
        redact.register_secret_source(channel_credentials)
        account = self.get_model("ChannelAccount")
        for signal in (post_save, post_delete):
            signal.connect(redact.forget, sender=account, dispatch_uid="forget_channel_secrets")
            signal.connect(
                enabled_accounts_forget, sender=account, dispatch_uid="forget_enabled_accounts"
            )
        post_save.connect(
            pollers_ensure_on_commit, sender=account, dispatch_uid="channel_pollers_ensure"
        )
