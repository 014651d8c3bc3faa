"""Admin of the gateway app: a token's plaintext is shown once, only its hash is kept."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from gateway import scopes
from gateway.lib.tokens import token_hash
from gateway.models import GatewayToken
from gateway.tests.factories import GatewayTokenFactory, NodeFactory
from tests.admin_checks import admin_url, assert_changelist_queries_flat

pytestmark = pytest.mark.django_db


_url = admin_url


@pytest.mark.parametrize(
    ("factory", "max_queries"),
    [
        pytest.param(NodeFactory, 7, id="node"),
        pytest.param(GatewayTokenFactory, 5, id="gatewaytoken"),
    ],
)
def test_changelist_query_count_is_bounded_and_does_not_grow_with_rows(
    admin_client: Client,
    django_assert_max_num_queries: DjangoAssertNumQueries,
    factory: Any,
    max_queries: int,
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, factory, max_queries
    )


@pytest.mark.parametrize(
    ("factory", "add_status"),
    # Nodes are written by their heartbeats only: nothing to add by hand.
    [(NodeFactory, 403), (GatewayTokenFactory, 200)],
    ids=["node", "token"],
)
def test_add_and_change_views_load(admin_client: Client, factory: Any, add_status: int) -> None:
    obj = factory.create()
    model = factory._meta.model

    assert admin_client.get(_url(model, "add")).status_code == add_status
    assert admin_client.get(_url(model, "change", obj.pk)).status_code == 200


def test_token_add_form_asks_only_name_and_scopes(admin_client: Client) -> None:
    html = admin_client.get(_url(GatewayToken, "add")).content.decode()

    assert 'name="name"' in html
    assert all(f'value="{scope}"' in html for scope in scopes.ALL_SCOPES)
    assert 'type="checkbox" name="scopes"' in html
    assert "token_hash" not in html


def test_token_add_shows_the_plaintext_once_and_stores_only_its_hash(
    admin_client: Client,
) -> None:
    response = admin_client.post(
        _url(GatewayToken, "add"),
        {"name": "laptop-cli", "scopes": [scopes.READ, scopes.WRITE]},
        follow=True,
    )

    notes = [str(m) for m in response.context["messages"]]
    shown = [re.search(r"The new token is (\w+) - copy it now, it is not stored", n) for n in notes]
    tokens = [match.group(1) for match in shown if match]
    assert len(tokens) == 1
    plaintext = tokens[0]
    record = GatewayToken.objects.get(name="laptop-cli")
    assert record.token_hash == token_hash(plaintext)
    assert record.prefix == plaintext[:6]
    assert record.scopes == [scopes.READ, scopes.WRITE]
    stored = [str(getattr(record, f.attname)) for f in GatewayToken._meta.concrete_fields]
    assert plaintext not in stored
    # Not shown again, and the hash is never shown.
    for url in (_url(GatewayToken, "changelist"), _url(GatewayToken, "change", record.pk)):
        html = admin_client.get(url).content.decode()
        assert plaintext not in html
        assert record.token_hash not in html


def test_token_add_needs_a_scope(admin_client: Client) -> None:
    response = admin_client.post(_url(GatewayToken, "add"), {"name": "nothing"})

    assert response.status_code == 200
    assert not GatewayToken.objects.exists()


def test_token_change_edits_only_the_name(admin_client: Client) -> None:
    token = GatewayTokenFactory.create(name="old", scopes=[scopes.READ])

    response = admin_client.post(
        _url(GatewayToken, "change", token.pk),
        {"name": "new", "scopes": [scopes.ADMIN], "prefix": "hacked", "token_hash": "0" * 64},
    )

    assert response.status_code == 302
    before_hash = token.token_hash
    token.refresh_from_db()
    assert token.name == "new"
    assert token.scopes == [scopes.READ]
    assert token.prefix == "test-t"
    assert token.token_hash == before_hash


def test_revoke_action_revokes_active_and_skips_revoked(admin_client: Client) -> None:
    active = GatewayTokenFactory.create()
    revoked_at = timezone.now()
    revoked = GatewayTokenFactory.create(revoked_at=revoked_at)

    response = admin_client.post(
        _url(GatewayToken, "changelist"),
        {"action": "revoke", "_selected_action": [active.pk, revoked.pk]},
        follow=True,
    )

    assert [str(m) for m in response.context["messages"]] == [
        "1 revoked, 1 skipped (already revoked)"
    ]
    active.refresh_from_db()
    revoked.refresh_from_db()
    assert active.revoked_at is not None
    assert revoked.revoked_at == revoked_at
