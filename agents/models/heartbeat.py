"""The heartbeat settings every agent shares: one row."""

from __future__ import annotations

from django.db import models

from core.models import BaseModel


class HeartbeatSettings(BaseModel):
    """``agents.defaults.heartbeat`` and the ``set-heartbeats`` switch (one row, pk 1).

    ``defaults`` is OpenClaw's defaults block as written (None: there is none, which
    leaves heartbeats to the default agent at 30 minutes). ``enabled`` is what
    ``set-heartbeats`` sets: while False every heartbeat is skipped (reason ``disabled``).
    Unlike OpenClaw's in-memory switch it is stored, so every process of a team reads it
    and a restart keeps it.
    """

    defaults = models.JSONField(null=True, blank=True, default=None)
    enabled = models.BooleanField(default=True)

    class Meta:
        verbose_name = "heartbeat settings"
        verbose_name_plural = "heartbeat settings"

    def __str__(self) -> str:
        return "heartbeat settings"
