"""Warm a process for its first turn, in the background, once it serves.

The SDKs load on first use to keep an idle gateway small, so the first turn after a
start paid for importing the provider SDK (openai ~0.3 s, anthropic ~1 s on a Pi-class
core), building its client, and loading the run loop, the tools and the prompt builder.
``warm_in_background`` does that on a daemon thread once the process is up (after the
port answers ``/health``): the default agent's model chain, one profile per provider,
no request sent; the built-in tool modules; and one decode of each stream event a turn
reads (``agents.providers.warm_samples``: the SDKs build their event models lazily, which
cost the first turn ~70 ms even after the SDK had loaded). A warm-up that fails is logged at DEBUG and changes nothing: the turn
then pays as before.

``OPENCLAW_WARM_START=0`` turns it off (the SDK is then never loaded in a gateway that
never runs a turn, ~25 MB less on a 1 GB Pi).
"""

from __future__ import annotations

import logging
import threading

from django.conf import settings
from django.db import connections

from agents.providers import provider_client
from agents.runtime.model_config import (
    NoModelConfiguredError,
    model_chain,
    profiles_for,
    split_ref,
)
from agents.selectors import default_agent
from agents.tools.registry import load_builtin_tools

logger = logging.getLogger(__name__)


def warm_model_clients() -> list[str]:
    """Load the SDK and build the client of each provider the default agent may call.

    Returns the profile ids warmed.
    """
    import agents.runtime.loop  # noqa: F401, PLC0415  (the run loop and prompt builder)

    load_builtin_tools()  # the tool modules load on a turn's first tool list

    try:
        chain = model_chain(agent=default_agent())
    except NoModelConfiguredError:
        return []
    warmed: list[str] = []
    providers = dict.fromkeys(split_ref(ref)[0] for ref in chain)
    for provider in providers:
        for profile in profiles_for(provider)[:1]:
            client = provider_client(profile, timeout_s=float(settings.AGENT_MODEL_TIMEOUT_S))
            warm = getattr(client, "warm", None)
            if warm is not None:
                warm()
                warmed.append(profile.id)
    return warmed


def _run() -> None:
    try:
        warmed = warm_model_clients()
    except Exception:
        logger.debug("warm-up failed", exc_info=True)
        return
    finally:
        connections.close_all()  # this thread's own: it ends here
    logger.debug("warmed the model clients of %s", ", ".join(warmed) or "no provider")


def warm_in_background() -> threading.Thread | None:
    """Start the warm-up on a daemon thread (None when ``OPENCLAW_WARM_START=0``)."""
    if not settings.WARM_START:
        return None
    thread = threading.Thread(target=_run, name="warm-start", daemon=True)
    thread.start()
    return thread
