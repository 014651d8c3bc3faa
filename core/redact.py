"""Keep secrets out of prompts, tool results and logs.

``redact(text)`` replaces every known secret value (provider API keys from the
environment and the admin, channel credentials, the Django secret key, the Fernet keys,
the gateway token and password) with ``[redacted]``. It matches exact values only: an
encoded copy (base64, reversed) gets through, which is why unsandboxed ``exec`` is
documented as running with the gateway user's rights.

Core knows the secrets in settings; the apps that store secrets in their tables add a
source with ``register_secret_source`` when they start (``agents``: model provider keys,
``channels_app``: channel credentials), so core imports no app. The set is cached
briefly so the hot path stays one regex substitution; a save of such a row calls
``forget`` (the apps' signals).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path

from django.conf import settings

from core.crypto import fernet_keys
from core.fields import Undecryptable
from core.ttlcache import TTLCache

CACHE_SECONDS = 30.0
MIN_SECRET_LENGTH = 8
REPLACEMENT = "[redacted]"

# A source returns secret values: strings, or dicts and lists that hold them (a JSON
# credentials field). Values that could not be decrypted are skipped.
SecretSource = Callable[[], Iterable[object]]

_sources: list[SecretSource] = []
_KEY = "pattern"
_patterns: TTLCache[str, re.Pattern[str] | None] = TTLCache(
    "core.redact", ttl_s=CACHE_SECONDS, max_entries=1
)


def register_secret_source(source: SecretSource) -> None:
    """Add a source of secret values (apps call it at ready time; once per function)."""
    if source not in _sources:
        _sources.append(source)
    forget()


def _values(obj: object) -> Iterable[str]:
    if isinstance(obj, str):
        yield obj
    elif isinstance(obj, dict):
        for value in obj.values():
            yield from _values(value)
    elif isinstance(obj, list | tuple):
        for value in obj:
            yield from _values(value)


def _read(path: object) -> str:
    try:
        return Path(str(path)).read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        return ""


def known_secrets() -> set[str]:
    """Every secret value this gateway holds in plaintext form."""
    secrets = {
        settings.SECRET_KEY,
        settings.ANTHROPIC_API_KEY,
        settings.OPENAI_API_KEY,
        settings.GATEWAY_PASSWORD,
        settings.GATEWAY_TOKEN,
        _read(settings.GATEWAY_TOKEN_FILE),
        *fernet_keys(),
    }
    for source in _sources:
        for stored in source():
            secrets.update(v for v in _values(stored) if not isinstance(v, Undecryptable))
    return {s for s in secrets if len(s) >= MIN_SECRET_LENGTH}


def _compile() -> re.Pattern[str] | None:
    secrets = sorted(known_secrets(), key=len, reverse=True)
    return re.compile("|".join(re.escape(s) for s in secrets)) if secrets else None


def forget(*args: object, **kwargs: object) -> None:
    """Drop the cache (after a key is added or changed; fits a Django signal receiver)."""
    _patterns.clear()


def redact(text: str) -> str:
    pattern = _patterns.get_or_load(_KEY, _compile)
    if pattern is None or not text:
        return text
    return pattern.sub(REPLACEMENT, text)
