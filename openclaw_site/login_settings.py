"""Admin login protection (django-axes), star-imported by ``settings``.

After ``OPENCLAW_LOGIN_FAILURE_LIMIT`` failed logins for one username from one address,
that pair is refused for ``OPENCLAW_LOGIN_LOCKOUT_MINUTES`` (429 with ``Retry-After``):
an attacker cannot lock the operator out from everywhere, and a success clears the
count. The address is the client's as the gateway's trusted-proxy rules see it
(``gateway.web.login.client_ip``), never an ``X-Forwarded-For`` anyone could write.
``manage.py axes_reset`` (or ``axes_reset_username NAME``) lifts a lockout.
"""

from __future__ import annotations

from datetime import timedelta

from core.env import env_int

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("OPENCLAW_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
AXES_COOLOFF_TIME = timedelta(
    minutes=env_int("OPENCLAW_LOGIN_LOCKOUT_MINUTES", 15, minimum=1, maximum=24 * 60)
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "gateway.web.login.client_ip"
AXES_LOCKOUT_CALLABLE = "gateway.web.login.lockout"
AXES_USERNAME_FORM_FIELD = "username"
# Failed attempts are rows (shown in the admin), so every process of a team shares them.
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_VERBOSE = False
