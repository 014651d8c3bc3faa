"""Session settings (OpenClaw session.dmScope / identityLinks / reset): service, cache, admin."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from sessions_app.lib.reset import ResetPolicy
from sessions_app.models import SessionSettings
from sessions_app.selectors import SessionSettingsData, session_settings
from sessions_app.services import SessionError, SessionSettingsError, session_settings_set
from tests.admin_checks import admin_url

pytestmark = pytest.mark.django_db


def test_the_defaults_apply_without_a_row() -> None:
    current = session_settings()
    assert current == SessionSettingsData()
    assert (current.dm_scope, dict(current.identity_links), current.reset) == (
        "main",
        {},
        ResetPolicy(mode="daily", at_hour=4, idle_minutes=None),
    )
    assert not SessionSettings.objects.exists()


def test_it_sets_each_setting_and_leaves_the_others(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        written = session_settings_set(dm_scope="Per-Channel-Peer")
    assert written.dm_scope == "per-channel-peer"
    assert session_settings().dm_scope == "per-channel-peer"

    with django_capture_on_commit_callbacks(execute=True):
        session_settings_set(identity_links={"alice": ["telegram:42", 99, " Discord:U1 "]})
    with django_capture_on_commit_callbacks(execute=True):
        session_settings_set(reset={"mode": "idle", "idleMinutes": 90})
    current = session_settings()
    assert current.dm_scope == "per-channel-peer"
    assert dict(current.identity_links) == {"alice": ("telegram:42", "99", "Discord:U1")}
    assert current.reset == ResetPolicy(mode="idle", at_hour=4, idle_minutes=90)
    assert SessionSettings.objects.get().pk == 1


def test_none_puts_a_setting_back_to_its_default(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    session_settings_set(
        dm_scope="per-peer", identity_links={"a": ["1"]}, reset={"mode": "idle", "atHour": 6}
    )
    with django_capture_on_commit_callbacks(execute=True):
        session_settings_set(dm_scope=None, identity_links=None, reset=None)
    assert session_settings() == SessionSettingsData()


def test_reset_replaces_the_whole_object() -> None:
    session_settings_set(reset={"mode": "daily", "atHour": 6, "idleMinutes": 30})
    written = session_settings_set(reset={"atHour": 5})
    assert written.reset == ResetPolicy(mode="daily", at_hour=5, idle_minutes=None)


def test_the_settings_are_cached_and_cleared_on_save(
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    session_settings()
    with CaptureQueriesContext(connection) as queries:
        assert session_settings().dm_scope == "main"
    assert len(queries) == 0

    with django_capture_on_commit_callbacks(execute=True):
        session_settings_set(dm_scope="per-peer")
    assert session_settings().dm_scope == "per-peer"

    # A save anywhere in this process (the admin, a shell) clears it through the signal.
    row = SessionSettings.objects.get()
    row.dm_scope = "main"
    row.save()
    assert session_settings().dm_scope == "main"


def test_the_cached_view_cannot_be_changed_by_a_caller() -> None:
    session_settings_set(identity_links={"alice": ["1"]})
    links = session_settings().identity_links
    with pytest.raises(TypeError):
        links["bob"] = ("2",)  # type: ignore[index]


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        (
            {"dm_scope": "per-user"},
            "session.dmScope",
            "'per-user' is not one of main, per-peer, per-channel-peer, "
            "per-account-channel-peer; did you mean 'per-peer'?",
        ),
        ({"dm_scope": 1}, "session.dmScope", "takes a string, not int"),
        ({"identity_links": ["telegram:1"]}, "session.identityLinks", "takes an object"),
        (
            {"identity_links": {"alice:x": ["1"]}},
            "session.identityLinks",
            "name 'alice:x' becomes part of session keys",
        ),
        ({"identity_links": {" ": ["1"]}}, "session.identityLinks", "name ' ' becomes part"),
        (
            {"identity_links": {"alice": ["1"], "ALICE": ["2"]}},
            "session.identityLinks",
            "name 'ALICE' is given twice",
        ),
        ({"identity_links": {"alice": "1"}}, "session.identityLinks.alice", "takes a list"),
        (
            {"identity_links": {"alice": ["1", ""]}},
            "session.identityLinks.alice[1]",
            "'' is not an id",
        ),
        (
            {"identity_links": {"alice": [None]}},
            "session.identityLinks.alice[0]",
            "None is not an id",
        ),
        ({"reset": "daily"}, "session.reset", "takes an object"),
        (
            {"reset": {"atHours": 4}},
            "session.reset.atHours",
            "unknown key; known keys: mode, atHour, idleMinutes; did you mean 'atHour'?",
        ),
        ({"reset": {"mode": "weekly"}}, "session.reset.mode", "'weekly' is not one of daily, idle"),
        ({"reset": {"mode": "never"}}, "session.reset.mode", "'never' is not one of daily, idle"),
        ({"reset": {"atHour": 24}}, "session.reset.atHour", "24 is not an hour"),
        ({"reset": {"atHour": -1}}, "session.reset.atHour", "-1 is not an hour"),
        ({"reset": {"atHour": "4"}}, "session.reset.atHour", "'4' is not an hour"),
        ({"reset": {"atHour": True}}, "session.reset.atHour", "True is not an hour"),
        ({"reset": {"idleMinutes": 0}}, "session.reset.idleMinutes", "0 is not a number of"),
        ({"reset": {"idleMinutes": 1.5}}, "session.reset.idleMinutes", "1.5 is not a number"),
    ],
)
def test_a_bad_value_is_named_with_what_is_allowed(
    kwargs: dict[str, Any], field: str, message: str
) -> None:
    session_settings_set(dm_scope="per-peer")
    with pytest.raises(SessionSettingsError) as caught:
        session_settings_set(**kwargs)
    assert caught.value.field == field
    assert caught.value.message.startswith(f"{field}: ")
    assert message in caught.value.message
    assert isinstance(caught.value, SessionError)
    assert SessionSettings.objects.get().dm_scope == "per-peer"  # nothing changed


# --- admin ------------------------------------------------------------------------------
def _redirect(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 302
    return str(response["Location"])


def _form(**overrides: Any) -> dict[str, Any]:
    data = {
        "dm_scope": "per-channel-peer",
        "identity_links": '{"alice": ["telegram:42"]}',
        "reset_mode": "daily",
        "reset_at_hour": "5",
        "reset_idle_minutes": "",
    }
    data.update(overrides)
    return data


def test_the_admin_adds_the_one_row_through_the_service(admin_client: Client) -> None:
    add_url = admin_url(SessionSettings, "add")
    change_url = admin_url(SessionSettings, "change", 1)
    assert _redirect(admin_client, admin_url(SessionSettings, "changelist")) == add_url
    assert admin_client.get(add_url).status_code == 200
    response = admin_client.post(add_url, _form())
    assert response.status_code == 302, response.content.decode()[:2000]
    current = session_settings()
    assert current.dm_scope == "per-channel-peer"
    assert current.reset == ResetPolicy("daily", 5, None)
    assert dict(current.identity_links) == {"alice": ("telegram:42",)}
    # One row only: the list and add pages lead to it, and it is never deleted.
    assert _redirect(admin_client, admin_url(SessionSettings, "changelist")) == change_url
    assert _redirect(admin_client, add_url) == change_url
    assert admin_client.get(change_url).status_code == 200
    assert admin_client.get(admin_url(SessionSettings, "delete", 1)).status_code == 403

    response = admin_client.post(change_url, _form(reset_mode="idle", reset_idle_minutes="45"))
    assert response.status_code == 302
    assert session_settings().reset == ResetPolicy("idle", 5, 45)
    assert SessionSettings.objects.count() == 1


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"reset_at_hour": "24"}, "reset_at_hour", "session.reset.atHour: 24 is not an hour"),
        (
            {"identity_links": '{"a b": ["1"]}'},
            "identity_links",
            "name &#x27;a b&#x27; becomes part of session keys",
        ),
        ({"identity_links": '{"a": "1"}'}, "identity_links", "takes a list of ids"),
    ],
)
def test_the_admin_shows_a_bad_value_on_its_field(
    admin_client: Client, overrides: dict[str, Any], field: str, message: str
) -> None:
    response = admin_client.post(admin_url(SessionSettings, "add"), _form(**overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert message in response.content.decode()
    assert not SessionSettings.objects.exists()
