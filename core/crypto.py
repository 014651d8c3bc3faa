"""Fernet encryption of secrets at rest (bot tokens, API keys).

Keys come from ``OPENCLAW_ENCRYPTION_KEY`` (comma-separated: the first encrypts, all
decrypt, so keys can be rotated), or in embedded mode from a key file in the data dir
that is created with mode 600 the first time a secret is stored.
"""

from __future__ import annotations

import os
import threading
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_lock = threading.Lock()


class DecryptionError(Exception):
    """A stored secret cannot be decrypted with any configured key."""


def write_private_file(path: Path, content: str) -> None:
    """Create ``path`` with mode 600 and ``content``; fail if it already exists."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(content)


def _load_keys() -> list[str]:
    if settings.ENCRYPTION_KEYS:
        return list(settings.ENCRYPTION_KEYS)
    path = Path(settings.ENCRYPTION_KEY_FILE)
    with _lock:
        if not path.exists():
            write_private_file(path, Fernet.generate_key().decode() + "\n")
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def fernet_keys() -> list[str]:
    """The configured Fernet keys (for core.redact, which keeps them out of tool output).

    Reading them never creates the key file: that happens when the first secret is
    stored (``encrypt``), as the README says; before, there is no key to keep out.
    """
    if settings.ENCRYPTION_KEYS:
        return list(settings.ENCRYPTION_KEYS)
    path = Path(settings.ENCRYPTION_KEY_FILE)
    if not path.exists():
        return []
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@cache
def fernet() -> MultiFernet:
    """Return the MultiFernet for the configured keys (cached per process)."""
    keys = _load_keys()
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            "an encryption key is not a valid Fernet key (32 url-safe base64 bytes); "
            "generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        ) from exc


def encrypt(plaintext: str) -> str:
    return fernet().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            "a stored secret cannot be decrypted: the encryption key changed; restore the old "
            "key (add it after the new one in OPENCLAW_ENCRYPTION_KEY) or re-enter the secret"
        ) from None
