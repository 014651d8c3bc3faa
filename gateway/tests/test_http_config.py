"""``config set`` / ``config.patch`` / ``config.get`` of hooks.*, gateway.http.*, gateway.tools.*."""

# factory_boy declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import re
from typing import Any

import pytest

from agents.services.config import ConfigError
from channels_app.lib.account_keys import REDACTED
from gateway import http_config
from gateway.catalog.config import config_document
from gateway.config_service import config_patch, config_set
from gateway.lib.tokens import token_hash
from gateway.models import ConfigEntry
from gateway.tests.factories import GatewayTokenFactory

pytestmark = pytest.mark.django_db

TOKEN = "hook-secret-0123456789abcdefghijklmn"


def _loaded() -> http_config.HttpSettings:
    http_config.forget()  # cleared on commit in production
    return http_config.current()


def _raw() -> Any:
    return ConfigEntry.objects.get(path="hooks").value


def test_everything_is_off_by_default() -> None:
    loaded = _loaded()
    assert (loaded.chat_completions, loaded.responses, loaded.hooks) == (False, False, None)
    doc = config_document()
    assert doc["hooks"] == {
        "enabled": False,
        "path": "/hooks",
        "maxBodyBytes": 262144,
        "allowRequestSessionKey": False,
    }
    assert doc["gateway"]["http"]["endpoints"]["chatCompletions"]["enabled"] is False
    assert doc["gateway"]["tools"] == {"allow": [], "deny": []}


def test_the_hooks_token_is_stored_encrypted_and_never_shown() -> None:
    assert config_set("hooks.token", TOKEN) == ["hooks.token"]
    config_set("hooks.enabled", True)
    assert TOKEN not in str(_raw())
    assert config_document()["hooks"]["token"] == REDACTED
    hooks = _loaded().hooks
    assert hooks is not None
    assert hooks.token == TOKEN


def test_the_redaction_marker_written_back_keeps_the_token() -> None:
    config_set("hooks", {"enabled": True, "token": TOKEN})
    doc = config_document()["hooks"]
    config_patch({"hooks": {**doc, "path": "/in"}})
    hooks = _loaded().hooks
    assert hooks is not None
    assert (hooks.token, hooks.base_path) == (TOKEN, "/in")


def test_enabled_needs_a_token_and_unsetting_it_while_enabled_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"requires hooks\.token"):
        config_set("hooks.enabled", True)
    config_set("hooks", {"enabled": True, "token": TOKEN})
    with pytest.raises(ConfigError, match=r"requires hooks\.token"):
        config_set("hooks.token", None)


def test_the_hooks_token_must_differ_from_a_gateway_token() -> None:
    GatewayTokenFactory(token_hash=token_hash(TOKEN))
    with pytest.raises(ConfigError, match="must differ from the gateway token"):
        config_set("hooks.token", TOKEN)


def test_the_hooks_token_must_differ_from_the_gateway_password(settings: Any) -> None:
    settings.GATEWAY_PASSWORD = TOKEN
    with pytest.raises(ConfigError, match="must differ"):
        config_set("hooks.token", TOKEN)


def test_a_weak_hooks_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="too weak"):
        config_set("hooks.token", "secret")


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/", "may not be '/'"),
        ("/v1/hooks", "under /v1"),
        ("/admin", "under /admin"),
        ("/telegram-webhook", "under /telegram-webhook"),
        ("/a b", "plain path"),
    ],
)
def test_bad_hooks_paths_are_refused(path: str, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        config_set("hooks.path", path)


def test_the_hooks_path_is_normalized() -> None:
    config_set("hooks.path", "incoming/")
    assert config_document()["hooks"]["path"] == "/incoming"


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"maxBodyBytes": 0}, "maxBodyBytes"),
        ({"allowedAgentIds": [1]}, "list of strings"),
        ({"allowRequestSessionKey": "yes"}, "true or false"),
        ({"allowedSessionKeyPrefixes": ["x:"]}, "must include 'hook:'"),
        ({"defaultSessionKey": "x:1", "allowedSessionKeyPrefixes": ["hook:"]}, "must match"),
        ({"mappings": [{"transform": {"module": "a.js"}}]}, "not supported"),
        ({"mappings": [{"action": "jump"}]}, "wake or agent"),
        ({"mappings": [{"bogus": 1}]}, "unknown key hooks.mappings"),
        ({"presets": ["outlook"]}, "unknown preset"),
        ({"transformsDir": "x"}, "not supported"),
        ({"pathh": "/x"}, "unknown key hooks.pathh"),
    ],
)
def test_bad_hooks_values_are_refused_and_nothing_is_stored(value: Any, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        config_patch({"hooks": value})
    assert not ConfigEntry.objects.filter(path="hooks").exists()


def test_a_patch_that_fails_later_changes_nothing() -> None:
    with pytest.raises(ConfigError):
        config_patch({"hooks": {"path": "/in"}, "gateway": {"bogus": 1}})
    assert not ConfigEntry.objects.exists()


def test_the_http_endpoints_are_set_by_path_and_by_patch() -> None:
    config_set("gateway.http.endpoints.chatCompletions.enabled", True)
    assert _loaded().chat_completions is True
    config_patch({"gateway": {"http": {"endpoints": {"responses": {"enabled": True}}}}})
    loaded = _loaded()
    assert (loaded.chat_completions, loaded.responses) == (True, True)
    config_set("gateway.http.endpoints.chatCompletions.enabled", None)  # unset
    assert _loaded().chat_completions is False


def test_gateway_patch_keeps_working_for_the_other_gateway_keys() -> None:
    changed = config_patch({"gateway": {"trustedProxies": ["10.0.0.1"], "http": {"endpoints": {}}}})
    assert "gateway.trustedProxies" in changed
    assert "gateway.http" in changed


@pytest.mark.parametrize(
    ("path", "value", "error"),
    [
        ("gateway.http.endpoints.chatCompletions.enabled", "yes", "true or false"),
        ("gateway.http.endpoints.embeddings.enabled", True, "takes chatCompletions"),
        ("gateway.http.endpoints.responses.maxBodyBytes", -1, "byte count"),
        ("gateway.http.securityHeaders", {}, "cannot set gateway.http.securityHeaders"),
        ("gateway.tools.allow", [3], "tool names"),
    ],
)
def test_bad_http_values_are_refused(path: str, value: Any, error: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(error)):
        config_set(path, value)


def test_the_http_tool_lists() -> None:
    config_set("gateway.tools.allow", "sessions_send, gateway")
    config_set("gateway.tools.deny", ["exec"])
    loaded = _loaded()
    assert (loaded.tools_allow, loaded.tools_deny) == (("sessions_send", "gateway"), ("exec",))


def test_an_undecryptable_token_turns_the_hooks_off(caplog: pytest.LogCaptureFixture) -> None:
    config_set("hooks", {"enabled": True, "token": TOKEN})
    ConfigEntry.objects.filter(path="hooks").update(
        value={**_raw(), http_config.TOKEN_FIELD: "not-a-fernet-token"}
    )
    assert _loaded().hooks is None
    assert "webhooks are off" in caplog.text


def test_unsetting_hooks_resets_everything() -> None:
    config_set("hooks", {"enabled": True, "token": TOKEN, "path": "/in"})
    config_set("hooks", None)
    assert not ConfigEntry.objects.filter(path="hooks").exists()
    assert _loaded().hooks is None
