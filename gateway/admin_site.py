"""The admin site of the gateway: Django's, with the operator's dashboard on its index.

``GatewayAdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS (Django's
``default_site``), so every ``@admin.register`` lands on ``GatewayAdminSite``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest
from django.template.response import TemplateResponse


class GatewayAdminSite(AdminSite):
    site_header = "OpenClaw gateway"
    site_title = "OpenClaw gateway"
    index_title = "Operations"

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        from gateway.dashboard import dashboard  # noqa: PLC0415  (models load after the registry)

        context = {"dashboard": dashboard(), **(extra_context or {})}
        return super().index(request, context)


class GatewayAdminConfig(AdminConfig):
    default_site = "gateway.admin_site.GatewayAdminSite"
