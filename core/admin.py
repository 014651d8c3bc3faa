"""Admin base shared by the apps."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest
from typing_extensions import override

from core import audit

_M = TypeVar("_M", bound=models.Model)

MASK = "••••"
# Below this length even the last 4 characters would give away too much of a secret.
_MIN_LEN_TO_SHOW_TAIL = 12


def mask_secret(value: object) -> str:
    """A secret shown without revealing it: dots, and the last 4 characters of a long one."""
    if isinstance(value, str) and len(value) >= _MIN_LEN_TO_SHOW_TAIL:
        return MASK + value[-4:]
    return MASK


# The bookkeeping columns of leased work (core.models.LeasedWorkModel), read-only.
LEASED_WORK_READONLY = (
    "public_id",
    "lease_owner",
    "lease_expires_at",
    "attempts",
    "created_at",
    "updated_at",
)


class RuntimeWrittenAdmin(admin.ModelAdmin[_M]):
    """Rows the runtime writes: viewable and deletable, never added or edited by hand.

    These models have no audit signals (their runtime writes must cost nothing), so an
    operator's delete is recorded here (``core.audit``: by name and id, no contents).
    """

    @override
    def delete_model(self, request: HttpRequest, obj: _M) -> None:
        audit.record("delete", obj)
        super().delete_model(request, obj)

    @override
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[_M]) -> None:
        for obj in queryset:
            audit.record("delete", obj)
        super().delete_queryset(request, queryset)

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
