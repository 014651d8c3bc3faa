"""Cron jobs (scheduled agent turns and system events) and the history of their runs."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from agents.lib import cron_schedule
from agents.models.agent import Agent
from agents.models.run import Run
from core.models import PublicIdModel
from sessions_app.lib import keys


class CronJob(PublicIdModel):
    """A scheduled agent turn or system event (OpenClaw cron job, reference spec §9).

    Written through ``agents.services.cron`` only: it computes ``next_run_at``, which the
    dispatcher claims by compare-and-set.
    """

    class ScheduleKind(models.TextChoices):
        AT = "at", "once at a time"
        EVERY = "every", "every N ms"
        CRON = "cron", "cron expression"

    class SessionTarget(models.TextChoices):
        MAIN = "main", "main session (system event)"
        ISOLATED = "isolated", "isolated session (agent turn)"
        SESSION = "session", "a named session (agent turn)"

    class WakeMode(models.TextChoices):
        NOW = "now", "now"
        NEXT_HEARTBEAT = "next-heartbeat", "next heartbeat"

    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    agent = models.ForeignKey(
        Agent, on_delete=models.PROTECT, related_name="cron_jobs", null=True, blank=True
    )
    # OpenClaw's ``sessionKey``: the session the job was created from (kept as given).
    session_key = models.CharField(max_length=512, blank=True, default="")
    delete_after_run = models.BooleanField(default=False)

    schedule_kind = models.CharField(max_length=8, choices=ScheduleKind.choices)
    at = models.DateTimeField(null=True, blank=True)
    every_ms = models.PositiveBigIntegerField(null=True, blank=True)
    # Where an ``every`` grid starts (OpenClaw's ``anchorMs``); the job's creation if unset.
    anchor_at = models.DateTimeField(null=True, blank=True)
    cron_expr = models.CharField(max_length=120, blank=True, default="")
    tz = models.CharField("time zone", max_length=64, blank=True, default="")
    stagger_ms = models.PositiveIntegerField(null=True, blank=True)

    session_target = models.CharField(
        max_length=16, choices=SessionTarget.choices, default=SessionTarget.ISOLATED
    )
    # The session of a ``session:<key>`` target (canonical key).
    target_session_key = models.CharField(max_length=512, blank=True, default="")
    wake_mode = models.CharField(max_length=16, choices=WakeMode.choices, default=WakeMode.NOW)
    payload = models.JSONField(default=dict)
    # A system-owned job's declaration (OpenClaw's ``declarationKey``): ``heartbeat:<agent>``
    # for an agent's heartbeat, which the configuration makes and removes, not a person.
    declaration_key = models.CharField(max_length=120, blank=True, default="", editable=False)
    delivery = models.JSONField(default=dict, blank=True)
    failure_alert = models.JSONField(default=dict, blank=True)

    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    running_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_status = models.CharField(max_length=16, blank=True, default="", editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True, editable=False)
    last_delivery_status = models.CharField(max_length=16, blank=True, default="", editable=False)
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
            # The cron tick claims due jobs by next_run_at (agents.services.cron.dispatch).
            models.Index(fields=["next_run_at"], condition=Q(enabled=True), name="cronjob_due_idx"),
        ]
        constraints += [
            models.UniqueConstraint(
                fields=["declaration_key"],
                condition=~Q(declaration_key=""),
                name="cronjob_declaration_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_heartbeat(self) -> bool:
        """An agent's heartbeat (payload ``{"kind": "heartbeat"}``), made by the config."""
        return isinstance(self.payload, dict) and self.payload.get("kind") == "heartbeat"

    @property
    def schedule(self) -> cron_schedule.Schedule:
        """The schedule as ``agents.lib.cron_schedule`` computes it."""
        return cron_schedule.Schedule(
            kind=self.schedule_kind,
            at=self.at,
            every_ms=self.every_ms,
            anchor=self.anchor_at or self.created_at,
            expr=self.cron_expr,
            tz=self.tz,
            stagger_ms=self.stagger_ms,
        )

    def clean(self) -> None:
        if self.schedule_kind == self.ScheduleKind.CRON:
            try:
                cron_schedule.check_expr(self.cron_expr)
            except cron_schedule.ScheduleError as exc:
                raise ValidationError({"cron_expr": str(exc)}) from None
        if self.tz:
            try:
                cron_schedule.zone(self.tz)
            except cron_schedule.ScheduleError as exc:
                raise ValidationError({"tz": str(exc)}) from None
        if self.is_heartbeat:
            return
        expected = "systemEvent" if self.session_target == self.SessionTarget.MAIN else "agentTurn"
        if not isinstance(self.payload, dict) or self.payload.get("kind") != expected:
            raise ValidationError(
                {
                    "payload": f"{'An' if self.session_target[0] in 'aeiou' else 'A'} "
                    f'{self.session_target} job needs a payload like {{"kind": '
                    f'"{expected}", "{"text" if expected == "systemEvent" else "message"}": "..."}}.'
                }
            )
        if self.session_target == self.SessionTarget.SESSION:
            try:
                keys.canonicalize(self.target_session_key, default_agent=keys.DEFAULT_AGENT_ID)
            except keys.SessionKeyError as exc:
                raise ValidationError(
                    {"target_session_key": f"A session job needs its session's key: {exc}"}
                ) from None


class CronRun(PublicIdModel):
    """One run of a cron job: OpenClaw's run-log entry (``cron.runs``).

    ``queued`` when claimed (the ``cron.run`` task is on its way), ``running`` once its
    turn started, then ``ok``, ``error`` or ``skipped``. The job's id and name are copied,
    so the history outlives a deleted job (a one-shot job deletes itself by default).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        OK = "ok", "ok"
        ERROR = "error", "error"
        SKIPPED = "skipped", "skipped"

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", "schedule"
        MANUAL = "manual", "run now"

    class DeliveryStatus(models.TextChoices):
        DELIVERED = "delivered", "delivered"
        NOT_DELIVERED = "not-delivered", "not delivered"
        UNKNOWN = "unknown", "unknown"
        NOT_REQUESTED = "not-requested", "not requested"

    job = models.ForeignKey(
        CronJob, on_delete=models.SET_NULL, null=True, blank=True, related_name="runs"
    )
    job_public_id = models.UUIDField(db_index=True)
    job_name = models.CharField(max_length=200)
    agent_slug = models.CharField(max_length=64, blank=True, default="")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULE)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # The slot this run is for (OpenClaw's ``runAtMs``); the claim time for a manual run.
    scheduled_for = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    run = models.ForeignKey(
        Run, on_delete=models.SET_NULL, null=True, blank=True, related_name="cron_runs"
    )
    session_key = models.CharField(max_length=512, blank=True, default="")
    session_id = models.CharField(max_length=64, blank=True, default="")
    error = models.TextField(blank=True, default="")
    summary = models.TextField(blank=True, default="")
    delivery_status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.NOT_REQUESTED
    )
    delivery_error = models.TextField(blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True)
    # A heartbeat run's ``heartbeat`` event ({ts, status, reason?, preview?, ...}): what
    # ``last-heartbeat`` answers.
    heartbeat = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The tick looks at unfinished runs on every pass: a handful at most.
            models.Index(
                fields=["created_at"],
                condition=Q(status__in=["queued", "running"]),
                name="cronrun_active_idx",
            ),
            models.Index(fields=["job_public_id", "-created_at"], name="cronrun_job_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.job_name} at {self.scheduled_for:%Y-%m-%d %H:%M:%S} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.OK, self.Status.ERROR, self.Status.SKIPPED)
