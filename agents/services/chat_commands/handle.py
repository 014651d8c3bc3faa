"""In-chat commands, answered before the model in every channel and in ``chat.send``.

``/new`` and ``/reset`` (a fresh session; ``/new <model>`` also sets the model),
``/status``, ``/model [<id>|default]``, ``/stop`` (and OpenClaw's stop words), and
``/approve [channel] CODE`` (owners only). Each command's effect is one service call
(``sessions_app.services``, ``agents.services.runs``, ``pairing.services``); a command
that cannot be done answers why, in the chat, and changes nothing. The caller sends
``CommandReply.text`` to the chat: the channel pipeline through the outbox, ``chat.send``
as a ``chat`` ``final`` event.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction

from agents.services.chat_commands.model_choice import (
    DEFAULT_WORDS,
    ModelChoiceError,
    configured_refs,
    model_resolve,
    refs_hint,
)
from agents.services.chat_commands.parse import command_parse
from agents.services.chat_commands.status import model_summary, status_text
from agents.services.runs import run_abort, session_key_canonical
from pairing.services import PairingError, pairing_request_approve_code
from sessions_app.services import session_patch, session_reset

# Channels whose messages come from the operator's own clients, not a chat platform.
_GATEWAY_CHANNELS = frozenset({"", "webchat"})
NOT_OWNER_TEXT = "Only the bot owner can approve pairing codes."


@dataclass(frozen=True)
class CommandReply:
    """A command's answer: the text for the chat, and the runs ``/stop`` aborted.

    ``ok`` is False when the command was refused or failed (the text says why);
    ``command`` is its name (``status``), for logs.
    """

    text: str
    aborted_run_ids: list[str] = field(default_factory=list)
    command: str = ""
    ok: bool = True


@dataclass(frozen=True)
class _Call:
    name: str
    args: str
    key: str
    owner: bool
    channel: str
    account_id: str


def _refused(call: _Call, text: str) -> CommandReply:
    return CommandReply(f"⚠️ {text}", command=call.name, ok=False)


def _new(call: _Call) -> CommandReply:
    ref = ""
    if call.args:
        try:
            ref = model_resolve(call.args)
        except ModelChoiceError as exc:
            return _refused(
                call, f"{exc}. /{call.name} alone starts a fresh session with the current model."
            )
    with transaction.atomic():  # the reset and the model together, or neither
        session_reset(key=call.key, reason=call.name)
        if ref:
            session_patch(key=call.key, changes={"model_override": ref})
    done = "New session started" if call.name == "new" else "Session reset"
    model = f" Model: {ref}." if ref else ""
    return CommandReply(
        f"✅ {done}: the agent no longer sees the earlier messages.{model}", command=call.name
    )


def _model(call: _Call) -> CommandReply:
    if not call.args:
        refs = configured_refs()
        example = next((f", e.g. /model {ref}" for ref in refs if ref != "placeholder/echo"), "")
        lines = [
            model_summary(session_key=call.key),
            f"Change it with /model provider/model{example}; "
            "/model default goes back to the agent's model.",
            f"Configured: {refs_hint(refs)}",
        ]
        return CommandReply("\n".join(lines), command="model")
    if call.args.lower() in DEFAULT_WORDS:
        session_patch(key=call.key, changes={"model_override": None})
        return CommandReply(
            f"✅ Model override cleared. {model_summary(session_key=call.key)}", command="model"
        )
    try:
        ref = model_resolve(call.args)
    except ModelChoiceError as exc:
        return _refused(call, str(exc))
    session_patch(key=call.key, changes={"model_override": ref})
    return CommandReply(f"✅ Model set to {ref} for this session.", command="model")


def _status(call: _Call) -> CommandReply:
    return CommandReply(status_text(session_key=call.key), command="status")


def _stop(call: _Call) -> CommandReply:
    aborted = run_abort(session_key=call.key)
    text = "⚙️ Agent was aborted." if aborted else "Nothing to stop: no run is active here."
    return CommandReply(text, aborted_run_ids=aborted, command="stop")


def _approve_target(call: _Call) -> tuple[str | None, str, str | None] | str:
    """(channel or None for any, code, account or None), or a usage text."""
    words = call.args.split()
    usage = "Usage: /approve CODE (the 8-character code the sender got from the bot)"
    if not words or len(words) > 2:
        return usage
    code = words[-1]
    asked = words[0].lower() if len(words) == 2 else None
    if call.channel in _GATEWAY_CHANNELS:
        return asked, code, None
    # From a chat platform: the owner of this bot approves this bot's senders only.
    if asked is not None and asked != call.channel:
        return f"From {call.channel} you can approve {call.channel} pairing codes only."
    return call.channel, code, call.account_id or None


def _approve(call: _Call) -> CommandReply:
    if not call.owner:
        return _refused(call, NOT_OWNER_TEXT)
    target = _approve_target(call)
    if isinstance(target, str):
        return _refused(call, target)
    channel, code, account_id = target
    try:
        approval = pairing_request_approve_code(
            channel=channel,
            code=code,
            account_id=account_id,
            approver=f"chat:{call.channel or 'webchat'}:{call.account_id}:{call.key}",
        )
    except PairingError as exc:
        return _refused(call, str(exc))
    request = approval.request
    told = (
        "They have been told."
        if approval.notified
        else f"They were not told ({approval.notice_error}); they can write again now."
    )
    return CommandReply(
        f"✅ Approved {request.code}: sender {request.sender_ref} can now talk to the agent "
        f"on {request.channel_account}. {told}",
        command="approve",
    )


_HANDLERS: dict[str, Callable[[_Call], CommandReply]] = {
    "new": _new,
    "reset": _new,
    "model": _model,
    "status": _status,
    "stop": _stop,
    "approve": _approve,
}


def chat_command_handle(
    *,
    text: str,
    session_key: str,
    sender_is_owner: bool,
    channel: str = "",
    account_id: str = "",
    bot_username: str = "",
) -> CommandReply | None:
    """Answer ``text`` if it is an in-chat command; None when it is for the model.

    Costs nothing for a message that is not a command (no query). ``channel`` and
    ``account_id`` name the chat platform account the message came from ("" for the
    gateway's own clients, ``chat.send``); ``sender_is_owner`` decides ``/approve``.
    ``bot_username``, when known, makes ``/cmd@otherbot`` (a Telegram group command
    for another bot) not ours. Raises ``SessionKeyError`` for a malformed key; a
    command that cannot be done is a ``CommandReply`` with ``ok=False`` saying why.
    """
    parsed = command_parse(text, bot_username=bot_username)
    if parsed is None:
        return None
    call = _Call(
        name=parsed.name,
        args=parsed.args,
        key=session_key_canonical(session_key),
        owner=sender_is_owner,
        channel=channel.strip().lower(),
        account_id=account_id.strip(),
    )
    return _HANDLERS[parsed.name](call)
