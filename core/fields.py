"""Model fields whose values are Fernet-encrypted in the database."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.db import models

from core import crypto

logger = logging.getLogger(__name__)


class Undecryptable(str):
    """A stored ciphertext no configured key opens.

    It is kept as it is (saving the row writes the same ciphertext back), so a wrong key
    loses nothing; code that needs the secret checks ``isinstance(value, Undecryptable)``
    and asks the operator to restore the key or re-enter the secret.
    """

    __slots__ = ()


class EncryptedTextField(models.TextField[str, str]):
    """Text stored encrypted; Python code sees the plaintext."""

    description = "Encrypted text"

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> str | None:
        if value is None or value == "":
            return value
        try:
            return crypto.decrypt(value)
        except crypto.DecryptionError:
            logger.warning(
                "cannot decrypt %s.%s; keeping ciphertext", self.model.__name__, self.name
            )
            return Undecryptable(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "" or isinstance(value, Undecryptable):
            return value
        return crypto.encrypt(str(value))


class EncryptedJSONField(models.TextField[dict[str, Any], dict[str, Any]]):
    """A JSON object stored encrypted; Python code sees the dict."""

    description = "Encrypted JSON object"

    def from_db_value(
        self, value: str | None, expression: Any, connection: Any
    ) -> dict[str, Any] | Undecryptable:
        if not value:
            return {}
        try:
            decoded: dict[str, Any] = json.loads(crypto.decrypt(value))
        except crypto.DecryptionError:
            logger.warning(
                "cannot decrypt %s.%s; keeping ciphertext", self.model.__name__, self.name
            )
            return Undecryptable(value)
        return decoded

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str) and not isinstance(value, Undecryptable):
            return json.loads(value) if value else {}
        return value if value is not None else {}

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Undecryptable):
            return str(value)
        if not value:
            return ""
        return crypto.encrypt(json.dumps(value, sort_keys=True))
