"""``manage.py gateway_token``: create, list, rotate and revoke, with --json and exit 2 on
bad input."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from gateway.lib.tokens import token_hash
from gateway.models import GatewayToken
from gateway.services import gateway_token_create

pytestmark = pytest.mark.django_db


def _run(*args: str) -> str:
    out = io.StringIO()
    call_command("gateway_token", *args, stdout=out)
    return out.getvalue()


def test_create_then_list_as_json() -> None:
    created = json.loads(_run("--json", "create", "--name", "ci", "--scope", "operator.read"))
    assert created["name"] == "ci"
    assert created["scopes"] == ["operator.read"]
    assert len(created["token"]) >= 24
    listed = json.loads(_run("--json", "list"))["tokens"]
    assert [(t["id"], t["state"], t["strength"]) for t in listed] == [
        (created["id"], "active", "strong")
    ]
    assert "token" not in listed[0]  # a value is shown once, at creation


def test_rotate_replaces_the_token_with_the_same_name_and_scopes() -> None:
    old = gateway_token_create(name="laptop", scopes=["operator.read", "operator.write"])
    rotated = json.loads(_run("--json", "rotate", str(old.record.pk)))
    assert rotated["replaced"] == old.record.pk
    assert (rotated["name"], rotated["scopes"]) == ("laptop", ["operator.read", "operator.write"])
    assert GatewayToken.objects.get(pk=old.record.pk).revoked_at is not None
    active = GatewayToken.objects.filter(revoked_at__isnull=True)
    assert not active.filter(token_hash=token_hash(old.token)).exists()
    assert active.filter(token_hash=token_hash(rotated["token"])).exists()
    text = _run("rotate", str(rotated["id"]))
    assert f"Token {rotated['id']} revoked; its replacement, token " in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("rotate", "999"), "no active token with id 999"),
        (("revoke", "999"), "no active token with id 999"),
    ],
)
def test_an_unknown_id_is_a_clear_error_with_exit_2(args: tuple[str, ...], says: str) -> None:
    with pytest.raises(CommandError) as info:
        _run(*args)
    assert says in str(info.value)
    assert info.value.returncode == 2


def test_the_environment_token_is_rotated_in_the_environment(settings: Any) -> None:
    env = gateway_token_create(
        token="env-token-0123456789abcdefghijklmnopq", source=GatewayToken.Source.ENVIRONMENT
    )
    with pytest.raises(CommandError) as info:
        _run("rotate", str(env.record.pk))
    assert "OPENCLAW_GATEWAY_TOKEN" in str(info.value)
    assert GatewayToken.objects.get(pk=env.record.pk).revoked_at is None
