"""Shared fixtures: fast hashing, isolated data dirs, the services gate, personas."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

import pytest

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _fast_test_settings(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    """Forget every in-process cache (core.ttlcache): test databases are flushed without
    the signals that clear them in production."""
    from core import ttlcache

    ttlcache.forget_all()


@pytest.fixture(autouse=True)
def _fresh_channel_layers() -> Any:
    """Give each test its own channel layer instances: channels-redis binds its receive
    locks to the event loop that first used them, and each async test has its own loop."""
    yield
    from channels.layers import channel_layers

    channel_layers.backends.clear()


@pytest.fixture
def data_dir(settings: Any, tmp_path: Path) -> Path:
    """A fresh data dir for tests that create files in it."""
    path = tmp_path / "data"
    settings.DATA_DIR = path
    settings.SECRET_KEY_FILE = path / "secret_key"
    settings.ENCRYPTION_KEY_FILE = path / "encryption.key"
    settings.GATEWAY_TOKEN_FILE = path / "gateway-token"
    settings.WORKSPACES_DIR = path / "workspaces"
    return path


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services() -> dict[str, str]:
    """PostgreSQL and Redis URLs for tests marked ``services``.

    Without them the test skips with one line, unless REQUIRE_SERVICES=1 (CI), where
    their absence is a failure.
    """
    missing = [
        name
        for name, (host, port) in {
            "PostgreSQL": ("127.0.0.1", 5432),
            "Redis": ("127.0.0.1", 6379),
        }.items()
        if not _reachable(host, port)
    ]
    if missing:
        skip_or_fail(f"{' and '.join(missing)} not reachable on 127.0.0.1")
    return {"DATABASE_URL": POSTGRES_URL, "REDIS_URL": REDIS_TEST_URL}


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with one line, or fail under REQUIRE_SERVICES=1 (CI), where a missing service,
    client or browser must not pass silently."""
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
    pytest.skip(f"{reason}; set REQUIRE_SERVICES=1 to make this a failure")


@pytest.fixture(name="skip_or_fail", scope="session")
def _skip_or_fail() -> Callable[[str], NoReturn]:
    """``skip_or_fail(reason)`` for tests that need something the machine may lack."""
    return skip_or_fail
