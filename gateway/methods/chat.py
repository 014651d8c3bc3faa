"""Gateway methods: chat (see registry.py)."""

from __future__ import annotations
