"""Browser pages: the operator home page, WebChat and OpenClaw's Control UI."""
