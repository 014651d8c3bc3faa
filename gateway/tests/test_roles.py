"""The admin's roles (gateway/migrations/0003_roles.py): viewers read, operators change
everything but secrets and tokens, superusers do everything."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Group, User
from django.test import Client

from agents.models import Agent
from channels_app.models import ChannelAccount
from channels_app.tests.factories import ChannelAccountFactory
from tests.admin_checks import admin_url

pytestmark = pytest.mark.django_db
APPS = ("gateway", "channels_app", "agents", "pairing", "sessions_app")
BOT_TOKEN = "7012345678:AAHsecretPartThatMustNeverShowUp_xyzW"
OTHER_TOKEN = "7012345678:AAHanotherSecretAnOperatorMayNotSet_1"
TOKEN_MODELS = {("gateway", "gatewaytoken"), ("agents", "modelprovider"), ("pairing", "device")}


def _member(role: str) -> Client:
    user = User.objects.create_user(f"{role}-user", password="x" * 20, is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


def _our_models() -> list[Any]:
    return [m for m in admin.site._registry if m._meta.app_label in APPS]


def _account() -> ChannelAccount:
    return ChannelAccountFactory.create(credentials={"botToken": BOT_TOKEN}, account_id="default")


def test_the_migration_made_both_roles() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {"operators", "viewers"}
    assert (
        not Group.objects.get(name="viewers")
        .permissions.exclude(codename__startswith="view_")
        .exists()
    )


def test_a_viewer_reads_every_page_and_can_change_nothing() -> None:
    client = _member("viewers")
    user = User.objects.get(username="viewers-user")
    _account()
    for model in _our_models():
        label = f"{model._meta.app_label}.{model._meta.model_name}"
        assert client.get(admin_url(model, "changelist"), follow=True).status_code == 200, label
        assert client.get(admin_url(model, "add")).status_code == 403, label
        for action in ("add", "change", "delete"):
            assert not user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")
    agent = Agent.objects.create(slug="main", name="Main")
    response = client.post(admin_url(Agent, "change", agent.pk), {"name": "Renamed"})
    assert response.status_code == 403
    assert Agent.objects.get(pk=agent.pk).name == "Main"


def test_an_operator_changes_things_but_not_tokens_keys_or_devices() -> None:
    client = _member("operators")
    user = User.objects.get(username="operators-user")
    for model in _our_models():
        app, name = model._meta.app_label, model._meta.model_name
        may_change = user.has_perm(f"{app}.change_{name}")
        if (app, name) in TOKEN_MODELS:
            assert not may_change, name
            assert client.get(admin_url(model, "add")).status_code == 403, name
        elif (app, name) == ("gateway", "auditentry"):  # read by everyone, written by nobody
            assert user.has_perm("gateway.view_auditentry")
            assert not may_change
        elif (app, name) == ("channels_app", "channelaccount"):
            assert may_change
            assert not user.has_perm("channels_app.add_channelaccount")
        else:
            assert may_change, name


def test_an_operator_sees_that_a_bot_token_is_stored_but_cannot_read_or_set_it() -> None:
    account = _account()
    url = admin_url(ChannelAccount, "change", account.pk)
    operator = _member("operators")
    html = operator.get(url).content.decode()
    assert BOT_TOKEN not in html
    assert 'name="botToken"' not in html
    assert "<code>botToken</code>: ••••xyzW" in html

    # Whatever is posted for the token is ignored; the rest of the form is saved.
    form = {
        "name": "renamed by operator",
        "enabled": "on",
        "apiRoot": "",
        "webhookUrl": "",
        "botToken": OTHER_TOKEN,
        "dmPolicy": "pairing",
        "allowFrom": "",
        "groupPolicy": "allowlist",
        "groupAllowFrom": "",
        "groups": "",
        "requireMention": "on",
    }
    response = operator.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert account.name == "renamed by operator"
    assert account.credentials["botToken"] == BOT_TOKEN


def test_a_superuser_has_the_token_field(admin_client: Client) -> None:
    account = _account()
    html = admin_client.get(admin_url(ChannelAccount, "change", account.pk)).content.decode()
    assert 'type="password" name="botToken"' in html


def test_every_model_of_the_apps_is_covered_by_a_role() -> None:
    viewers = set(Group.objects.get(name="viewers").permissions.values_list("codename", flat=True))
    for model in apps.get_models():
        if model._meta.app_label in APPS:
            assert f"view_{model._meta.model_name}" in viewers, model
