"""Admin login protection's two hooks for django-axes (``openclaw_site/login_settings``).

``client_ip``: the address a login attempt is counted against, by the gateway's own
trusted-proxy rules (``gateway.proxies``), so a client cannot pick its address with an
``X-Forwarded-For`` header. ``lockout``: what a locked-out login gets: 429, when to try
again, and how an operator lifts it.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape

from gateway import proxies


def client_ip(request: HttpRequest) -> str | None:
    """The client's IP address, or None when there is none (a login made in code, as
    ``force_login`` does: axes stores the address in an IP column)."""
    headers = {
        name: request.META[key]
        for name, key in (
            ("x-forwarded-for", "HTTP_X_FORWARDED_FOR"),
            ("forwarded", "HTTP_FORWARDED"),
            ("x-real-ip", "HTTP_X_REAL_IP"),
        )
        if key in request.META
    }
    peer = request.META.get("REMOTE_ADDR")
    address = proxies.resolve_client(peer, headers, proxies.trusted_networks())
    candidate = address.ip or peer
    try:
        return str(ipaddress.ip_address(candidate)) if candidate else None
    except ValueError:
        return None


def lockout(
    request: HttpRequest, credentials: Any = None, *args: Any, **kwargs: Any
) -> HttpResponse:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    username = ""
    if isinstance(credentials, dict):
        username = str(credentials.get(settings.AXES_USERNAME_FORM_FIELD) or "")
    username = username or str(request.POST.get(settings.AXES_USERNAME_FORM_FIELD, ""))
    text = (
        f"Too many failed logins for this username from your address "
        f"({settings.AXES_FAILURE_LIMIT} in a row). Try again in {minutes} minutes, or ask "
        f"an operator to run: manage.py axes_reset_username {username or 'NAME'}"
    )
    body = (
        "<!doctype html><html><head><title>Login locked</title></head><body>"
        f"<h1>Login locked</h1><p>{escape(text)}</p></body></html>"
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
