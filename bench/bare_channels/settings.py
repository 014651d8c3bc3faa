"""A bare Django + Channels project: the baseline our gateway is compared with."""

from __future__ import annotations

SECRET_KEY = "bench-only-" + "x" * 40
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["daphne", "channels"]
ROOT_URLCONF = "bench.bare_channels.urls"
ASGI_APPLICATION = "bench.bare_channels.asgi.application"
DATABASES: dict[str, object] = {}
CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
USE_TZ = True
