"""The audit recorder: an ``AuditEntry`` for each write of an audited model while someone acts.

``core.audit`` holds who is acting (set by the three doors: the admin site, the RPC
dispatch, the operator commands). Here, model signals of the audited models (the
operator-managed configuration in ``AUDITED``) and ``core.audit.record`` calls become
entries, in the write's own transaction. Every receiver returns at once when nobody is
acting, so the runtime's writes (and its models, which have no receiver at all) cost
nothing and leave nothing.

Secrets never reach an entry: an encrypted field (``core.fields``) or a field named like
a secret (password, token hash, API key, credentials) is stored as ``***``, with
``*** (new value)`` for a secret that was replaced.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_save

from core.audit import Actor, Target, current_actor
from core.fields import EncryptedJSONField, EncryptedTextField
from gateway.models import AuditEntry

# The audited models (app label.model name) and the fields of each that are bookkeeping
# written by the runtime (leases, cursors, last-seen times): never recorded.
AUDITED: dict[str, frozenset[str]] = {
    "gateway.gatewaytoken": frozenset({"last_used_at"}),
    "gateway.configentry": frozenset(),
    "gateway.node": frozenset({"last_heartbeat_at"}),
    "channels_app.channelaccount": frozenset(
        {
            "cursor",
            "poll_lease_owner",
            "poll_lease_expires_at",
            "last_error",
            "last_error_at",
            "failed_at",
            "poll_failures",
            "poll_retry_at",
            "last_update_at",
        }
    ),
    "agents.agent": frozenset(),
    "agents.routingrule": frozenset(),
    "agents.cronjob": frozenset(
        {
            "running_at",
            "last_run_at",
            "last_status",
            "last_error",
            "last_duration_ms",
            "consecutive_errors",
        }
    ),
    "agents.modelprovider": frozenset(),
    "pairing.allowlistentry": frozenset(),
    "pairing.pairingrequest": frozenset({"last_seen_at"}),
    "pairing.device": frozenset({"last_seen_at"}),
    "sessions_app.session": frozenset({"last_seq", "last_activity_at"}),
    "sessions_app.sessionsettings": frozenset(),
    "auth.user": frozenset({"last_login"}),
    "auth.group": frozenset(),
}
ALWAYS_SKIPPED = frozenset({"created_at", "updated_at"})
SECRET_WORDS = ("password", "secret", "token_hash", "api_key", "credential")
MASK = "***"
MASK_NEW = "*** (new value)"
_EMPTY: tuple[Any, ...] = (None, "", [], {})


class _Encoder(DjangoJSONEncoder):
    def default(self, o: Any) -> Any:
        try:
            return super().default(o)
        except TypeError:
            return str(o)


def _plain(value: Any) -> Any:
    """``value`` as JSON would hold it (datetimes as ISO text, UUIDs as text, …)."""
    if isinstance(value, models.Model):
        value = value.pk
    return json.loads(json.dumps(value, cls=_Encoder))


def _is_secret(name: str, field: Any) -> bool:
    if isinstance(field, EncryptedTextField | EncryptedJSONField):
        return True
    return any(word in name for word in SECRET_WORDS)


NESTED_SECRET_WORDS = ("token", "secret", "password", "encrypted", "apikey", "api_key")


def _scrub(value: Any) -> Any:
    """A JSON value with every key that names a secret masked, at any depth (a
    ConfigEntry's ``hooks`` holds its token encrypted: not even the ciphertext is kept)."""
    if isinstance(value, Mapping):
        return {
            k: (
                (v if v in _EMPTY else MASK)
                if any(word in str(k).lower() for word in NESTED_SECRET_WORDS)
                else _scrub(v)
            )
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _masked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict.fromkeys(value, MASK)
    return value if value in _EMPTY else MASK


def _masked_pair(before: Any, after: Any) -> list[Any]:
    """A secret's [before, after]: what was set, never the values (keys of a dict kept)."""
    if isinstance(after, Mapping):
        old = before if isinstance(before, Mapping) else {}
        new = {k: MASK_NEW if k in old and old[k] != v else MASK for k, v in after.items()}
        return [_masked(before), new]
    return [_masked(before), after if after in _EMPTY else MASK if before in _EMPTY else MASK_NEW]


def _fields(model: type[models.Model]) -> list[models.Field[Any, Any]]:
    skipped = AUDITED.get(model._meta.label_lower, frozenset()) | ALWAYS_SKIPPED
    return [f for f in model._meta.concrete_fields if f.name not in skipped]


def _model_of(target: models.Model | Target) -> type[models.Model] | None:
    if isinstance(target, models.Model):
        return type(target)
    try:
        return apps.get_model(target.model)
    except (LookupError, ValueError):
        return None


def _changes(
    model: type[models.Model] | None,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> dict[str, list[Any]]:
    """{field: [before, after]} of the fields whose values differ, secrets masked."""
    by_name: dict[str, Any] = {}
    if model is not None:
        for concrete in model._meta.concrete_fields:
            by_name[concrete.name] = by_name[concrete.attname] = concrete
    changes: dict[str, list[Any]] = {}
    for name in dict.fromkeys([*(before or {}), *(after or {})]):
        old = _plain((before or {}).get(name))
        new = _plain((after or {}).get(name))
        if old == new:
            continue
        field = by_name.get(name)
        key: str = field.name if field is not None else name
        secret = _is_secret(key, field)
        changes[key] = _masked_pair(old, new) if secret else [_scrub(old), _scrub(new)]
    return changes


def _snapshot(obj: models.Model, only: set[str] | None = None) -> dict[str, Any]:
    return {
        f.name: f.value_from_object(obj)
        for f in _fields(type(obj))
        if only is None or f.name in only
    }


def _repr_of(target: Target) -> str:
    model = _model_of(target)
    row = None if model is None else model._base_manager.filter(pk=target.pk).first()
    return str(row) if row is not None else str(target.pk)


def _write(
    actor: Actor, action: str, target: models.Model | Target, changes: dict[str, list[Any]]
) -> None:
    if isinstance(target, models.Model):
        label, pk, text = target._meta.label_lower, target.pk, str(target)
    else:
        label, pk, text = target.model, target.pk, target.name or _repr_of(target)
    AuditEntry.objects.create(
        actor_kind=actor.kind,
        actor=actor.name[:200],
        source=actor.source[:300],
        action=action[:64],
        model=label[:100],
        object_pk=str(pk)[:64],
        object_repr=text[:200],
        changes=changes,
    )


def entry_record(
    actor: Actor,
    action: str,
    target: models.Model | Target,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """``core.audit``'s recorder: write the entry of an explicitly recorded write.

    A created or deleted row of an audited model is recorded with its fields; one of
    any other model (the admin deletes runtime rows: runs, messages) by its name and id
    only, so a deleted transcript does not live on in the audit log.
    """
    if (
        before is None
        and after is None
        and isinstance(target, models.Model)
        and target._meta.label_lower in AUDITED
    ):
        snapshot = {k: v for k, v in _snapshot(target).items() if v not in _EMPTY}
        if action == "create":
            after = snapshot
        elif action == "delete":
            before = snapshot
    changes = _changes(_model_of(target), before, after)
    if changes or action != "update":
        _write(actor, action, target, changes)


# --- model signals (connected per audited model, see connect_receivers) ------------------
def _before_save(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    if current_actor() is None or raw or instance._state.adding or instance.pk is None:
        return
    fields = _fields(sender)
    if update_fields is not None:
        fields = [f for f in fields if f.name in update_fields or f.attname in update_fields]
    if not fields:  # only bookkeeping is saved: nothing to record
        return
    row = sender._base_manager.filter(pk=instance.pk).values(*[f.attname for f in fields]).first()
    if row is not None:
        instance.__dict__["_audit_before"] = {f.name: row[f.attname] for f in fields}


def _after_save(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
) -> None:
    actor = current_actor()
    before = instance.__dict__.pop("_audit_before", None)
    if actor is None or kwargs.get("raw"):
        return
    if created:
        entry_record(actor, "create", instance, None, None)
        return
    if before is None:  # no row before this save: nothing to compare with
        return
    changes = _changes(sender, before, _snapshot(instance, only=set(before)))
    if changes:
        _write(actor, "update", instance, changes)


def _after_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    actor = current_actor()
    if actor is not None:
        entry_record(actor, "delete", instance, None, None)


def _related_names(instance: models.Model, name: str) -> list[str]:
    return sorted(str(obj) for obj in getattr(instance, name).all())


def _m2m_receiver(field: models.ManyToManyField[Any, Any]) -> Any:
    """A receiver of ``field``'s changes: one entry per add, remove or clear, with the
    related rows' names before and after (a user's groups, a group's permissions)."""
    reverse_name = field.remote_field.get_accessor_name() or ""

    def changed(
        sender: Any, instance: models.Model, action: str, reverse: bool, **kwargs: Any
    ) -> None:
        actor = current_actor()
        if actor is None:
            return
        name = reverse_name if reverse else field.name
        if action.startswith("pre_"):
            instance.__dict__.setdefault("_audit_m2m", {})[name] = _related_names(instance, name)
            return
        before = instance.__dict__.get("_audit_m2m", {}).pop(name, None)
        after = _related_names(instance, name)
        if before is not None and before != after:
            _write(actor, "update", instance, {name: [before, after]})

    return changed


def connect_receivers() -> None:
    """Connect the receivers to each audited model (never globally: a delete receiver on
    a model would cost its cascades Django's fast delete)."""
    for label in AUDITED:
        model = apps.get_model(label)
        uid = f"audit-{label}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)
        for field in model._meta.local_many_to_many:
            through = field.remote_field.through
            m2m_changed.connect(
                _m2m_receiver(field),
                sender=through,
                dispatch_uid=f"{uid}-{field.name}",
                weak=False,
            )
