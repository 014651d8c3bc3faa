"""Gateway methods: sessions (see registry.py)."""

from __future__ import annotations
