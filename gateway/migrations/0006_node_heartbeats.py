# Cluster nodes register and heartbeat (gateway.nodes): who holds the id, what it consumes,
# its online state and when it changed.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("gateway", "0005_audit_log_roles"),
    ]

    operations = [
        migrations.RenameField(
            model_name="node",
            old_name="capacity",
            new_name="max_concurrent_tasks",
        ),
        migrations.AddField(
            model_name="node",
            name="host",
            field=models.CharField(blank=True, default="", max_length=255),
        ),
        migrations.AddField(
            model_name="node",
            name="pid",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="node",
            name="instance_id",
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="node",
            name="queues",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="node",
            name="tasks_in_flight",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="node",
            name="status",
            field=models.CharField(
                choices=[("online", "online"), ("offline", "offline")],
                default="online",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="node",
            name="status_changed_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="node",
            name="started_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddConstraint(
            model_name="node",
            constraint=models.CheckConstraint(
                condition=models.Q(("node_id", ""), _negated=True), name="node_id_required"
            ),
        ),
    ]
