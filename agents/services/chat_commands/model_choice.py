"""Which model ``/model`` and ``/new <model>`` may set: one the gateway can run.

A ``provider/model`` ref is accepted when its provider is configured (a key in the
environment or the admin; any model id of it, as providers serve more models than the
catalog lists) or when it is in ``models.list``; a bare model id when exactly one
configured model has it. ``sessions.patch`` checks the ``provider/model`` shape only;
a chat command checks more, because a sender cannot see the gateway's configuration.
"""

from __future__ import annotations

from agents.runtime.model_config import configured_models, configured_providers, split_ref

_SHOWN = 8
DEFAULT_WORDS = frozenset({"default", "reset", "clear"})


class ModelChoiceError(Exception):
    """A model a command cannot set; the message says what can be."""


def configured_refs() -> list[str]:
    """``provider/model`` of every model ``models.list`` offers, the default first."""
    return [f"{entry['provider']}/{entry['id']}" for entry in configured_models()]


def refs_hint(refs: list[str]) -> str:
    shown = ", ".join(refs[:_SHOWN])
    return shown + (f" (+{len(refs) - _SHOWN} more)" if len(refs) > _SHOWN else "")


def model_resolve(raw: str) -> str:
    """The ``provider/model`` ref ``raw`` names; ``ModelChoiceError`` saying why not."""
    wanted = raw.strip()
    refs = configured_refs()
    if " " in wanted or not wanted:
        raise ModelChoiceError(
            f"{wanted!r} is not a model; give one model, e.g. {refs[0] if refs else 'openai/gpt-4o-mini'}"
        )
    if "/" in wanted:
        provider, model = split_ref(wanted)
        if not provider or not model:
            raise ModelChoiceError(f"{wanted!r} is not provider/model, e.g. openai/gpt-4o-mini")
        ref = f"{provider}/{model}"
        if ref in refs or provider in configured_providers():
            return ref
        raise ModelChoiceError(
            f"provider {provider!r} is not configured here, so {ref} cannot run; "
            f"configured models: {refs_hint(refs)}"
        )
    matches = [ref for ref in refs if split_ref(ref)[1].lower() == wanted.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ModelChoiceError(f"{wanted!r} is offered by several providers: {refs_hint(matches)}")
    raise ModelChoiceError(f"unknown model {wanted!r}; configured models: {refs_hint(refs)}")
