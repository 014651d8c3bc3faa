"""The Celery app: configured from Django settings (CELERY_*), tasks autodiscovered."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from gateway.node_worker import NodeStep

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "openclaw_site.settings")

app = Celery("openclaw_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every worker process is a cluster node: registered, heartbeating (gateway.node_worker).
app.steps["worker"].add(NodeStep)


@worker_ready.connect
def _warm(**_: Any) -> None:
    """A team worker runs turns: load the model SDK before the first (agents.runtime.warm)."""
    from agents.runtime.warm import warm_in_background  # noqa: PLC0415  (Django is set up by now)

    warm_in_background()
