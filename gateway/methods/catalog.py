"""Gateway methods: catalog (see registry.py)."""

from __future__ import annotations
