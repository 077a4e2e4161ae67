"""FreshBooks' incoming webhooks: its signature, its verification step and its form envelope.

FreshBooks POSTs `application/x-www-form-urlencoded` forms (PLATFORMS.md §4.7):
`name=payment.create&object_id=1234567&account_id=6BApk&business_id=6543&identity_id=1&
user_id=1`, with `X-FreshBooks-Hmac-SHA256` = base64(HMAC-SHA256(verifier, text)), where the
text is not the raw body but Python's `json.dumps` of the form's fields, in the order sent
(`{"name": "payment.create", "object_id": "1234567", …}`), as FreshBooks' own examples
compute it. So the body is decoded into its fields first, to rebuild that text; nothing in it
is looked at until the signature matches (constant-time compare). A missing or wrong
signature is a 401, never a parse.

Registration (`FreshBooksProvider.register_webhook`) makes FreshBooks send the verification
step to the callback's URI: `name=callback.verify&object_id=<callback id>&verifier=<code>`,
unsigned, since the code *is* the key every later event is signed with. The receiver answers
it 200 and hands the code back in `WebhookReply.confirm` (`callback_id`, `verifier`); the
engine sends that through `FreshBooksProvider.confirm_webhook` (FreshBooks activates the
callback only when its own code comes back, so a forged verify cannot plant a key) and keeps
the verifier as the connection's webhook secret only once FreshBooks accepted it.

Events name one object each; the event's noun is the entity (`client` a customer, `item`,
`invoice`, `payment`, `credit_note`); others (estimates, expenses, …) are answered 200 and
name nothing syncdesk keeps. The engine reads what an event names through the change feed: an
event's own fields are never taken as data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from urllib.parse import parse_qsl

from engine import Entity, PlatformEvent, WebhookReply

SIGNATURE_HEADER = "X-FreshBooks-Hmac-SHA256"
VERIFY_EVENT = "callback.verify"
FORM = "application/x-www-form-urlencoded"

ENTITIES: Mapping[str, Entity] = {
    "client": Entity.CUSTOMER,
    "item": Entity.ITEM,
    "invoice": Entity.INVOICE,
    "payment": Entity.PAYMENT,
    "credit_note": Entity.CREDIT_NOTE,
}
"""FreshBooks' object names in event names (`payment.create`) → the engine's entities."""


def signature(verifier: str, form: Mapping[str, str]) -> str:
    """What FreshBooks puts in `X-FreshBooks-Hmac-SHA256` for these form fields."""
    text = json.dumps({str(k): str(v) for k, v in form.items()})
    digest = hmac.new(verifier.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class FreshBooksWebhooks:
    """Implements `engine.WebhookReceiver` for FreshBooks."""

    callback_events: tuple[str, ...] = tuple(ENTITIES)
    """What `syncdesk hooks register` asks a callback for, one each: FreshBooks has no screen
    for webhooks, and an event is one kind of object (or one of its actions)."""

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply:
        try:
            form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                 strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            return _refused("the body is not a FreshBooks form")
        if form.get("name") == VERIFY_EVENT and form.get("verifier") and form.get("object_id"):
            return WebhookReply(status=200, body=b"OK", confirm={
                "callback_id": form["object_id"], "verifier": form["verifier"]})
        given = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()),
                     None)
        if not given:
            return _refused(f"no {SIGNATURE_HEADER} header")
        if not secret or not hmac.compare_digest(given.encode(),
                                                 signature(secret, form).encode()):
            return _refused(f"{SIGNATURE_HEADER} does not match the body")
        noun, _, _action = form.get("name", "").partition(".")
        entity = ENTITIES.get(noun)
        events: tuple[PlatformEvent, ...] = ()
        if entity is not None and form.get("object_id") and form.get("account_id"):
            events = (PlatformEvent(tenant_id=form["account_id"], entity=entity,
                                    remote_id=form["object_id"]),)
        return WebhookReply(status=200, body=b"OK", events=events, verified=True)


def _refused(why: str) -> WebhookReply:
    return WebhookReply(status=401, body=f"refused: {why}".encode())
