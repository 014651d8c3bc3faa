"""Local fake servers speaking the real wire formats (OpenAI, Anthropic, Telegram Bot API).

The real SDKs are pointed at them by base URL; no test reaches the internet.
"""
