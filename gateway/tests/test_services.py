from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from agents.models import Agent
from core.datadir import bootstrap_data_dir
from gateway import scopes
from gateway.models import GatewayToken
from gateway.services import (
    TokenError,
    gateway_bootstrap,
    gateway_token_create,
    gateway_token_revoke,
)

ENV_TOKEN = "env-token-" + "e" * 38


@pytest.fixture
def embedded(settings: Any, data_dir: Path) -> Path:
    """Embedded mode with a fresh, bootstrapped data dir (also on the team-mode CI pass)."""
    settings.TEAM_MODE = False
    settings.GATEWAY_TOKEN = ""
    bootstrap_data_dir()
    return data_dir


# --- gateway_token_create / gateway_token_revoke --------------------------------------


@pytest.mark.django_db
def test_token_create_stores_only_the_sha256() -> None:
    issued = gateway_token_create(name="laptop")

    record = GatewayToken.objects.get()
    assert len(issued.token) == 48
    assert record.token_hash == hashlib.sha256(issued.token.encode()).hexdigest()
    assert record.token_hash != issued.token
    assert record.prefix == issued.token[:6]
    assert len(record.prefix) == 6
    assert record.name == "laptop"
    assert record.scopes == [scopes.ADMIN]
    assert record.source == GatewayToken.Source.GENERATED
    stored = GatewayToken.objects.filter(pk=record.pk).values().get()
    assert issued.token not in {str(value) for value in stored.values()}


@pytest.mark.django_db
def test_token_create_generates_a_new_token_each_time() -> None:
    first = gateway_token_create()
    second = gateway_token_create()

    assert first.token != second.token
    assert GatewayToken.objects.count() == 2


@pytest.mark.django_db
def test_token_create_keeps_the_given_scopes() -> None:
    issued = gateway_token_create(scopes=[scopes.READ, scopes.PAIRING])

    assert issued.record.scopes == [scopes.READ, scopes.PAIRING]


@pytest.mark.django_db
def test_token_create_rejects_unknown_scopes() -> None:
    with pytest.raises(TokenError, match=r"unknown scope\(s\) operator\.root"):
        gateway_token_create(scopes=[scopes.READ, "operator.root"])

    assert not GatewayToken.objects.exists()


@pytest.mark.django_db
def test_token_create_rejects_short_tokens(settings: Any) -> None:
    short = "s" * (settings.GATEWAY_MIN_TOKEN_LENGTH - 1)

    with pytest.raises(TokenError, match="shorter than"):
        gateway_token_create(token=short)

    assert not GatewayToken.objects.exists()


@pytest.mark.django_db
def test_token_create_registers_a_given_token_once(settings: Any) -> None:
    token = "g" * settings.GATEWAY_MIN_TOKEN_LENGTH

    first = gateway_token_create(token=token)
    again = gateway_token_create(token=token)

    assert again.record.pk == first.record.pk
    assert again.token == token
    assert GatewayToken.objects.count() == 1


@pytest.mark.django_db
def test_token_create_refuses_a_revoked_token() -> None:
    issued = gateway_token_create(token=ENV_TOKEN)
    assert gateway_token_revoke(token_pk=issued.record.pk)

    with pytest.raises(TokenError, match="revoked"):
        gateway_token_create(token=ENV_TOKEN)


@pytest.mark.django_db
def test_token_revoke_revokes_once() -> None:
    issued = gateway_token_create()

    assert gateway_token_revoke(token_pk=issued.record.pk) is True
    issued.record.refresh_from_db()
    revoked_at = issued.record.revoked_at
    assert revoked_at is not None
    assert not GatewayToken.objects.active().exists()

    assert gateway_token_revoke(token_pk=issued.record.pk) is False
    issued.record.refresh_from_db()
    assert issued.record.revoked_at == revoked_at


@pytest.mark.django_db
def test_token_revoke_of_a_missing_token_is_false() -> None:
    assert gateway_token_revoke(token_pk=999_999) is False


# --- gateway_bootstrap ----------------------------------------------------------------


@pytest.mark.django_db
def test_first_bootstrap_creates_agent_token_and_private_token_file(embedded: Path) -> None:
    result = gateway_bootstrap()

    assert result.agent_created is True
    agent = Agent.objects.get()
    assert (agent.slug, agent.is_default) == ("main", True)
    assert result.new_token is not None
    assert result.token_source == "generated"
    token_file = embedded / "gateway-token"
    assert result.token_file == token_file
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert token_file.read_text(encoding="utf-8") == result.new_token + "\n"
    record = GatewayToken.objects.get()
    assert record.token_hash == hashlib.sha256(result.new_token.encode()).hexdigest()
    assert record.source == GatewayToken.Source.GENERATED


@pytest.mark.django_db
def test_second_bootstrap_creates_nothing(embedded: Path) -> None:
    first = gateway_bootstrap()
    token_file = embedded / "gateway-token"
    content = token_file.read_text(encoding="utf-8")

    second = gateway_bootstrap()

    assert second.agent_created is False
    assert second.new_token is None
    assert second.token_source == "database"
    assert second.token_file == token_file
    assert Agent.objects.count() == 1
    assert GatewayToken.objects.count() == 1
    assert token_file.read_text(encoding="utf-8") == content
    assert first.new_token is not None


@pytest.mark.django_db
def test_bootstrap_keeps_an_existing_default_agent(embedded: Path) -> None:
    Agent.objects.create(slug="assistant", is_default=True)

    result = gateway_bootstrap()

    assert result.agent_created is False
    assert list(Agent.objects.values_list("slug", flat=True)) == ["assistant"]


@pytest.mark.django_db
def test_bootstrap_after_revoking_the_generated_token_issues_a_new_one(embedded: Path) -> None:
    first = gateway_bootstrap()
    gateway_token_revoke(token_pk=GatewayToken.objects.get().pk)

    second = gateway_bootstrap()

    assert second.new_token is not None
    assert second.new_token != first.new_token
    token_file = embedded / "gateway-token"
    assert token_file.read_text(encoding="utf-8") == second.new_token + "\n"
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert GatewayToken.objects.active().count() == 1


@pytest.mark.django_db
def test_bootstrap_with_env_token_registers_its_hash_and_generates_none(
    settings: Any, embedded: Path
) -> None:
    settings.GATEWAY_TOKEN = ENV_TOKEN

    result = gateway_bootstrap()
    again = gateway_bootstrap()

    assert result.new_token is None
    assert result.token_source == "environment"
    assert result.token_file is None
    assert again.new_token is None
    record = GatewayToken.objects.get()
    assert record.token_hash == hashlib.sha256(ENV_TOKEN.encode()).hexdigest()
    assert record.source == GatewayToken.Source.ENVIRONMENT
    assert record.name == "environment"
    assert not (embedded / "gateway-token").exists()


@pytest.mark.django_db
def test_bootstrap_with_a_short_env_token_fails(settings: Any, embedded: Path) -> None:
    settings.GATEWAY_TOKEN = "short"

    with pytest.raises(TokenError, match="shorter than"):
        gateway_bootstrap()

    assert not GatewayToken.objects.exists()
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_team_mode_bootstrap_writes_no_token_file(settings: Any, data_dir: Path) -> None:
    settings.TEAM_MODE = True
    settings.GATEWAY_TOKEN = ""

    result = gateway_bootstrap()

    assert result.new_token is not None
    assert result.token_file is None
    assert not data_dir.exists()
