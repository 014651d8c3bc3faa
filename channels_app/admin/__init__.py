"""Admin for channel accounts and the inbox and outbox (registered on import).

A channel account's secrets are write-only here: the page shows which are set, masked,
and a blank field that replaces one when filled. A stored secret never goes into the
HTML, not even as a form's initial value.
"""

from __future__ import annotations

from channels_app.admin.accounts import ChannelAccountAdmin
from channels_app.admin.messages import InboundMessageAdmin, OutboundMessageAdmin

__all__ = ["ChannelAccountAdmin", "InboundMessageAdmin", "OutboundMessageAdmin"]
