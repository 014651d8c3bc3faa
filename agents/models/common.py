"""What the agents models share."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError


def string_list_check(value: Any, field: str) -> None:
    """Raise ``ValidationError`` on ``field`` unless ``value`` is a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError({field: 'Enter a JSON list of non-empty strings, e.g. ["exec"].'})
