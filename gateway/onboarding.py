"""First-run onboarding (``manage.py onboard``): each step idempotent.

The steps, in order: the data dir (mode 700) and the database's migrations; an admin
user (a Django superuser); a Telegram bot token (the service behind ``config set
channels.telegram.botToken``); agent ``main`` and the operator token
(``gateway_bootstrap``, as the gateway's first start); a model provider key
(``agents.services.providers``: encrypted, as the admin stores it); the default agent's
model (``agents.defaults.model.primary``).

Each step keeps what exists. A stored value that differs from the one given is replaced
only when the step is named in ``OnboardPlan.replace`` (the interactive prompts ask
first); otherwise the step reports ``kept`` and says how to change it.
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from django.conf import settings
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.validators import URLValidator, validate_email
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connection, connections, models, transaction
from django.db.migrations.executor import MigrationExecutor

from agents.runtime.model_config import NoModelConfiguredError, model_chain
from agents.selectors import default_agent, model_provider_first
from agents.services.config import ConfigError
from agents.services.config import config_set as agent_config_set
from agents.services.providers import PROVIDER_APIS, KeyStatus, model_provider_key_set
from agents.services.providers import ProviderKeyError as _ProviderKeyError
from channels_app.lib.account_keys import AccountKeyError, clean_secret, stored_secrets
from channels_app.selectors import channel_accounts
from core.datadir import bootstrap_data_dir
from gateway.config_service import config_set
from gateway.services import BootstrapResult, TokenError, gateway_bootstrap

T = TypeVar("T")
TELEGRAM = "channels.telegram"
MODEL_PATH = "agents.defaults.model.primary"


class OnboardError(Exception):
    """Input that onboarding cannot use; the message says what is wrong and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Status(StrEnum):
    CREATED = "created"
    SET = "set"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    EXISTS = "exists"
    KEPT = "kept"  # a different value is stored, and it was not replaced
    SKIPPED = "skipped"


@dataclass(frozen=True)
class OnboardPlan:
    username: str = ""
    email: str = ""
    password: str = ""
    provider: str = ""
    api_key: str = ""
    base_url: str = ""
    model: str = ""
    telegram_token: str = ""
    # Steps whose stored value may be replaced: "provider", "model", "telegram".
    replace: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Existing:
    """What an earlier onboarding (or the admin) left; empty before the first."""

    superusers: tuple[str, ...] = ()
    provider_keys: frozenset[str] = frozenset()
    model: str = ""
    telegram_token: bool = False


@dataclass(frozen=True)
class Step:
    name: str
    status: Status
    detail: str


@dataclass(frozen=True)
class DatabaseReport:
    data_dir_created: bool
    permissions_fixed: bool
    migrations_applied: int


@dataclass(frozen=True)
class OnboardReport:
    steps: tuple[Step, ...]
    bootstrap: BootstrapResult
    model: str | None  # the model that answers now, or None (see ``model_note``)
    model_note: str


# --- reading what exists (writes nothing, not even an empty SQLite file) ----------------
def _read(fn: Callable[[], T], default: T) -> T:
    name = str(connection.settings_dict["NAME"])
    in_memory = name == ":memory:" or "mode=memory" in name  # as Django's own test
    if connection.vendor == "sqlite" and not in_memory and not Path(name).exists():
        return default  # connecting would create the file
    try:
        return fn()
    except DatabaseError:
        return default  # no tables yet


def _telegram_token() -> str | None:
    for account in channel_accounts(with_credentials=True):
        if account.kind == "telegram" and account.account_id == "default":
            return stored_secrets(account.credentials).get("botToken")
    return None


def _existing() -> Existing:
    user_model = get_user_model()
    superusers = user_model._default_manager.filter(is_superuser=True).order_by("pk")
    agent = default_agent()
    return Existing(
        superusers=tuple(str(u.get_username()) for u in superusers),
        provider_keys=frozenset(p for p in PROVIDER_APIS if model_provider_first(provider=p)),
        model=agent.model_primary if agent is not None else "",
        telegram_token=_telegram_token() is not None,
    )


def onboard_existing() -> Existing:
    """Return what exists already (for the prompts and the checks)."""
    return _read(_existing, Existing())


def _user_exists(username: str) -> bool:
    user_model = get_user_model()
    lookup = {user_model.USERNAME_FIELD: username}
    return _read(lambda: user_model._default_manager.filter(**lookup).exists(), False)


# --- checks (write nothing) -------------------------------------------------------------
def _messages(exc: ValidationError) -> str:
    return " ".join(exc.messages)


def check_username(username: str) -> None:
    field = get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD)
    assert isinstance(field, models.Field)
    try:
        field.clean(username, None)
    except ValidationError as exc:
        raise OnboardError(f"the username {username!r}: {_messages(exc)}") from None


def check_email(email: str) -> None:
    if not email:
        return
    try:
        validate_email(email)
    except ValidationError:
        raise OnboardError(f"{email!r} is not an email address (it may be left out)") from None


def check_password(password: str, *, username: str, email: str) -> None:
    if not password:
        raise OnboardError("the admin password is blank")
    user = get_user_model()(**{get_user_model().USERNAME_FIELD: username, "email": email})
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as exc:
        raise OnboardError(f"the admin password: {_messages(exc)}") from None


def check_model(model: str) -> None:
    provider, _, name = model.partition("/")
    if not provider.strip() or not name.strip() or len(model) > 200:
        raise OnboardError(
            f"{model!r} is not a model ref: write provider/model, e.g. openai/gpt-4o-mini "
            "or anthropic/claude-sonnet-4-6"
        )


def check_telegram_token(token: str) -> None:
    try:
        clean_secret("telegram", "botToken", token, where=TELEGRAM)
    except AccountKeyError as exc:
        raise OnboardError(exc.message) from None


def check_provider(provider: str, *, api_key: str, base_url: str) -> None:
    if provider not in PROVIDER_APIS:
        raise OnboardError(f"unknown provider {provider!r}; use {' or '.join(PROVIDER_APIS)}")
    if not api_key and not base_url:
        raise OnboardError(f"no API key for {provider}: give one, or a base URL for a local server")
    if base_url:
        try:
            URLValidator(schemes=["http", "https"])(base_url)
        except ValidationError:
            raise OnboardError(
                f"{base_url!r} is not a URL; e.g. http://127.0.0.1:11434/v1 for Ollama"
            ) from None


def onboard_check(plan: OnboardPlan, *, existing: Existing) -> None:
    """Raise OnboardError for the first value of ``plan`` that cannot be used."""
    if plan.username:
        check_username(plan.username)
        check_email(plan.email)
        if not _user_exists(plan.username):
            if not plan.password:
                raise OnboardError(
                    f"a password is needed to create the admin user {plan.username!r} "
                    "(--password-env NAME, or DJANGO_SUPERUSER_PASSWORD)"
                )
            check_password(plan.password, username=plan.username, email=plan.email)
    elif not existing.superusers:
        raise OnboardError(
            "there is no admin user yet: give --username and --password-env NAME (or set "
            "DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD)"
        )
    if plan.provider:
        check_provider(plan.provider, api_key=plan.api_key, base_url=plan.base_url)
    elif plan.api_key or plan.base_url:
        raise OnboardError(
            f"which provider is the key for? add --provider {'|'.join(PROVIDER_APIS)}"
        )
    if plan.model:
        check_model(plan.model)
    if plan.telegram_token:
        check_telegram_token(plan.telegram_token)


# --- the steps ----------------------------------------------------------------------------
def onboard_database() -> DatabaseReport:
    """Create the data dir (mode 700; a looser one is tightened) and apply migrations.

    Not one transaction: each migration commits on its own (SQLite cannot alter tables
    inside an atomic block with foreign keys checked). Team mode writes no data dir.
    """
    created = bootstrap_data_dir()
    fixed = False
    data_dir = Path(settings.DATA_DIR)
    if not settings.TEAM_MODE and stat.S_IMODE(data_dir.stat().st_mode) & 0o077:
        data_dir.chmod(0o700)
        fixed = True
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
    return DatabaseReport(created, fixed, len(pending))


def _superuser(plan: OnboardPlan) -> Step:
    user_model = get_user_model()
    manager = user_model._default_manager
    if not plan.username:
        first = manager.filter(is_superuser=True).order_by("pk").first()
        name = first.get_username() if first is not None else ""
        return Step("superuser", Status.EXISTS, f"admin user {name!r} exists")
    user = manager.filter(**{user_model.USERNAME_FIELD: plan.username}).first()
    if user is not None:
        if not user.is_superuser:
            return Step(
                "superuser",
                Status.KEPT,
                f"user {plan.username!r} exists but is not a superuser; tick 'Superuser "
                "status' on its page in the admin (as a superuser) to make it one",
            )
        return Step("superuser", Status.EXISTS, f"admin user {plan.username!r} exists (kept)")
    manager.db_manager(DEFAULT_DB_ALIAS).create_superuser(
        **{user_model.USERNAME_FIELD: plan.username},
        email=plan.email,
        password=plan.password,
    )
    return Step("superuser", Status.CREATED, f"admin user {plan.username!r} created")


def _telegram(plan: OnboardPlan) -> Step:
    stored = _telegram_token()
    token = plan.telegram_token.strip()
    if not token:
        detail = (
            "a bot token is stored"
            if stored
            else f"none given (later: `manage.py config set {TELEGRAM}.botToken <token>`)"
        )
        return Step("telegram", Status.SKIPPED if not stored else Status.EXISTS, detail)
    if stored == token:
        return Step("telegram", Status.UNCHANGED, f"{TELEGRAM}: this bot token is stored")
    if stored and "telegram" not in plan.replace:
        return Step(
            "telegram",
            Status.KEPT,
            f"{TELEGRAM}: another bot token is stored (kept); replace it with "
            f"`manage.py config set {TELEGRAM}.botToken <token>`",
        )
    config_set(f"{TELEGRAM}.botToken", token)  # what `config set` does: encrypted
    status = Status.REPLACED if stored else Status.CREATED
    done = "replaced" if stored else "stored"
    return Step("telegram", status, f"{TELEGRAM}: bot token {done} (encrypted); polling starts")


def _provider(plan: OnboardPlan) -> Step:
    if not plan.provider:
        return Step(
            "provider",
            Status.SKIPPED,
            "no key given (later: onboard again, or the admin: Agents → Model providers)",
        )
    result = model_provider_key_set(
        provider=plan.provider,
        api_key=plan.api_key,
        base_url=plan.base_url,
        replace="provider" in plan.replace,
    )
    where = f"{plan.provider} (profile {result.row.profile_id})"
    details = {
        KeyStatus.CREATED: f"{where}: key stored (encrypted)",
        KeyStatus.REPLACED: f"{where}: key replaced (encrypted)",
        KeyStatus.UNCHANGED: f"{where}: this key is stored",
        KeyStatus.KEPT: f"{where}: another key is stored (kept); change it in the admin, "
        "Agents → Model providers, or run onboard interactively",
    }
    return Step("provider", Status(result.status.value), details[result.status])


def _model(plan: OnboardPlan) -> Step:
    agent = default_agent()
    current = agent.model_primary if agent is not None else ""
    if not plan.model:
        return Step("model", Status.SKIPPED, f"{MODEL_PATH} not set: the default applies")
    if current == plan.model:
        return Step("model", Status.UNCHANGED, f"{MODEL_PATH} is {plan.model}")
    if current and "model" not in plan.replace:
        return Step(
            "model",
            Status.KEPT,
            f"{MODEL_PATH} is {current} (kept); change it with "
            f"`manage.py config set {MODEL_PATH} {plan.model}`",
        )
    agent_config_set(MODEL_PATH, plan.model)
    return Step("model", Status.REPLACED if current else Status.SET, f"{MODEL_PATH} = {plan.model}")


def answering_model() -> tuple[str | None, str]:
    """The model the default agent's next turn tries first, or None and why."""
    try:
        return model_chain(agent=default_agent())[0], ""
    except NoModelConfiguredError as exc:
        return None, exc.message


@transaction.atomic
def onboard_apply(plan: OnboardPlan) -> OnboardReport:
    """Run the steps after the database (see the module docstring); all or nothing.

    The plan must have passed ``onboard_check``. The operator token is generated on the
    first run only (its plaintext is in the report's ``bootstrap.new_token``, once).
    """
    try:
        steps = [_superuser(plan), _telegram(plan)]
        bootstrap = gateway_bootstrap()
        steps.append(_provider(plan))
        steps.append(_model(plan))
    except TokenError as exc:
        raise OnboardError(f"OPENCLAW_GATEWAY_TOKEN: {exc}") from None
    except (ConfigError, _ProviderKeyError) as exc:
        raise OnboardError(exc.message) from None
    agent = default_agent()
    name = agent.slug if agent is not None else "main"
    status = Status.CREATED if bootstrap.agent_created else Status.EXISTS
    steps.insert(2, Step("agent", status, f"agent {name!r} {status.value}"))
    model, note = answering_model()
    return OnboardReport(tuple(steps), bootstrap, model, note)
