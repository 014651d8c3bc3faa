"""Admin for model providers (write-only API keys) and the keys' cooldown state."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from typing_extensions import override

from agents.admin.common import STRING_LIST_HELP
from agents.models import AuthProfileState, ModelProvider
from core import audit
from core.admin import RuntimeWrittenAdmin, mask_secret
from core.fields import Undecryptable


class ModelProviderAdminForm(forms.ModelForm[ModelProvider]):
    """The key is write-only: blank keeps the stored one, a value replaces it."""

    api_key = forms.CharField(
        label="API key",
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted and never shown again. Leave blank to keep the current key.",
    )

    base_url = forms.URLField(
        label="base URL",
        required=False,
        assume_scheme="https",
        max_length=500,
        help_text=ModelProvider._meta.get_field("base_url").help_text,
    )

    class Meta:
        model = ModelProvider
        fields = ["provider", "label", "api", "base_url", "model_ids", "priority", "enabled"]
        help_texts = {
            "model_ids": STRING_LIST_HELP.format(example='["llama3.2", "qwen2.5"]'),
        }

    @override
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        new_key = (cleaned.get("api_key") or "").strip()
        if new_key:
            self.instance.api_key = new_key
        return cleaned


@admin.register(ModelProvider)
class ModelProviderAdmin(admin.ModelAdmin[ModelProvider]):
    form = ModelProviderAdminForm
    list_display = ["__str__", "provider", "api", "base_url", "key_summary", "priority", "enabled"]
    list_filter = ["provider", "api", "enabled"]
    search_fields = ["provider", "label", "base_url"]
    readonly_fields = ["key_summary", "created_at", "updated_at"]
    # api_key is the form's own write-only field (ModelProviderAdminForm), not the model's.
    exclude = ["api_key"]
    fields = [
        "provider",
        "label",
        "api",
        "base_url",
        "key_summary",
        "api_key",
        "model_ids",
        "priority",
        "enabled",
        "created_at",
        "updated_at",
    ]

    @admin.display(description="key")
    def key_summary(self, obj: ModelProvider) -> str:
        return masked_secret(obj.api_key)


@admin.register(AuthProfileState)
class AuthProfileStateAdmin(RuntimeWrittenAdmin[AuthProfileState]):
    list_display = [
        "profile_id",
        "error_count",
        "cooldown_until",
        "last_error_reason",
        "last_error_at",
        "last_used_at",
    ]
    list_filter = ["last_error_reason"]
    search_fields = ["profile_id"]
    actions = ["clear_cooldown"]

    @admin.action(description="Clear the cooldown (try these keys again now)")
    def clear_cooldown(self, request: HttpRequest, queryset: Any) -> None:
        cleared = {"error_count": 0, "cooldown_until": None}
        for state in queryset:  # an update sends no signal: recorded here (core.audit)
            before = {"error_count": state.error_count, "cooldown_until": state.cooldown_until}
            audit.record("update", state, before=before, after=cleared)
        count = queryset.update(**cleared)
        self.message_user(request, f"Cleared the cooldown of {count} key(s).")


def masked_secret(value: object) -> str:
    """A stored key described without revealing it: "not set", or dots and its last 4."""
    if isinstance(value, Undecryptable):
        return "cannot be decrypted: the encryption key changed (enter the key again)"
    if not value:
        return "not set"
    return mask_secret(str(value))
