"""Cron jobs: scheduled agent turns and system events."""

from __future__ import annotations

import zoneinfo

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from agents.models.agent import Agent
from core.models import PublicIdModel


class CronJob(PublicIdModel):
    """A scheduled agent turn or system event (OpenClaw cron job)."""

    class ScheduleKind(models.TextChoices):
        AT = "at", "once at a time"
        EVERY = "every", "every N ms"
        CRON = "cron", "cron expression"

    class SessionTarget(models.TextChoices):
        MAIN = "main", "main session (system event)"
        ISOLATED = "isolated", "isolated session (agent turn)"

    class WakeMode(models.TextChoices):
        NOW = "now", "now"
        NEXT_HEARTBEAT = "next-heartbeat", "next heartbeat"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, related_name="cron_jobs", null=True, blank=True
    )
    session_key = models.CharField(max_length=512, blank=True, default="")
    delete_after_run = models.BooleanField(default=False)

    schedule_kind = models.CharField(max_length=8, choices=ScheduleKind.choices)
    at = models.DateTimeField(null=True, blank=True)
    every_ms = models.PositiveBigIntegerField(null=True, blank=True)
    cron_expr = models.CharField(max_length=120, blank=True, default="")
    tz = models.CharField("time zone", max_length=64, blank=True, default="")
    stagger_ms = models.PositiveIntegerField(null=True, blank=True)

    session_target = models.CharField(
        max_length=16, choices=SessionTarget.choices, default=SessionTarget.ISOLATED
    )
    wake_mode = models.CharField(max_length=16, choices=WakeMode.choices, default=WakeMode.NOW)
    payload = models.JSONField(default=dict)
    delivery = models.JSONField(default=dict, blank=True)
    failure_alert = models.JSONField(default=dict, blank=True)

    next_run_at = models.DateTimeField(null=True, blank=True)
    running_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=16, blank=True, default="", editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    consecutive_errors = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    (Q(schedule_kind="at") & Q(at__isnull=False))
                    # every_ms IS NOT NULL: a NULL makes the CHECK unknown, which passes.
                    | (Q(schedule_kind="every") & Q(every_ms__isnull=False) & Q(every_ms__gte=1000))
                    | (Q(schedule_kind="cron") & ~Q(cron_expr=""))
                ),
                name="cronjob_schedule_matches_kind",
            ),
        ]
        indexes = [
            # cron_tick claims due jobs by next_run_at.
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="cronjob_due_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.schedule_kind == self.ScheduleKind.CRON:
            fields = self.cron_expr.split()
            if len(fields) not in (5, 6) or not croniter.is_valid(self.cron_expr):
                raise ValidationError(
                    {"cron_expr": "Enter a cron expression of 5 or 6 fields, e.g. '0 9 * * 1-5'."}
                )
        if self.tz:
            try:
                zoneinfo.ZoneInfo(self.tz)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                raise ValidationError(
                    {"tz": f"{self.tz!r} is not an IANA time zone, e.g. Europe/Berlin."}
                ) from None
        expected = "systemEvent" if self.session_target == self.SessionTarget.MAIN else "agentTurn"
        if not isinstance(self.payload, dict) or self.payload.get("kind") != expected:
            raise ValidationError(
                {
                    "payload": f"{'An' if self.session_target[0] in 'aeiou' else 'A'} "
                    f'{self.session_target} job needs a payload like {{"kind": '
                    f'"{expected}", "{"text" if expected == "systemEvent" else "message"}": "..."}}.'
                }
            )
