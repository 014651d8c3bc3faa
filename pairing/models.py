"""Who may talk to the agents: allowlists, DM pairing requests, paired client devices."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from core.models import BaseModel
from pairing.lib.codes import PAIRING_CODE_PATTERN

pairing_code_validator = RegexValidator(
    PAIRING_CODE_PATTERN,
    "A pairing code is 8 characters from A-Z and 2-9 without O and I, e.g. K7MX3PQA.",
)


class AllowlistEntryQuerySet(models.QuerySet["AllowlistEntry"]):
    def for_account(self, account_id: int) -> AllowlistEntryQuerySet:
        return self.filter(channel_account_id=account_id)

    def matching(self, account_id: int, sender_ref: str) -> AllowlistEntryQuerySet:
        return self.filter(channel_account_id=account_id, sender_ref=sender_ref)


class AllowlistEntry(BaseModel):
    """A sender allowed to DM one channel account (approved pairing or added by hand)."""

    class Source(models.TextChoices):
        PAIRING = "pairing", "approved pairing"
        MANUAL = "manual", "added by an operator"

    channel_account = models.ForeignKey(
        "channels_app.ChannelAccount", on_delete=models.CASCADE, related_name="allowlist"
    )
    sender_ref = models.CharField(max_length=256, help_text="Platform sender id, e.g. 123456789.")
    display_name = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.MANUAL)
    note = models.CharField(max_length=200, blank=True, default="")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    objects = AllowlistEntryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "allowlist entries"
        ordering = ["channel_account", "sender_ref"]
        constraints = [
            models.UniqueConstraint(
                fields=["channel_account", "sender_ref"], name="allowlist_unique_account_sender"
            ),
            models.CheckConstraint(condition=~Q(sender_ref=""), name="allowlist_sender_required"),
        ]

    def __str__(self) -> str:
        return f"{self.sender_ref} on {self.channel_account_id}"


class PairingRequest(BaseModel):
    """An unknown sender's request to talk, approved by its 8-character code (1 h expiry)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        EXPIRED = "expired", "expired"

    channel_account = models.ForeignKey(
        "channels_app.ChannelAccount", on_delete=models.CASCADE, related_name="pairing_requests"
    )
    sender_ref = models.CharField(max_length=256)
    sender_meta = models.JSONField(default=dict, blank=True)
    code = models.CharField(max_length=8, validators=[pairing_code_validator])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    expires_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open request per sender per account, and an open code names one request.
            models.UniqueConstraint(
                fields=["channel_account", "sender_ref"],
                condition=Q(status="pending"),
                name="pairing_one_pending_per_sender",
            ),
            models.UniqueConstraint(
                fields=["code"], condition=Q(status="pending"), name="pairing_pending_code_unique"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="pairing_decided_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} ({self.status})"


class Device(BaseModel):
    """A gateway client device (Ed25519 identity) paired to use the WebSocket gateway."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending approval"
        PAIRED = "paired", "paired"
        REJECTED = "rejected", "rejected"
        REVOKED = "revoked", "revoked"

    # sha256 hex of the raw 32-byte Ed25519 public key.
    device_id = models.CharField(
        max_length=64,
        unique=True,
        validators=[RegexValidator(r"^[0-9a-f]{64}$", "A device id is 64 lowercase hex digits.")],
    )
    public_key = models.CharField(max_length=64, help_text="Raw public key, base64url.")
    display_name = models.CharField(max_length=200, blank=True, default="")
    platform = models.CharField(max_length=64, blank=True, default="")
    device_family = models.CharField(max_length=64, blank=True, default="")
    client_id = models.CharField(max_length=64, blank=True, default="")
    client_mode = models.CharField(max_length=32, blank=True, default="")
    role = models.CharField(max_length=32, default="operator")
    scopes = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    request_id = models.UUIDField(null=True, blank=True, unique=True)
    requested_at = models.DateTimeField(null=True, blank=True)
    remote_ip = models.GenericIPAddressField(null=True, blank=True)
    # sha256 hex of the device token handed out in hello-ok; the token itself is never kept.
    token_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    token_issued_at = models.DateTimeField(null=True, blank=True, editable=False)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="paired") | Q(approved_at__isnull=False),
                name="device_paired_has_approval_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.display_name or self.client_id or 'device'} {self.device_id[:12]}"
