"""QuickBooks' incoming webhooks: `intuit-signature`, then the named objects, nothing more.

Intuit signs the raw body: header `intuit-signature` = base64(HMAC-SHA256(verifier token,
body)) (developer.intuit.com …/develop/webhooks/managing-webhooks-notifications). The
signature is checked, in constant time, before a byte is parsed; a missing or wrong one is
401. QBO has no subscription handshake (Xero's intent-to-receive, FreshBooks' verification
code): a signed notification is always answered 200, quickly, and only names objects for the
feed to read. The classic envelope carries no timestamp or nonce, so a replayed
notification verifies; that is harmless, since what it names is only read again through
the feed.

Both payloads are read: the classic one
`{"eventNotifications":[{"realmId","dataChangeEvent":{"entities":[{"name","id","operation",
"lastUpdated","deletedId"?}]}}]}` (a Merge names the merged-away object in `deletedId`, an
event for it too) and the CloudEvents array Intuit is moving to
(`[{"type":"qbo.invoice.updated.v1","intuitentityid","intuitaccountid",…}]`). Objects of
entities syncdesk does not sync (Vendor, Account, …) are left out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping
from typing import Any

from engine import PlatformEvent, WebhookReply

from ._mapping import WIRE

SIGNATURE_HEADER = "intuit-signature"
_ENTITIES = {wire.name.casefold(): entity for entity, wire in WIRE.items()}


class QuickBooksWebhooks:
    """Implements `engine.WebhookReceiver` for QuickBooks Online."""

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply:
        given = next((value for name, value in headers.items()
                      if name.casefold() == SIGNATURE_HEADER), None)
        if not given:
            return WebhookReply(401, b"missing intuit-signature")
        expected = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        try:
            # Intuit's own steps compare the digests, not their base64 spellings.
            signed = base64.b64decode(given.strip(), validate=True)
        except ValueError:
            signed = b""
        if not hmac.compare_digest(expected, signed):
            return WebhookReply(401, b"bad intuit-signature")
        try:
            events = list(_events(json.loads(body)))
        except (ValueError, TypeError, AttributeError, KeyError):
            return WebhookReply(400, b"not a QuickBooks notification", verified=True)
        return WebhookReply(200, events=events, verified=True)


def _events(payload: Any) -> Iterator[PlatformEvent]:
    if isinstance(payload, list):  # CloudEvents: type qbo.<entity>.<operation>.v<n>
        for event in payload:
            kind = str(event["type"]).split(".")
            entity = _ENTITIES.get(kind[1].casefold()) if len(kind) > 2 else None
            if entity is not None:
                yield PlatformEvent(str(event["intuitaccountid"]), entity,
                                    str(event["intuitentityid"]))
        return
    for notification in payload["eventNotifications"]:
        realm = str(notification["realmId"])
        for change in notification["dataChangeEvent"]["entities"]:
            entity = _ENTITIES.get(str(change["name"]).casefold())
            if entity is None:
                continue
            yield PlatformEvent(realm, entity, str(change["id"]))
            if change.get("deletedId"):
                yield PlatformEvent(realm, entity, str(change["deletedId"]))

