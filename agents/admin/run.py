"""Admin for runs and their steps: written by the runtime only, so read-only here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from typing_extensions import override

from agents.models import Run, RunStep
from agents.services.runs import run_abort
from core.admin import LEASED_WORK_READONLY, RuntimeWrittenAdmin

_STEP_FIELDS = ("step_no", "kind", "status", "tool_name", "error", "started_at", "finished_at")


class RunStepInline(admin.TabularInline[RunStep, Run]):
    model = RunStep
    fields = _STEP_FIELDS
    readonly_fields = _STEP_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    @override
    def get_queryset(self, request: HttpRequest) -> Any:
        # Each row prints str(step), which reads step.run.
        return super().get_queryset(request).select_related("run")

    @override
    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(RuntimeWrittenAdmin[Run]):
    actions = ["abort"]

    def has_abort_permission(self, request: HttpRequest) -> bool:
        """Aborting needs the change permission, though no field of a run is edited."""
        return bool(request.user.has_perm("agents.change_run"))

    @admin.action(description="Abort selected runs in flight", permissions=["abort"])
    def abort(self, request: HttpRequest, queryset: QuerySet[Run]) -> None:
        """As chat.abort does: a queued run ends at once, a running one at its next check."""
        aborted: list[str] = []
        for run in queryset.filter(
            status__in=[Run.Status.QUEUED, Run.Status.RUNNING]
        ).select_related("session"):
            aborted += run_abort(session_key=run.session.key, run_id=run.run_id)
        skipped = queryset.count() - len(aborted)
        self.message_user(
            request,
            f"{len(aborted)} aborted, {skipped} skipped (not in flight)",
            level=messages.WARNING if skipped else messages.SUCCESS,
        )

    list_display = [
        "run_id",
        "agent",
        "session",
        "status",
        "origin",
        "model",
        "step_count",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["agent", "session"]
    list_filter = ["status", "origin", "cancel_requested"]
    search_fields = ["run_id__exact", "session__key__exact"]
    raw_id_fields = ["agent", "session"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [RunStepInline]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "run_id",
                    "public_id",
                    "agent",
                    "session",
                    "status",
                    "origin",
                    "model",
                    "model_override",
                ]
            },
        ),
        (
            "Progress",
            {"fields": ["step_count", "max_steps", "cancel_requested", "trigger_seq", "usage"]},
        ),
        ("Reply", {"fields": ["reply_to"]}),
        ("Error", {"fields": ["error_kind", "error_message"]}),
        (
            "Lease and timing",
            {
                "fields": [
                    "lease_owner",
                    "lease_expires_at",
                    "attempts",
                    "started_at",
                    "finished_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    readonly_fields = LEASED_WORK_READONLY


@admin.register(RunStep)
class RunStepAdmin(RuntimeWrittenAdmin[RunStep]):
    list_display = ["run", "step_no", "kind", "status", "tool_name", "created_at", "finished_at"]
    list_select_related = ["run"]
    list_filter = ["kind", "status"]
    search_fields = ["run__run_id__exact", "tool_call_id__exact", "tool_name__exact"]
    raw_id_fields = ["run"]
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]
