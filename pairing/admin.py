"""Admin for allowlists, DM pairing requests and gateway devices.

Pairing requests and devices change state only through the actions, which call the
compare-and-set services; their change pages are read-only, so a stale form can never
write an old status back over a decision made meanwhile. Approving a request is the
service ``manage.py pairing approve`` and the ``pairing.approve`` RPC use: it allowlists
the sender and queues OpenClaw's approval notice to their chat.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path, reverse
from typing_extensions import override

from pairing.models import AllowlistEntry, Device, PairingRequest
from pairing.services import (
    PairingError,
    allowlist_entry_add,
    device_approve,
    device_reject,
    device_revoke,
    pairing_request_approve,
    pairing_request_reject,
)

_MAX_REASONS_SHOWN = 5
_M = TypeVar("_M", bound=Model)


def _operator(request: HttpRequest) -> User | None:
    user = request.user
    return user if isinstance(user, User) else None


def _run_action(
    model_admin: admin.ModelAdmin[Any],
    request: HttpRequest,
    queryset: QuerySet[Any],
    service: Callable[[int], Model],
    verb: str,
) -> None:
    """Call ``service`` per selected row (one transaction each) and report the outcome."""
    done = 0
    reasons: list[str] = []
    for pk in queryset.values_list("pk", flat=True):
        try:
            obj = service(pk)
        except PairingError as exc:
            reasons.append(str(exc))
            continue
        done += 1
        model_admin.log_change(request, obj, f"{verb.capitalize()} via admin action.")
    message = f"{done} {verb}, {len(reasons)} skipped"
    if reasons:
        more = " …" if len(reasons) > _MAX_REASONS_SHOWN else ""
        message += ": " + "; ".join(reasons[:_MAX_REASONS_SHOWN]) + more
    level = messages.WARNING if reasons else messages.SUCCESS
    model_admin.message_user(request, message, level=level)


class _ActionOnlyAdmin(admin.ModelAdmin[_M]):
    """No hand-made rows and no edits of a row: decisions go through the actions.

    The change permission holds without an object, so the list offers the actions
    (which need it), and is refused for one object, so its page is read-only.
    """

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: _M | None = None) -> bool:
        return obj is None and super().has_change_permission(request)


@admin.register(AllowlistEntry)
class AllowlistEntryAdmin(admin.ModelAdmin[AllowlistEntry]):
    list_display = [
        "sender_ref",
        "display_name",
        "channel_account",
        "source",
        "added_by",
        "created_at",
    ]
    list_select_related = ["channel_account", "added_by"]
    list_filter = ["source", "channel_account"]
    search_fields = ["sender_ref", "display_name", "note"]
    autocomplete_fields = ["channel_account"]
    fields = [
        "channel_account",
        "sender_ref",
        "display_name",
        "note",
        "source",
        "added_by",
        "created_at",
        "updated_at",
    ]
    readonly_fields = ["source", "added_by", "created_at", "updated_at"]

    @override
    def get_readonly_fields(
        self, request: HttpRequest, obj: AllowlistEntry | None = None
    ) -> list[str]:
        identity = ["channel_account", "sender_ref"] if obj is not None else []
        return [*identity, *self.readonly_fields]

    @override
    def save_model(self, request: HttpRequest, obj: AllowlistEntry, form: Any, change: Any) -> None:
        if change:
            obj.save(update_fields=["display_name", "note", "updated_at"])
            return
        entry = allowlist_entry_add(
            channel_account_id=obj.channel_account_id,
            sender_ref=obj.sender_ref,
            source=AllowlistEntry.Source.MANUAL,
            added_by=_operator(request),
            display_name=obj.display_name,
            note=obj.note,
        )
        # The admin goes on with `obj` (change log, redirect): make it the saved row.
        obj.pk = entry.pk
        obj.refresh_from_db()


_PAIRING_REQUEST_FIELDS = (
    "code",
    "status",
    "channel_account",
    "sender_ref",
    "sender_meta",
    "created_at",
    "expires_at",
    "last_seen_at",
    "decided_by",
    "decided_at",
    "updated_at",
)


@admin.register(PairingRequest)
class PairingRequestAdmin(_ActionOnlyAdmin[PairingRequest]):
    list_display = [
        "code",
        "sender_ref",
        "channel_account",
        "status",
        "created_at",
        "expires_at",
        "last_seen_at",
        "decided_by",
        "decided_at",
    ]
    list_select_related = ["channel_account", "decided_by"]
    list_filter = ["status", "channel_account"]
    search_fields = ["=code", "sender_ref"]
    date_hierarchy = "created_at"
    actions = ["approve", "reject"]
    fields = _PAIRING_REQUEST_FIELDS
    readonly_fields = _PAIRING_REQUEST_FIELDS

    @override
    def get_urls(self) -> list[Any]:
        decide = path(
            "<int:pk>/decide/",
            self.admin_site.admin_view(self.decide_view),
            name="pairing_pairingrequest_decide",
        )
        return [decide, *super().get_urls()]

    @override
    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        """The request's page, with Approve and Reject while it is pending."""
        context = dict(extra_context or {})
        obj = self.get_object(request, object_id)
        if (
            obj is not None
            and obj.status == PairingRequest.Status.PENDING
            and super().has_change_permission(request)
        ):
            context["decide_url"] = reverse("admin:pairing_pairingrequest_decide", args=[obj.pk])
        return super().change_view(request, object_id, form_url, context)

    def decide_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """POST from the request's page: the same approve or reject as the list's actions."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not super().has_change_permission(request):
            raise PermissionDenied
        queryset = PairingRequest.objects.filter(pk=pk)
        if "approve" in request.POST:
            self.approve(request, queryset)
        elif "reject" in request.POST:
            self.reject(request, queryset)
        else:
            self.message_user(request, "Choose Approve or Reject.", level=messages.ERROR)
        return redirect(reverse("admin:pairing_pairingrequest_change", args=[pk]))

    @admin.action(description="Approve selected pairing requests", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[PairingRequest]) -> None:
        """Approve through the service the CLI and RPC use: it allowlists and tells the sender."""
        operator = _operator(request)
        not_told: list[str] = []

        def approve_one(pk: int) -> PairingRequest:
            approval = pairing_request_approve(request_id=pk, decided_by=operator)
            if not approval.notified:
                not_told.append(f"{approval.request.code}: {approval.notice_error}")
            return approval.request

        _run_action(self, request, queryset, approve_one, "approved")
        if not_told:
            self.message_user(
                request,
                "Approved, but the sender was not told (they can write again now): "
                + "; ".join(not_told[:_MAX_REASONS_SHOWN])
                + (" …" if len(not_told) > _MAX_REASONS_SHOWN else ""),
                level=messages.WARNING,
            )

    @admin.action(description="Reject selected pairing requests", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[PairingRequest]) -> None:
        operator = _operator(request)
        _run_action(
            self,
            request,
            queryset,
            lambda pk: pairing_request_reject(request_id=pk, decided_by=operator),
            "rejected",
        )


@admin.register(Device)
class DeviceAdmin(_ActionOnlyAdmin[Device]):
    list_display = [
        "display_name",
        "short_device_id",
        "platform",
        "client_id",
        "role",
        "status",
        "approved_by",
        "approved_at",
        "last_seen_at",
    ]
    list_select_related = ["approved_by"]
    list_filter = ["status", "platform", "role"]
    search_fields = ["=device_id", "display_name", "client_id"]
    actions = ["approve", "reject", "revoke"]
    # token_hash is left out on purpose: not even the hash of a device token is shown.
    fieldsets = [
        (None, {"fields": ["display_name", "status", "device_id", "public_key"]}),
        (
            "Client",
            {
                "fields": [
                    "platform",
                    "device_family",
                    "client_id",
                    "client_mode",
                    "role",
                    "scopes",
                ]
            },
        ),
        (
            "Pairing",
            {
                "fields": [
                    "request_id",
                    "requested_at",
                    "remote_ip",
                    "approved_by",
                    "approved_at",
                    "token_issued_at",
                    "last_seen_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        "display_name",
        "status",
        "device_id",
        "public_key",
        "platform",
        "device_family",
        "client_id",
        "client_mode",
        "role",
        "scopes",
        "request_id",
        "requested_at",
        "remote_ip",
        "approved_by",
        "approved_at",
        "token_issued_at",
        "last_seen_at",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="device id", ordering="device_id")
    def short_device_id(self, obj: Device) -> str:
        return f"{obj.device_id[:12]}…"

    @admin.action(description="Approve selected devices", permissions=["change"])
    def approve(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        operator = _operator(request)
        _run_action(
            self,
            request,
            queryset,
            lambda pk: device_approve(device_pk=pk, approved_by=operator),
            "approved",
        )

    @admin.action(description="Reject selected devices", permissions=["change"])
    def reject(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        _run_action(self, request, queryset, lambda pk: device_reject(device_pk=pk), "rejected")

    @admin.action(
        description="Revoke selected devices (their token stops working)", permissions=["change"]
    )
    def revoke(self, request: HttpRequest, queryset: QuerySet[Device]) -> None:
        _run_action(self, request, queryset, lambda pk: device_revoke(device_pk=pk), "revoked")
