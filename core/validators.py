"""Validators shared by several apps' models."""

from __future__ import annotations

import re

from django.core.validators import RegexValidator

# OpenClaw's normalized agent and account ids (src/routing/session-key.ts).
OPENCLAW_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
OPENCLAW_ID_RE = re.compile(OPENCLAW_ID_PATTERN)

openclaw_id_validator = RegexValidator(
    OPENCLAW_ID_PATTERN,
    "Use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit "
    "(for example: main, work, support-bot).",
)
