"""Admin of channel accounts: a form per kind with a connector, live state, no secrets.

A Telegram account is edited with a write-only bot token, checked with getMe before
anything is saved; the list and the page show what the account is doing (polling,
webhook, failed and why, backing off), its bot and its last update. Accounts of kinds
without a connector (rows from before connectors) can be viewed and deleted, not edited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from typing_extensions import override

from channels_app.admin.forms import ChannelAccountForm, account_form_for, secret_field_names
from channels_app.connectors.registry import connector_kinds
from channels_app.lib.account_keys import TOKEN_SOURCE
from channels_app.models import ChannelAccount
from channels_app.services.accounts import channel_account_upsert
from core.admin import mask_secret
from core.fields import Undecryptable

ACCESS_FIELDS = [
    "dmPolicy",
    "allowFrom",
    "groupPolicy",
    "groupAllowFrom",
    "groups",
    "requireMention",
]
STATE_FIELDS = [
    "state",
    "bot",
    "last_update_at",
    "last_error",
    "last_error_at",
    "failed_at",
    "poll_retry_at",
    "mode",
]
RUNTIME_FIELDS = [
    "cursor",
    "poll_lease_owner",
    "poll_lease_expires_at",
    "poll_failures",
    "public_id",
    "created_at",
    "updated_at",
]


def account_state(account: ChannelAccount, *, now: datetime, kinds: list[str]) -> str:
    """What the account is doing, in a few words (the changelist's "state")."""
    retry_at, lease_until = account.poll_retry_at, account.poll_lease_expires_at
    if account.kind not in kinds:
        return f"not used: no connector for {account.kind}"
    if not account.enabled:
        return "disabled"
    if account.failed_at is not None:
        return f"failed: {Truncator(account.last_error).chars(120) or 'see last error'}"
    if account.mode == ChannelAccount.Mode.WEBHOOK:
        state = "webhook"
    elif retry_at is not None and retry_at > now:
        when = timezone.localtime(retry_at).strftime("%H:%M:%S")
        state = f"backing off after {account.poll_failures} error(s); next poll at {when}"
    elif lease_until is not None and lease_until > now:
        state = "polling"
    else:
        state = "starting (no poller yet: is the gateway running?)"
    return state


def stored_secrets_summary(credentials: object) -> SafeString | str:
    """Which secrets are stored, masked; where the token came from. Never a value."""
    if isinstance(credentials, Undecryptable):
        return "cannot be decrypted: encryption key changed (enter the bot token again below)"
    if not isinstance(credentials, dict) or not credentials:
        return "not set"
    source = " (from TELEGRAM_BOT_TOKEN)" if credentials.get(TOKEN_SOURCE) == "env" else ""
    return format_html_join(
        mark_safe("<br>"),
        "<code>{}</code>: {}{}",
        (
            (key, mask_secret(value), source if key in ("botToken", "bot_token") else "")
            for key, value in sorted(credentials.items())
            if key != TOKEN_SOURCE
        ),
    )


def _may_set_secrets(request: HttpRequest) -> bool:
    """Only superusers set or remove credentials (the ``operators`` role may not)."""
    return bool(getattr(request.user, "is_superuser", False))


def _without_secrets(form: type[ChannelAccountForm], names: list[str]) -> type[ChannelAccountForm]:
    """``form`` without its credential fields: whatever is posted for them is ignored."""

    class NoSecretsForm(form):  # type: ignore[valid-type,misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            for name in names:
                self.fields.pop(name, None)

    return NoSecretsForm


@admin.register(ChannelAccount)
class ChannelAccountAdmin(admin.ModelAdmin[ChannelAccount]):
    form = ChannelAccountForm
    list_display = [
        "__str__",
        "name",
        "enabled",
        "state",
        "bot",
        "last_update_at",
        "short_error",
        "dm_policy",
        "group_policy",
    ]
    list_filter = ["kind", "enabled", "mode", "dm_policy"]
    search_fields = ["account_id", "name", "bot_username"]
    actions = ["enable", "disable"]

    def _set_enabled(self, request: HttpRequest, queryset: Any, enabled: bool) -> None:
        """Through the service ``config set channels.<kind>.enabled`` uses (pollers follow)."""
        done = 0
        for kind, account_id in queryset.values_list("kind", "account_id"):
            if kind not in connector_kinds():
                continue
            channel_account_upsert(kind=kind, account_id=account_id, changes={"enabled": enabled})
            done += 1
        self.message_user(request, f"{done} account(s) {'enabled' if enabled else 'disabled'}")

    @admin.action(description="Enable selected accounts", permissions=["change"])
    def enable(self, request: HttpRequest, queryset: Any) -> None:
        self._set_enabled(request, queryset, True)

    @admin.action(description="Disable selected accounts", permissions=["change"])
    def disable(self, request: HttpRequest, queryset: Any) -> None:
        self._set_enabled(request, queryset, False)

    def _kind_for(self, request: HttpRequest, obj: ChannelAccount | None) -> str | None:
        """The kind whose form to show: the account's, else the one asked for, else the
        first kind with a connector. None: the account's kind has no connector."""
        kinds = connector_kinds()
        if obj is not None:
            return obj.kind if obj.kind in kinds else None
        asked = request.POST.get("channel") or request.GET.get("channel")
        return asked if asked in kinds else (kinds[0] if kinds else None)

    @override
    def get_fieldsets(self, request: HttpRequest, obj: ChannelAccount | None = None) -> Any:
        kind = self._kind_for(request, obj)
        if obj is not None and kind is None:  # an old row: shown, not edited
            return [
                (None, {"fields": ["kind", "account_id", "name", "enabled", "state"]}),
                ("Access policy", {"fields": ["dm_policy", "allow_from", "group_policy"]}),
            ]
        head = ["channel", "accountId"] if obj is None else ["account"]
        # Secrets are a superuser's: an operator sees that they are stored, no field.
        secrets = secret_field_names(kind) if kind and _may_set_secrets(request) else []
        bot = ["stored_secrets", *secrets] if obj is not None else secrets
        sets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": [*head, "name", "enabled"]}),
            ("Bot", {"fields": [*bot, "apiRoot", "webhookUrl"]}),
            ("Access policy", {"fields": ACCESS_FIELDS}),
        ]
        if obj is not None:
            sets.append(("Live state", {"fields": [*STATE_FIELDS, "related"]}))
            sets.append(("Runtime", {"fields": RUNTIME_FIELDS, "classes": ["collapse"]}))
        return sets

    @override
    def get_readonly_fields(self, request: HttpRequest, obj: ChannelAccount | None = None) -> Any:
        if obj is None:
            return []
        if self._kind_for(request, obj) is None:
            return ["kind", "account_id", "name", "enabled", "state", "dm_policy", "allow_from",
                    "group_policy"]  # fmt: skip
        return ["account", "stored_secrets", *STATE_FIELDS, "related", *RUNTIME_FIELDS]

    @override
    def get_form(
        self, request: HttpRequest, obj: ChannelAccount | None = None, change: bool = False,
        **kwargs: Any,
    ) -> Any:  # fmt: skip
        kind = self._kind_for(request, obj)
        if kind is not None:
            kwargs["form"] = account_form_for(kind, adding=obj is None)
            if not _may_set_secrets(request):
                kwargs["form"] = _without_secrets(kwargs["form"], secret_field_names(kind))
        return super().get_form(request, obj, change=change, **kwargs)

    @override
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.kind not in connector_kinds():
            return False
        return super().has_change_permission(request, obj)

    @override
    def save_model(
        self, request: HttpRequest, obj: ChannelAccount, form: Any, change: bool
    ) -> None:
        # The service writes only the columns that changed (the poller writes the cursor
        # and lease of this row meanwhile); the getMe check ran in the form's clean().
        kind, account_id = form._identity_of()
        saved = channel_account_upsert(
            kind=kind, account_id=account_id, changes=form.changes, identity=form.identity
        )
        obj.pk, obj.kind, obj.account_id = saved.pk, saved.kind, saved.account_id

    # --- read-only displays ---------------------------------------------------------
    @admin.display(description="account")
    def account(self, obj: ChannelAccount) -> str:
        return str(obj)

    @admin.display(description="state")
    def state(self, obj: ChannelAccount) -> str:
        return account_state(obj, now=timezone.now(), kinds=connector_kinds())

    @admin.display(description="bot", ordering="bot_username")
    def bot(self, obj: ChannelAccount) -> str:
        if not obj.bot_username:
            return "-"
        return f"@{obj.bot_username} ({obj.bot_id})"

    @admin.display(description="last error")
    def short_error(self, obj: ChannelAccount) -> str:
        return Truncator(obj.last_error).chars(80) or "-"

    @admin.display(description="stored secrets")
    def stored_secrets(self, obj: ChannelAccount) -> SafeString | str:
        return stored_secrets_summary(obj.credentials if obj.pk else None)

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
