"""Admin for sessions, their transcripts and the session settings.

A transcript can hold thousands of messages, so a session links to the message list
filtered on it instead of showing them inline. Messages are written by the runtime only.
The session settings (OpenClaw ``session.*``) are one row, saved through the service.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.text import Truncator

from core.admin import RuntimeWrittenAdmin
from sessions_app.models import Message, Session, SessionSettings
from sessions_app.services import (
    SessionSettingsError,
    session_reset,
    session_settings_clean,
    session_settings_set,
)
from sessions_app.wire import message_text


def _transcript_link(session: Session) -> SafeString:
    url = reverse("admin:sessions_app_message_changelist")
    count = session.last_seq
    return format_html(
        '<a href="{}">read as a chat</a> · <a href="{}?session__id__exact={}">{} message{}</a>',
        reverse("admin:sessions_app_session_transcript", args=[session.pk]),
        url,
        session.pk,
        count,
        "" if count == 1 else "s",
    )


TRANSCRIPT_PAGE = 200


def _bubble(message: Message) -> dict[str, Any]:
    """One transcript entry as the chat page shows it: who, when, what."""
    text = message_text(message.content)
    calls = [
        f"{block.get('name', 'tool')}({json.dumps(block.get('arguments', block.get('input', {})))[:300]})"
        for block in message.content or []
        if isinstance(block, dict) and block.get("type") in ("toolCall", "tool_use")
    ]
    return {
        "role": message.role,
        "label": Message.Role(message.role).label
        if message.role in Message.Role.values
        else message.role,
        "text": text,
        "calls": calls,
        "model": message.model,
        "at": message.created_at,
        "seq": message.seq,
    }


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
    actions = ["reset"]

    def get_urls(self) -> list[Any]:
        chat = path(
            "<int:pk>/transcript/",
            self.admin_site.admin_view(self.transcript_view),
            name="sessions_app_session_transcript",
        )
        return [chat, *super().get_urls()]

    def transcript_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        """The session's transcript, oldest first, readable like a chat (the last 200)."""
        session = self.get_object(request, str(pk))
        if session is None or not self.has_view_permission(request, session):
            raise PermissionDenied
        newest = list(
            Message.objects.filter(session=session).order_by("-seq")[: TRANSCRIPT_PAGE + 1]
        )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Transcript of {session.key}",
            "session": session,
            "opts": self.model._meta,
            "messages_shown": [_bubble(m) for m in reversed(newest[:TRANSCRIPT_PAGE])],
            "older": len(newest) > TRANSCRIPT_PAGE,
            "reset_at": session.last_reset_at,
        }
        return TemplateResponse(request, "admin/sessions_app/session/transcript.html", context)

    @admin.action(
        description="Reset selected sessions (start over; transcripts kept)", permissions=["change"]
    )
    def reset(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        """As /new and sessions.reset do: a new session id; the old transcript stays."""
        keys = list(queryset.values_list("key", flat=True))
        for key in keys:
            session_reset(key=key, reason="reset")
        self.message_user(request, f"{len(keys)} session(s) start over", level=messages.SUCCESS)

    # Written by the runtime only (heartbeats, chats): nothing to add by hand.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

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


# OpenClaw path of a settings error → the form field that shows it.
_SETTINGS_FIELDS = {
    "session.dmScope": "dm_scope",
    "session.identityLinks": "identity_links",
    "session.reset.mode": "reset_mode",
    "session.reset.atHour": "reset_at_hour",
    "session.reset.idleMinutes": "reset_idle_minutes",
}


def _settings_values(data: dict[str, Any]) -> dict[str, Any]:
    """The form's values as the OpenClaw settings the service takes."""
    return {
        "dm_scope": data.get("dm_scope"),
        "identity_links": data.get("identity_links"),
        "reset": {
            "mode": data.get("reset_mode"),
            "atHour": data.get("reset_at_hour"),
            "idleMinutes": data.get("reset_idle_minutes"),
        },
    }


class SessionSettingsForm(forms.ModelForm[SessionSettings]):
    class Meta:
        model = SessionSettings
        fields = ["dm_scope", "identity_links", "reset_mode", "reset_at_hour", "reset_idle_minutes"]
        help_texts = {
            "dm_scope": "How direct messages share sessions (OpenClaw session.dmScope).",
            "identity_links": "One person on several channels shares one DM session, e.g. "
            '{"alice": ["telegram:123456", "discord:987654"]}. Not used with DM scope main.',
        }

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                session_settings_clean(**_settings_values(data))
            except SessionSettingsError as exc:
                field = next(
                    (f for path, f in _SETTINGS_FIELDS.items() if exc.field.startswith(path)), None
                )
                self.add_error(field, exc.message)
        return data


@admin.register(SessionSettings)
class SessionSettingsAdmin(admin.ModelAdmin[SessionSettings]):
    """The one settings row: its list and add pages lead to it; never deleted (edit it
    back instead). The row is checked on these pages only, not on every admin page."""

    form = SessionSettingsForm
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        ("Direct messages", {"fields": ["dm_scope", "identity_links"]}),
        ("Reset", {"fields": ["reset_mode", "reset_at_hour", "reset_idle_minutes"]}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    def _row_url(self) -> str | None:
        if not SessionSettings.objects.filter(pk=SessionSettings.SINGLETON_PK).exists():
            return None
        return reverse(
            "admin:sessions_app_sessionsettings_change", args=[SessionSettings.SINGLETON_PK]
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        row_url = self._row_url()
        if row_url is None and not self.has_add_permission(request):
            return super().changelist_view(request, extra_context)  # a viewer: nothing yet
        return redirect(row_url or reverse("admin:sessions_app_sessionsettings_add"))

    def add_view(
        self,
        request: HttpRequest,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        row_url = self._row_url()
        if row_url is not None:
            return redirect(row_url)
        return super().add_view(request, form_url, extra_context)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: SessionSettings, form: Any, change: bool
    ) -> None:
        session_settings_set(**_settings_values(form.cleaned_data))
