from __future__ import annotations

from django.contrib import admin
from django.urls import path, re_path

from channels_app import views as channel_views
from gateway import views
from gateway.http import hooks as http_hooks
from gateway.http import metrics as http_metrics
from gateway.http import nodes as http_nodes
from gateway.http import openai as http_openai
from gateway.http import responses as http_responses
from gateway.http import tools as http_tools
from gateway.web import resources as web_resources
from gateway.web import views as web_views

urlpatterns = [
    # "/" is OpenClaw's Control UI when OPENCLAW_CONTROL_UI_DIR is set, else the home page.
    path("", web_views.root, name="root"),
    path("home", web_views.home, name="home"),
    path("chat", web_views.chat, name="chat"),
    path("webchat", web_views.webchat, name="webchat"),
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("metrics", http_metrics.metrics_view, name="metrics"),
    path("admin/", admin.site.urls),
    # OpenClaw's HTTP APIs (docs/http-api.md): the OpenAI-compatible API and tool calls;
    # webhooks live under the configurable hooks.path, in the catch-all below.
    path("v1/chat/completions", http_openai.chat_completions, name="openai-chat-completions"),
    path("v1/responses", http_responses.responses, name="openai-responses"),
    path("v1/models", http_openai.models, name="openai-models"),
    path("v1/models/<path:model_id>", http_openai.models, name="openai-model"),
    path("tools/invoke", http_tools.tools_invoke, name="tools-invoke"),
    # The cluster node API (docs/nodes.md): gateway token, read-only.
    path("api/v1/nodes", http_nodes.nodes, name="api-nodes"),
    path("api/v1/nodes/online", http_nodes.nodes_online, name="api-nodes-online"),
    path("api/v1/nodes/skills/<str:skill>", http_nodes.nodes_with_skill, name="api-nodes-skill"),
    path("api/v1/nodes/<str:node_id>/health", http_nodes.node_health, name="api-node-health"),
    path("api/v1/cluster/health", http_nodes.cluster_health, name="api-cluster-health"),
    path("<slug:kind>-webhook", channel_views.webhook, name="channel-webhook"),
    path("<slug:kind>-webhook/<slug:account_id>", channel_views.webhook, name="channel-webhook"),
    # The Control UI's resource routes (OpenClaw serves them with or without its UI files).
    path("avatar/<str:agent_id>", web_resources.agent_avatar, name="agent-avatar"),
    re_path(
        r"^__openclaw__/workspace-icon/(?P<session_key>[^/]+)$",
        web_resources.workspace_icon,
        name="workspace-icon",
    ),
    # Last: webhooks under hooks.path when they are on; else the Control UI's files and
    # client-side routes (404 when it is not configured).
    re_path(r"^(?P<path>.+)$", http_hooks.hooks_or_control_ui, name=web_views.CONTROL_UI_URL_NAME),
]
