"""Agents, their routing rules (OpenClaw ``bindings``), runs and cron jobs."""

from __future__ import annotations

import zoneinfo
from typing import Any

from croniter import croniter
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.fields import EncryptedTextField
from core.models import BaseModel, LeasedWorkModel, PublicIdModel
from core.validators import openclaw_id_validator


def _string_list(value: Any, field: str) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError({field: 'Enter a JSON list of non-empty strings, e.g. ["exec"].'})


class AgentQuerySet(models.QuerySet["Agent"]):
    def default_first(self) -> AgentQuerySet:
        return self.order_by("-is_default", "pk")


class Agent(BaseModel):
    """An LLM persona: model, tools, sandbox and a workspace of prompt files."""

    class ToolProfile(models.TextChoices):
        MINIMAL = "minimal", "minimal"
        CODING = "coding", "coding"
        MESSAGING = "messaging", "messaging"
        FULL = "full", "full"

    class SandboxMode(models.TextChoices):
        OFF = "off", "off"
        NON_MAIN = "non-main", "all sessions but the main one"
        ALL = "all", "all sessions"

    class WorkspaceAccess(models.TextChoices):
        NONE = "none", "none: a workspace of its own per session"
        RO = "ro", "ro: the agent's workspace, read-only"
        RW = "rw", "rw: the agent's workspace, prompt files protected"

    slug = models.CharField(
        "agent id", max_length=64, unique=True, validators=[openclaw_id_validator]
    )
    name = models.CharField(max_length=100, blank=True, default="")
    emoji = models.CharField(max_length=16, blank=True, default="")
    # provider/model, e.g. openai/gpt-4o-mini; blank = the configured default.
    model_primary = models.CharField("model", max_length=200, blank=True, default="")
    model_fallbacks = models.JSONField(default=list, blank=True)
    # Blank = <data dir>/workspaces/<agent id>.
    workspace = models.CharField(max_length=500, blank=True, default="")
    tool_profile = models.CharField(
        max_length=16, choices=ToolProfile.choices, default=ToolProfile.FULL
    )
    tools_allow = models.JSONField(default=list, blank=True)
    tools_deny = models.JSONField(default=list, blank=True)
    # Secure by default: the agent's main session (its operator) runs exec on the host,
    # every channel, group or other session runs it in the sandbox (OpenClaw's default
    # is off; docs/agent-runtime.md says why not here).
    sandbox_mode = models.CharField(
        max_length=16, choices=SandboxMode.choices, default=SandboxMode.NON_MAIN
    )
    # What a sandboxed session sees as its workspace (OpenClaw sandbox.workspaceAccess).
    sandbox_workspace_access = models.CharField(
        "sandbox workspace access",
        max_length=8,
        choices=WorkspaceAccess.choices,
        default=WorkspaceAccess.NONE,
    )
    # Widen / narrow the sandbox tool policy (OpenClaw tools.sandbox.tools.allow|deny),
    # applied on top of tools_allow/tools_deny in sandboxed sessions only.
    sandbox_tools_allow = models.JSONField("sandbox tools allow", default=list, blank=True)
    sandbox_tools_deny = models.JSONField("sandbox tools deny", default=list, blank=True)
    is_default = models.BooleanField("default agent", default=False)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["-is_default", "slug"]
        constraints = [
            # At most one default agent (OpenClaw: the first with default:true wins).
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="agent_single_default"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.emoji} {self.slug}".strip()

    def clean(self) -> None:
        _string_list(self.model_fallbacks, "model_fallbacks")
        _string_list(self.tools_allow, "tools_allow")
        _string_list(self.tools_deny, "tools_deny")
        _string_list(self.sandbox_tools_allow, "sandbox_tools_allow")
        _string_list(self.sandbox_tools_deny, "sandbox_tools_deny")
        for ref in [self.model_primary, *self.model_fallbacks]:
            if ref and "/" not in ref:
                raise ValidationError(
                    {"model_primary": f"{ref!r} is not provider/model, e.g. openai/gpt-4o-mini."}
                )


class RoutingRule(BaseModel):
    """An OpenClaw binding: which agent answers which channel, account or peer.

    Precedence is by tier (peer, parent peer, guild+roles, guild, team, account,
    channel, default agent); within a tier, lower ``priority`` wins.
    """

    class PeerKind(models.TextChoices):
        NONE = "", "any"
        DIRECT = "direct", "direct"
        GROUP = "group", "group"
        CHANNEL = "channel", "channel"

    agent = models.ForeignKey(Agent, on_delete=models.PROTECT, related_name="routing_rules")
    channel = models.CharField(max_length=32, help_text="Channel kind, e.g. telegram.")
    # Blank matches only the 'default' account; '*' matches every account.
    account_id = models.CharField(max_length=64, blank=True, default="")
    peer_kind = models.CharField(max_length=16, choices=PeerKind.choices, blank=True, default="")
    peer_id = models.CharField(max_length=256, blank=True, default="")
    guild_id = models.CharField(max_length=64, blank=True, default="")
    team_id = models.CharField(max_length=64, blank=True, default="")
    roles = models.JSONField(default=list, blank=True)
    priority = models.IntegerField(default=0)
    enabled = models.BooleanField(default=True)
    comment = models.CharField(max_length=200, blank=True, default="")

    class Meta:
        ordering = ["channel", "priority", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(peer_kind="") & Q(peer_id="")) | (~Q(peer_kind="") & ~Q(peer_id="")),
                name="routingrule_peer_kind_and_id_together",
            ),
            models.CheckConstraint(condition=~Q(channel=""), name="routingrule_channel_required"),
        ]
        indexes = [
            # The route resolver loads the enabled rules of one channel.
            models.Index(fields=["channel", "enabled", "priority"], name="routingrule_channel_idx"),
        ]

    def __str__(self) -> str:
        target = self.peer_id or self.guild_id or self.team_id or self.account_id or "*"
        return f"{self.channel}:{target} → {self.agent.slug}"

    def clean(self) -> None:
        _string_list(self.roles, "roles")
        self.channel = self.channel.strip().lower()
        if self.roles and not self.guild_id:
            raise ValidationError({"roles": "Roles only apply together with a guild id."})


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
    trigger_seq = models.PositiveBigIntegerField(null=True, blank=True)
    merged_into = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="merged_runs"
    )
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
                    "payload": f'A {self.session_target} job needs a payload like {{"kind": '
                    f'"{expected}", "{"text" if expected == "systemEvent" else "message"}": "..."}}.'
                }
            )


class ModelProvider(BaseModel):
    """A model provider key managed in the admin (an OpenClaw ``api_key`` auth profile).

    Several rows of one provider are several keys, rotated on failure. ``ANTHROPIC_API_KEY``
    and ``OPENAI_API_KEY`` from the environment add one more profile each (``<provider>:env``).
    """

    class Api(models.TextChoices):
        ANTHROPIC = "anthropic-messages", "Anthropic Messages"
        OPENAI_CHAT = "openai-chat", "OpenAI chat completions (or compatible: Ollama, vLLM...)"
        OPENAI_RESPONSES = "openai-responses", "OpenAI Responses"

    provider = models.CharField(
        max_length=64,
        validators=[openclaw_id_validator],
        help_text="The provider part of model refs, e.g. anthropic, openai, ollama.",
    )
    label = models.CharField(max_length=100, blank=True, default="")
    api = models.CharField("wire API", max_length=32, choices=Api.choices)
    base_url = models.URLField(
        "base URL",
        max_length=500,
        blank=True,
        default="",
        help_text="Blank = the vendor's own endpoint. OpenAI-compatible servers: "
        "e.g. http://127.0.0.1:11434/v1 for Ollama.",
    )
    api_key = EncryptedTextField(
        "API key", blank=True, default="", help_text="Stored encrypted; never shown again."
    )
    model_ids = models.JSONField(
        "models",
        default=list,
        blank=True,
        help_text='Model ids this provider serves, listed by models.list, e.g. ["llama3.2"].',
    )
    priority = models.IntegerField(default=0, help_text="Lower is tried first.")
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["provider", "priority", "pk"]
        indexes = [models.Index(fields=["provider", "enabled"], name="modelprovider_provider_idx")]

    def __str__(self) -> str:
        return f"{self.provider}:{self.pk}" + (f" ({self.label})" if self.label else "")

    @property
    def profile_id(self) -> str:
        return f"{self.provider}:{self.pk}"

    def clean(self) -> None:
        _string_list(self.model_ids, "model_ids")
        if self.api == self.Api.ANTHROPIC and not self.api_key and not self.base_url:
            raise ValidationError({"api_key": "Anthropic needs an API key."})
        if (
            self.api in (self.Api.OPENAI_CHAT, self.Api.OPENAI_RESPONSES)
            and not self.api_key
            and not self.base_url
        ):
            raise ValidationError(
                {"api_key": "Enter an API key, or a base URL for a keyless local server."}
            )


class AuthProfileState(BaseModel):
    """Usage and cooldown of one auth profile (OpenClaw ``usageStats``), shared by workers."""

    profile_id = models.CharField(max_length=100, unique=True)
    error_count = models.PositiveIntegerField(default=0)
    cooldown_until = models.DateTimeField(null=True, blank=True)
    last_error_reason = models.CharField(max_length=32, blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["profile_id"]

    def __str__(self) -> str:
        return self.profile_id
