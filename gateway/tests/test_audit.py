"""The audit log: one entry per operator write through the admin, an RPC or a command, with
who, what, when and the before and after values; secrets masked; read-only to everyone;
the runtime's writes record nothing."""

# factory_boy declarations are unannotated (as in gateway/tests/factories.py).
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from io import StringIO
from typing import Any

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from agents.models import Agent, ModelProvider, Run
from agents.providers import placeholder as placeholder_module
from agents.runtime import enqueue
from agents.runtime import loop as run_loop
from agents.services.runs import run_start
from channels_app.models import ChannelAccount
from channels_app.tests.factories import ChannelAccountFactory
from core.audit import Actor, Target, acting, current_actor, record
from core.commands import os_user
from gateway import scopes as gw_scopes
from gateway.models import AuditEntry, GatewayToken
from gateway.services import gateway_token_create
from gateway.tests.factories import AuditEntryFactory
from pairing.models import AllowlistEntry, Device, PairingRequest
from pairing.tests.factories import DeviceFactory, PairingRequestFactory
from sessions_app.models import Message, Session
from tests.admin_checks import admin_url, assert_changelist_queries_flat
from tests.openclaw_client import InProcessClient, release_worker_db_connections

BOT_TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
API_KEY = "sk-admin-typed-key-0123456789"
OTHER_KEY = "sk-another-typed-key-9876543210"
CODE = "K7MX3PQA"
RPC_TOKEN = "audit-rpc-token-" + "0123456789abcdef" * 2
PROVIDER_FORM = {
    "provider": "ollama",
    "label": "local",
    "api": "openai-chat",
    "base_url": "http://127.0.0.1:11434/v1",
    "api_key": API_KEY,
    "model_ids": '["llama3.2"]',
    "priority": "0",
    "enabled": "on",
}


def _entries(**filters: Any) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def _assert_no_secret(*secrets: str) -> None:
    stored = json.dumps(list(AuditEntry.objects.values()), default=str)
    for secret in secrets:
        assert secret not in stored


def _act(client: Client, model: type, action: str, pks: list[int]) -> Any:
    return client.post(
        admin_url(model, "changelist"),
        {"action": action, "_selected_action": [str(pk) for pk in pks]},
        follow=True,
    )


def _member(role: str) -> Client:
    user = User.objects.create_user(f"{role}-user", password="x" * 20, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


# --- the admin --------------------------------------------------------------------------
@pytest.mark.django_db
def test_an_admin_add_and_change_record_before_and_after_with_the_key_masked(
    admin_client: Client, admin_user: User
) -> None:
    assert admin_client.post(admin_url(ModelProvider, "add"), PROVIDER_FORM).status_code == 302
    provider = ModelProvider.objects.get()
    change = admin_url(ModelProvider, "change", provider.pk)
    renamed = {**PROVIDER_FORM, "label": "renamed", "api_key": ""}  # blank keeps the key
    assert admin_client.post(change, renamed).status_code == 302
    assert admin_client.post(change, {**renamed, "api_key": OTHER_KEY}).status_code == 302

    created, updated, rekeyed = _entries(model="agents.modelprovider")
    assert (created.actor_kind, created.actor, created.action) == ("admin", "admin", "create")
    assert created.source == f"POST {admin_url(ModelProvider, 'add')}"
    assert created.object_pk == str(provider.pk)
    assert created.changes["label"] == [None, "local"]
    assert created.changes["api_key"] == [None, "***"]
    assert "created_at" not in created.changes
    assert (updated.action, updated.changes) == ("update", {"label": ["local", "renamed"]})
    assert rekeyed.changes == {"api_key": ["***", "*** (new value)"]}
    assert created.at <= updated.at <= rekeyed.at
    _assert_no_secret(API_KEY, OTHER_KEY)


@pytest.mark.django_db
def test_an_admin_action_records_the_decision_and_its_effects(admin_client: Client) -> None:
    account = ChannelAccountFactory.create(credentials={"botToken": BOT_TOKEN})
    request = PairingRequestFactory.create(channel_account=account, code=CODE)

    device = DeviceFactory.create()
    _act(admin_client, PairingRequest, "approve", [request.pk])
    _act(admin_client, ChannelAccount, "disable", [account.pk])
    _act(admin_client, Device, "approve", [device.pk])
    _act(admin_client, Device, "revoke", [device.pk])

    (decision,) = _entries(action="pairing.approve")
    assert decision.model == "pairing.pairingrequest"
    assert decision.changes == {"status": ["pending", "approved"]}
    assert decision.source.endswith("action=approve")
    (allowed,) = _entries(model="pairing.allowlistentry")
    assert (allowed.action, allowed.changes["sender_ref"]) == ("create", [None, request.sender_ref])
    (disabled,) = _entries(model="channels_app.channelaccount")
    assert (disabled.action, disabled.changes) == ("update", {"enabled": [True, False]})
    assert disabled.actor == "admin"
    approved, revoked = _entries(model="pairing.device")
    assert (approved.action, approved.changes) == (
        "device.approve",
        {"status": ["pending", "paired"]},
    )
    assert (revoked.action, revoked.changes) == ("device.revoke", {"status": ["paired", "revoked"]})
    _assert_no_secret(BOT_TOKEN)


@pytest.mark.django_db
def test_admin_actions_on_runtime_rows_are_recorded(admin_client: Client) -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    run = run_start(session_key="main", message="hi", idempotency_key="audit-1").run
    session = Session.objects.get()
    _act(admin_client, Run, "abort", [run.pk])
    _act(admin_client, Session, "reset", [session.pk])
    message = Message.objects.get()
    admin_client.post(
        admin_url(Message, "changelist"),
        {"action": "delete_selected", "_selected_action": [message.pk], "post": "yes"},
    )

    (abort,) = _entries(action="run.abort")
    assert (abort.model, abort.object_repr) == ("agents.run", run.run_id)
    assert abort.changes == {"status": ["queued", "aborted"]}
    (reset,) = _entries(model="sessions_app.session")
    assert reset.changes["session_id"][0] == str(session.session_id)
    assert reset.changes["last_reset_at"][0] is None
    (deleted,) = _entries(model="sessions_app.message")
    # A deleted transcript does not live on in the audit log.
    assert (deleted.action, deleted.changes) == ("delete", {})


@pytest.mark.django_db
def test_a_users_groups_and_password_are_recorded_the_password_masked() -> None:
    user = User.objects.create_user("bob", password="first-password-123")
    with acting(Actor(kind="admin", name="alice")):
        user.groups.add(Group.objects.get(name="viewers"))
        user.set_password("second-password-456")
        user.save()
    groups, password = _entries(model="auth.user")
    assert groups.changes == {"groups": [[], ["viewers"]]}
    assert password.changes == {"password": ["***", "*** (new value)"]}
    _assert_no_secret("second-password-456", user.password)


@pytest.mark.django_db
def test_the_audit_log_is_read_only_even_for_a_superuser(admin_client: Client) -> None:
    with acting(Actor(kind="command", name="root", source="manage.py agents add")):
        Agent.objects.create(slug="main", name="Main", is_default=True)
    entry = AuditEntry.objects.get()
    change = admin_url(AuditEntry, "change", entry.pk)

    page = admin_client.get(admin_url(AuditEntry, "changelist")).content.decode()
    assert "root" in page
    detail = admin_client.get(change).content.decode()
    assert "<th>before</th>" in detail
    assert "<code>slug</code>" in detail
    assert admin_client.get(admin_url(AuditEntry, "add")).status_code == 403
    assert admin_client.post(change, {"actor": "someone else"}).status_code == 403
    assert (
        admin_client.post(admin_url(AuditEntry, "delete", entry.pk), {"post": "yes"}).status_code
        == 403
    )
    _act(admin_client, AuditEntry, "delete_selected", [entry.pk])
    assert AuditEntry.objects.get().actor == "root"


@pytest.mark.django_db
def test_the_audit_log_changelist_costs_the_same_with_more_entries(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    assert_changelist_queries_flat(
        admin_client, django_assert_max_num_queries, AuditEntryFactory, max_queries=8
    )


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewers", "operators"])
def test_viewers_and_operators_read_the_audit_log(role: str) -> None:
    with acting(Actor(kind="admin", name="alice")):
        Agent.objects.create(slug="main", name="Main", is_default=True)
    entry = AuditEntry.objects.get()
    client = _member(role)
    assert client.get(admin_url(AuditEntry, "changelist")).status_code == 200
    assert client.get(admin_url(AuditEntry, "change", entry.pk)).status_code == 200
    assert client.post(admin_url(AuditEntry, "change", entry.pk), {}).status_code == 403


# --- commands ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_config_set_records_the_account_with_its_token_masked() -> None:
    Agent.objects.create(slug="main", name="Main", is_default=True)
    call_command("config", "set", "channels.telegram.botToken", BOT_TOKEN, stdout=StringIO())
    call_command("config", "set", "channels.telegram.dmPolicy", "allowlist", stdout=StringIO())

    created, policy = _entries(model="channels_app.channelaccount")
    assert (created.actor_kind, created.actor) == ("command", os_user())
    assert created.source == "manage.py config set"
    assert created.changes["credentials"] == [None, {"botToken": "***"}]
    assert (policy.action, policy.changes) == ("update", {"dm_policy": ["pairing", "allowlist"]})
    _assert_no_secret(BOT_TOKEN, "AAHsecretPart")


@pytest.mark.django_db
def test_pairing_approve_and_token_rotate_commands_are_recorded() -> None:
    request = PairingRequestFactory.create(code=CODE)
    old = gateway_token_create(name="laptop", scopes=[gw_scopes.READ])
    assert not AuditEntry.objects.exists()  # outside a door: nobody acts

    call_command("pairing", "approve", "telegram", CODE, stdout=StringIO())
    out = StringIO()
    call_command("gateway_token", "rotate", str(old.record.pk), stdout=out)

    (approve,) = _entries(action="pairing.approve")
    assert (approve.source, approve.object_pk) == ("manage.py pairing approve", str(request.pk))
    assert AllowlistEntry.objects.filter(sender_ref=request.sender_ref).exists()
    new_token, revoke = _entries(model="gateway.gatewaytoken")
    assert new_token.action == "create"
    assert new_token.changes["token_hash"] == [None, "***"]
    assert new_token.changes["name"] == [None, "laptop"]
    assert (revoke.action, revoke.object_pk) == ("token.revoke", str(old.record.pk))
    assert revoke.changes["revoked_at"][0] is None
    assert revoke.object_repr == str(GatewayToken.objects.get(pk=old.record.pk))
    assert {e.source for e in (new_token, revoke)} == {"manage.py gateway_token rotate"}
    _assert_no_secret(old.token, GatewayToken.objects.get(pk=old.record.pk).token_hash)


# --- the runtime ------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_chat_turn_records_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(placeholder_module, "CHUNK_DELAY_S", 0.0)
    monkeypatch.setattr(enqueue, "send", lambda task_name, run_pk: None)
    Agent.objects.create(slug="main", name="Main", is_default=True)
    run = run_start(session_key="main", message="hello", idempotency_key="turn-1").run
    run_loop.run_advance(run_pk=run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_without_an_actor_an_audited_save_costs_no_query_and_record_nothing(
    django_assert_num_queries: Any,
) -> None:
    agent = Agent.objects.create(slug="main", name="Main", is_default=True)
    agent.name = "Renamed"
    with django_assert_num_queries(1):  # the UPDATE, no read of the row before it
        agent.save(update_fields=["name", "updated_at"])
    record("update", agent, before={"name": "Main"}, after={"name": "Renamed"})
    assert current_actor() is None
    assert not AuditEntry.objects.exists()


@pytest.mark.django_db
def test_record_keeps_only_changed_fields_and_names_a_row_by_its_str() -> None:
    agent = Agent.objects.create(slug="main", name="Main", is_default=True)
    with acting(Actor(kind="rpc", name="token:cli#1", source="test")) as actor:
        assert current_actor() is actor
        record("update", Target.row(Agent, agent.pk), before={"name": "a"}, after={"name": "a"})
        record("agent.poke", Target.row(Agent, agent.pk), before={"x": 1}, after={"x": 2})
    assert current_actor() is None
    (entry,) = _entries()  # an "update" with nothing changed is no entry
    assert (entry.object_repr, entry.changes) == (str(agent), {"x": [1, 2]})


# --- RPC --------------------------------------------------------------------------------
@pytest_asyncio.fixture
async def rpc_client(transactional_db: None, settings: Any) -> AsyncIterator[InProcessClient]:
    settings.GATEWAY_AUTH_MODE = "token"
    await sync_to_async(Agent.objects.create)(slug="main", name="Main", is_default=True)
    await sync_to_async(gateway_token_create)(
        name="laptop", token=RPC_TOKEN, scopes=["operator.admin"]
    )
    async with InProcessClient() as client:
        res = await client.connect(
            token=RPC_TOKEN, scopes=[gw_scopes.ADMIN, gw_scopes.WRITE, gw_scopes.READ]
        )
        assert res["ok"], res
        yield client
    await release_worker_db_connections()


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_rpc_writes_are_recorded_as_the_token_and_turns_are_not(
    rpc_client: InProcessClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enqueue, "send", lambda task_name, run_pk: None)
    key = "agent:main:main"
    sent = await rpc_client.call(
        "chat.send", {"sessionKey": key, "message": "hi", "idempotencyKey": "rpc-turn-1"}
    )
    assert sent["ok"], sent
    assert not await sync_to_async(AuditEntry.objects.exists)()  # a turn is the runtime's

    snapshot = await rpc_client.call("config.get", {})
    patch = json.dumps({"channels": {"telegram": {"botToken": BOT_TOKEN}}})
    patched = await rpc_client.call(
        "config.patch", {"raw": patch, "baseHash": snapshot["payload"]["hash"]}
    )
    assert patched["ok"], patched
    label = await rpc_client.call("sessions.patch", {"key": key, "label": "Work"})
    assert label["ok"], label

    token_pk = await sync_to_async(lambda: GatewayToken.objects.get(name="laptop").pk)()
    entries = await sync_to_async(_entries)()
    assert [(e.model, e.action) for e in entries] == [
        ("channels_app.channelaccount", "create"),
        ("sessions_app.session", "update"),
    ]
    account, session = entries
    assert {e.actor_kind for e in entries} == {"rpc"}
    assert {e.actor for e in entries} == {f"token:laptop#{token_pk}"}
    assert account.source.startswith("config.patch from ")
    assert account.changes["credentials"] == [None, {"botToken": "***"}]
    assert session.changes == {"label": ["", "Work"]}
    assert session.source.startswith("sessions.patch from ")
    await sync_to_async(_assert_no_secret)(BOT_TOKEN, RPC_TOKEN)


@pytest.mark.django_db
def test_at_is_the_time_of_the_write() -> None:
    before = timezone.now()
    with acting(Actor(kind="command", name="root")):
        Agent.objects.create(slug="main", name="Main", is_default=True)
    assert before <= AuditEntry.objects.get().at <= timezone.now()
