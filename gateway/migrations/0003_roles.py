"""The admin's roles as Django groups: ``operators`` and ``viewers``.

``viewers`` may read every page of the gateway's apps and change nothing. ``operators``
may change everything but secrets and tokens: gateway tokens, model provider keys and
devices are read-only to them, a channel account's credential fields are hidden from
them (``channels_app.admin``), and they cannot add a channel account (it needs a token).
Superusers may do everything. Re-running the migration brings the groups back to this.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

APPS = ("gateway", "channels_app", "agents", "pairing", "sessions_app")
ACTIONS = ("add", "change", "delete", "view")
# (app label, model): what operators may do with rows that are or hold secrets or tokens.
OPERATOR_LIMITS = {
    ("gateway", "gatewaytoken"): ("view",),
    ("agents", "modelprovider"): ("view",),
    ("pairing", "device"): ("view",),
    ("channels_app", "channelaccount"): ("view", "change"),
}


def _permissions(apps: Any) -> dict[tuple[str, str, str], Any]:
    # Permissions are made after migrations run; a fresh database needs them now.
    for config in global_apps.get_app_configs():
        if config.label in APPS:
            config.models_module = config.models_module or True
            create_permissions(config, apps=apps, verbosity=0)
    permission = apps.get_model("auth", "Permission")
    found = {}
    for perm in permission.objects.filter(content_type__app_label__in=APPS).select_related(
        "content_type"
    ):
        action, _, model = perm.codename.partition("_")
        if action in ACTIONS and model == perm.content_type.model:
            found[(perm.content_type.app_label, model, action)] = perm
    return found


def create_roles(apps: Any, schema_editor: Any) -> None:
    group = apps.get_model("auth", "Group")
    perms = _permissions(apps)
    viewers, _ = group.objects.get_or_create(name="viewers")
    viewers.permissions.set([p for (_, _, action), p in perms.items() if action == "view"])
    operators, _ = group.objects.get_or_create(name="operators")
    operators.permissions.set(
        [
            p
            for (app, model, action), p in perms.items()
            if action in OPERATOR_LIMITS.get((app, model), ACTIONS)
        ]
    )


def remove_roles(apps: Any, schema_editor: Any) -> None:
    apps.get_model("auth", "Group").objects.filter(name__in=["operators", "viewers"]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("gateway", "0002_token_strength_and_config"),
        ("channels_app", "0002_channel_connectors"),
        ("agents", "0005_run_trusted_sender"),
        ("pairing", "0001_initial"),
        ("sessions_app", "0004_session_settings"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
