"""factory_boy factories for the channels app's models."""

# factory_boy ships py.typed but its declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory
from factory.django import DjangoModelFactory

from channels_app.models import ChannelAccount, ChannelKind, InboundMessage, OutboundMessage


class ChannelAccountFactory(DjangoModelFactory[ChannelAccount]):
    class Meta:
        model = ChannelAccount

    kind = ChannelKind.TELEGRAM
    account_id = Sequence(lambda n: f"bot-{n}")
    name = Sequence(lambda n: f"Bot {n}")
    credentials = Sequence(lambda n: {"bot_token": f"{700000 + n}:AAFakeTokenForTests{n:08d}"})


class InboundMessageFactory(DjangoModelFactory[InboundMessage]):
    class Meta:
        model = InboundMessage

    account = SubFactory(ChannelAccountFactory)
    external_id = Sequence(lambda n: f"update-{n}")
    sender_id = Sequence(lambda n: str(100000 + n))
    sender_name = Sequence(lambda n: f"Sender {n}")
    chat_id = LazyAttribute(lambda o: o.sender_id)
    text = "hello"
    received_at = LazyFunction(timezone.now)


class OutboundMessageFactory(DjangoModelFactory[OutboundMessage]):
    class Meta:
        model = OutboundMessage

    account = SubFactory(ChannelAccountFactory)
    chat_id = Sequence(lambda n: str(100000 + n))
    text = "hi there"
    dedupe_key = Sequence(lambda n: f"reply-{n}")
