"""Abstract base models shared by every app."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class BaseModel(models.Model):
    """Audit timestamps for every row."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class PublicIdModel(BaseModel):
    """A row that goes on the wire or into a group name: a UUID, never the integer pk."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class LeasedWorkModel(PublicIdModel):
    """Work claimed by a worker for a bounded time.

    A worker claims a row by compare-and-set on its status and sets ``lease_expires_at``.
    If the worker dies the lease runs out and the sweeper hands the row back to the queue
    (``core.leases``), so nothing accepted is lost.
    """

    # Each kind of work narrows this with its own choices.
    status = models.CharField(max_length=16)
    lease_owner = models.CharField(max_length=100, blank=True, default="", editable=False)
    lease_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        abstract = True
