"""Admin for cron jobs."""

from __future__ import annotations

from django import forms
from django.contrib import admin

from agents.models import CronJob

# When a cron job runs (OpenClaw's ``schedule``), and its next time.
SCHEDULE_FIELDS = (
    "schedule_kind",
    "at",
    "every_ms",
    "cron_expr",
    "tz",
    "stagger_ms",
    "next_run_at",
)


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
            "wake_mode",
            "payload",
            "delivery",
            "failure_alert",
        ]
        help_texts = {
            "payload": 'A JSON object: {"kind": "agentTurn", "message": "..."} for an isolated '
            'job, {"kind": "systemEvent", "text": "..."} for a main-session job.',
            "delivery": "Where an isolated job's reply goes, e.g. "
            '{"channel": "telegram", "to": "123456"}; {} to keep it in the session.',
            "failure_alert": "A JSON object; {} for none.",
            "tz": "IANA time zone for cron expressions, e.g. Europe/Berlin; blank = UTC.",
        }


@admin.register(CronJob)
class CronJobAdmin(admin.ModelAdmin[CronJob]):
    form = CronJobAdminForm
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
        "running_at",
        "last_run_at",
        "last_status",
        "last_error",
        "last_duration_ms",
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
                "fields": SCHEDULE_FIELDS,
                "description": "Fill the field of the chosen kind: a time for 'at', milliseconds "
                "(at least 1000) for 'every', or a 5/6-field cron expression such as "
                "'0 9 * * 1-5' for 'cron'.",
            },
        ),
        (
            "What runs",
            {"fields": ["session_target", "wake_mode", "payload", "delivery", "failure_alert"]},
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
                    "consecutive_errors",
                ]
            },
        ),
        ("History", {"fields": ["public_id", "created_at", "updated_at"], "classes": ["collapse"]}),
    ]
