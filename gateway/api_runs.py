"""The OpenAI-compatible API's writes and reads: a turn started, the agents as models.

``api_run_start`` is ``agents.services.runs.run_start`` for an HTTP caller: it checks the
agent the request names (an unknown one is the caller's error, 400), then starts the
turn in the request's session. The caller follows the run's events itself
(``gateway.http.follow``).
"""

from __future__ import annotations

from dataclasses import dataclass

from agents import selectors as agent_selectors
from agents.agent_cache import agent_by_slug
from agents.models import Run
from agents.services.runs import RunError, run_start


class ApiError(Exception):
    """A request the API refuses with 400; ``code`` as OpenAI names it."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


@dataclass(frozen=True)
class ApiModels:
    """The agents as OpenAI models: ``openclaw`` (the default agent), ``openclaw/default``
    and ``openclaw/<agentId>`` for each agent."""

    ids: tuple[str, ...]


def api_models() -> ApiModels:
    """Return the model ids the API answers to (one query)."""
    slugs = [row.slug for row in agent_selectors.agent_rows()]
    return ApiModels(("openclaw", "openclaw/default", *(f"openclaw/{slug}" for slug in slugs)))


def api_run_start(*, agent: str | None, session_key: str, message: str, run_id: str) -> str:
    """Start the turn that answers an API request; return the canonical session key.

    ``agent`` None: the default agent (``session_key`` may then be bare, e.g.
    ``openai:<uuid>``, and is canonicalized under it). Raises ``ApiError``.
    """
    if agent is not None and agent_by_slug(agent) is None:
        raise ApiError(
            f"The model 'openclaw/{agent}' does not exist: there is no agent {agent!r} "
            "(GET /v1/models lists them)",
            param="model",
            code="model_not_found",
        )
    try:
        start = run_start(
            session_key=session_key,
            message=message,
            idempotency_key=run_id,
            agent_slug=agent,
            origin=Run.Origin.GATEWAY,
        )
    except RunError as exc:
        raise ApiError(exc.message) from None
    return start.run.session.key
