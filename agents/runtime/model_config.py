"""Which models a run may use, and with which keys.

Model refs are OpenClaw's ``provider/model``. Keys come from two places:

- the environment: ``ANTHROPIC_API_KEY`` (profile ``anthropic:env``) and ``OPENAI_API_KEY``
  and/or ``OPENAI_BASE_URL`` (profile ``openai:env``; a base URL alone is a keyless
  OpenAI-compatible server such as Ollama);
- ``ModelProvider`` rows from the admin (profile ``<provider>:<pk>``), encrypted at rest.

The model of a turn is the session's override, else the agent's model, else
``OPENCLAW_MODEL``, else a sensible model of the first configured provider. With no
provider at all the turn fails with ``NoModelConfiguredError``, whose message says what to set.
``placeholder/echo`` is a built-in offline echo model, used only when named.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from agents.lib import compaction
from agents.models import Agent, ModelProvider
from agents.providers import (
    API_ANTHROPIC,
    API_ECHO,
    API_OPENAI_CHAT,
    API_OPENAI_RESPONSES,
    AuthProfile,
)
from core.fields import Undecryptable
from core.ttlcache import TTLCache

PLACEHOLDER_REF = "placeholder/echo"

# Sensible defaults when a provider is configured and no model is chosen.
DEFAULT_MODEL_OF = {"anthropic": "claude-sonnet-4-6", "openai": "gpt-4o-mini"}


@dataclass(frozen=True)
class KnownModel:
    id: str
    name: str
    context_window: int
    reasoning: bool = False


KNOWN_MODELS: dict[str, tuple[KnownModel, ...]] = {
    "anthropic": (
        KnownModel("claude-sonnet-4-6", "Claude Sonnet 4.6", 200_000, True),
        KnownModel("claude-opus-4-8", "Claude Opus 4.8", 200_000, True),
        KnownModel("claude-haiku-4-5", "Claude Haiku 4.5", 200_000, True),
    ),
    "openai": (
        KnownModel("gpt-4o-mini", "GPT-4o mini", 128_000),
        KnownModel("gpt-4o", "GPT-4o", 128_000),
        KnownModel("gpt-4.1", "GPT-4.1", 1_047_576),
        KnownModel("gpt-5-mini", "GPT-5 mini", 400_000, True),
        KnownModel("gpt-5.5", "GPT-5.5", 400_000, True),
    ),
}

NO_MODEL_MESSAGE = (
    "No model provider is configured, so there is nobody to answer. Set OPENAI_API_KEY "
    "or ANTHROPIC_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server such as "
    "Ollama) in the gateway's environment and restart it, or add a key in the admin "
    "(Agents → Model providers); choose the model with OPENCLAW_MODEL, e.g. "
    "openai/gpt-4o-mini."
)


class NoModelConfiguredError(Exception):
    def __init__(self, message: str = NO_MODEL_MESSAGE) -> None:
        super().__init__(message)
        self.message = message


def split_ref(ref: str) -> tuple[str, str]:
    provider, _, model = ref.partition("/")
    return provider.strip().lower(), model.strip()


# --- profiles --------------------------------------------------------------------------
def env_profiles() -> list[AuthProfile]:
    """The profiles configured by environment variables."""
    profiles: list[AuthProfile] = []
    if settings.ANTHROPIC_API_KEY:
        profiles.append(
            AuthProfile(
                id="anthropic:env",
                provider="anthropic",
                api=API_ANTHROPIC,
                api_key=settings.ANTHROPIC_API_KEY,
                base_url=settings.ANTHROPIC_BASE_URL or None,
            )
        )
    if settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL:
        profiles.append(
            AuthProfile(
                id="openai:env",
                provider="openai",
                api=API_OPENAI_RESPONSES if settings.OPENAI_API == "responses" else API_OPENAI_CHAT,
                # Keyless local servers still need a non-empty key for the SDK.
                api_key=settings.OPENAI_API_KEY or "not-needed",
                base_url=settings.OPENAI_BASE_URL or None,
            )
        )
    return profiles


def _row_profile(row: ModelProvider) -> AuthProfile:
    return AuthProfile(
        id=row.profile_id,
        provider=row.provider,
        api=row.api,
        api_key=str(row.api_key or "not-needed"),
        base_url=row.base_url or None,
    )


# Admin keys per provider, decrypted, kept a few seconds in-process: read on every turn.
# A save or delete in this process clears it (agents.apps connects the signals); one
# made on another host applies within PROFILE_CACHE_S.
PROFILE_CACHE_S = 5.0
_profile_cache: TTLCache[str, list[AuthProfile]] = TTLCache(
    "agents.model_profiles", ttl_s=PROFILE_CACHE_S
)


def forget_profiles(**_: object) -> None:
    _profile_cache.clear()


def profiles_for(provider: str) -> list[AuthProfile]:
    """The profiles of one provider, admin rows (by priority) first, then the env one."""
    if provider == "placeholder":
        return [
            AuthProfile(id="placeholder:builtin", provider="placeholder", api=API_ECHO, api_key="")
        ]
    rows_profiles = _profile_cache.get_or_load(provider, lambda: _admin_profiles(provider))
    return [*rows_profiles, *(p for p in env_profiles() if p.provider == provider)]


def _admin_profiles(provider: str) -> list[AuthProfile]:
    rows = ModelProvider.objects.filter(provider=provider, enabled=True).order_by("priority", "pk")
    return [_row_profile(row) for row in rows if not isinstance(row.api_key, Undecryptable)]


def _provider_rows() -> list[tuple[str, list[str]]]:
    """(provider, model ids) of the enabled admin rows, by priority (one query)."""
    return [
        (provider, list(model_ids or []))
        for provider, model_ids in ModelProvider.objects.filter(enabled=True)
        .order_by("priority", "pk")
        .values_list("provider", "model_ids")
    ]


def configured_providers(rows: list[tuple[str, list[str]]] | None = None) -> list[str]:
    """Providers with at least one profile, env ones first (anthropic, openai), then rows."""
    names = [p.provider for p in env_profiles()]
    names.extend(provider for provider, _ in (_provider_rows() if rows is None else rows))
    return list(dict.fromkeys(names))


# --- models ----------------------------------------------------------------------------
def _provider_default_model(provider: str, rows: list[tuple[str, list[str]]]) -> str | None:
    if provider in DEFAULT_MODEL_OF:
        if provider == "openai" and settings.OPENAI_MODELS and settings.OPENAI_BASE_URL:
            return str(settings.OPENAI_MODELS[0])
        return DEFAULT_MODEL_OF[provider]
    return next((ids[0] for name, ids in rows if name == provider and ids), None)


def default_model_ref(rows: list[tuple[str, list[str]]] | None = None) -> str | None:
    """``OPENCLAW_MODEL``, else a sensible model of the first configured provider, else None."""
    if settings.OPENCLAW_MODEL:
        return str(settings.OPENCLAW_MODEL)
    rows = _provider_rows() if rows is None else rows
    for provider in configured_providers(rows):
        model = _provider_default_model(provider, rows)
        if model:
            return f"{provider}/{model}"
    return None


def display_model_ref() -> str:
    """The default model for display (session rows, agents.list): never empty."""
    return default_model_ref() or PLACEHOLDER_REF


def model_chain(*, agent: Agent | None, session_override: str = "") -> list[str]:
    """The model refs a turn tries, primary first; raises ``NoModelConfiguredError``."""
    primary = session_override or (agent.model_primary if agent else "") or default_model_ref()
    if not primary:
        raise NoModelConfiguredError()
    chain = [primary]
    if agent is not None:
        chain.extend(agent.model_fallbacks or [])
    chain.extend(settings.OPENCLAW_MODEL_FALLBACKS)
    return list(dict.fromkeys(ref for ref in chain if ref))


def context_window_for(ref: str) -> int:
    provider, model = split_ref(ref)
    for known in KNOWN_MODELS.get(provider, ()):
        if model == known.id or model.startswith(known.id):
            return known.context_window
    return compaction.context_window_for(ref, default=int(settings.DEFAULT_CONTEXT_WINDOW))


def configured_models() -> list[dict[str, object]]:
    """``models.list`` entries: the default agent's model first (tagged), then the rest.

    Three queries whatever the number of agents and keys.
    """
    rows = _provider_rows()
    default = default_model_ref(rows)
    refs: list[str] = []
    agents = list(Agent.objects.default_first().only("model_primary", "model_fallbacks"))
    main_ref = (agents[0].model_primary if agents else "") or default
    if main_ref:
        refs.append(main_ref)
    for agent in agents:
        refs.append(agent.model_primary or default or "")
        refs.extend(agent.model_fallbacks or [])
    if default:
        refs.append(default)
    for provider in configured_providers(rows):
        if provider == "openai" and settings.OPENAI_BASE_URL and settings.OPENAI_MODELS:
            refs.extend(f"openai/{m}" for m in settings.OPENAI_MODELS)
        else:
            refs.extend(f"{provider}/{m.id}" for m in KNOWN_MODELS.get(provider, ()))
    for provider, model_ids in rows:
        refs.extend(f"{provider}/{m}" for m in model_ids)
    refs.append(PLACEHOLDER_REF)
    out: list[dict[str, object]] = []
    for index, ref in enumerate(dict.fromkeys(r for r in refs if r)):
        provider, model = split_ref(ref)
        known = next((k for k in KNOWN_MODELS.get(provider, ()) if k.id == model), None)
        entry: dict[str, object] = {
            "id": model,
            "name": known.name if known else model,
            "provider": provider,
        }
        if provider != "placeholder":
            entry["contextWindow"] = context_window_for(ref)
        if known and known.reasoning:
            entry["reasoning"] = True
        if index == 0 and ref == main_ref:
            entry["tags"] = ["default"]
        out.append(entry)
    return out
