"""The durable inbox: store what a platform delivered, then decide and act, once.

Two steps, each one transaction:

1. ``inbound_store``: the updates of one poll (with the poll's cursor) or one webhook
   request become ``InboundMessage`` rows. A redelivered update is dropped by the unique
   (account, external id); the cursor commits with the rows, so a crash between the two
   cannot happen. On commit, ``channels.inbound_process`` is queued for each new row.
2. ``inbound_process``: one row, the oldest waiting one of its chat (a chat's messages
   reach its session in the order they were sent): access (``channels_app.lib.access``;
   an unknown DM sender gets a pairing code instead), in-chat commands, route (bindings),
   session key (``session.dmScope``, ``identityLinks``; daily and idle resets), and the
   run (``agents.services.runs.run_start``, origin channel, idempotent on the row). The
   row's status changes from ``received`` to its outcome in the same transaction, so a
   worker killed half-way leaves the row waiting and the next try starts over cleanly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from agents.selectors import route_resolve
from agents.services.chat_commands import chat_command_handle
from agents.services.runs import RunError, run_start
from channels_app.connectors.base import InboundUpdate
from channels_app.lib import access
from channels_app.models import ChannelAccount, InboundMessage
from channels_app.services.outbound import OutboundError, outbound_enqueue
from channels_app.work import INBOUND_TASK, enqueue_on_commit
from pairing.lib.messages import pairing_reply_text
from pairing.selectors import allowlist_has
from pairing.services import PairingError, pairing_request_create
from sessions_app.lib import keys
from sessions_app.selectors import session_settings
from sessions_app.services import session_for_inbound

logger = logging.getLogger(__name__)

# What the model is given of one message at most; the row keeps all of it.
MODEL_TEXT_LIMIT = 32_000
_CHAT_LOCK_NAMESPACE = 0x696E6278  # "inbx": pg_advisory_xact_lock(namespace, chat hash)
# How stale the account's last_update_at (display only) may be after a webhook update.
LAST_UPDATE_RESOLUTION = timedelta(seconds=5)


# --- store ------------------------------------------------------------------------------
def _row(account: ChannelAccount, update: InboundUpdate, now: Any) -> InboundMessage:
    ignored = bool(update.ignore_reason)
    return InboundMessage(
        account=account,
        external_id=update.external_id[:200],
        sender_id=update.sender_id[:256],
        sender_name=update.sender_name[:200],
        sender_username=update.sender_username[:200],
        chat_title=update.chat_title[:200],
        chat_id=update.chat_id[:256],
        chat_type=update.chat_type,
        thread_id=update.thread_id[:200],
        message_id=update.message_id[:200],
        text=update.text,
        attachments=[asdict(a) for a in update.attachments],
        mentioned=update.mentioned,
        payload=dict(update.payload),
        received_at=now,
        status=InboundMessage.Status.IGNORED if ignored else InboundMessage.Status.RECEIVED,
        decision=update.ignore_reason[:200],
    )


@transaction.atomic
def inbound_store(
    *,
    account: ChannelAccount,
    updates: Sequence[InboundUpdate],
    cursor: str | None = None,
    poll_owner: str | None = None,
) -> list[int]:
    """Store a batch of updates (and the poll's next cursor); return the new rows' pks.

    ``poll_owner``: the poller storing its batch must still hold the account's poll
    lease, or nothing is stored and ``[]`` returned (another poller took over; the
    updates come again from the cursor that poller holds). Updates already stored are
    skipped; unsupported ones are stored as ``ignored`` with their reason.
    """
    now = timezone.now()
    if cursor is not None:
        accounts = ChannelAccount.objects.filter(pk=account.pk)
        if poll_owner is not None:
            accounts = accounts.filter(poll_lease_owner=poll_owner[:100])
        changes: dict[str, Any] = {"cursor": cursor}
        if updates:
            changes["last_update_at"] = now
        if accounts.update(**changes) != 1:
            logger.info("%s: the poll lease moved on; batch not stored", account)
            return []
    elif updates and not _recently_updated(account, now):
        ChannelAccount.objects.filter(pk=account.pk).update(last_update_at=now)
        account.last_update_at = now
    if not updates:
        return []
    wanted = {u.external_id[:200]: u for u in updates}
    new = {row.public_id: row for row in (_row(account, u, now) for u in wanted.values())}
    # INSERT … ON CONFLICT DO NOTHING: an update stored already (redelivered, or stored
    # concurrently by a webhook retry) is skipped by the unique (account, external id),
    # with no error and no savepoint; the rows inserted are read back by their public ids.
    InboundMessage.objects.bulk_create(new.values(), ignore_conflicts=True)
    created = InboundMessage.objects.filter(public_id__in=list(new)).order_by("pk")
    pks: list[int] = []
    stored = 0
    for pk, public_id in created.values_list("pk", "public_id"):
        stored += 1
        if new[public_id].status == InboundMessage.Status.RECEIVED:
            pks.append(pk)
    if len(wanted) > stored:
        logger.info("%s: %d redelivered updates dropped", account, len(wanted) - stored)
    enqueue_on_commit(INBOUND_TASK, pks)
    return pks


def _recently_updated(account: ChannelAccount, now: datetime) -> bool:
    """Whether ``last_update_at`` (shown by the admin and ``channels.status``, nothing
    decides on it) was written less than ``LAST_UPDATE_RESOLUTION_S`` ago: a webhook
    burst then skips rewriting the account row for every request."""
    last = account.last_update_at
    return last is not None and timedelta(0) <= now - last < LAST_UPDATE_RESOLUTION


# --- process ----------------------------------------------------------------------------
def _lock_chat(account_pk: int, chat_id: str) -> bool:
    """Serialize the processing of one chat until the transaction ends (PostgreSQL; on
    SQLite every transaction begins IMMEDIATE, so writers already take turns). Return
    whether a lock was waited for (what was read before it may be stale)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
            [_CHAT_LOCK_NAMESPACE, f"{account_pk}:{chat_id}"],
        )
    return True


def _oldest_waiting_head(inbound_pk: int) -> tuple[int, int, str] | None:
    """(pk, account pk, chat id) of the oldest ``received`` row of ``inbound_pk``'s chat,
    None unless ``inbound_pk`` itself is waiting.

    One statement in SQL: through the ORM this lookup (the chat of one row, then its
    oldest waiting row) took two queries, or subqueries that cost more CPU to compile
    than the query costs to run.
    """
    table = connection.ops.quote_name(InboundMessage._meta.db_table)
    waiting = InboundMessage.Status.RECEIVED.value
    # The table name comes from the model; values are parameters.
    sql = (
        f"SELECT o.id, o.account_id, o.chat_id FROM {table} o INNER JOIN {table} h "  # noqa: S608
        "ON h.account_id = o.account_id AND h.chat_id = o.chat_id "
        "WHERE h.id = %s AND h.status = %s AND o.status = %s ORDER BY o.id LIMIT 1"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [inbound_pk, waiting, waiting])
        head = cursor.fetchone()
    return None if head is None else (int(head[0]), int(head[1]), str(head[2]))


def _policy(account: ChannelAccount) -> access.Policy:
    return access.Policy(
        kind=account.kind,
        dm_policy=account.dm_policy,
        allow_from=tuple(str(x) for x in account.allow_from),
        group_policy=account.group_policy,
        group_allow_from=tuple(str(x) for x in account.group_allow_from),
        groups=account.groups if isinstance(account.groups, dict) else {},
        require_mention=account.require_mention,
    )


def _sender_refs(row: InboundMessage) -> list[str]:
    refs = [row.sender_id]
    if row.sender_username:
        refs.append("@" + row.sender_username.lstrip("@").lower())
    return refs


def _decide(row: InboundMessage) -> access.Decision:
    account = row.account
    policy = _policy(account)
    sender = access.Sender(id=row.sender_id, username=row.sender_username)
    if not account.enabled:
        return access.Decision("drop", "the channel account is disabled")
    if row.chat_type == "direct":
        return access.decide_direct(
            policy,
            sender,
            approved=lambda: allowlist_has(
                channel_account_id=account.pk, sender_refs=_sender_refs(row)
            ),
        )
    return access.decide_group(policy, sender, chat_id=row.chat_id, mentioned=row.mentioned)


def _reply(row: InboundMessage, text: str, purpose: str) -> None:
    """Queue a gateway reply (a pairing code, a command's answer) to the row's chat."""
    try:
        outbound_enqueue(
            kind=row.account.kind,
            account_id=row.account.account_id,
            chat_id=row.chat_id,
            thread_id=row.thread_id,
            text=text,
            dedupe_key=f"inbound:{row.pk}:{purpose}",
            reply_to_message_id=row.message_id,
        )
    except OutboundError as exc:
        logger.warning("%s: reply to inbound %s not queued: %s", row.account, row.pk, exc)


def _pair(row: InboundMessage) -> str:
    meta = {"chatId": row.chat_id, "name": row.sender_name, "username": row.sender_username}
    try:
        request, created = pairing_request_create(
            channel_account_id=row.account.pk, sender_ref=row.sender_id, sender_meta=meta
        )
    except PairingError as exc:
        return f"pairing refused: {exc}"[:200]
    if not created:
        return f"pairing pending (code {request.code} already sent)"
    text = pairing_reply_text(channel=row.account.kind, sender_id=row.sender_id, code=request.code)
    _reply(row, text, "pairing")
    return f"pairing code {request.code} sent"


def _route(row: InboundMessage) -> tuple[str, str, str]:
    """(agent slug, session key, matched_by) for the row, by bindings and dmScope."""
    account = row.account
    direct = row.chat_type == "direct"
    peer_kind = "direct" if direct else row.chat_type
    peer_id = row.sender_id if direct else row.chat_id
    parent_kind, parent_id = "", ""
    if row.thread_id and not direct:
        parent_kind, parent_id = peer_kind, peer_id
        peer_id = f"{row.chat_id}:topic:{row.thread_id}"
    route = route_resolve(
        channel=account.kind,
        account_id=account.account_id,
        peer_kind=peer_kind,
        peer_id=peer_id,
        parent_peer_kind=parent_kind,
        parent_peer_id=parent_id,
    )
    settings = session_settings()
    key = keys.peer_session_key(
        agent_id=route.agent_slug,
        channel=account.kind,
        account_id=account.account_id,
        peer_kind=peer_kind,
        peer_id=row.sender_id if direct else row.chat_id,
        dm_scope=settings.dm_scope,
        identity_links=settings.identity_links,
    )
    if row.thread_id:
        key = keys.thread_session_key(key, row.thread_id, marker="topic")
    return route.agent_slug, key, route.matched_by


def _model_text(row: InboundMessage) -> str:
    """What the model reads: who wrote (in groups), the text, the attachments."""
    text = row.text
    if len(text) > MODEL_TEXT_LIMIT:
        text = (
            text[:MODEL_TEXT_LIMIT]
            + f"\n[message truncated: {len(row.text)} characters, the first "
            f"{MODEL_TEXT_LIMIT} kept]"
        )
    lines = [text] if text else []
    for item in row.attachments:
        size = item.get("size")
        described = ", ".join(
            str(part)
            for part in (item.get("file_name"), item.get("mime_type"), size and f"{size} bytes")
            if part
        )
        lines.append(
            f"[{item.get('kind', 'file')} attached{': ' + described if described else ''}]"
        )
    body = "\n".join(lines) or "[empty message]"
    if row.chat_type != "direct":
        who = row.sender_name or row.sender_id
        username = row.sender_username
        body = f"{who}{f' (@{username})' if username else ''}: {body}"
    return body


def _accept(row: InboundMessage, decision: access.Decision) -> dict[str, Any]:
    account = row.account
    agent_slug, key, matched_by = _route(row)
    direct = row.chat_type == "direct"
    session, _ = session_for_inbound(
        key=key,
        agent_slug=agent_slug,
        channel=account.kind,
        account_id=account.account_id,
        peer_kind="direct" if direct else row.chat_type,
        peer_id=row.sender_id if direct else row.chat_id,
        chat_type="direct" if direct else row.chat_type,
        display_name=row.sender_name if direct else row.chat_title,
        origin={"channel": account.kind, "accountId": account.account_id, "chatId": row.chat_id},
    )
    outcome: dict[str, Any] = {
        "agent_slug": agent_slug,
        "session_key": key,
        "decision": f"{decision.reason}; routed by {matched_by}"[:200],
    }
    command = chat_command_handle(
        text=row.text,
        session_key=key,
        sender_is_owner=decision.owner,
        channel=account.kind,
        account_id=account.account_id,
        bot_username=account.bot_username,
    )
    if command is not None:
        _reply(row, command.text, "command")
        outcome["decision"] = f"command: {row.text.strip().split()[0][:40]}"
        return outcome
    reply_to = {
        "channel": account.kind,
        "accountId": account.account_id,
        "chatId": row.chat_id,
        **({"threadId": row.thread_id} if row.thread_id else {}),
        **({"replyToMessageId": row.message_id} if row.message_id and not direct else {}),
    }
    start = run_start(
        session_key=key,
        message=_model_text(row),
        idempotency_key=f"inbound:{account.kind}:{account.pk}:{row.external_id}"[:200],
        agent_slug=agent_slug,
        origin="channel",
        reply_to=reply_to,
        trusted_sender=decision.owner,
        session=session,
    )
    outcome["run_public_id"] = start.run.public_id
    return outcome


@transaction.atomic
def inbound_process(*, inbound_pk: int) -> str | None:
    """Decide and act on the oldest waiting message of ``inbound_pk``'s chat.

    Returns the outcome stored on the row, or None when there was nothing to do (done
    already, or another worker has the chat). When an older message of the chat was
    waiting, that one is processed and ``inbound_pk`` queued again on commit.
    """
    head = _oldest_waiting_head(inbound_pk)
    if head is not None and _lock_chat(head[1], head[2]):
        head = _oldest_waiting_head(inbound_pk)  # another worker may have had the chat
    if head is None:
        return None
    row = InboundMessage.objects.select_related("account").get(pk=head[0])
    if row.pk != inbound_pk:
        enqueue_on_commit(INBOUND_TASK, [inbound_pk])
    fields: dict[str, Any] = {"status": InboundMessage.Status.PROCESSED}
    decision = _decide(row)
    if decision.action == "drop":
        fields.update(status=InboundMessage.Status.IGNORED, decision=decision.reason[:200])
    elif decision.action == "pair":
        fields.update(status=InboundMessage.Status.IGNORED, decision=_pair(row))
    else:
        try:
            with transaction.atomic():
                fields.update(_accept(row, decision))
        except (RunError, OutboundError) as exc:
            fields.update(status=InboundMessage.Status.FAILED, decision=str(exc)[:200])
    fields["updated_at"] = timezone.now()
    InboundMessage.objects.filter(pk=row.pk, status=InboundMessage.Status.RECEIVED).update(**fields)
    logger.info(
        "inbound %s (%s): %s",
        row.pk,
        row.account,
        fields.get("decision", "run"),
        extra={"inbound_id": row.pk},
    )
    return str(fields.get("decision") or "run")
