from __future__ import annotations

from django.contrib import admin
from django.urls import path

from channels_app import views as channel_views
from gateway import views

admin.site.site_header = "OpenClaw gateway"
admin.site.site_title = "OpenClaw gateway"
admin.site.index_title = "Operations"

urlpatterns = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
    path("<slug:kind>-webhook", channel_views.webhook, name="channel-webhook"),
    path("<slug:kind>-webhook/<slug:account_id>", channel_views.webhook, name="channel-webhook"),
]
