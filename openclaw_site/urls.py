from __future__ import annotations

from django.contrib import admin
from django.urls import path

from gateway import views

admin.site.site_header = "OpenClaw gateway"
admin.site.site_title = "OpenClaw gateway"
admin.site.index_title = "Operations"

urlpatterns = [
    path("health", views.health, name="health"),
    path("ready", views.ready, name="ready"),
    path("admin/", admin.site.urls),
]
