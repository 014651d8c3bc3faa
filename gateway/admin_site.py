"""The admin site of the gateway: Django's, with the operator's dashboard on its index.

``GatewayAdminConfig`` replaces ``django.contrib.admin`` in INSTALLED_APPS (Django's
``default_site``), so every ``@admin.register`` lands on ``GatewayAdminSite``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.contrib.admin import AdminSite
from django.contrib.admin.apps import AdminConfig
from django.http import HttpRequest, HttpResponseBase
from django.template.response import TemplateResponse
from typing_extensions import override

from core.audit import Actor, acting

_View = TypeVar("_View", bound=Callable[..., HttpResponseBase])


def admin_actor(request: HttpRequest) -> Actor:
    """The admin user behind a request, and where: the path, and the action if one ran."""
    source = f"{request.method} {request.path}"
    action = request.POST.get("action") if request.method == "POST" else None
    if action:
        source += f" action={action}"
    return Actor(kind="admin", name=request.user.get_username(), source=source)


class GatewayAdminSite(AdminSite):
    site_header = "OpenClaw gateway"
    site_title = "OpenClaw gateway"
    index_title = "Operations"

    @override
    def admin_view(self, view: _View, cacheable: bool = False) -> _View:
        """Every admin view runs as its user (``core.audit``): its writes are audited.

        Wrapped inside Django's check, so only a user allowed in acts.
        """

        @wraps(view)
        def audited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            with acting(admin_actor(request)):
                return view(request, *args, **kwargs)

        return cast("_View", super().admin_view(audited, cacheable))

    def index(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> TemplateResponse:
        from gateway.dashboard import dashboard  # noqa: PLC0415  (models load after the registry)

        context = {"dashboard": dashboard(), **(extra_context or {})}
        return super().index(request, context)


class GatewayAdminConfig(AdminConfig):
    default_site = "gateway.admin_site.GatewayAdminSite"
