"""Both roles of 0003_roles read the audit log (0004); nobody writes it.

Kept apart from the table's migration so that, like 0003_roles, it can run again
(``doctor --fix`` re-applies the latest migration): it only adds a permission.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

# The admin refuses add, change and delete of audit entries to everyone, so those
# permissions are granted to no group.
ROLES = ("viewers", "operators")


def grant_view(apps: Any, schema_editor: Any) -> None:
    # Permissions are made after migrations run; a fresh database needs this one now.
    config = global_apps.get_app_config("gateway")
    config.models_module = config.models_module or True
    create_permissions(config, apps=apps, verbosity=0)
    permission = apps.get_model("auth", "Permission").objects.get(
        content_type__app_label="gateway", codename="view_auditentry"
    )
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.add(permission)


def revoke_view(apps: Any, schema_editor: Any) -> None:
    permission = apps.get_model("auth", "Permission").objects.filter(
        content_type__app_label="gateway", codename="view_auditentry"
    )
    for group in apps.get_model("auth", "Group").objects.filter(name__in=ROLES):
        group.permissions.remove(*permission)


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("gateway", "0004_audit_log"),
    ]

    operations = [migrations.RunPython(grant_view, revoke_view)]
