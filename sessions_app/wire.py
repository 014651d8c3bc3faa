"""The wire shapes of a session and of a transcript message (no query).

A sessions.list row (OpenClaw ``GatewaySessionRow``) and a chat.history /
session.message entry, built from rows the selectors (``sessions_app.selectors``) and
services (``sessions_app.services``) already loaded.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypedDict

from sessions_app.lib import keys
from sessions_app.models import Message, Session


class SessionRow(TypedDict, total=False):
    """One sessions.list row (OpenClaw GatewaySessionRow); optional keys are left out."""

    key: str
    kind: str
    agentId: str | None
    label: str
    displayName: str
    channel: str
    chatType: str
    origin: dict[str, Any]
    createdAt: int
    updatedAt: int | None
    sessionId: str
    isMain: bool
    thinkingLevel: str
    inputTokens: int
    outputTokens: int
    totalTokens: int
    contextTokens: int | None
    model: str | None
    modelProvider: str | None
    lastMessagePreview: str | None


def to_ms(value: datetime | None) -> int | None:
    return int(value.timestamp() * 1000) if value is not None else None


def split_model_ref(ref: str | None) -> tuple[str | None, str | None]:
    """``openai/gpt-4o`` → (``openai``, ``gpt-4o``); blank → (None, None)."""
    if not ref:
        return None, None
    provider, _, model = ref.partition("/")
    return (provider, model) if model else (None, provider)


def message_text(content: Any) -> str:
    """The concatenated text blocks of a content list (or the string itself)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    return "".join(
        str(block.get("text", ""))
        for block in content
        if isinstance(block, dict) and block.get("type") == "text"
    )


def truncate(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: max_chars - 1] + "…"


def session_row(
    session: Session, *, default_model: str | None = None, preview: str | None = None
) -> SessionRow:
    """Shape one session as a sessions.list row (no query)."""
    provider, model = split_model_ref(session.model_override or default_model)
    row: SessionRow = {
        "key": session.key,
        "kind": keys.session_kind(session.key),
        "agentId": keys.parse_agent_id(session.key) or session.agent_slug or None,
        "createdAt": to_ms(session.created_at) or 0,
        "updatedAt": to_ms(session.last_activity_at or session.updated_at),
        "sessionId": str(session.session_id),
        "isMain": keys.is_main_key(session.key),
        "inputTokens": session.input_tokens,
        "outputTokens": session.output_tokens,
        "totalTokens": session.total_tokens,
        "contextTokens": session.context_tokens or None,
        "model": model,
        "modelProvider": provider,
    }
    if session.label:
        row["label"] = session.label
    if session.display_name:
        row["displayName"] = session.display_name
    if session.channel:
        row["channel"] = session.channel
    if session.chat_type:
        row["chatType"] = session.chat_type
    if session.origin:
        row["origin"] = session.origin
    if session.thinking_level:
        row["thinkingLevel"] = session.thinking_level
    if preview is not None:
        row["lastMessagePreview"] = preview or None
    return row


def wire_message(message: Message) -> dict[str, Any]:
    """Shape a transcript row like OpenClaw's chat.history / session.message entries.

    A user message made only of text travels as a plain string, as OpenClaw 2026.9.6
    sends it; anything else keeps its content blocks.
    """
    content: Any = message.content
    if message.role == Message.Role.USER and all(
        isinstance(block, dict) and block.get("type") == "text" for block in content or []
    ):
        content = message_text(content)
    wire: dict[str, Any] = {
        "role": "toolResult" if message.role == Message.Role.TOOL else str(message.role),
        "content": content,
        "timestamp": to_ms(message.created_at),
    }
    if message.role == Message.Role.TOOL:
        # OpenClaw's toolResult entry: {role, toolCallId, toolName, content, isError}.
        details = message.details or {}
        wire["toolCallId"] = details.get("toolCallId", "")
        wire["toolName"] = details.get("toolName", "")
        wire["isError"] = bool(details.get("isError", False))
    elif message.role == Message.Role.COMPACTION:
        wire["summary"] = message_text(content)
        for key in ("firstKeptSeq", "tokensBefore"):
            if key in (message.details or {}):
                wire[key] = message.details[key]
    if message.role == Message.Role.ASSISTANT:
        provider, model = split_model_ref(message.model)
        if provider:
            wire["provider"] = provider
        if model:
            wire["model"] = model
        if message.usage:
            wire["usage"] = message.usage
        wire["stopReason"] = message.stop_reason or "stop"
    meta: dict[str, Any] = {"id": str(message.pk), "seq": message.seq}
    if message.idempotency_key:
        wire["idempotencyKey"] = meta["idempotencyKey"] = message.idempotency_key
    if message.run_public_id is not None:
        meta["runPublicId"] = str(message.run_public_id)
    wire["__openclaw"] = meta
    return wire


def preview_role(role: str) -> str:
    if role in ("user", "assistant", "system"):
        return role
    return "tool" if role == Message.Role.TOOL else "other"
