"""The channel account form, one per kind with a connector, in OpenClaw's key names.

Every field is named by its OpenClaw key (``dmPolicy``, ``allowFrom``, ``botToken``...),
not by a model column: the form never writes the row itself. ``clean`` hands the values
to ``channel_account_draft`` (the same rules as ``config set``), checks a new bot token
with the platform (Telegram getMe) and keeps what the save needs; the admin then saves
through ``channel_account_upsert``. Secret fields are write-only: never rendered back,
blank keeps the stored value.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from typing_extensions import override

from channels_app.connectors.base import BotIdentity, CredentialField
from channels_app.connectors.registry import connector_for, connector_kinds
from channels_app.lib.account_keys import DM_POLICIES, FIELD_OF, GROUP_POLICIES, stored_secrets
from channels_app.models import ChannelAccount
from channels_app.services.accounts import (
    DEFAULT_ACCOUNT,
    AccountDraft,
    ChannelConfigError,
    channel_account_draft,
    channel_credentials_check,
)

ALLOW_FROM_HELP = (
    'Sender ids, as a JSON list or separated by commas: ["123456789", "@alice"]. '
    '"*" allows anyone (dmPolicy "open" needs it).'
)
GROUPS_HELP = (
    'Groups the bot answers in, by chat id, or "*" for every group: '
    '{"-1001234567890": {"requireMention": false, "allowFrom": ["123"]}, "*": {}}. '
    "A group's keys: requireMention, allowFrom, enabled."
)


class IdListField(forms.CharField):
    """A list of ids: a JSON list, or ids separated by commas (blank: none)."""

    @override
    def to_python(self, value: Any) -> Any:
        text = str(super().to_python(value) or "").strip()
        if not text:
            return []
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValidationError(
                    f'This is not a valid JSON list ({exc.msg}); write it like ["123", "@alice"] '
                    "or 123, @alice"
                ) from None
        return [item.strip() for item in text.split(",") if item.strip()]

    @override
    def prepare_value(self, value: Any) -> Any:
        return json.dumps(value) if isinstance(value, list) else value


class GroupsField(forms.CharField):
    """A JSON object (blank: no groups)."""

    widget = forms.Textarea(attrs={"rows": 4, "spellcheck": "false"})

    @override
    def to_python(self, value: Any) -> Any:
        text = str(super().to_python(value) or "").strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(
                f"This is not valid JSON ({exc.msg} at line {exc.lineno}, column "
                f'{exc.colno}); write it like {{"-1001234567890": {{"requireMention": false}}}}'
            ) from None

    @override
    def prepare_value(self, value: Any) -> Any:
        return json.dumps(value, indent=2) if isinstance(value, dict) else value


def _secret_field(credential: CredentialField) -> forms.CharField:
    return forms.CharField(
        label=credential.label,
        required=False,
        strip=True,
        help_text=f"{credential.help_text} Never shown back; leave blank to keep the stored one.",
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "new-password", "spellcheck": "false"}
        ),
    )


class ChannelAccountForm(forms.ModelForm[ChannelAccount]):
    """The fields every kind has; ``account_form_for`` adds a kind's secret fields."""

    kind: ClassVar[str] = ""
    credential_fields: ClassVar[tuple[CredentialField, ...]] = ()

    channel = forms.ChoiceField(choices=(), help_text="The platform (those with a connector).")
    accountId = forms.CharField(  # noqa: N815  (OpenClaw's key name)
        label="Account id",
        initial=DEFAULT_ACCOUNT,
        help_text="Lowercase id of this bot within its channel; 'default' for the first "
        "(its settings are channels.<kind>.*, others' channels.<kind>.accounts.<id>.*).",
    )
    name = forms.CharField(required=False, max_length=100)
    enabled = forms.BooleanField(required=False, initial=True)
    apiRoot = forms.CharField(  # noqa: N815
        label="API root",
        required=False,
        help_text="A self-hosted Bot API server, e.g. http://127.0.0.1:8081; blank for the "
        "platform's own.",
    )
    webhookUrl = forms.CharField(  # noqa: N815
        label="Webhook URL",
        required=False,
        help_text="https:// URL the platform posts updates to; needs a webhook secret. "
        "Register it with `manage.py channels webhook set <kind>`.",
    )
    dmPolicy = forms.ChoiceField(  # noqa: N815
        label="DM policy",
        choices=ChannelAccount.DmPolicy.choices,
        initial=DM_POLICIES[0],
    )
    allowFrom = IdListField(label="Allow from", required=False, help_text=ALLOW_FROM_HELP)  # noqa: N815
    groupPolicy = forms.ChoiceField(  # noqa: N815
        label="Group policy",
        choices=ChannelAccount.GroupPolicy.choices,
        initial=GROUP_POLICIES[0],
    )
    groupAllowFrom = IdListField(  # noqa: N815
        label="Group allow from",
        required=False,
        help_text="Senders allowed in groups (falls back to Allow from); same format.",
    )
    groups = GroupsField(required=False, help_text=GROUPS_HELP)
    requireMention = forms.BooleanField(  # noqa: N815
        label="Require mention",
        required=False,
        initial=True,
        help_text="In groups, answer only when mentioned or replied to (unless the group says "
        "otherwise).",
    )

    class Meta:
        model = ChannelAccount
        fields: ClassVar[list[str]] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.draft: AccountDraft | None = None
        self.identity: BotIdentity | None = None
        self.changes: dict[str, Any] = {}
        account = self.instance
        if account.pk:
            for key, field in FIELD_OF.items():
                self.initial[key] = getattr(account, field)
        elif "channel" in self.fields:
            self.fields["channel"].choices = [(k, k) for k in connector_kinds()]  # type: ignore[attr-defined]
            self.initial.setdefault("channel", self.kind)
        for credential in self.credential_fields:
            self.initial.pop(credential.name, None)  # a secret is never sent back

    def _identity_of(self) -> tuple[str, str]:
        if self.instance.pk:
            return self.instance.kind, self.instance.account_id
        return self.kind, str(self.cleaned_data.get("accountId") or "").strip().lower()

    def _changes(self) -> dict[str, Any]:
        data = self.cleaned_data
        changes = {key: data[key] for key in FIELD_OF if key in data}
        for credential in self.credential_fields:
            typed = data.get(credential.name)
            if typed:
                changes[credential.name] = typed
            elif data.get(f"{credential.name}_remove"):
                changes[credential.name] = None
        return changes

    def _report(self, exc: ChannelConfigError) -> None:
        field = exc.key if exc.key in self.fields else None
        self.add_error(field, exc.message)

    @override
    def clean(self) -> dict[str, Any] | None:
        cleaned = super().clean()
        if self.errors:
            return cleaned
        kind, account_id = self._identity_of()
        if (
            not self.instance.pk
            and ChannelAccount.objects.filter(kind=kind, account_id=account_id).exists()
        ):
            self.add_error("accountId", f"{kind}:{account_id} exists already; edit that one.")
            return cleaned
        self.changes = self._changes()
        try:
            draft = channel_account_draft(kind=kind, account_id=account_id, changes=self.changes)
        except ChannelConfigError as exc:
            self._report(exc)
            return cleaned
        for credential in self.credential_fields:
            if credential.required and not draft.secrets.get(credential.name):
                why = (
                    "the stored one cannot be decrypted (the encryption key changed)"
                    if self.instance.pk and not stored_secrets(self.instance.credentials)
                    else "none is stored"
                )
                self.add_error(credential.name, f"Enter the {credential.label.lower()}: {why}.")
                return cleaned
        self.draft = draft
        if draft.credentials_changed or self.instance.failed_at is not None:
            # Asked before anything is stored: a token the platform refuses is never saved.
            try:
                self.identity = channel_credentials_check(draft.config)
            except ChannelConfigError as exc:
                self._report(exc)
        return cleaned

    # Not in the stubs: ModelForm's hook that copies fields onto the instance and runs
    # the model's validation.
    def _post_clean(self) -> None:
        """Nothing to put on the instance: no field is a model column (see the module
        docstring), and ``clean`` validated the values by the service's rules."""


def account_form_for(kind: str, *, adding: bool) -> type[ChannelAccountForm]:
    """The form of one kind with a connector: its secret fields come from the connector."""
    credentials = connector_for(kind).info.credential_fields
    attrs: dict[str, Any] = {"kind": kind, "credential_fields": credentials}
    for credential in credentials:
        attrs[credential.name] = _secret_field(credential)
        if not credential.required:
            attrs[f"{credential.name}_remove"] = forms.BooleanField(
                required=False, label=f"Remove the stored {credential.label.lower()}"
            )
    if not adding:
        attrs["channel"] = None
        attrs["accountId"] = None
    name = f"{kind.title()}{'Add' if adding else 'Change'}Form"
    return type(name, (ChannelAccountForm,), attrs)


def secret_field_names(kind: str) -> list[str]:
    """The form fields of ``kind``'s secrets (each optional one with its remove box)."""
    names: list[str] = []
    for credential in connector_for(kind).info.credential_fields:
        names.append(credential.name)
        if not credential.required:
            names.append(f"{credential.name}_remove")
    return names
