from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class SessionsAppConfig(AppConfig):
    name = "sessions_app"
    verbose_name = "Sessions"

    def ready(self) -> None:
        # Imports here, not at the top: models load only once the app registry is ready.
        from sessions_app.models import SessionSettings  # noqa: PLC0415  (app registry)
        from sessions_app.selectors import session_settings_forget  # noqa: PLC0415  (app registry)

        for signal in (post_save, post_delete):
            signal.connect(
                session_settings_forget, sender=SessionSettings, dispatch_uid="forget_settings"
            )
