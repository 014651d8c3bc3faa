"""A fake Telegram Bot API that the real python-telegram-bot talks to (standard library only).

Modules: ``wire`` (request parsing, errors), ``markup`` (Telegram's HTML parse mode),
``state`` (per-bot state, Updates built from pushed messages), ``methods`` (the Bot API
methods), ``helpers`` (the test side), ``server`` (HTTP), ``control`` (the ``/_fake/*``
endpoint) and ``process`` (the child-process mode). Import from
``tests.fakes.telegram_server``, the entry module.
"""
