"""Webhooks: a platform POSTs an update, it is stored, the platform gets 200 at once.

``/<kind>-webhook`` serves the kind's ``default`` account, ``/<kind>-webhook/<account>``
any other (OpenClaw's Telegram path is ``/telegram-webhook``). The connector checks the
request (Telegram: the secret-token header, required); a rejected request stores
nothing and gets its status with a JSON error saying why. Processing happens on the
``connectors`` queue after the row commits, never in the request.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from channels_app.connectors.base import ConnectorError, WebhookRejectedError
from channels_app.connectors.registry import connector_for
from channels_app.models import ChannelAccount
from channels_app.services.accounts import account_config
from channels_app.services.inbound import inbound_store

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 1024 * 1024


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"ok": False, "error": message}, status=status)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, kind: str, account_id: str = "default") -> JsonResponse:
    """Store the update(s) of one webhook request for ``kind``/``account_id``."""
    account = ChannelAccount.objects.enabled().filter(kind=kind, account_id=account_id).first()
    if account is None:
        return _error(404, f"no enabled {kind} account {account_id!r} takes webhooks here")
    try:
        connector = connector_for(kind)
    except ConnectorError as exc:
        return _error(404, exc.message)
    length = int(request.headers.get("Content-Length") or 0)
    if length > MAX_WEBHOOK_BYTES:
        return _error(413, f"the update is over {MAX_WEBHOOK_BYTES} bytes")
    try:
        updates = connector.parse_webhook(
            account_config(account), headers=dict(request.headers), body=request.body
        )
    except WebhookRejectedError as exc:
        logger.warning("%s webhook refused (%d): %s", account, exc.status, exc.message)
        return _error(exc.status, exc.message)
    inbound_store(account=account, updates=updates)
    return JsonResponse({"ok": True})
