"""Admin for agents and the routing rules that pick them."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import strip_tags
from typing_extensions import override

from agents.admin.common import STRING_LIST_HELP
from agents.models import Agent, CronJob, RoutingRule
from agents.services.roster import agent_delete, agent_store


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
            "model_fallbacks": STRING_LIST_HELP.format(example='["anthropic/claude-sonnet-4-5"]'),
            "tools_allow": STRING_LIST_HELP.format(example='["exec", "web_search"]'),
            "tools_deny": STRING_LIST_HELP.format(example='["exec"]'),
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
            "workspace": "Folder of the prompt files; blank = the data dir's workspaces/AGENT_ID "
            "folder.",
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
        agent_store(agent=obj)

    @override
    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # An agent's heartbeat job goes with it (agent_delete): it is neither a reason to
        # refuse nor a permission the operator needs. Other cron jobs still protect it.
        deleted, counts, perms, protected = super().get_deleted_objects(objs, request)
        heartbeats = {
            f"{CronJob._meta.verbose_name}: {name}".lower()
            for name in CronJob.objects.filter(agent__in=list(objs))
            .exclude(declaration_key="")
            .values_list("name", flat=True)
        }
        protected = [p for p in protected if strip_tags(str(p)).lower() not in heartbeats]
        if not any(
            strip_tags(str(p)).lower().startswith(f"{CronJob._meta.verbose_name}:")
            for p in protected
        ):
            perms = {p for p in perms if p != CronJob._meta.verbose_name}
        return deleted, counts, perms, protected

    @override
    def delete_model(self, request: HttpRequest, obj: Agent) -> None:
        agent_delete(agent=obj)

    @override
    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        for agent in queryset:
            agent_delete(agent=agent)


# What a routing rule matches on (OpenClaw's binding ``match``).
MATCH_FIELDS = ("channel", "account_id", "peer_kind", "peer_id", "guild_id", "team_id", "roles")


class RoutingRuleAdminForm(forms.ModelForm[RoutingRule]):
    class Meta:
        model = RoutingRule
        fields = [
            "agent",
            "enabled",
            "priority",
            "comment",
            *MATCH_FIELDS,
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
                "fields": MATCH_FIELDS,
                "description": "Blank account id matches the 'default' account, * matches all. "
                "The most specific matching rule wins (peer, guild + roles, guild, team, "
                "account, channel); within a tier the lower priority wins.",
            },
        ),
        ("History", {"fields": ["created_at", "updated_at"], "classes": ["collapse"]}),
    ]
