"""pytest plugin (loaded with ``-p core.pytest_env`` before Django is set up).

Points the test run at a throw-away data dir and fixed test keys, so a test run never
reads or writes the operator's real data dir, and team-mode settings load in the
PostgreSQL + Redis pass.
"""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("OPENCLAW_DATA_DIR", tempfile.mkdtemp(prefix="openclaw-test-"))
os.environ.setdefault("DJANGO_SECRET_KEY", "test-secret-key-" + "x" * 40)
# A fixed Fernet key for tests only (32 zero bytes would be too obviously fake to reuse).
os.environ.setdefault("OPENCLAW_ENCRYPTION_KEY", "dGVzdC1vbmx5LWtleS10ZXN0LW9ubHkta2V5LTAxMjM=")
os.environ.pop("OPENCLAW_GATEWAY_TOKEN", None)
# No real provider keys ever reach a test; the protocol tests use the offline echo model,
# and the agent-runtime tests point the real SDKs at tests/fakes/ servers.
for _name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_name, None)
os.environ.setdefault("OPENCLAW_MODEL", "placeholder/echo")
