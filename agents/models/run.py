"""Runs (one agent turn each) and their steps."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from agents.models.agent import Agent
from core.models import BaseModel, LeasedWorkModel


class Run(LeasedWorkModel):
    """One agent turn, advanced step by step by a Celery task (a resumable state machine)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "queued"
        RUNNING = "running", "running"
        SUCCEEDED = "succeeded", "succeeded"
        FAILED = "failed", "failed"
        ABORTED = "aborted", "aborted"
        # Answered by the run in ``merged_into`` (queue modes collect, steer, interrupt).
        MERGED = "merged", "merged into another run"

    class Origin(models.TextChoices):
        GATEWAY = "gateway", "gateway client"
        CHANNEL = "channel", "channel message"
        CRON = "cron", "cron job"
        HOOK = "hook", "webhook"
        HEARTBEAT = "heartbeat", "heartbeat"

    # OpenClaw's runId, which is the client's idempotencyKey: a retry finds this row.
    run_id = models.CharField(max_length=200, unique=True)
    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="runs")
    session = models.ForeignKey(
        "sessions_app.Session", on_delete=models.CASCADE, related_name="runs"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.GATEWAY)
    # Where the reply goes: channel account, chat, thread (for channel-originated runs).
    reply_to = models.JSONField(default=dict, blank=True)
    # False for a channel message from a sender who is not an owner: the turn runs
    # sandboxed whatever its session (an untrusted sender never runs exec on the host).
    trusted_sender = models.BooleanField(default=True)
    trigger_seq = models.PositiveBigIntegerField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_runs"
    )
    # The model for this run only (a heartbeat's ``heartbeat.model``): it comes before the
    # session's ``model_override``, which it leaves as it is; the fallbacks stay the
    # agent's and the gateway's. ``model`` is the primary the run was started with.
    model_override = models.CharField(max_length=200, blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    step_count = models.PositiveIntegerField(default=0)
    max_steps = models.PositiveIntegerField(default=25)
    cancel_requested = models.BooleanField(default=False)
    error_kind = models.CharField(max_length=32, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(step_count__lte=models.F("max_steps")), name="run_step_limit"
            ),
        ]
        indexes = [
            # The sweeper looks for claimed runs whose lease ran out.
            models.Index(
                fields=["lease_expires_at"],
                condition=Q(status="running"),
                name="run_running_lease_idx",
            ),
            models.Index(fields=["session", "status"], name="run_session_status_idx"),
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} ({self.status})"


class RunStep(BaseModel):
    """One step of a run, keyed (run, step_no) so a redelivered task resumes, never repeats."""

    class Kind(models.TextChoices):
        MODEL_CALL = "model_call", "model call"
        TOOL_CALL = "tool_call", "tool call"
        COMPACTION = "compaction", "compaction"
        ERROR = "error", "error"

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        RUNNING = "running", "running"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    run = models.ForeignKey(Run, on_delete=models.CASCADE, related_name="steps")
    step_no = models.PositiveIntegerField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    tool_name = models.CharField(max_length=100, blank=True, default="")
    tool_call_id = models.CharField(max_length=200, blank=True, default="")
    input = models.JSONField(default=dict, blank=True)
    output = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["run", "step_no"]
        constraints = [
            models.UniqueConstraint(fields=["run", "step_no"], name="runstep_unique_run_step"),
            models.CheckConstraint(
                condition=~Q(kind="tool_call") | ~Q(tool_name=""),
                name="runstep_tool_call_names_tool",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run.run_id} step {self.step_no} {self.kind}"
