"""Admin for agents, routing rules, runs and cron jobs.

Runs and their steps are written by the runtime only, so they are read-only here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from typing_extensions import override

from agents.models import (
    Agent,
    AuthProfileState,
    CronJob,
    ModelProvider,
    RoutingRule,
    Run,
    RunStep,
)
from agents.services.agents import agent_save
from core.admin import RuntimeWrittenAdmin, mask_secret
from core.fields import Undecryptable

_STRING_LIST_HELP = "A JSON list of strings, e.g. {example}; [] for none."


class AgentAdminForm(forms.ModelForm[Agent]):
    # Not the model field itself: the form would then enforce "one default agent" and
    # refuse the change that agent_save() makes valid by demoting the current default.
    make_default = forms.BooleanField(
        label="default agent",
        required=False,
        help_text="Answers everything no routing rule claims. Replaces the current default.",
    )

    class Meta:
        model = Agent
        fields = [
            "slug",
            "name",
            "emoji",
            "model_primary",
            "model_fallbacks",
            "tool_profile",
            "tools_allow",
            "tools_deny",
            "sandbox_mode",
            "sandbox_workspace_access",
            "sandbox_tools_allow",
            "sandbox_tools_deny",
            "workspace",
        ]
        help_texts = {
            "model_primary": "provider/model, e.g. openai/gpt-4o-mini; blank = the configured default.",
            "model_fallbacks": _STRING_LIST_HELP.format(example='["anthropic/claude-sonnet-4-5"]'),
            "tools_allow": _STRING_LIST_HELP.format(example='["exec", "web_search"]'),
            "tools_deny": _STRING_LIST_HELP.format(example='["exec"]'),
            "sandbox_mode": "Which sessions run sandboxed. The default, all sessions but the "
            "main one, sandboxes every channel, group and other session: exec runs isolated "
            "and the sandbox tool policy and workspace access below apply.",
            "sandbox_workspace_access": "What a sandboxed session sees as its workspace. "
            "none (default): a folder of its own per session, seeded with copies of the "
            "prompt files, so it cannot change this agent's. ro: this agent's workspace, "
            "read-only (write, edit and apply_patch are removed). rw: this agent's "
            "workspace, writable except the prompt files (AGENTS.md, SOUL.md, ...).",
            "sandbox_tools_allow": "Tools a sandboxed session may use besides the default "
            "sandbox list (exec, read, write, edit, apply_patch, ls, sessions_list, "
            "sessions_send); naming a tool here also lifts its default deny, e.g. "
            '["web_fetch", "message"]. The profile, allow and deny above still apply. [] for '
            "the default.",
            "sandbox_tools_deny": "Tools a sandboxed session may never use; wins over any "
            "allow. Always denied unless named in sandbox tools allow: message, cron, "
            'gateway. e.g. ["exec"]; [] for the default.',
            "workspace": "Folder of the prompt files; blank = <data dir>/workspaces/<agent id>.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["make_default"].initial = self.instance.is_default


@admin.register(Agent)
class AgentAdmin(admin.ModelAdmin[Agent]):
    form = AgentAdminForm
    list_display = [
        "slug",
        "name",
        "emoji",
        "model_primary",
        "tool_profile",
        "sandbox_mode",
        "is_default",
        "updated_at",
    ]
    list_filter = ["is_default", "tool_profile", "sandbox_mode"]
    search_fields = ["slug", "name", "model_primary"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["slug", "name", "emoji", "make_default"]}),
        ("Model", {"fields": ["model_primary", "model_fallbacks"]}),
        ("Tools", {"fields": ["tool_profile", "tools_allow", "tools_deny"]}),
        (
            "Sandbox",
            {
                "fields": [
                    "sandbox_mode",
                    "sandbox_workspace_access",
                    "sandbox_tools_allow",
                    "sandbox_tools_deny",
                ],
                "description": "Sandboxed sessions run exec isolated, get only the sandbox "
                "tool set and, by default, a workspace of their own: a stranger in a group "
                "chat cannot change this agent's prompt or drive its main session.",
            },
        ),
        ("Workspace", {"fields": ["workspace"]}),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]

    @override
    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: Any) -> None:
        obj.is_default = form.cleaned_data["make_default"]
        agent_save(agent=obj)


class RoutingRuleAdminForm(forms.ModelForm[RoutingRule]):
    class Meta:
        model = RoutingRule
        fields = [
            "agent",
            "enabled",
            "priority",
            "comment",
            "channel",
            "account_id",
            "peer_kind",
            "peer_id",
            "guild_id",
            "team_id",
            "roles",
        ]
        help_texts = {
            "roles": 'Discord role ids as a JSON list, e.g. ["123456789"]; needs a guild id. '
            "[] for any role.",
        }


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin[RoutingRule]):
    form = RoutingRuleAdminForm
    list_display = [
        "channel",
        "account_id",
        "peer_kind",
        "peer_id",
        "guild_id",
        "team_id",
        "agent",
        "priority",
        "enabled",
    ]
    list_select_related = ["agent"]
    list_filter = ["enabled", "channel", "peer_kind"]
    search_fields = [
        "channel",
        "account_id",
        "peer_id",
        "guild_id",
        "team_id",
        "comment",
        "agent__slug",
    ]
    autocomplete_fields = ["agent"]
    readonly_fields = ["created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["agent", "enabled", "priority", "comment"]}),
        (
            "Match",
            {
                "fields": [
                    "channel",
                    "account_id",
                    "peer_kind",
                    "peer_id",
                    "guild_id",
                    "team_id",
                    "roles",
                ],
                "description": "Blank account id matches the 'default' account, * matches all. "
                "The most specific matching rule wins (peer, guild + roles, guild, team, "
                "account, channel); within a tier the lower priority wins.",
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]


_STEP_FIELDS = ("step_no", "kind", "status", "tool_name", "error", "started_at", "finished_at")


class RunStepInline(admin.TabularInline[RunStep, Run]):
    model = RunStep
    fields = _STEP_FIELDS
    readonly_fields = _STEP_FIELDS
    extra = 0
    can_delete = False
    show_change_link = True

    @override
    def get_queryset(self, request: HttpRequest) -> Any:
        # Each row prints str(step), which reads step.run.
        return super().get_queryset(request).select_related("run")

    @override
    def has_add_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False

    @override
    def has_change_permission(self, request: HttpRequest, obj: Run | None = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(RuntimeWrittenAdmin[Run]):
    list_display = [
        "run_id",
        "agent",
        "session",
        "status",
        "origin",
        "model",
        "step_count",
        "attempts",
        "created_at",
        "finished_at",
    ]
    list_select_related = ["agent", "session"]
    list_filter = ["status", "origin", "cancel_requested"]
    search_fields = ["run_id__exact", "session__key__exact"]
    raw_id_fields = ["agent", "session"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = [RunStepInline]
    fieldsets = [
        (
            None,
            {"fields": ["run_id", "public_id", "agent", "session", "status", "origin", "model"]},
        ),
        (
            "Progress",
            {"fields": ["step_count", "max_steps", "cancel_requested", "trigger_seq", "usage"]},
        ),
        ("Reply", {"fields": ["reply_to"]}),
        ("Error", {"fields": ["error_kind", "error_message"]}),
        (
            "Lease and timing",
            {
                "fields": [
                    "lease_owner",
                    "lease_expires_at",
                    "attempts",
                    "started_at",
                    "finished_at",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
    ]
    readonly_fields = [
        "public_id",
        "lease_owner",
        "lease_expires_at",
        "attempts",
        "created_at",
        "updated_at",
    ]


@admin.register(RunStep)
class RunStepAdmin(RuntimeWrittenAdmin[RunStep]):
    list_display = ["run", "step_no", "kind", "status", "tool_name", "created_at", "finished_at"]
    list_select_related = ["run"]
    list_filter = ["kind", "status"]
    search_fields = ["run__run_id__exact", "tool_call_id__exact", "tool_name__exact"]
    raw_id_fields = ["run"]
    show_full_result_count = False
    readonly_fields = ["created_at", "updated_at"]


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
            "schedule_kind",
            "at",
            "every_ms",
            "cron_expr",
            "tz",
            "stagger_ms",
            "next_run_at",
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
                "fields": [
                    "schedule_kind",
                    "at",
                    "every_ms",
                    "cron_expr",
                    "tz",
                    "stagger_ms",
                    "next_run_at",
                ],
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


# --- model providers -------------------------------------------------------------------
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
            "model_ids": _STRING_LIST_HELP.format(example='["llama3.2", "qwen2.5"]'),
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
        count = queryset.update(error_count=0, cooldown_until=None)
        self.message_user(request, f"Cleared the cooldown of {count} key(s).")


def masked_secret(value: object) -> str:
    """A stored key described without revealing it: "not set", or dots and its last 4."""
    if isinstance(value, Undecryptable):
        return "cannot be decrypted: the encryption key changed (enter the key again)"
    if not value:
        return "not set"
    return mask_secret(str(value))
