"""Agents and their routing rules (OpenClaw ``bindings``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from agents.models.common import string_list_check
from core.models import BaseModel
from core.validators import openclaw_id_validator


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
    # OpenClaw's agents.list[].heartbeat block (agents.lib.heartbeat); None: no block of
    # its own. When any agent has one, only those agents run heartbeats.
    heartbeat = models.JSONField(null=True, blank=True, default=None)

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
        string_list_check(self.model_fallbacks, "model_fallbacks")
        string_list_check(self.tools_allow, "tools_allow")
        string_list_check(self.tools_deny, "tools_deny")
        string_list_check(self.sandbox_tools_allow, "sandbox_tools_allow")
        string_list_check(self.sandbox_tools_deny, "sandbox_tools_deny")
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
        string_list_check(self.roles, "roles")
        self.channel = self.channel.strip().lower()
        if self.roles and not self.guild_id:
            raise ValidationError({"roles": "Roles only apply together with a guild id."})
