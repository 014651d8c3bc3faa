"""Admin for channel accounts and the inbox and outbox.

A channel account's credentials are write-only here: the page shows which keys are set,
masked, and a blank field that replaces them when filled. The stored secret never goes
into the HTML, not even as a form's initial value.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from typing_extensions import override

from channels_app.models import ChannelAccount, InboundMessage, OutboundMessage
from core.admin import LEASED_WORK_READONLY, RuntimeWrittenAdmin, mask_secret
from core.fields import Undecryptable

CREDENTIALS_EXAMPLE = '{"bot_token": "123:ABC"}'


def credentials_summary(credentials: object) -> SafeString | str:
    """Describe stored credentials without revealing them: key names and masked values."""
    if isinstance(credentials, Undecryptable):
        return "cannot be decrypted: encryption key changed (enter the credentials again below)"
    if not isinstance(credentials, dict) or not credentials:
        return "not set"
    return format_html_join(
        mark_safe("<br>"),
        "<code>{}</code>: {}",
        ((key, mask_secret(value)) for key, value in sorted(credentials.items())),
    )


class SecretTextarea(forms.Textarea):
    """A textarea that never renders a value, so a secret typed in is not sent back."""

    @override
    def format_value(self, value: Any) -> str | None:
        return None


class CredentialsField(forms.Field):
    """Optional JSON object; blank means "keep what is stored" (cleans to ``None``)."""

    widget = SecretTextarea(attrs={"rows": 3, "autocomplete": "off", "spellcheck": "false"})

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(required=False, **kwargs)

    @override
    def to_python(self, value: Any) -> dict[str, Any] | None:
        text = str(value).strip() if value is not None else ""
        if not text:
            return None
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the message must not echo the secret.
            raise ValidationError(
                "Enter the credentials as a JSON object, e.g. %(example)s "
                "(this is not valid JSON: %(error)s at line %(line)s, column %(column)s).",
                code="invalid",
                params={
                    "example": CREDENTIALS_EXAMPLE,
                    "error": exc.msg,
                    "line": exc.lineno,
                    "column": exc.colno,
                },
            ) from None
        if not isinstance(parsed, dict):
            raise ValidationError(
                "Enter the credentials as a JSON object with named values, e.g. %(example)s.",
                code="not_an_object",
                params={"example": CREDENTIALS_EXAMPLE},
            )
        return parsed


class ChannelAccountAdminForm(forms.ModelForm[ChannelAccount]):
    credentials = CredentialsField(
        label="New credentials (JSON object)",
        help_text=f"Replaces the stored credentials, e.g. {CREDENTIALS_EXAMPLE} for Telegram. "
        "Leave blank to keep them; {} removes them.",
    )

    class Meta:
        model = ChannelAccount
        fields = [
            "kind",
            "account_id",
            "name",
            "enabled",
            "mode",
            "credentials",
            "dm_policy",
            "allow_from",
            "group_policy",
            "group_allow_from",
            "require_mention",
        ]
        help_texts = {
            "allow_from": 'Senders allowed to DM, as a JSON list of ids, e.g. ["123456", '
            '"@alice"]; ["*"] allows anyone (needed by dmPolicy "open"). [] for none.',
            "group_allow_from": 'Senders allowed in groups, as a JSON list, e.g. ["123456"]; '
            "[] for none.",
            "account_id": "Lowercase id of this bot within its channel; 'default' for the first.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.initial.pop("credentials", None)

    def clean_credentials(self) -> Any:
        new = self.cleaned_data.get("credentials")
        # Blank keeps the stored value; if that cannot be decrypted, the model's clean()
        # rejects it and asks for new credentials on this field.
        return self.instance.credentials if new is None else new


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin[ChannelAccount]):
    form = ChannelAccountAdminForm
    list_display = [
        "kind",
        "account_id",
        "name",
        "enabled",
        "mode",
        "dm_policy",
        "group_policy",
        "poll_lease_expires_at",
        "updated_at",
    ]
    list_filter = ["kind", "enabled", "mode", "dm_policy"]
    search_fields = ["account_id", "name"]
    readonly_fields = [
        "stored_credentials",
        "related",
        "public_id",
        "cursor",
        "poll_lease_owner",
        "poll_lease_expires_at",
        "last_error",
        "created_at",
        "updated_at",
    ]
    fieldsets = [
        (None, {"fields": ["kind", "account_id", "name", "enabled", "mode", "related"]}),
        ("Credentials", {"fields": ["stored_credentials", "credentials"]}),
        (
            "Access policy",
            {
                "fields": [
                    "dm_policy",
                    "allow_from",
                    "group_policy",
                    "group_allow_from",
                    "require_mention",
                ]
            },
        ),
        (
            "Runtime state",
            {
                "fields": [
                    "last_error",
                    "cursor",
                    "poll_lease_owner",
                    "poll_lease_expires_at",
                    "public_id",
                    "created_at",
                    "updated_at",
                ],
                "classes": ["collapse"],
            },
        ),
    ]

    @admin.display(description="stored credentials")
    def stored_credentials(self, obj: ChannelAccount) -> SafeString | str:
        return credentials_summary(obj.credentials if obj.pk else None)

    @admin.display(description="messages and senders")
    def related(self, obj: ChannelAccount) -> SafeString | str:
        if not obj.pk:
            return "-"
        links = [
            ("channels_app_inboundmessage", "account", "inbox"),
            ("channels_app_outboundmessage", "account", "outbox"),
            ("pairing_allowlistentry", "channel_account", "allowlist"),
            ("pairing_pairingrequest", "channel_account", "pairing requests"),
        ]
        return format_html_join(
            " · ",
            '<a href="{}?{}__id__exact={}">{}</a>',
            ((reverse(f"admin:{name}_changelist"), fk, obj.pk, label) for name, fk, label in links),
        )

    @override
    def save_model(self, request: HttpRequest, obj: ChannelAccount, form: Any, change: Any) -> None:
        if not change:
            obj.save()
            return
        # The poller writes the cursor and lease columns of this row while the form is
        # open; saving every column would put stale values back.
        obj.save(update_fields=[*form.fields, "updated_at"])


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
