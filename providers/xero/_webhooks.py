"""Xero's webhooks in: `x-xero-signature`, the intent-to-receive handshake, the envelope.

Xero signs the raw body: `x-xero-signature` is base64(HMAC-SHA256(webhook key, body)). The
signature is checked (in constant time) before anything is parsed; a missing or wrong one is
401 with an empty body, which is also how Xero's intent-to-receive check must be answered
for its incorrectly signed payloads. A correctly signed one is 200 with an empty body, no
cookies (developer.xero.com/documentation/webhooks/configuring-your-server), the
validation payload (`events: []`) included.

Events name what changed: CONTACT → the customer, INVOICE → the invoice, CREDITNOTE → the
credit note; others (SUBSCRIPTION) name nothing of the ledger's. Xero has no PAYMENT category:
a payment made, deleted or moved on Xero changes the invoice it pays, so it arrives as that
invoice's INVOICE UPDATE, and the engine reads payments on every invoice event
(`engine._feed.HookInbox`). A replayed or duplicated
delivery verifies again and names the same objects: a feed read is safe to repeat, and the
payload's own data is never used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping

from engine import Entity, PlatformEvent, WebhookReply

SIGNATURE_HEADER = "x-xero-signature"
_ENTITIES = {"CONTACT": Entity.CUSTOMER, "INVOICE": Entity.INVOICE,
             "CREDITNOTE": Entity.CREDIT_NOTE}


def signature(key: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


class XeroWebhooks:
    """Implements `engine.WebhookReceiver` for Xero."""

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply:
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER), "")
        if not secret or not given or not hmac.compare_digest(
                signature(secret, body).encode(), given.strip().encode()):
            return WebhookReply(status=401)
        try:
            envelope = json.loads(body)
            raw = envelope["events"]
            if not isinstance(raw, list):
                raise TypeError("events is not a list")
            events = [PlatformEvent(tenant_id=str(event["tenantId"]),
                                    entity=_ENTITIES[str(event["eventCategory"])],
                                    remote_id=str(event["resourceId"]))
                      for event in raw if event.get("eventCategory") in _ENTITIES]
        except (ValueError, TypeError, KeyError):
            # Signed by Xero but not its envelope: answered (Xero would retry a refusal for a
            # day), and nothing is named.
            return WebhookReply(status=200, verified=True)
        return WebhookReply(status=200, events=events, verified=True)
