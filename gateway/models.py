"""Gateway-level records: cluster worker nodes and operator tokens."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.models import BaseModel
from gateway.scopes import ALL_SCOPES, invalid_scopes


def node_offline_after() -> timedelta:
    """How long a node may go without a heartbeat before it counts as offline."""
    return timedelta(seconds=settings.NODE_OFFLINE_AFTER_SECONDS)


class NodeQuerySet(models.QuerySet["Node"]):
    def alive(self, now: datetime | None = None) -> NodeQuerySet:
        """Online: not stopped, with a heartbeat within ``NODE_OFFLINE_AFTER_SECONDS``."""
        now = now or timezone.now()
        return self.filter(
            status=Node.Status.ONLINE, last_heartbeat_at__gte=now - node_offline_after()
        )

    def stale(self, now: datetime | None = None) -> NodeQuerySet:
        """Marked online but silent for longer than ``NODE_OFFLINE_AFTER_SECONDS``."""
        now = now or timezone.now()
        return self.filter(status=Node.Status.ONLINE).exclude(
            last_heartbeat_at__gte=now - node_offline_after()
        )


class Node(BaseModel):
    """A worker process of the cluster (a Celery worker), known by its heartbeats.

    Written only by ``gateway.nodes`` (the worker registers, heartbeats and stops; the
    sweep marks the silent ones offline). ``instance_id`` is new at every start: a second
    process claiming the id of a live one is refused (``node_register``).
    """

    class Status(models.TextChoices):
        ONLINE = "online", "online"
        OFFLINE = "offline", "offline"

    node_id = models.CharField(max_length=128, unique=True)
    display_name = models.CharField(max_length=200, blank=True, default="")
    platform = models.CharField(max_length=64, blank=True, default="")
    version = models.CharField(max_length=64, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(null=True, blank=True)
    instance_id = models.UUIDField(null=True, blank=True)
    # The queues it consumes plus its declared skills (gateway.lib.nodes.node_skills).
    skills = models.JSONField(default=list, blank=True)
    queues = models.JSONField(default=list, blank=True)
    max_concurrent_tasks = models.PositiveIntegerField(default=1)
    tasks_in_flight = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ONLINE)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Used by the node sweep (stale online nodes) and every "online" read.
    last_heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)

    objects = NodeQuerySet.as_manager()

    class Meta:
        ordering = ["node_id"]
        constraints = [
            models.CheckConstraint(condition=~Q(node_id=""), name="node_id_required"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.node_id

    def is_alive_at(self, now: datetime) -> bool:
        return bool(
            self.status == self.Status.ONLINE
            and self.last_heartbeat_at
            and now - self.last_heartbeat_at <= node_offline_after()
        )

    @property
    def is_alive(self) -> bool:
        return self.is_alive_at(timezone.now())


class GatewayTokenQuerySet(models.QuerySet["GatewayToken"]):
    def active(self) -> GatewayTokenQuerySet:
        return self.filter(revoked_at__isnull=True)


class GatewayToken(BaseModel):
    """An operator token for the WebSocket and HTTP gateway. Only its sha256 is kept."""

    class Source(models.TextChoices):
        GENERATED = "generated", "generated"
        ENVIRONMENT = "environment", "OPENCLAW_GATEWAY_TOKEN"

    name = models.CharField(max_length=100, default="operator")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    # First characters, to tell tokens apart in the admin without revealing them.
    prefix = models.CharField(max_length=8, editable=False)
    scopes = models.JSONField(default=list)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.GENERATED)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    # Whether the plaintext met the strength rule (gateway.lib.tokens.STRENGTH_RULE) when it
    # was registered; only then is it known. None: registered before the rule was kept,
    # treated as weak beyond loopback.
    strong = models.BooleanField(null=True, editable=False)

    objects = GatewayTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(token_hash=""), name="gatewaytoken_hash_required"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def clean(self) -> None:
        if not isinstance(self.scopes, list) or invalid_scopes(self.scopes):
            raise ValidationError(
                {"scopes": f"Use a JSON list of scopes from: {', '.join(ALL_SCOPES)}."}
            )


class ConfigEntry(BaseModel):
    """A gateway-level config value set by its OpenClaw path (``gateway.trustedProxies``).

    Written by ``gateway.config_service``; the environment's value (if any) is added to
    it, never replaced by it.
    """

    path = models.CharField(max_length=200, unique=True)
    value = models.JSONField()

    class Meta:
        verbose_name = "config entry"
        verbose_name_plural = "config entries"

    def __str__(self) -> str:
        return self.path


class AuditEntry(models.Model):
    """One operator write: who, through which door, when, and what changed.

    Written by ``gateway.audit`` (model signals and ``core.audit.record``) only while
    someone acts (admin, RPC, command); secrets are stored masked. Never edited: the
    admin refuses add, change and delete to everyone, superusers included.
    """

    class ActorKind(models.TextChoices):
        ADMIN = "admin", "admin"
        RPC = "rpc", "RPC"
        COMMAND = "command", "command"

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor = models.CharField(max_length=200)
    # The admin path, the RPC method and client, the command and subcommand.
    source = models.CharField(max_length=300, blank=True, default="")
    action = models.CharField(max_length=64)  # create, update, delete or a verb
    model = models.CharField(max_length=100)  # app label and model name: agents.agent
    object_pk = models.CharField("object id", max_length=64)
    object_repr = models.CharField("object", max_length=200)
    # {field: [before, after]}; a secret's values are masked.
    changes = models.JSONField(default=dict)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = "audit log entry"
        verbose_name_plural = "audit log"
        indexes = [
            # One object's history (the admin's search by object id).
            models.Index(fields=["model", "object_pk"], name="auditentry_object_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.actor} {self.action} {self.model} {self.object_repr}"
