"""factory_boy factories for the gateway app's models."""

# factory_boy ships py.typed but its declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from django.utils import timezone
from factory.declarations import LazyFunction, Sequence
from factory.django import DjangoModelFactory

from gateway import scopes
from gateway.lib.tokens import token_hash
from gateway.models import AuditEntry, GatewayToken, Node


class NodeFactory(DjangoModelFactory[Node]):
    class Meta:
        model = Node

    node_id = Sequence(lambda n: f"node-{n}")
    display_name = Sequence(lambda n: f"Worker {n}")
    platform = "linux"
    version = "0.1.0"
    last_heartbeat_at = LazyFunction(timezone.now)


class GatewayTokenFactory(DjangoModelFactory[GatewayToken]):
    """A token row; the plaintext behind it is ``f"test-token-{n:040d}"`` (never needed)."""

    class Meta:
        model = GatewayToken

    name = Sequence(lambda n: f"operator {n}")
    token_hash = Sequence(lambda n: token_hash(f"test-token-{n:040d}"))
    prefix = "test-t"
    scopes = LazyFunction(lambda: [scopes.READ])


class AuditEntryFactory(DjangoModelFactory[AuditEntry]):
    class Meta:
        model = AuditEntry

    actor_kind = AuditEntry.ActorKind.ADMIN
    actor = Sequence(lambda n: f"operator-{n}")
    source = "POST /admin/agents/agent/1/change/"
    action = "update"
    model = "agents.agent"
    object_pk = Sequence(str)
    object_repr = Sequence(lambda n: f"agent {n}")
    changes = LazyFunction(lambda: {"name": ["Main", "Renamed"]})
