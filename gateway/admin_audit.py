"""The audit log in the admin: read by viewers, operators and superusers; edited by nobody.

Add, change and delete are refused to everyone, superusers included (a POST to an entry
answers 403), so what the log says is what happened. Entries are written only by
``gateway.audit``.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from typing_extensions import override

from gateway.models import AuditEntry

_SUMMARY_FIELDS = 4


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value or '""'
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin[AuditEntry]):
    list_display = ["at", "actor_kind", "actor", "action", "model", "object_repr", "changed"]
    list_filter = ["actor_kind", "model", "action", "at"]
    search_fields = ["actor", "object_repr", "=object_pk", "source", "action"]
    # Only ever grows: no COUNT(*) of the whole table on every page.
    show_full_result_count = False
    list_per_page = 100
    fields = (
        "at",
        "actor_kind",
        "actor",
        "source",
        "action",
        "model",
        "object_pk",
        "object_repr",
        "diff",
    )
    readonly_fields = fields

    @override
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @override
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="changed")
    def changed(self, obj: AuditEntry) -> str:
        names = list(obj.changes)
        more = len(names) - _SUMMARY_FIELDS
        return ", ".join(names[:_SUMMARY_FIELDS]) + (f" (+{more})" if more > 0 else "")

    @admin.display(description="changes")
    def diff(self, obj: AuditEntry) -> SafeString | str:
        if not obj.changes:
            return "—"
        rows = format_html_join(
            "",
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            (
                (name, _shown(pair[0]), _shown(pair[1]))
                for name, pair in obj.changes.items()
                if isinstance(pair, list) and len(pair) == 2
            ),
        )
        return format_html(
            "<table><thead><tr><th>field</th><th>before</th><th>after</th></tr></thead>"
            "<tbody>{}</tbody></table>",
            rows,
        )
