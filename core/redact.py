"""Keep secrets out of prompts, tool results and logs.

``redact(text)`` replaces every known secret value (provider API keys from the
environment and the admin, channel credentials, the Django secret key, the Fernet keys,
the gateway token and password) with ``[redacted]``. It matches exact values only: an
encoded copy (base64, reversed) gets through, which is why unsandboxed ``exec`` is
documented as running with the gateway user's rights. The set is cached briefly so the hot path stays one regex substitution.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

CACHE_SECONDS = 30.0
MIN_SECRET_LENGTH = 8
REPLACEMENT = "[redacted]"

_lock = threading.Lock()
_cache: tuple[float, re.Pattern[str] | None] = (0.0, None)


def _values(obj: object) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _values(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _values(value)


def _read(path: object) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return ""


def known_secrets() -> set[str]:
    """Every secret value this gateway holds in plaintext form."""
    from agents.models import ModelProvider
    from channels_app.models import ChannelAccount
    from core.crypto import fernet_keys
    from core.fields import Undecryptable

    secrets = {
        settings.SECRET_KEY,
        settings.ANTHROPIC_API_KEY,
        settings.OPENAI_API_KEY,
        settings.GATEWAY_PASSWORD,
        settings.GATEWAY_TOKEN,
        _read(settings.GATEWAY_TOKEN_FILE),
        *fernet_keys(),
    }
    for key in ModelProvider.objects.exclude(api_key="").values_list("api_key", flat=True):
        if not isinstance(key, Undecryptable):
            secrets.add(key)
    for credentials in ChannelAccount.objects.values_list("credentials", flat=True):
        secrets.update(v for v in _values(credentials) if not isinstance(v, Undecryptable))
    return {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}


def _pattern() -> re.Pattern[str] | None:
    global _cache  # noqa: PLW0603  (a small process-wide cache)
    now = time.monotonic()
    with _lock:
        expires, pattern = _cache
        if now < expires:
            return pattern
    secrets = sorted(known_secrets(), key=len, reverse=True)
    pattern = re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None
    with _lock:
        _cache = (now + CACHE_SECONDS, pattern)
    return pattern


def forget() -> None:
    """Drop the cache (after a key is added or changed)."""
    global _cache  # noqa: PLW0603
    with _lock:
        _cache = (0.0, None)


def redact(text: str) -> str:
    pattern = _pattern()
    if pattern is None or not text:
        return text
    return pattern.sub(REPLACEMENT, text)
