"""Channel accounts and the durable inbox and outbox."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from core.fields import EncryptedJSONField
from core.models import LeasedWorkModel, PublicIdModel
from core.validators import openclaw_id_validator


class ChannelKind(models.TextChoices):
    TELEGRAM = "telegram", "Telegram"
    WEBCHAT = "webchat", "WebChat"
    DISCORD = "discord", "Discord"
    SLACK = "slack", "Slack"
    WHATSAPP = "whatsapp", "WhatsApp"
    SIGNAL = "signal", "Signal"


class ChannelAccountQuerySet(models.QuerySet["ChannelAccount"]):
    def enabled(self) -> ChannelAccountQuerySet:
        return self.filter(enabled=True)

    def of_kind(self, kind: str) -> ChannelAccountQuerySet:
        return self.filter(kind=kind)


class ChannelAccount(PublicIdModel):
    """One bot/account on one chat platform, with its access policy."""

    class DmPolicy(models.TextChoices):
        PAIRING = "pairing", "pairing (unknown senders get a code)"
        ALLOWLIST = "allowlist", "allowlist only"
        OPEN = "open", "open (needs * in allowFrom)"
        DISABLED = "disabled", "disabled"

    class GroupPolicy(models.TextChoices):
        ALLOWLIST = "allowlist", "allowlist"
        OPEN = "open", "open"
        DISABLED = "disabled", "disabled"

    class Mode(models.TextChoices):
        POLLING = "polling", "long polling"
        WEBHOOK = "webhook", "webhook"

    kind = models.CharField(max_length=32, choices=ChannelKind.choices)
    account_id = models.CharField(
        max_length=64, default="default", validators=[openclaw_id_validator]
    )
    name = models.CharField(max_length=100, blank=True, default="")
    # Bot tokens and other secrets, Fernet-encrypted; never shown back in the admin.
    credentials = EncryptedJSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    dm_policy = models.CharField(max_length=16, choices=DmPolicy.choices, default=DmPolicy.PAIRING)
    allow_from = models.JSONField("allowFrom", default=list, blank=True)
    group_policy = models.CharField(
        max_length=16, choices=GroupPolicy.choices, default=GroupPolicy.ALLOWLIST
    )
    group_allow_from = models.JSONField("groupAllowFrom", default=list, blank=True)
    require_mention = models.BooleanField(default=True)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.POLLING)
    # OpenClaw's apiRoot: a self-hosted Bot API server ("" = the platform's public API).
    api_root = models.CharField("apiRoot", max_length=500, blank=True, default="")
    webhook_url = models.CharField("webhookUrl", max_length=500, blank=True, default="")
    # OpenClaw's groups: {"<chat id>" | "*": {"requireMention": bool, "allowFrom": [...],
    # "enabled": bool}}; a group not listed (and no "*") is not allowed under allowlist.
    groups = models.JSONField(default=dict, blank=True)
    # Learned from the platform (Telegram getMe): recognises mentions and replies.
    bot_id = models.CharField(max_length=64, blank=True, default="", editable=False)
    bot_username = models.CharField(max_length=64, blank=True, default="", editable=False)
    # Platform cursor, e.g. Telegram's next update offset; written with the inbox rows.
    cursor = models.CharField(max_length=200, blank=True, default="", editable=False)
    # One poller per account: claimed by compare-and-set.
    poll_lease_owner = models.CharField(max_length=100, blank=True, default="", editable=False)
    poll_lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, default="", editable=False)
    last_error_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Set when the platform refuses the account (a rejected token): the poller backs off
    # until an operator fixes it; cleared by the next successful check.
    failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Poller back-off after errors: no poll before poll_retry_at.
    poll_failures = models.PositiveIntegerField(default=0, editable=False)
    poll_retry_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_update_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ChannelAccountQuerySet.as_manager()

    class Meta:
        ordering = ["kind", "account_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "account_id"], name="channelaccount_unique_kind_account"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind}:{self.account_id}"

    def clean(self) -> None:
        for name in ("allow_from", "group_allow_from"):
            value: Any = getattr(self, name)
            if not isinstance(value, list) or not all(
                isinstance(item, str | int) and str(item).strip() for item in value
            ):
                raise ValidationError(
                    {name: 'Enter a JSON list of sender ids, e.g. ["123456", "@alice"].'}
                )
        if self.dm_policy == self.DmPolicy.OPEN and "*" not in [str(x) for x in self.allow_from]:
            raise ValidationError(
                {
                    "allow_from": 'dmPolicy "open" lets anyone talk to the agent; confirm it by adding "*" to allowFrom.'
                }
            )
        if not isinstance(self.credentials, dict):
            raise ValidationError({"credentials": "Credentials cannot be read; re-enter them."})


class InboundMessage(LeasedWorkModel):
    """A message received from a platform, stored before anything else happens.

    Unique on (account, external id): a redelivered update is dropped here, so a message
    is never answered twice.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", "received"
        PROCESSING = "processing", "processing"
        PROCESSED = "processed", "processed"
        IGNORED = "ignored", "ignored (policy)"
        FAILED = "failed", "failed"

    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="inbound")
    external_id = models.CharField(max_length=200)
    sender_id = models.CharField(max_length=256)
    sender_name = models.CharField(max_length=200, blank=True, default="")
    sender_username = models.CharField(max_length=200, blank=True, default="")
    chat_id = models.CharField(max_length=256)
    chat_type = models.CharField(max_length=16, default="direct")
    chat_title = models.CharField(max_length=200, blank=True, default="")
    thread_id = models.CharField(max_length=200, blank=True, default="")
    message_id = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    # Attachment metadata (kind, file id, name, type, size); the bytes are not kept.
    attachments = models.JSONField(default=list, blank=True)
    mentioned = models.BooleanField(default=False)
    payload = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVED)
    decision = models.CharField(max_length=200, blank=True, default="")
    agent_slug = models.CharField(max_length=64, blank=True, default="")
    session_key = models.CharField(max_length=512, blank=True, default="")
    run_public_id = models.UUIDField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "external_id"], name="inbound_unique_account_external_id"
            ),
        ]
        indexes = [
            # The sweeper re-drives received rows and processing rows whose lease ran out.
            models.Index(
                fields=["status", "lease_expires_at"],
                condition=Q(status__in=["received", "processing"]),
                name="inbound_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} in {self.external_id}"


class OutboundMessage(LeasedWorkModel):
    """A reply to deliver: pending → sending → sent → delivered, or failed after retries."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        SENDING = "sending", "sending"
        SENT = "sent", "sent"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    account = models.ForeignKey(ChannelAccount, on_delete=models.PROTECT, related_name="outbound")
    chat_id = models.CharField(max_length=256)
    thread_id = models.CharField(max_length=200, blank=True, default="")
    reply_to_message_id = models.CharField(max_length=200, blank=True, default="")
    text = models.TextField(blank=True, default="")
    # Delivery progress: {"chunks": n, "sent": [platform message ids]}; a chunk sent is
    # recorded before the next one goes, so a re-driven row resumes, never repeats.
    payload = models.JSONField(default=dict, blank=True)
    reply_to = models.ForeignKey(
        InboundMessage, on_delete=models.SET_NULL, null=True, blank=True, related_name="replies"
    )
    run_public_id = models.UUIDField(null=True, blank=True)
    # Unique per logical reply chunk, so a re-driven run never sends the same reply twice.
    dedupe_key = models.CharField(max_length=200, null=True, blank=True, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=200, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["status", "lease_expires_at"],
                condition=Q(status__in=["pending", "sending"]),
                name="outbound_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.account} out {self.pk} ({self.status})"
