"""JSON log lines carry the ids of what they are about: the HTTP request, the run, its session.

The run and the request are real: a turn driven by the run loop against the fake OpenAI
server with the real SDK, and requests through Django's full middleware stack.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from agents.models import Agent, Run
from agents.runtime import enqueue
from agents.runtime import loop as run_loop
from agents.services import runs
from core import redact
from core.logging import JsonFormatter, log_context, log_fields
from tests.fakes.openai_server import FakeOpenAIServer


class Lines(logging.Handler):
    """The JSON lines logged while it is attached to the root logger."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))

    def by(self, logger: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if line["logger"] == logger]


@pytest.fixture
def lines() -> Iterator[Lines]:
    handler = Lines()
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


# --- the context ------------------------------------------------------------------------
def test_contexts_nest_and_restore() -> None:
    assert dict(log_fields()) == {}
    with log_context(requestId="q1"):
        with log_context(runId="r1", sessionKey="agent:main:main"):
            assert dict(log_fields()) == {
                "requestId": "q1",
                "runId": "r1",
                "sessionKey": "agent:main:main",
            }
        assert dict(log_fields()) == {"requestId": "q1"}
    assert dict(log_fields()) == {}


def test_an_extra_field_wins_over_the_context(lines: Lines) -> None:
    log = logging.getLogger("core.tests.json")
    with log_context(runId="from-context"):
        log.info("one", extra={"runId": "from-extra"})
        log.info("two")
    assert [line["runId"] for line in lines.by("core.tests.json")] == ["from-extra", "from-context"]


# --- an HTTP request --------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_a_request_line_carries_the_request_id_it_echoes(client: Client, lines: Lines) -> None:
    # A refused /metrics scrape logs "HTTP API auth failed" while the request is served,
    # from the database thread the token lookup ran on.
    response = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer not-a-token", HTTP_X_REQUEST_ID="req-42.abc"
    )
    assert response.status_code == 401
    assert response["X-Request-ID"] == "req-42.abc"
    failed = lines.by("gateway.http.auth")
    assert [line["requestId"] for line in failed] == ["req-42.abc"]
    assert "runId" not in failed[0]


@pytest.mark.parametrize("given", [None, "", "two words", "x" * 129, "a\nb", "ünïcode"])
def test_a_missing_or_insane_request_id_is_replaced(client: Client, given: str | None) -> None:
    extra: dict[str, Any] = {} if given is None else {"HTTP_X_REQUEST_ID": given}
    response = client.get("/health", **extra)
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


# --- a run ------------------------------------------------------------------------------
@pytest.fixture
def openai_fake(settings: Any, tmp_path: Path) -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        settings.WORKSPACES_DIR = tmp_path / "workspaces"
        settings.AGENT_MODEL_TIMEOUT_S = 5
        settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
        settings.OPENCLAW_MODEL_FALLBACKS = []
        settings.ANTHROPIC_API_KEY = ""
        settings.OPENAI_API_KEY = "sk-test-openai-0123456789abcdef"
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API = "chat"
        redact.forget()
        yield fake


@pytest.mark.django_db(transaction=True)
def test_a_line_logged_inside_a_run_carries_its_run_id_and_session_key(
    openai_fake: FakeOpenAIServer, lines: Lines, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(enqueue, "send", lambda *args, **kwargs: None)  # driven here instead
    Agent.objects.create(slug="main", name="Main", is_default=True)
    run = runs.run_start(
        session_key="agent:main:main", message="hello", idempotency_key="run-log-1"
    ).run
    lines.lines.clear()
    run_loop.run_advance(run_pk=run.pk)
    assert Run.objects.get(pk=run.pk).status == Run.Status.SUCCEEDED

    ended = [line for line in lines.by("agents.runtime.finish") if "succeeded" in line["msg"]]
    assert len(ended) == 1, lines.lines
    assert ended[0]["runId"] == "run-log-1"
    assert ended[0]["sessionKey"] == "agent:main:main"
    assert ended[0]["level"] == "info"
    # Every line of the turn carries them; nothing leaks past the run's end.
    assert all(line.get("runId") == "run-log-1" for line in lines.lines), lines.lines
    logging.getLogger("core.tests.json").info("after the run")
    assert "runId" not in lines.by("core.tests.json")[-1]
