"""Sessions and their transcripts.

This app imports none of the other apps: a session names its agent, channel and account
by their OpenClaw ids (strings), and a transcript message names its run by public id.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from core.models import BaseModel, PublicIdModel


class ChatType(models.TextChoices):
    DIRECT = "direct", "direct"
    GROUP = "group", "group"
    CHANNEL = "channel", "channel"


class SessionQuerySet(models.QuerySet["Session"]):
    def for_agent(self, agent_slug: str) -> SessionQuerySet:
        return self.filter(agent_slug=agent_slug)

    def recent(self) -> SessionQuerySet:
        return self.order_by("-last_activity_at")


class Session(PublicIdModel):
    """One conversation: the OpenClaw SessionEntry plus its transcript's head."""

    class ResetMode(models.TextChoices):
        INHERIT = "", "inherit from agent/config"
        DAILY = "daily", "daily"
        IDLE = "idle", "idle"
        NEVER = "never", "never"

    # Canonical, lowercased key such as agent:main:main or agent:main:telegram:direct:42.
    key = models.CharField(max_length=512, unique=True)
    # OpenClaw's sessionId: a new one is minted by every reset.
    session_id = models.UUIDField(default=uuid.uuid4, unique=True)
    agent_slug = models.CharField("agent id", max_length=64, db_index=True)
    channel = models.CharField(max_length=32, blank=True, default="")
    account_id = models.CharField(max_length=64, blank=True, default="")
    peer_kind = models.CharField(max_length=16, choices=ChatType.choices, blank=True, default="")
    peer_id = models.CharField(max_length=256, blank=True, default="")
    chat_type = models.CharField(max_length=16, choices=ChatType.choices, default=ChatType.DIRECT)
    origin = models.JSONField(default=dict, blank=True)
    label = models.CharField(max_length=200, blank=True, default="")
    display_name = models.CharField(max_length=200, blank=True, default="")

    model_override = models.CharField(max_length=200, blank=True, default="")
    thinking_level = models.CharField(max_length=16, blank=True, default="")
    queue_mode = models.CharField(max_length=16, blank=True, default="")

    input_tokens = models.PositiveBigIntegerField(default=0)
    output_tokens = models.PositiveBigIntegerField(default=0)
    total_tokens = models.PositiveBigIntegerField(default=0)
    context_tokens = models.PositiveBigIntegerField(default=0)
    compaction_count = models.PositiveIntegerField(default=0)

    # Highest transcript seq handed out; the next message takes last_seq + 1.
    last_seq = models.PositiveBigIntegerField(default=0, editable=False)
    last_activity_at = models.DateTimeField(null=True, blank=True, db_index=True)

    reset_mode = models.CharField(max_length=8, choices=ResetMode.choices, blank=True, default="")
    reset_at_hour = models.PositiveSmallIntegerField(null=True, blank=True)
    reset_idle_minutes = models.PositiveIntegerField(null=True, blank=True)
    last_reset_at = models.DateTimeField(null=True, blank=True)

    objects = SessionQuerySet.as_manager()

    class Meta:
        ordering = ["-last_activity_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(reset_at_hour__isnull=True) | Q(reset_at_hour__lte=23),
                name="session_reset_hour_0_23",
            ),
            models.CheckConstraint(
                condition=Q(reset_idle_minutes__isnull=True) | Q(reset_idle_minutes__gte=1),
                name="session_idle_minutes_positive",
            ),
            models.CheckConstraint(
                condition=Q(peer_kind="") | ~Q(peer_id=""),
                name="session_peer_kind_has_id",
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Message(BaseModel):
    """One transcript entry. ``seq`` increases by one per session, never reused."""

    class Role(models.TextChoices):
        USER = "user", "user"
        ASSISTANT = "assistant", "assistant"
        TOOL = "tool", "tool result"
        SYSTEM = "system", "system"
        COMPACTION = "compaction", "compaction summary"

    session = models.ForeignKey(Session, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    role = models.CharField(max_length=16, choices=Role.choices)
    # Content blocks as in the provider APIs: [{"type": "text", "text": ...}, ...].
    content = models.JSONField(default=list)
    run_public_id = models.UUIDField(null=True, blank=True, db_index=True)
    model = models.CharField(max_length=200, blank=True, default="")
    usage = models.JSONField(default=dict, blank=True)
    stop_reason = models.CharField(max_length=32, blank=True, default="")
    # The client's key for this entry (OpenClaw: "<runId>:user"): UIs match it to the
    # message they showed optimistically, so it is not shown twice.
    idempotency_key = models.CharField(max_length=256, blank=True, default="")
    # Role-specific facts: a tool result's toolCallId/toolName/isError; a compaction
    # entry's firstKeptSeq/tokensBefore.
    details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["session", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["session", "seq"], name="message_unique_session_seq"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="message_seq_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}#{self.seq} {self.role}"

    @property
    def text(self) -> str:
        """The concatenated text blocks."""
        return "".join(
            block.get("text", "")
            for block in self.content
            if isinstance(block, dict) and block.get("type") == "text"
        )


class SessionSettings(BaseModel):
    """OpenClaw's ``session.dmScope``, ``session.identityLinks`` and ``session.reset``.

    One row (pk 1); without it the defaults apply. Read through
    ``sessions_app.selectors.session_settings()``, written by
    ``sessions_app.services.session_settings_set``.
    """

    SINGLETON_PK = 1

    class DmScope(models.TextChoices):
        MAIN = "main", "main: every DM shares the agent's main session"
        PER_PEER = "per-peer", "per-peer: one session per sender"
        PER_CHANNEL_PEER = "per-channel-peer", "per-channel-peer: per channel and sender"
        PER_ACCOUNT_CHANNEL_PEER = (
            "per-account-channel-peer",
            "per-account-channel-peer: per bot account, channel and sender",
        )

    class ResetMode(models.TextChoices):
        DAILY = "daily", "daily"
        IDLE = "idle", "idle"

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON_PK, editable=False)
    dm_scope = models.CharField(
        "DM scope", max_length=32, choices=DmScope.choices, default=DmScope.MAIN
    )
    # {"alice": ["telegram:123", "discord:456"]}: one person, one DM session across channels.
    identity_links = models.JSONField("identity links", default=dict, blank=True)
    reset_mode = models.CharField(max_length=8, choices=ResetMode.choices, default=ResetMode.DAILY)
    reset_at_hour = models.PositiveSmallIntegerField(
        default=4, help_text="0-23, gateway-local time, for the daily reset."
    )
    reset_idle_minutes = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Start over after this many idle minutes (idle mode: 60 when blank; "
        "daily mode: whichever comes first).",
    )

    class Meta:
        verbose_name = "session settings"
        verbose_name_plural = "session settings"
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="sessionsettings_singleton"),
            models.CheckConstraint(
                condition=Q(reset_at_hour__lte=23), name="sessionsettings_reset_hour_0_23"
            ),
            models.CheckConstraint(
                condition=Q(reset_idle_minutes__isnull=True) | Q(reset_idle_minutes__gte=1),
                name="sessionsettings_idle_minutes_positive",
            ),
        ]

    def __str__(self) -> str:
        return "session settings"
