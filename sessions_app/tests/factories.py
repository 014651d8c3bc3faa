"""factory_boy factories for the sessions app's models."""

# factory_boy ships py.typed but its declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from factory.declarations import LazyAttribute, Sequence, SubFactory
from factory.django import DjangoModelFactory

from sessions_app.models import Message, Session


class SessionFactory(DjangoModelFactory[Session]):
    class Meta:
        model = Session

    key = Sequence(lambda n: f"agent:main:telegram:direct:{n}")
    agent_slug = "main"
    channel = "telegram"
    account_id = "default"
    peer_kind = "direct"
    peer_id = Sequence(lambda n: str(100000 + n))
    display_name = Sequence(lambda n: f"User {n}")


class MessageFactory(DjangoModelFactory[Message]):
    class Meta:
        model = Message

    session = SubFactory(SessionFactory)
    # Globally increasing, so it is also unique per session.
    seq = Sequence(lambda n: n + 1)
    role = Message.Role.USER
    content = LazyAttribute(lambda o: [{"type": "text", "text": f"hello {o.seq}"}])
