"""The gateway's HTTP APIs (OpenClaw's, on the gateway port): webhooks (``hooks.py``), the
OpenAI-compatible API (``openai.py``, ``responses.py``) and ``POST /tools/invoke``
(``tools.py``). Async views: each step that needs the database is one call to a service
or selector on the shared worker threads (``common.db``), and a turn is followed on the
event bus (``follow.py``), never by polling."""
