"""Model provider keys written from the shell (``manage.py onboard``).

The admin writes ``ModelProvider`` rows through its own form; this is the same row,
stored the same way: the key in an encrypted column (``core.fields.EncryptedTextField``),
never shown back. The post-save signal clears the runtime's key cache (``agents.apps``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from agents.models import ModelProvider
from agents.selectors import model_provider_first
from core.fields import Undecryptable

# The providers onboarding knows, and the wire API of each.
PROVIDER_APIS = {
    "anthropic": ModelProvider.Api.ANTHROPIC,
    "openai": ModelProvider.Api.OPENAI_CHAT,
}


class ProviderKeyError(Exception):
    """A key that cannot be stored; the message says why, never repeating the key."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KeyStatus(StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    # A different key is stored and the caller did not ask to replace it.
    KEPT = "kept"


@dataclass(frozen=True)
class ProviderKeyResult:
    row: ModelProvider
    status: KeyStatus


def _api(provider: str) -> str:
    if provider not in PROVIDER_APIS:
        raise ProviderKeyError(
            f"unknown provider {provider!r}; use {' or '.join(sorted(PROVIDER_APIS))} "
            "(other OpenAI-compatible servers: add them in the admin, Agents → Model providers)"
        )
    if provider == "openai" and settings.OPENAI_API == "responses":
        return ModelProvider.Api.OPENAI_RESPONSES
    return PROVIDER_APIS[provider]


def _clean(row: ModelProvider) -> None:
    try:
        row.full_clean()
    except ValidationError as exc:
        detail = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise ProviderKeyError(f"model provider {row.provider}: {detail}") from None


@transaction.atomic
def model_provider_key_set(
    *, provider: str, api_key: str, base_url: str = "", replace: bool = False
) -> ProviderKeyResult:
    """Store ``api_key`` (and ``base_url``) for ``provider``, keeping a key already stored.

    The provider's first enabled row (``model_provider_first``) is the one this manages:
    with none, a row is created; with the same key and base URL nothing is written
    (``unchanged``); with another key (or one that can no longer be decrypted) it is kept
    (``kept``) unless ``replace``. Raises ``ProviderKeyError`` for a bad provider or value.
    """
    api = _api(provider)
    api_key, base_url = api_key.strip(), base_url.strip()
    row = model_provider_first(provider=provider)
    if row is None:
        row = ModelProvider(
            provider=provider, label="onboard", api=api, api_key=api_key, base_url=base_url
        )
        _clean(row)
        row.save()
        return ProviderKeyResult(row, KeyStatus.CREATED)
    stored = row.api_key
    if not isinstance(stored, Undecryptable) and stored == api_key and row.base_url == base_url:
        return ProviderKeyResult(row, KeyStatus.UNCHANGED)
    if not replace:
        return ProviderKeyResult(row, KeyStatus.KEPT)
    row.api_key, row.base_url = api_key, base_url
    _clean(row)
    row.save(update_fields=["api_key", "base_url", "updated_at"])
    return ProviderKeyResult(row, KeyStatus.REPLACED)
