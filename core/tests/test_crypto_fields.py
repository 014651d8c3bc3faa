from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import connection
from django.db.models import ExpressionWrapper, F, Value

from channels_app.models import ChannelAccount
from core import crypto, redact
from core.fields import EncryptedTextField, Undecryptable

SECRET = "123456:SECRET-BOT-TOKEN"


@pytest.fixture
def keys(settings: Any) -> Iterator[Any]:
    """Let a test change ENCRYPTION_KEYS; the cached MultiFernet follows and is reset after."""
    crypto.fernet.cache_clear()
    yield settings
    crypto.fernet.cache_clear()


def _use_keys(settings: Any, *keys: str) -> None:
    settings.ENCRYPTION_KEYS = list(keys)
    crypto.fernet.cache_clear()


def _raw_credentials(account: ChannelAccount) -> str:
    table = connection.ops.quote_name(ChannelAccount._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {table} WHERE id = %s", [account.pk])  # noqa: S608
        row = cursor.fetchone()
    assert row is not None
    value: str = row[0]
    return value


def _account(**kwargs: Any) -> ChannelAccount:
    kwargs.setdefault("kind", "telegram")
    kwargs.setdefault("account_id", "default")
    return ChannelAccount.objects.create(**kwargs)


def _text_field() -> EncryptedTextField:
    field = EncryptedTextField()
    field.set_attributes_from_name("secret")
    field.model = ChannelAccount
    return field


@pytest.mark.django_db
def test_json_field_round_trips_and_stores_only_ciphertext(keys: Any) -> None:
    account = _account(credentials={"bot_token": SECRET, "webhook_secret": "w" * 20})

    fetched = ChannelAccount.objects.get(pk=account.pk)

    assert fetched.credentials == {"bot_token": SECRET, "webhook_secret": "w" * 20}
    raw = _raw_credentials(account)
    assert SECRET not in raw
    assert "bot_token" not in raw
    assert json.loads(crypto.decrypt(raw)) == {"bot_token": SECRET, "webhook_secret": "w" * 20}


@pytest.mark.django_db
def test_json_field_stores_empty_credentials_as_blank(keys: Any) -> None:
    account = _account(credentials={})

    assert _raw_credentials(account) == ""
    assert ChannelAccount.objects.get(pk=account.pk).credentials == {}


@pytest.mark.django_db
def test_text_field_round_trips_through_the_database(keys: Any) -> None:
    field = _text_field()
    account = _account()
    # Write through the field into a plain text column, then read it back through the field.
    ChannelAccount.objects.filter(pk=account.pk).update(
        last_error=Value(SECRET, output_field=field)
    )

    raw = ChannelAccount.objects.values_list("last_error", flat=True).get(pk=account.pk)
    decrypted = (
        ChannelAccount.objects.annotate(
            secret=ExpressionWrapper(F("last_error"), output_field=field)
        )
        .values_list("secret", flat=True)
        .get(pk=account.pk)
    )

    assert SECRET not in raw
    assert decrypted == SECRET


def test_text_field_leaves_blank_and_none_alone(keys: Any) -> None:
    field = _text_field()

    assert field.get_prep_value("") == ""
    assert field.get_prep_value(None) is None
    assert field.from_db_value("", None, connection) == ""
    assert field.from_db_value(None, None, connection) is None


def test_text_field_keeps_undecryptable_ciphertext(keys: Any) -> None:
    field = _text_field()
    ciphertext = Fernet(Fernet.generate_key()).encrypt(b"other key").decode()

    value = field.from_db_value(ciphertext, None, connection)

    assert isinstance(value, Undecryptable)
    assert value == ciphertext
    assert field.get_prep_value(value) == ciphertext


@pytest.mark.django_db
def test_wrong_key_reads_undecryptable_and_saving_keeps_the_ciphertext(
    keys: Any, caplog: pytest.LogCaptureFixture
) -> None:
    old_key = Fernet.generate_key().decode()
    _use_keys(keys, old_key)
    account = _account(credentials={"bot_token": SECRET})
    ciphertext = _raw_credentials(account)

    _use_keys(keys, Fernet.generate_key().decode())
    fetched = ChannelAccount.objects.get(pk=account.pk)

    # The field is typed as a dict; an undecryptable value is the exception it signals.
    credentials: object = fetched.credentials
    assert isinstance(credentials, Undecryptable)
    assert credentials == ciphertext
    assert "cannot decrypt ChannelAccount.credentials" in caplog.text
    assert SECRET not in caplog.text
    with pytest.raises(ValidationError) as excinfo:
        fetched.full_clean()
    assert "credentials" in excinfo.value.message_dict

    fetched.name = "renamed while the key was wrong"
    fetched.save()

    assert _raw_credentials(account) == ciphertext
    _use_keys(keys, old_key)
    assert ChannelAccount.objects.get(pk=account.pk).credentials == {"bot_token": SECRET}


def test_decrypt_with_wrong_key_explains_what_to_do(keys: Any) -> None:
    _use_keys(keys, Fernet.generate_key().decode())
    ciphertext = crypto.encrypt(SECRET)
    _use_keys(keys, Fernet.generate_key().decode())

    with pytest.raises(crypto.DecryptionError, match="OPENCLAW_ENCRYPTION_KEY"):
        crypto.decrypt(ciphertext)


def test_invalid_key_is_a_configuration_error(keys: Any) -> None:
    _use_keys(keys, "not-a-fernet-key")

    with pytest.raises(ImproperlyConfigured, match="not a valid Fernet key"):
        crypto.encrypt(SECRET)


@pytest.mark.django_db
def test_key_rotation_reads_old_rows_and_writes_with_the_new_key(keys: Any) -> None:
    old_key = Fernet.generate_key().decode()
    new_key = Fernet.generate_key().decode()
    _use_keys(keys, old_key)
    legacy = _account(account_id="legacy", credentials={"bot_token": "old-secret"})

    # Rotation: the new key first (encrypts), the old one after it (still decrypts).
    _use_keys(keys, new_key, old_key)
    fresh = _account(account_id="fresh", credentials={"bot_token": "new-secret"})
    reloaded = ChannelAccount.objects.get(pk=legacy.pk)

    assert reloaded.credentials == {"bot_token": "old-secret"}
    assert json.loads(Fernet(new_key.encode()).decrypt(_raw_credentials(fresh).encode())) == {
        "bot_token": "new-secret"
    }
    with pytest.raises(InvalidToken):
        Fernet(old_key.encode()).decrypt(_raw_credentials(fresh).encode())

    # Re-saving an old row re-encrypts it with the new key, so the old key can be dropped.
    reloaded.save()
    _use_keys(keys, new_key)

    assert ChannelAccount.objects.get(pk=legacy.pk).credentials == {"bot_token": "old-secret"}
    assert ChannelAccount.objects.get(pk=fresh.pk).credentials == {"bot_token": "new-secret"}


@pytest.mark.django_db
def test_embedded_key_file_is_created_on_first_secret_with_mode_600(
    keys: Any, data_dir: Path
) -> None:
    _use_keys(keys)
    key_file = data_dir / "encryption.key"
    assert not key_file.exists()

    account = _account(credentials={"bot_token": SECRET})

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
    key = key_file.read_text(encoding="utf-8").strip()
    Fernet(key.encode())  # a valid key
    assert json.loads(Fernet(key.encode()).decrypt(_raw_credentials(account).encode())) == {
        "bot_token": SECRET
    }


@pytest.mark.django_db
def test_embedded_key_file_is_reused_by_the_next_process(keys: Any, data_dir: Path) -> None:
    _use_keys(keys)
    account = _account(credentials={"bot_token": SECRET})
    key_file = data_dir / "encryption.key"
    content = key_file.read_text(encoding="utf-8")

    crypto.fernet.cache_clear()  # as a restarted process would

    assert ChannelAccount.objects.get(pk=account.pk).credentials == {"bot_token": SECRET}
    assert key_file.read_text(encoding="utf-8") == content


def test_configured_keys_never_write_a_key_file(keys: Any, data_dir: Path) -> None:
    _use_keys(keys, Fernet.generate_key().decode())

    crypto.decrypt(crypto.encrypt(SECRET))

    assert not (data_dir / "encryption.key").exists()


@pytest.mark.django_db
def test_keeping_secrets_out_of_tool_output_creates_no_key_file(keys: Any, data_dir: Path) -> None:
    # An agent's first tool call builds the redaction pattern, which reads the keys.
    _use_keys(keys)
    redact.forget()
    assert redact.redact("nothing secret here") == "nothing secret here"
    assert not (data_dir / "encryption.key").exists()

    _account(credentials={"bot_token": SECRET})  # the first secret stored makes it
    key = (data_dir / "encryption.key").read_text(encoding="utf-8").strip()
    redact.forget()
    assert key not in redact.redact(f"leaked {key}")
