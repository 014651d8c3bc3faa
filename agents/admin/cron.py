"""Admin for cron jobs and their run history.

Saving, deleting and "Run now" go through ``agents.services.cron`` (the same calls as the
``cron.*`` RPCs): a saved job gets its next run there, and "Run now" claims it as the
tick does. Runs are written by the cron service only, so their admin is read-only.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from typing_extensions import override

from agents.lib import cron_schedule
from agents.models import CronJob, CronRun
from agents.services import cron as cron_service
from core.admin import RuntimeWrittenAdmin

# When a cron job runs (OpenClaw's ``schedule``).
SCHEDULE_FIELDS = ("schedule_kind", "at", "every_ms", "cron_expr", "tz", "stagger_ms")


class CronJobAdminForm(forms.ModelForm[CronJob]):
    class Meta:
        model = CronJob
        fields = [
            "name",
            "description",
            "enabled",
            "agent",
            "session_key",
            "delete_after_run",
            *SCHEDULE_FIELDS,
            "session_target",
            "target_session_key",
            "wake_mode",
            "payload",
            "delivery",
            "failure_alert",
        ]
        help_texts = {
            "payload": 'A JSON object: {"kind": "agentTurn", "message": "..."} for an isolated '
            'job, {"kind": "systemEvent", "text": "..."} for a main-session job. An agent '
            'turn also takes "model", "timeoutSeconds" and "toolsAllow".',
            "delivery": "Where an isolated job's reply goes, e.g. "
            '{"mode": "announce", "channel": "telegram", "to": "123456"}; {} to keep it in '
            "the session.",
            "failure_alert": "A JSON object; {} for none.",
            "tz": "IANA time zone for cron expressions, e.g. Europe/Berlin; blank = UTC.",
            "target_session_key": "The session of a 'named session' job, e.g. agent:main:ops.",
        }

    @override
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        job = self.instance
        at = cleaned.get("at")
        at_changed = job._state.adding or "at" in self.changed_data
        is_at = cleaned.get("schedule_kind") == CronJob.ScheduleKind.AT
        if is_at and at and at_changed and at <= timezone.now():
            self.add_error("at", "This time is in the past; pick a future time.")
        return cleaned


@admin.register(CronJob)
class CronJobAdmin(admin.ModelAdmin[CronJob]):
    form = CronJobAdminForm
    actions = ["run_now"]
    list_display = [
        "name",
        "agent",
        "enabled",
        "schedule_kind",
        "session_target",
        "next_run_at",
        "last_run_at",
        "last_status",
        "consecutive_errors",
    ]
    list_select_related = ["agent"]
    list_filter = ["enabled", "schedule_kind", "session_target", "last_status"]
    search_fields = ["name", "description", "session_key"]
    autocomplete_fields = ["agent"]
    readonly_fields = [
        "public_id",
        "next_run_at",
        "upcoming",
        "running_at",
        "last_run_at",
        "last_status",
        "last_error",
        "last_duration_ms",
        "last_delivery_status",
        "consecutive_errors",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "name",
                    "description",
                    "enabled",
                    "agent",
                    "session_key",
                    "delete_after_run",
                ]
            },
        ),
        (
            "Schedule",
            {
                "fields": [*SCHEDULE_FIELDS, "next_run_at", "upcoming"],
                "description": "Fill the field of the chosen kind: a time for 'at', milliseconds "
                "(at least 1000) for 'every', or a 5/6-field cron expression such as "
                "'0 9 * * 1-5' for 'cron'. The next run is computed when you save.",
            },
        ),
        (
            "What runs",
            {
                "fields": [
                    "session_target",
                    "target_session_key",
                    "wake_mode",
                    "payload",
                    "delivery",
                    "failure_alert",
                ]
            },
        ),
        (
            "Last run",
            {
                "fields": [
                    "running_at",
                    "last_run_at",
                    "last_status",
                    "last_error",
                    "last_duration_ms",
                    "last_delivery_status",
                    "consecutive_errors",
                ]
            },
        ),
        ("History", {"fields": ["public_id", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @admin.display(description="next runs")
    def upcoming(self, job: CronJob) -> str:
        if job._state.adding or not job.enabled:
            return "-"
        after = job.next_run_at or timezone.now()
        times = [after]
        cursor = after
        for _ in range(4):
            nxt = cron_schedule.next_run(job.schedule, after=cursor, job_id=str(job.public_id))
            if nxt is None:
                break
            times.append(nxt)
            cursor = nxt
        return ", ".join(timezone.localtime(t).strftime("%Y-%m-%d %H:%M:%S %Z") for t in times)

    @override
    def has_change_permission(self, request: HttpRequest, obj: CronJob | None = None) -> bool:
        # An agent's heartbeat job follows its config (agents.defaults.heartbeat): read-only.
        if obj is not None and obj.declaration_key:
            return False
        return super().has_change_permission(request, obj)

    @override
    def has_delete_permission(self, request: HttpRequest, obj: CronJob | None = None) -> bool:
        if obj is not None and obj.declaration_key:
            return False
        return super().has_delete_permission(request, obj)

    @override
    def save_model(
        self, request: HttpRequest, obj: CronJob, form: forms.ModelForm[CronJob], change: bool
    ) -> None:
        cron_service.cron_job_save(job=obj, changed=form.changed_data)

    @override
    def delete_model(self, request: HttpRequest, obj: CronJob) -> None:
        cron_service.cron_remove(job_id=str(obj.public_id))

    @override
    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CronJob]) -> None:
        for public_id in queryset.filter(declaration_key="").values_list("public_id", flat=True):
            cron_service.cron_remove(job_id=str(public_id))
        kept = list(queryset.exclude(declaration_key="").values_list("name", flat=True))
        if kept:
            self.message_user(
                request,
                f"Not deleted: {', '.join(kept)} (an agent's heartbeat follows its config; "
                "set agents.defaults.heartbeat.every to 0m to turn it off)",
                level=messages.WARNING,
            )

    @admin.action(description="Run selected cron jobs now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[CronJob]) -> None:
        """As ``cron.run`` does: claim each job and start it (not one already running)."""
        started, busy = 0, 0
        for public_id in queryset.values_list("public_id", flat=True):
            outcome = cron_service.cron_run_now(job_id=str(public_id))
            started += outcome.ran
            busy += not outcome.ran
        self.message_user(
            request,
            f"{started} started, {busy} skipped (already running)",
            level=messages.WARNING if busy else messages.SUCCESS,
        )


@admin.register(CronRun)
class CronRunAdmin(RuntimeWrittenAdmin[CronRun]):
    list_display = [
        "job_name",
        "trigger",
        "status",
        "scheduled_for",
        "started_at",
        "finished_at",
        "delivery_status",
        "agent_slug",
    ]
    list_filter = ["status", "trigger", "delivery_status"]
    search_fields = ["job_name", "job_public_id__exact", "session_key__exact"]
    raw_id_fields = ["job", "run"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [
        field.name for field in CronRun._meta.get_fields() if getattr(field, "concrete", False)
    ]
