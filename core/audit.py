"""The audit port: who is acting now, and how a lower app records a write signals miss.

An operator write comes through one of three doors: the admin, an RPC of the gateway, or
a management command. Each door runs its work inside ``acting(Actor(...))``; the
gateway's recorder (``gateway.audit``, registered at start-up) then writes an
``AuditEntry`` for every save or delete of an audited model, from model signals. Writes
that send no signal (``QuerySet.update()``, ``bulk_create``) call ``record`` here, so
``pairing`` or ``agents`` record without importing the gateway.

Without an actor nothing is recorded and ``record`` returns at once: the runtime (runs,
messages, pollers, the connect handshake) never acts as anyone and pays nothing.

The actor lives in a ``ContextVar``: it follows the work into ``sync_to_async`` threads
and ``asyncio`` tasks started inside ``acting`` and never leaks into other requests.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from django.db.models import Model

ActorKind = Literal["admin", "rpc", "command"]


@dataclass(frozen=True)
class Actor:
    """Who writes, and through which door.

    ``name``: the admin user's username, the RPC client's credential (``token:laptop#3``,
    ``device:…``; never the secret itself), or the OS user who ran a command.
    ``source``: where, e.g. ``POST /admin/agents/agent/1/change/``, ``config.patch``,
    ``manage.py config set``.
    """

    kind: ActorKind
    name: str
    source: str = ""


@dataclass(frozen=True)
class Target:
    """A row known by its model and pk only (no instance at hand, e.g. after an update).

    Without ``name`` the recorder reads the row's ``str()`` (only when someone acts).
    """

    model: str  # app label and model name: "agents.run"
    pk: object
    name: str = ""

    @classmethod
    def row(cls, model: type[Model], pk: object, name: str = "") -> Target:
        return cls(model._meta.label_lower, pk, name)


class Recorder(Protocol):
    def __call__(
        self,
        actor: Actor,
        action: str,
        target: Model | Target,
        before: Mapping[str, Any] | None,
        after: Mapping[str, Any] | None,
    ) -> None: ...


_actor: ContextVar[Actor | None] = ContextVar("audit_actor", default=None)
_recorder: Recorder | None = None


def register_recorder(recorder: Recorder) -> None:
    global _recorder  # noqa: PLW0603  (a port set once at start-up)
    _recorder = recorder


def current_actor() -> Actor | None:
    """The actor of the work running now, or None for the runtime."""
    return _actor.get()


@contextmanager
def acting(actor: Actor) -> Iterator[Actor]:
    """Run the block as ``actor``: its writes to audited models are recorded."""
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def record(
    action: str,
    target: Model | Target,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
) -> None:
    """Record a write that sends no model signal, when someone is acting; else nothing.

    ``action`` is ``create``, ``update``, ``delete`` or a verb (``pairing.approve``).
    ``before``/``after`` map field names to values; only the fields whose values differ
    are kept, and secrets are masked by the recorder. A ``create`` or ``delete`` of a
    model instance given without them records the instance's fields. Call it in the
    write's transaction, so a rollback takes the entry with it.
    """
    actor = _actor.get()
    if actor is None or _recorder is None:
        return
    _recorder(actor, action, target, before, after)
