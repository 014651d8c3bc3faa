"""Shared by the manual-compaction tests: a model behind the fake OpenAI server, a long
conversation to compact, and a stand-in for the worker that runs the compaction task."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from celery import current_app

import agents.tasks  # noqa: F401  (registers the tasks the worker runs by name)
from agents.models import Agent
from core import redact
from sessions_app.models import Session
from sessions_app.services import session_get_or_create, session_message_append
from tests.fakes.openai_server import FakeOpenAIServer

KEY = "sk-test-openai-0123456789abcdef"
MAIN = "agent:main:main"


def use_fake_openai(settings: Any, fake: FakeOpenAIServer, workspaces: Path) -> None:
    settings.WORKSPACES_DIR = workspaces
    settings.AGENT_MODEL_TIMEOUT_S = 5
    settings.OPENCLAW_MODEL = "openai/gpt-4o-mini"
    settings.OPENCLAW_MODEL_FALLBACKS = []
    settings.ANTHROPIC_API_KEY = ""
    settings.OPENAI_API_KEY = KEY
    settings.OPENAI_BASE_URL = fake.base_url
    settings.OPENAI_API = "chat"
    redact.forget()


def conversation(turns: int = 4, key: str = MAIN) -> Session:
    """The default agent ``main`` and a session with ``turns`` long question/answer pairs."""
    Agent.objects.get_or_create(slug="main", defaults={"name": "Main", "is_default": True})
    session, _ = session_get_or_create(key=key)
    for i in range(turns):
        for role, text in (
            ("user", f"question {i} " + "words " * 40),
            ("assistant", f"answer {i}"),
        ):
            session_message_append(
                session=session, role=role, content=[{"type": "text", "text": text}]
            )
    return session


class InlineWorker:
    """Stands in for ``current_app`` where a service sends a task by name.

    ``run=True`` runs each task on its own thread, as a worker of the ``llm`` queue
    would; ``run=False`` only records it (a worker that never comes). ``sent`` keeps
    ``(name, kwargs, options)``; ``errors`` what a task raised.
    """

    def __init__(self, *, run: bool = True) -> None:
        self.run = run
        self.sent: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        self.errors: list[BaseException] = []
        self.threads: list[threading.Thread] = []
        self.started = threading.Event()

    def send_task(self, name: str, *, kwargs: dict[str, Any], **options: Any) -> None:
        self.sent.append((name, kwargs, options))
        if not self.run:
            return
        task = current_app.tasks[name]

        def work() -> None:
            self.started.set()
            try:
                task(**kwargs)
            except BaseException as exc:
                self.errors.append(exc)

        thread = threading.Thread(target=work, name=f"worker-{name}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout_s: float = 30) -> None:
        for thread in self.threads:
            thread.join(timeout_s)
