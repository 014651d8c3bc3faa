"""The OpenAI-compatible API's requests: validation, agent and session key, the prompt.

OpenClaw's ``src/gateway/openai-http.ts``, ``openresponses-http.ts``, ``http-utils.ts``
and ``agent-prompt.ts``:

- the agent comes from the ``x-openclaw-agent-id`` header (alias ``x-openclaw-agent``),
  else from ``model``: ``openclaw:<agentId>``, ``openclaw/<agentId>`` or
  ``agent:<agentId>``; ``openclaw`` and ``openclaw/default`` mean the default agent;
- the session key is the ``x-openclaw-session-key`` header, else
  ``agent:<agentId>:<prefix>-user:<user>`` for a body ``user``, else a fresh
  ``agent:<agentId>:<prefix>:<uuid>`` (prefix ``openai`` or ``openresponses``);
- the conversation becomes one message: the last user (or tool) entry, after a
  ``[Chat messages since your last reply - for context]`` block of the ones before it.
  ``system``/``developer`` messages and ``instructions`` go first, under
  ``[Instructions from the API caller]`` (OpenClaw puts them in the system prompt; a run
  here has no per-run system prompt, so they travel with the message).

Pure module: no Django.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sessions_app.lib import keys

DEFAULT_MODEL = "openclaw"
DEFAULT_MODELS = ("openclaw", "openclaw/default")
HISTORY_MARKER = "[Chat messages since your last reply - for context]"
CURRENT_MARKER = "[Current message - respond to this]"
INSTRUCTIONS_MARKER = "[Instructions from the API caller]"
_MODEL = re.compile(r"^(?:openclaw[:/]|agent:)([a-z0-9][a-z0-9_-]{0,63})$", re.IGNORECASE)
MODEL_FORMS = "openclaw, openclaw/<agentId>, openclaw:<agentId> or agent:<agentId>"
MAX_USER_CHARS = 256


class WireError(ValueError):
    """A request that is refused with 400; ``param`` names the field when known."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def validation_error(exc: ValidationError) -> WireError:
    """The first problem of a pydantic error, as OpenAI words a bad parameter."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    message = str(err["msg"]).removeprefix("Value error, ")
    return WireError(f"{where}: {message}" if where else message, param=where or None)


# --- agent and session ------------------------------------------------------------------
def agent_of(model: str, header: str | None) -> str | None:
    """The agent id a request names (None: the default agent); raise WireError for a
    model that is none of the accepted forms."""
    if header and header.strip():
        return keys.normalize_agent_id(header.strip())
    text = model.strip()
    if text.lower() in DEFAULT_MODELS:
        return None
    match = _MODEL.match(text)
    if match is None:
        raise WireError(
            f"The model {text!r} does not exist: name an agent as {MODEL_FORMS} "
            "(GET /v1/models lists them)",
            param="model",
            code="model_not_found",
        )
    return match.group(1).lower()


def session_key_of(
    *,
    agent: str | None,
    header: str | None,
    user: str | None,
    prefix: str,
    new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> str:
    """The session key of a request: canonical under ``agent``, or bare (``openai:<uuid>``,
    canonicalized under the default agent by ``run_start``) when ``agent`` is None.
    Raises WireError for a malformed header."""
    if header and header.strip():
        try:
            return (
                keys.canonicalize(header.strip(), default_agent=agent or "main")
                if agent
                else (header.strip())
            )
        except keys.SessionKeyError as exc:
            raise WireError(str(exc), param="x-openclaw-session-key") from None
    if user and user.strip():
        rest = f"{prefix}-user:{user.strip().lower()}"
    else:
        rest = f"{prefix}:{new_id()}"
    return (f"agent:{agent}:{rest}" if agent else rest)[: keys.MAX_KEY_LENGTH]


# --- the prompt -------------------------------------------------------------------------
@dataclass(frozen=True)
class Entry:
    role: str  # user | assistant | tool
    sender: str
    body: str


def prompt_build(entries: Sequence[Entry], instructions: Sequence[str] = ()) -> str:
    """One message from a conversation (OpenClaw's ``buildAgentMessageFromConversationEntries``)."""
    if not entries:
        return ""
    current = next(
        (i for i in range(len(entries) - 1, -1, -1) if entries[i].role in ("user", "tool")),
        len(entries) - 1,
    )
    entry = entries[current]
    if current == 0:
        message = entry.body
    else:
        history = "\n".join(f"{e.sender}: {e.body}" for e in entries[:current])
        message = "\n".join(
            [HISTORY_MARKER, history, "", CURRENT_MARKER, f"{entry.sender}: {entry.body}"]
        )
    system = "\n\n".join(part for part in instructions if part.strip())
    return f"{INSTRUCTIONS_MARKER}\n{system}\n\n{message}" if system else message


def _parts_text(content: Any, *, where: str, text_types: Sequence[str]) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    texts = []
    for index, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in text_types and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif kind in ("refusal",):
            continue
        else:
            raise WireError(
                f"{where}.content.{index}: only text content is supported here "
                f"(got {kind!r}); send images and files as text or links",
                param=f"{where}.content",
            )
    return "\n".join(t for t in texts if t)


class ApiRequest(BaseModel):
    """What both endpoints take: ``model``, ``stream``, ``user``; the rest is theirs."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(min_length=1, max_length=200)
    stream: bool = False
    user: str | None = Field(default=None, max_length=MAX_USER_CHARS)

    def prompt(self) -> str:
        raise NotImplementedError


# --- chat completions -------------------------------------------------------------------
class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None


class ChatCompletionRequest(ApiRequest):
    """``POST /v1/chat/completions``; OpenAI's other parameters (temperature, tools …) are
    accepted and ignored: the agent's own model and tools answer."""

    messages: list[ChatMessage] = Field(min_length=1)
    stream_options: StreamOptions | None = None
    n: int | None = Field(default=None, ge=1, le=1)

    def prompt(self) -> str:
        instructions: list[str] = []
        entries: list[Entry] = []
        for index, msg in enumerate(self.messages):
            where = f"messages.{index}"
            text = _parts_text(msg.content, where=where, text_types=("text", "input_text")).strip()
            if not text:
                continue
            if msg.role in ("system", "developer"):
                instructions.append(text)
                continue
            role = "tool" if msg.role == "function" else msg.role
            name = (msg.name or "").strip()
            sender = {"user": "User", "assistant": "Assistant"}.get(
                role, f"Tool:{name}" if name else "Tool"
            )
            entries.append(Entry(role, sender, text))
        return prompt_build(entries, instructions)


# --- responses --------------------------------------------------------------------------
class ResponsesRequest(ApiRequest):
    """``POST /v1/responses`` (text input; images and files are refused with a clear
    error; client tools are ignored: the agent's own tools answer)."""

    input: str | list[dict[str, Any]]
    instructions: str | None = None

    @field_validator("input")
    @classmethod
    def _some_input(cls, value: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if not value:
            raise ValueError("input is empty; send text or a list of input items")
        return value

    def prompt(self) -> str:
        instructions = [self.instructions] if self.instructions else []
        if isinstance(self.input, str):
            return prompt_build([Entry("user", "User", self.input)], instructions)
        entries: list[Entry] = []
        for index, item in enumerate(self.input):
            where = f"input.{index}"
            kind = item.get("type") or "message"
            if kind == "function_call_output":
                output = item.get("output")
                body = (
                    output
                    if isinstance(output, str)
                    else _parts_text(
                        output, where=where, text_types=("input_text", "output_text", "text")
                    )
                )
                entries.append(Entry("tool", f"Tool:{item.get('call_id') or ''}", body))
                continue
            if kind in ("reasoning", "item_reference"):
                continue
            if kind != "message":
                raise WireError(
                    f"{where}.type: {kind!r} input items are not supported here",
                    param=f"{where}.type",
                )
            role = item.get("role")
            text = _parts_text(
                item.get("content"), where=where, text_types=("input_text", "output_text", "text")
            ).strip()
            if role not in ("user", "assistant", "system", "developer"):
                raise WireError(
                    f"{where}.role: must be user, assistant, system or developer",
                    param=f"{where}.role",
                )
            if not text:
                continue
            if role in ("system", "developer"):
                instructions.append(text)
            elif role == "assistant":
                entries.append(Entry("assistant", "Assistant", text))
            else:
                entries.append(Entry("user", "User", text))
        return prompt_build(entries, instructions)
