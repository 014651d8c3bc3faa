"""Admin for cluster nodes and operator tokens.

A token is created through ``gateway_token_create``: its plaintext is shown once, in the
message after saving, and only its sha256 is stored. The hash itself is never shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from typing_extensions import override

from gateway import admin_audit  # noqa: F401  (registers the audit log's admin)
from gateway import scopes as gw_scopes
from gateway.models import GatewayToken, Node
from gateway.services import (
    TokenError,
    gateway_token_create,
    gateway_token_revoke,
    gateway_token_rotate,
)

if TYPE_CHECKING:
    from django.contrib.admin.options import _FieldsetSpec


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin[Node]):
    """Read-only: each Celery worker registers and heartbeats its own node
    (gateway.nodes); a node gone for a day is deleted by the node sweep."""

    list_display = [
        "node_id",
        "host",
        "online",
        "skill_list",
        "max_concurrent_tasks",
        "tasks_in_flight",
        "last_heartbeat_at",
    ]
    list_filter = ["status", "platform"]
    search_fields = ["node_id", "host", "display_name"]
    fields = (
        "node_id",
        "display_name",
        "host",
        "pid",
        "platform",
        "version",
        "skills",
        "queues",
        "max_concurrent_tasks",
        "tasks_in_flight",
        "status",
        "status_changed_at",
        "started_at",
        "last_heartbeat_at",
        "instance_id",
    )
    readonly_fields = fields

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: Node | None = None) -> bool:
        return False

    @admin.display(boolean=True, description="online", ordering="last_heartbeat_at")
    def online(self, obj: Node) -> bool:
        return obj.is_alive

    @admin.display(description="skills")
    def skill_list(self, obj: Node) -> str:
        return ", ".join(obj.skills)


class GatewayTokenAddForm(forms.ModelForm[GatewayToken]):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in gw_scopes.ALL_SCOPES],
        widget=forms.CheckboxSelectMultiple,
        initial=[gw_scopes.ADMIN],
        help_text=f"{gw_scopes.ADMIN} allows everything; the others limit the token.",
    )

    class Meta:
        model = GatewayToken
        fields = ["name", "scopes"]
        help_texts = {"name": "Who or what uses this token, e.g. laptop-cli."}


@admin.register(GatewayToken)
class GatewayTokenAdmin(admin.ModelAdmin[GatewayToken]):
    list_display = [
        "name",
        "token_prefix",
        "scope_list",
        "source",
        "active",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["source", ("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["name", "prefix"]
    actions = ["rotate", "revoke"]
    _change_readonly = [
        "token_prefix",
        "scope_list",
        "source",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]

    @override
    def get_fieldsets(self, request: HttpRequest, obj: GatewayToken | None = None) -> _FieldsetSpec:
        if obj is None:
            return [(None, {"fields": ["name", "scopes"]})]
        return [
            (None, {"fields": ["name", "token_prefix", "scope_list", "source"]}),
            ("Use", {"fields": ["created_at", "last_used_at", "revoked_at"]}),
        ]

    @override
    def get_readonly_fields(
        self, request: HttpRequest, obj: GatewayToken | None = None
    ) -> list[str]:
        return [] if obj is None else list(self._change_readonly)

    @override
    def get_form(
        self,
        request: HttpRequest,
        obj: GatewayToken | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> type[forms.ModelForm[GatewayToken]]:
        if obj is None:
            kwargs["form"] = GatewayTokenAddForm
        return super().get_form(request, obj, change, **kwargs)

    @override
    def save_model(self, request: HttpRequest, obj: GatewayToken, form: Any, change: Any) -> None:
        if change:
            obj.save(update_fields=["name", "updated_at"])
            return
        issued = gateway_token_create(name=obj.name, scopes=list(form.cleaned_data["scopes"]))
        # The admin goes on with `obj` (change log, redirect): make it the saved row.
        obj.pk = issued.record.pk
        obj.refresh_from_db()
        self.message_user(
            request,
            f"The new token is {issued.token} - copy it now, it is not stored "
            "and cannot be shown again.",
            level=messages.WARNING,
        )

    @admin.display(description="token")
    def token_prefix(self, obj: GatewayToken) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="scopes")
    def scope_list(self, obj: GatewayToken) -> str:
        return ", ".join(obj.scopes)

    @admin.display(boolean=True, description="active", ordering="revoked_at")
    def active(self, obj: GatewayToken) -> bool:
        return obj.revoked_at is None

    @admin.action(
        description="Rotate selected tokens (new values shown once)", permissions=["change"]
    )
    def rotate(self, request: HttpRequest, queryset: QuerySet[GatewayToken]) -> None:
        """The service ``gateway_token rotate`` uses: same name and scopes, the old revoked."""
        for pk in queryset.values_list("pk", flat=True):
            try:
                issued = gateway_token_rotate(token_pk=pk)
            except TokenError as exc:
                self.message_user(request, str(exc), level=messages.ERROR)
                continue
            self.message_user(
                request,
                f"Token {pk} revoked; its replacement ({issued.record.name}) is {issued.token} "
                "- copy it now, it is not stored and cannot be shown again.",
                level=messages.WARNING,
            )

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[GatewayToken]) -> None:
        done = 0
        skipped = 0
        for pk in queryset.values_list("pk", flat=True):
            if gateway_token_revoke(token_pk=pk):
                done += 1
            else:
                skipped += 1
        message = f"{done} revoked, {skipped} skipped"
        if skipped:
            message += " (already revoked)"
        self.message_user(request, message, level=messages.WARNING if skipped else messages.SUCCESS)
