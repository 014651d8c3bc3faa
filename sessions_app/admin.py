"""Admin for sessions and their transcripts.

A transcript can hold thousands of messages, so a session links to the message list
filtered on it instead of showing them inline. Messages are written by the runtime only.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from core.admin import RuntimeWrittenAdmin
from sessions_app.models import Message, Session


def _transcript_link(session: Session) -> SafeString:
    url = reverse("admin:sessions_app_message_changelist")
    return format_html(
        '<a href="{}?session__id__exact={}">{} messages</a>', url, session.pk, session.last_seq
    )


class SessionAdminForm(forms.ModelForm[Session]):
    class Meta:
        model = Session
        fields = [
            "key",
            "agent_slug",
            "channel",
            "account_id",
            "peer_kind",
            "peer_id",
            "chat_type",
            "origin",
            "label",
            "display_name",
            "model_override",
            "thinking_level",
            "queue_mode",
            "reset_mode",
            "reset_at_hour",
            "reset_idle_minutes",
        ]
        help_texts = {
            "key": "Canonical lowercase key, e.g. agent:main:main or "
            "agent:main:telegram:direct:123456.",
            "origin": 'A JSON object describing where the session started, e.g. {"channel": '
            '"telegram", "chat_id": "123456"}; {} if unknown.',
            "model_override": "provider/model for this session only; blank = the agent's model.",
            "reset_at_hour": "0-23, for the daily reset.",
            "reset_idle_minutes": "At least 1, for the idle reset.",
        }


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin[Session]):
    form = SessionAdminForm
    list_display = [
        "key",
        "agent_slug",
        "channel",
        "chat_type",
        "display_name",
        "total_tokens",
        "transcript",
        "last_activity_at",
    ]
    list_filter = ["channel", "chat_type", "agent_slug", "reset_mode"]
    search_fields = ["key", "display_name", "label", "=peer_id", "=session_id"]
    readonly_fields = [
        "public_id",
        "session_id",
        "transcript",
        "last_seq",
        "last_activity_at",
        "last_reset_at",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "context_tokens",
        "compaction_count",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["key", "agent_slug", "label", "display_name", "transcript"]}),
        (
            "Conversation",
            {"fields": ["channel", "account_id", "chat_type", "peer_kind", "peer_id", "origin"]},
        ),
        ("Overrides", {"fields": ["model_override", "thinking_level", "queue_mode"]}),
        (
            "Reset",
            {"fields": ["reset_mode", "reset_at_hour", "reset_idle_minutes", "last_reset_at"]},
        ),
        (
            "Usage",
            {
                "fields": [
                    "input_tokens",
                    "output_tokens",
                    "total_tokens",
                    "context_tokens",
                    "compaction_count",
                ]
            },
        ),
        (
            "Identity and history",
            {
                "fields": [
                    "public_id",
                    "session_id",
                    "last_seq",
                    "last_activity_at",
                    "created_at",
                    "updated_at",
                ],
                "classes": ["collapse"],
            },
        ),
    ]

    @admin.display(description="transcript")
    def transcript(self, obj: Session) -> SafeString | str:
        return _transcript_link(obj) if obj.pk else "-"


@admin.register(Message)
class MessageAdmin(RuntimeWrittenAdmin[Message]):
    list_display = ["session", "seq", "role", "preview", "model", "created_at"]
    list_select_related = ["session"]
    list_filter = ["role"]
    search_fields = ["session__key__exact", "=run_public_id"]
    raw_id_fields = ["session"]
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]

    @admin.display(description="text")
    def preview(self, obj: Message) -> str:
        return Truncator(obj.text).chars(80)
