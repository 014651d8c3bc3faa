"""factory_boy factories for the pairing app's models."""

# factory_boy ships py.typed but its declarations are unannotated.
# mypy: disable-error-code="no-untyped-call"

from __future__ import annotations

import hashlib

from django.utils import timezone
from factory.declarations import LazyAttribute, LazyFunction, Sequence, SubFactory, Trait
from factory.django import DjangoModelFactory

from channels_app.tests.factories import ChannelAccountFactory
from pairing.lib.codes import pairing_code_generate
from pairing.models import AllowlistEntry, Device, PairingRequest
from pairing.services import PAIRING_REQUEST_TTL


class AllowlistEntryFactory(DjangoModelFactory[AllowlistEntry]):
    class Meta:
        model = AllowlistEntry

    channel_account = SubFactory(ChannelAccountFactory)
    sender_ref = Sequence(lambda n: str(200000 + n))
    display_name = Sequence(lambda n: f"Friend {n}")


class PairingRequestFactory(DjangoModelFactory[PairingRequest]):
    class Meta:
        model = PairingRequest

    channel_account = SubFactory(ChannelAccountFactory)
    sender_ref = Sequence(lambda n: str(300000 + n))
    sender_meta = LazyAttribute(lambda o: {"username": f"user{o.sender_ref}"})
    code = LazyFunction(pairing_code_generate)
    expires_at = LazyFunction(lambda: timezone.now() + PAIRING_REQUEST_TTL)


class DeviceFactory(DjangoModelFactory[Device]):
    class Meta:
        model = Device

    device_id = Sequence(lambda n: hashlib.sha256(f"device-{n}".encode()).hexdigest())
    public_key = Sequence(lambda n: f"{n:043d}")
    display_name = Sequence(lambda n: f"Laptop {n}")
    platform = "linux"
    client_id = "cli"
    scopes = LazyFunction(lambda: ["operator.read"])

    class Params:
        paired = Trait(
            status=Device.Status.PAIRED,
            approved_at=LazyFunction(timezone.now),
            token_hash=Sequence(lambda n: hashlib.sha256(f"dtok-{n}".encode()).hexdigest()),
            token_issued_at=LazyFunction(timezone.now),
        )
