"""Admin of the inbox and outbox: rows the pipeline writes, viewable and deletable."""

from __future__ import annotations

from django.contrib import admin
from django.utils.text import Truncator

from channels_app.models import InboundMessage, OutboundMessage
from core.admin import LEASED_WORK_READONLY, RuntimeWrittenAdmin


@admin.register(InboundMessage)
class InboundMessageAdmin(RuntimeWrittenAdmin[InboundMessage]):
    list_display = [
        "received_at",
        "account",
        "sender_id",
        "sender_name",
        "chat_id",
        "preview",
        "status",
        "decision",
        "attempts",
    ]
    list_select_related = ["account"]
    list_filter = ["status", "account"]
    search_fields = ["sender_id__exact", "chat_id__exact", "external_id__exact"]
    raw_id_fields = ["account"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = LEASED_WORK_READONLY

    @admin.display(description="text")
    def preview(self, obj: InboundMessage) -> str:
        return Truncator(obj.text).chars(60)


@admin.register(OutboundMessage)
class OutboundMessageAdmin(RuntimeWrittenAdmin[OutboundMessage]):
    list_display = [
        "created_at",
        "account",
        "chat_id",
        "preview",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
    ]
    list_select_related = ["account"]
    list_filter = ["status", "account"]
    search_fields = ["chat_id__exact", "external_id__exact", "dedupe_key__exact"]
    raw_id_fields = ["account", "reply_to"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = LEASED_WORK_READONLY

    @admin.display(description="text")
    def preview(self, obj: OutboundMessage) -> str:
        return Truncator(obj.text).chars(60)
