from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway import scopes
from gateway.lib.tokens import token_hash
from gateway.models import GatewayToken, Node


@pytest.mark.django_db
def test_gateway_token_needs_a_hash() -> None:
    with pytest.raises(IntegrityError), transaction.atomic():
        GatewayToken.objects.create(token_hash="", prefix="abcdef")


@pytest.mark.django_db
def test_gateway_token_hash_is_unique() -> None:
    hashed = token_hash("x" * 48)
    GatewayToken.objects.create(token_hash=hashed, prefix="xxxxxx")

    with pytest.raises(IntegrityError), transaction.atomic():
        GatewayToken.objects.create(token_hash=hashed, prefix="xxxxxx")


@pytest.mark.parametrize("value", [["operator.root"], "operator.admin", [scopes.ADMIN, "nope"]])
def test_gateway_token_scopes_must_be_known(value: object) -> None:
    token = GatewayToken(token_hash=token_hash("x" * 48), prefix="xxxxxx", scopes=value)

    with pytest.raises(ValidationError) as excinfo:
        token.clean()

    assert "scopes" in excinfo.value.message_dict


def test_gateway_token_with_known_scopes_is_valid() -> None:
    GatewayToken(scopes=[scopes.READ, scopes.WRITE]).clean()


@pytest.mark.django_db
def test_active_tokens_exclude_revoked_ones() -> None:
    active = GatewayToken.objects.create(token_hash=token_hash("a" * 48), prefix="aaaaaa")
    GatewayToken.objects.create(
        token_hash=token_hash("b" * 48), prefix="bbbbbb", revoked_at=timezone.now()
    )

    assert list(GatewayToken.objects.active()) == [active]


@pytest.mark.django_db
def test_alive_nodes_have_a_recent_heartbeat() -> None:
    now = timezone.now()
    alive = Node.objects.create(node_id="pi-1", last_heartbeat_at=now - timedelta(seconds=30))
    Node.objects.create(node_id="pi-2", last_heartbeat_at=now - timedelta(minutes=5))
    Node.objects.create(node_id="pi-3")

    assert list(Node.objects.alive(now)) == [alive]
    assert alive.is_alive
