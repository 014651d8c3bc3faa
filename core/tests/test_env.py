from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from core.env import env_bool, env_choice, env_int, env_list, env_str


@pytest.mark.parametrize("raw", ["1", "true", "True", "TRUE", "yes", "on", "t", "y", " true "])
def test_env_bool_accepts_true_spellings(raw: str) -> None:
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is True


@pytest.mark.parametrize("raw", ["0", "false", "False", "no", "off", "f", "n", " NO "])
def test_env_bool_accepts_false_spellings(raw: str) -> None:
    assert env_bool("FLAG", True, environ={"FLAG": raw}) is False


@pytest.mark.parametrize("raw", ["", "   "])
def test_env_bool_uses_default_when_blank(raw: str) -> None:
    assert env_bool("FLAG", True, environ={"FLAG": raw}) is True
    assert env_bool("FLAG", False, environ={"FLAG": raw}) is False


def test_env_bool_uses_default_when_unset() -> None:
    assert env_bool("FLAG", True, environ={}) is True


@pytest.mark.parametrize("raw", ["ture", "treu", "2", "enabled", "nope"])
def test_env_bool_rejects_unknown_spellings_naming_the_variable(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_DEBUG=.*is not a boolean"):
        env_bool("DJANGO_DEBUG", False, environ={"DJANGO_DEBUG": raw})


def test_env_bool_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENCLAW_TEST_FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="OPENCLAW_TEST_FLAG"):
        env_bool("OPENCLAW_TEST_FLAG", False)
    monkeypatch.setenv("OPENCLAW_TEST_FLAG", "yes")
    assert env_bool("OPENCLAW_TEST_FLAG", False) is True


def test_env_int_parses_within_bounds() -> None:
    assert env_int("PORT", 1, minimum=1, maximum=65535, environ={"PORT": " 8080 "}) == 8080
    assert env_int("PORT", 1, minimum=1, maximum=65535, environ={"PORT": "1"}) == 1
    assert env_int("PORT", 1, minimum=1, maximum=65535, environ={"PORT": "65535"}) == 65535
    assert env_int("PORT", 42, environ={}) == 42
    assert env_int("PORT", 42, environ={"PORT": ""}) == 42
    assert env_int("OFFSET", 0, environ={"OFFSET": "-5"}) == -5


def test_env_int_rejects_values_below_minimum() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"PORT=0 is too small; the minimum is 1"):
        env_int("PORT", 1, minimum=1, environ={"PORT": "0"})


def test_env_int_rejects_values_above_maximum() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"PORT=70000 is too large; the maximum is 65535"
    ):
        env_int("PORT", 1, maximum=65535, environ={"PORT": "70000"})


@pytest.mark.parametrize("raw", ["abc", "1.5", "10k", "0x10"])
def test_env_int_rejects_non_numbers(raw: str) -> None:
    with pytest.raises(ImproperlyConfigured, match=r"PORT=.*is not a whole number"):
        env_int("PORT", 1, environ={"PORT": raw})


def test_env_choice_accepts_known_values_case_insensitively() -> None:
    choices = ("plain", "json")
    assert env_choice("LOG_FORMAT", "plain", choices, environ={"LOG_FORMAT": "JSON"}) == "json"
    assert env_choice("LOG_FORMAT", "plain", choices, environ={"LOG_FORMAT": " plain "}) == "plain"
    assert env_choice("LOG_FORMAT", "plain", choices, environ={}) == "plain"


def test_env_choice_rejects_unknown_values_listing_the_choices() -> None:
    with pytest.raises(
        ImproperlyConfigured, match=r"LOG_FORMAT='xml' is not valid; use one of plain, json"
    ):
        env_choice("LOG_FORMAT", "plain", ("plain", "json"), environ={"LOG_FORMAT": "xml"})


def test_env_list_splits_on_commas_and_drops_blanks() -> None:
    assert env_list("HOSTS", [], environ={"HOSTS": " a.example , b.example,,  "}) == [
        "a.example",
        "b.example",
    ]


def test_env_list_uses_default_when_blank() -> None:
    assert env_list("HOSTS", ["localhost"], environ={"HOSTS": "  "}) == ["localhost"]
    assert env_list("HOSTS", ["localhost"], environ={}) == ["localhost"]


def test_env_list_default_is_a_copy() -> None:
    default = ["localhost"]
    result = env_list("HOSTS", default, environ={})
    result.append("other")
    assert default == ["localhost"]


def test_file_variant_reads_and_strips_the_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-value\n", encoding="utf-8")
    assert env_str("DJANGO_SECRET_KEY", environ={"DJANGO_SECRET_KEY_FILE": str(secret)}) == (
        "s3cret-value"
    )


def test_variable_wins_over_file_variant(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-file", encoding="utf-8")
    environ = {"TOKEN": "from-env", "TOKEN_FILE": str(secret)}
    assert env_str("TOKEN", environ=environ) == "from-env"


def test_file_variant_feeds_typed_readers(tmp_path: Path) -> None:
    (tmp_path / "debug").write_text("yes\n", encoding="utf-8")
    (tmp_path / "port").write_text("9000\n", encoding="utf-8")
    (tmp_path / "hosts").write_text("a,b\n", encoding="utf-8")
    assert env_bool("DEBUG", False, environ={"DEBUG_FILE": str(tmp_path / "debug")}) is True
    assert env_int("PORT", 1, environ={"PORT_FILE": str(tmp_path / "port")}) == 9000
    assert env_list("HOSTS", [], environ={"HOSTS_FILE": str(tmp_path / "hosts")}) == ["a", "b"]


def test_file_variant_content_is_validated(tmp_path: Path) -> None:
    (tmp_path / "debug").write_text("ture\n", encoding="utf-8")
    with pytest.raises(ImproperlyConfigured, match=r"DEBUG='ture' is not a boolean"):
        env_bool("DEBUG", False, environ={"DEBUG_FILE": str(tmp_path / "debug")})


def test_missing_file_variant_is_an_error_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "does-not-exist"
    with pytest.raises(ImproperlyConfigured, match=r"DJANGO_SECRET_KEY_FILE=.*cannot be read"):
        env_str("DJANGO_SECRET_KEY", environ={"DJANGO_SECRET_KEY_FILE": str(missing)})


def test_unreadable_file_variant_is_an_error(tmp_path: Path) -> None:
    # A directory is unreadable as a file even for root, unlike a chmod 000 file.
    with pytest.raises(ImproperlyConfigured, match=r"TOKEN_FILE=.*cannot be read"):
        env_str("TOKEN", environ={"TOKEN_FILE": str(tmp_path)})


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_file_variant_without_read_permission_is_an_error(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("value", encoding="utf-8")
    secret.chmod(0o000)
    with pytest.raises(ImproperlyConfigured, match=r"TOKEN_FILE=.*cannot be read"):
        env_str("TOKEN", environ={"TOKEN_FILE": str(secret)})


def test_blank_file_variant_name_falls_back_to_default() -> None:
    assert env_str("TOKEN", "fallback", environ={"TOKEN_FILE": ""}) == "fallback"
