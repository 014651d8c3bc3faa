"""Telegram, on python-telegram-bot: registered as the ``telegram`` connector.

``client`` (a PTB Bot per token on a per-thread event loop), ``parse`` (Update JSON →
``InboundUpdate``), ``markdown`` and ``format`` (Markdown → Telegram HTML chunks),
``connector`` (the ``Connector`` itself).
"""

from __future__ import annotations

from channels_app.connectors import registry
from channels_app.connectors.telegram.connector import TelegramConnector

registry.register(TelegramConnector())
