"""Write use-cases of the gateway app: operator tokens and first-run bootstrap."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from agents.services.agents import agent_ensure_default
from agents.services.cron import heartbeat_jobs_sync
from channels_app.services.environment import channel_env_tokens_sync
from core import audit
from core.crypto import write_private_file
from gateway import authcache
from gateway import scopes as gw_scopes
from gateway.lib.tokens import STRENGTH_RULE, secret_is_strong, token_generate, token_hash
from gateway.models import GatewayToken

logger = logging.getLogger(__name__)

DEFAULT_TOKEN_SCOPES = [gw_scopes.ADMIN]


class TokenError(Exception):
    """A token request that cannot be honoured; the message says why."""


@dataclass(frozen=True)
class IssuedToken:
    record: GatewayToken
    # The plaintext, available only at creation: it is never stored.
    token: str


@transaction.atomic
def gateway_token_create(
    *,
    name: str = "operator",
    scopes: list[str] | None = None,
    token: str | None = None,
    source: str = GatewayToken.Source.GENERATED,
) -> IssuedToken:
    """Create an operator token (or register a given one) and return its plaintext once.

    A given token must be strong (``gateway.lib.tokens.STRENGTH_RULE``), except the
    environment token, which loopback accepts from 8 characters (it is then marked weak,
    and the gateway refuses to bind beyond loopback while it is active).
    """
    scopes = list(scopes if scopes is not None else DEFAULT_TOKEN_SCOPES)
    bad = gw_scopes.invalid_scopes(scopes)
    if bad:
        raise TokenError(
            f"unknown scope(s) {', '.join(bad)}; use {', '.join(gw_scopes.ALL_SCOPES)}"
        )
    minimum = (
        settings.GATEWAY_MIN_LOOPBACK_TOKEN_LENGTH
        if source == GatewayToken.Source.ENVIRONMENT
        else settings.GATEWAY_MIN_TOKEN_LENGTH
    )
    if token is not None and len(token) < minimum:
        raise TokenError(
            f"the token is shorter than {minimum} characters; "
            "use a long random value, e.g. `openssl rand -hex 24`"
        )
    plaintext = token or token_generate()
    hashed = token_hash(plaintext)
    strong = secret_is_strong(plaintext)
    existing = GatewayToken.objects.filter(token_hash=hashed).first()
    if existing is not None:
        if existing.revoked_at is not None:
            raise TokenError(
                f"this token was revoked (token {existing.pk}, {existing.name}); "
                "choose a new value, e.g. `openssl rand -hex 24`"
            )
        if existing.strong != strong:
            existing.strong = strong
            existing.save(update_fields=["strong", "updated_at"])
        return IssuedToken(existing, plaintext)
    record = GatewayToken.objects.create(
        name=name,
        token_hash=hashed,
        prefix=plaintext[:6],
        scopes=scopes,
        source=source,
        strong=strong,
    )
    return IssuedToken(record, plaintext)


@transaction.atomic
def gateway_token_sync_environment(token: str) -> IssuedToken | None:
    """Make ``token`` (OPENCLAW_GATEWAY_TOKEN; blank = unset) the one environment token.

    Every other active environment token is revoked: the value an operator replaced or
    removed stops working at this start. Returns the registered token, or None.
    """
    # Registered first: a value that was revoked fails here, before anything else changes.
    issued = (
        gateway_token_create(
            name="environment", token=token, source=GatewayToken.Source.ENVIRONMENT
        )
        if token
        else None
    )
    stale = GatewayToken.objects.active().filter(source=GatewayToken.Source.ENVIRONMENT)
    if issued is not None:
        stale = stale.exclude(pk=issued.record.pk)
    now = timezone.now()
    for record in stale:
        logger.warning(
            "revoked gateway token %s (%s…): OPENCLAW_GATEWAY_TOKEN %s",
            record.pk,
            record.prefix,
            "changed" if token else "is no longer set",
        )
        audit.record("token.revoke", record, before={"revoked_at": None}, after={"revoked_at": now})
    if stale.update(revoked_at=now):
        authcache.clear()
    return issued


def weak_credentials() -> list[str]:
    """Describe each active credential that fails the strength rule (for binding beyond loopback).

    One line per credential: which it is and how to replace it.
    """
    problems = []
    if settings.GATEWAY_PASSWORD and not secret_is_strong(settings.GATEWAY_PASSWORD):
        problems.append(
            f"OPENCLAW_GATEWAY_PASSWORD is weak (use {STRENGTH_RULE}): set a stronger one"
        )
    for record in GatewayToken.objects.active().exclude(strong=True).order_by("pk"):
        if record.source == GatewayToken.Source.ENVIRONMENT:
            fix = "set OPENCLAW_GATEWAY_TOKEN to `openssl rand -hex 24`"
        else:
            fix = (
                f"revoke it (`manage.py gateway_token revoke {record.pk}`) and create a "
                "new one (`manage.py gateway_token create`)"
            )
        why = "of unknown strength" if record.strong is None else f"weak (use {STRENGTH_RULE})"
        problems.append(
            f"gateway token {record.pk} ({record.name}, {record.prefix}…) is {why}: {fix}"
        )
    return problems


@transaction.atomic
def gateway_token_rotate(*, token_pk: int) -> IssuedToken:
    """Replace an active token by a new one with its name and scopes, and revoke it.

    The environment's token is rotated by changing OPENCLAW_GATEWAY_TOKEN instead (the
    next start revokes the old value).
    """
    old = GatewayToken.objects.filter(pk=token_pk, revoked_at__isnull=True).first()
    if old is None:
        raise TokenError(f"no active token with id {token_pk}; see `gateway_token list`")
    if old.source == GatewayToken.Source.ENVIRONMENT:
        raise TokenError(
            f"token {token_pk} is OPENCLAW_GATEWAY_TOKEN: set a new value there (`openssl "
            "rand -hex 24`) and restart; the old one is revoked at start"
        )
    issued = gateway_token_create(name=old.name, scopes=list(old.scopes))
    gateway_token_revoke(token_pk=old.pk)
    return issued


@transaction.atomic
def gateway_token_revoke(*, token_pk: int) -> bool:
    """Revoke a token; return False if it was already revoked or does not exist.

    Clears this process's connect cache at once (an UPDATE sends no post_save signal),
    and records the revocation in the audit log (``core.audit``) when an operator acts.
    """
    now = timezone.now()
    revoked = (
        GatewayToken.objects.filter(pk=token_pk, revoked_at__isnull=True).update(revoked_at=now)
        == 1
    )
    if revoked:
        target = audit.Target.row(GatewayToken, token_pk)
        audit.record("token.revoke", target, before={"revoked_at": None}, after={"revoked_at": now})
    authcache.clear()
    return revoked


@dataclass(frozen=True)
class BootstrapResult:
    agent_created: bool
    # Set only when a token was generated by this call: print it once, then forget it.
    new_token: str | None
    token_source: str
    token_file: Path | None
    # What the environment did to channel accounts (TELEGRAM_BOT_TOKEN), one line each.
    channel_lines: tuple[str, ...] = ()


def describe_bootstrap(result: BootstrapResult) -> list[str]:
    """Return the lines to show an operator after bootstrap (the new token, once)."""
    lines = ["Created agent 'main'"] if result.agent_created else []
    lines.extend(result.channel_lines)
    if result.new_token:
        where = f" and kept in {result.token_file} (mode 600)" if result.token_file else ""
        lines.append(
            "\nGateway token (shown once; only its hash is in the database"
            f"{where}):\n\n    {result.new_token}\n\n"
            "Use it with OpenClaw's clients: --token <token>, or "
            "OPENCLAW_GATEWAY_TOKEN=<token>.\n"
        )
    elif result.token_source == "environment":  # noqa: S105  (a label, not a secret)
        lines.append("Gateway token: from OPENCLAW_GATEWAY_TOKEN")
    elif result.token_file is not None:
        lines.append(f"Gateway token: stored in {result.token_file}")
    else:
        lines.append(
            "Gateway token: issued earlier (only its hash is stored); "
            "`manage.py gateway_token create` makes a new one"
        )
    return lines


@transaction.atomic
def gateway_bootstrap() -> BootstrapResult:
    """Make sure the default agent and an operator token exist (idempotent).

    With OPENCLAW_GATEWAY_TOKEN set, that token is registered (hashed) and none is
    generated; an environment token that was replaced or unset is revoked. Otherwise the first run generates one; in embedded mode it is also kept
    in ``<data dir>/gateway-token`` (mode 600) for local clients, as OpenClaw keeps its
    token in its config file. Later runs create nothing.

    ``TELEGRAM_BOT_TOKEN`` gives the default Telegram account its token, as in OpenClaw;
    one set in the config wins, and a line says so.
    """
    _agent, agent_created = agent_ensure_default()
    heartbeat_jobs_sync()  # the default agent's heartbeat job, as the config has it
    channel_lines = tuple(channel_env_tokens_sync(environ=os.environ))
    if gateway_token_sync_environment(settings.GATEWAY_TOKEN) is not None:
        return BootstrapResult(agent_created, None, "environment", None, channel_lines)
    token_file = None if settings.TEAM_MODE else Path(settings.GATEWAY_TOKEN_FILE)
    if GatewayToken.objects.active().filter(source=GatewayToken.Source.GENERATED).exists():
        stored = token_file if token_file is not None and token_file.exists() else None
        return BootstrapResult(agent_created, None, "database", stored, channel_lines)
    issued = gateway_token_create(name="first-run")
    if token_file is not None:
        token_file.unlink(missing_ok=True)
        write_private_file(token_file, issued.token + "\n")
    return BootstrapResult(agent_created, issued.token, "generated", token_file, channel_lines)
