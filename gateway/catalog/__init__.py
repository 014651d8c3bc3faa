"""The payloads of the catalog gateway methods (``gateway/methods/catalog.py``).

One module per RPC family: ``status``, ``system``, ``agents`` (and models), ``config``,
``channels``, ``cron``, ``devices`` (and nodes), ``commands`` (and ``chat.startup``).
Each reads through the apps' selectors (``agents.selectors``, ``channels_app.selectors``,
``pairing.selectors``, ...) and only shapes the wire, in the shape OpenClaw 2026.9.6's
own gateway answers (``tests/fixtures/openclaw-frames.jsonl``). ``wire`` holds what they
share. **Nothing secret ever enters a payload**: channel credentials are only tested for
presence, gateway tokens and passwords are not read at all, and the database URL (which
may hold a password) is never named.
"""
