"""FreshBooks' webhooks: the receiver's signature check and verification step, and the
sandbox posting FreshBooks' forms (registration, verification, events, faults)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import Entity, PlatformEvent, Validation, WebhookReply
from providers.freshbooks import PLATFORM, FreshBooksProvider
from providers.freshbooks._webhooks import FreshBooksWebhooks

from .conftest import ACCOUNT, Ledger, invoice, raw
from .test_fb_feed import clients

KEY = "verifier-7f3a"
URI = "http://syncdesk.test/webhooks/freshbooks"


def signed(form: dict[str, str], key: str = KEY) -> tuple[dict[str, str], bytes]:
    """The header and body FreshBooks sends, computed as its own example does: base64 of
    HMAC-SHA256 over `json.dumps` of the form (not over the raw body)."""
    digest = hmac.new(key.encode(), json.dumps(form).encode(), hashlib.sha256).digest()
    return ({"X-FreshBooks-Hmac-SHA256": base64.b64encode(digest).decode(),
             "Content-Type": "application/x-www-form-urlencoded"}, urlencode(form).encode())


def event(name: str = "payment.create", object_id: str = "500123") -> dict[str, str]:
    return {"name": name, "object_id": object_id, "account_id": ACCOUNT,
            "business_id": "4201337", "identity_id": "1", "user_id": "1"}


receiver = FreshBooksWebhooks()


def test_a_good_signature_names_the_object() -> None:
    headers, body = signed(event())
    reply = receiver.receive(headers, body, KEY)
    assert (reply.status, reply.verified) == (200, True)
    assert list(reply.events) == [PlatformEvent(ACCOUNT, Entity.PAYMENT, "500123")]
    client = receiver.receive(*signed(event("client.update", "100002")), KEY)
    assert list(client.events) == [PlatformEvent(ACCOUNT, Entity.CUSTOMER, "100002")]


def test_the_header_is_found_whatever_its_case() -> None:
    headers, body = signed(event())
    lower = {k.lower(): v for k, v in headers.items()}
    assert receiver.receive(lower, body, KEY).verified


@pytest.mark.parametrize("tamper", ["bad", "missing", "other_key", "other_body", "empty"])
def test_a_bad_missing_or_replayed_signature_is_refused(tamper: str) -> None:
    headers, body = signed(event())
    if tamper == "bad":
        headers["X-FreshBooks-Hmac-SHA256"] = base64.b64encode(b"x" * 32).decode()
    elif tamper == "missing":
        del headers["X-FreshBooks-Hmac-SHA256"]
    elif tamper == "other_key":
        headers, body = signed(event(), key="someone-else")
    elif tamper == "other_body":
        # A signature seen on one event, replayed on a form naming another object.
        body = urlencode(event(object_id="999999")).encode()
    else:
        headers["X-FreshBooks-Hmac-SHA256"] = ""
    reply = receiver.receive(headers, body, KEY)
    assert (reply.status, reply.verified, list(reply.events)) == (401, False, [])


def test_an_exact_replay_verifies_and_only_names_the_object_again() -> None:
    """A duplicate delivery is FreshBooks' own retry as often as an attacker's: it carries
    no data, so at worst it makes the feed read one object again."""
    headers, body = signed(event())
    first, again = receiver.receive(headers, body, KEY), receiver.receive(headers, body, KEY)
    assert first.events == again.events and again.verified


def test_without_a_secret_nothing_verifies() -> None:
    headers, body = signed(event(), key="")
    assert receiver.receive(headers, body, "").status == 401


def test_the_verification_step_is_answered_and_handed_back_to_confirm() -> None:
    body = urlencode({**event("callback.verify", "2001"), "verifier": "abc123"}).encode()
    reply = receiver.receive({"Content-Type": "application/x-www-form-urlencoded"}, body, "")
    assert reply.status == 200 and not reply.verified
    assert reply.confirm == {"callback_id": "2001", "verifier": "abc123"}
    assert not reply.events


def test_events_of_objects_syncdesk_keeps_nothing_of_name_nothing() -> None:
    reply = receiver.receive(*signed(event("estimate.create")), KEY)
    assert (reply.status, reply.verified, list(reply.events)) == (200, True, [])


def test_the_platform_offers_its_receiver() -> None:
    assert isinstance(PLATFORM.webhooks(), FreshBooksWebhooks)


# -- the sandbox posting ------------------------------------------------------------------------


@dataclass
class Service:
    """Stands in for syncdesk's webhook route: the receiver, and every reply it gave."""

    secret: str = KEY
    replies: list[WebhookReply] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            reply = receiver.receive(dict(request.headers), await request.body(), self.secret)
            self.replies.append(reply)
            return Response(reply.body, status_code=reply.status)

        return Starlette(routes=[Route("/webhooks/freshbooks", hook, methods=["POST"])])

    def named(self) -> list[tuple[Entity, str]]:
        return [(e.entity, e.remote_id) for r in self.replies for e in r.events]


@pytest.fixture
def service(app: Any) -> Service:
    service = Service()
    app.state.webhooks.transport = httpx.ASGITransport(app=service.app())
    return service


async def configure(control: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await control.post("/_sandbox/webhooks", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_every_change_is_posted_signed_to_the_configured_url(
        app: Any, control: httpx.AsyncClient, tokens: Any, service: Service) -> None:
    await configure(control, url=URI, key=KEY)
    made = clients(app, 1)[0]
    response = await raw(control, tokens, "PUT", f"users/clients/{made}",
                         json={"client": {"email": "new@example.com"}})
    assert response.status_code == 200
    await app.state.webhooks.idle()
    assert service.named() == [(Entity.CUSTOMER, str(made))] * 2  # create, then update
    state = (await control.get("/_sandbox/webhooks")).json()
    assert [d["name"] for d in state["deliveries"]] == ["client.create", "client.update"]
    assert {d["status"] for d in state["deliveries"]} == {200}


async def test_faults_duplicates_bad_signatures_and_out_of_order(
        app: Any, control: httpx.AsyncClient, service: Service) -> None:
    await configure(control, url=URI, key=KEY, auto=False, duplicates=1, bad_signatures=1,
                    out_of_order=True)
    first, second, third = clients(app, 3)
    delivered = (await control.post("/_sandbox/webhooks/deliver")).json()["delivered"]
    # Newest first; the first sent goes twice; one of them signed with a wrong key.
    assert [d["object_id"] for d in delivered] == [str(third), str(third), str(second),
                                                   str(first)]
    assert [d["duplicate"] for d in delivered] == [False, True, False, False]
    assert [d["status"] for d in delivered] == [401, 200, 200, 200]
    assert delivered[0]["signed_badly"]
    assert [r.verified for r in service.replies] == [False, True, True, True]
    assert service.named() == [(Entity.CUSTOMER, str(i)) for i in (third, second, first)]


async def test_registration_is_verified_through_the_provider_then_events_flow(
        app: Any, provider: FreshBooksProvider, ledger: Ledger, service: Service) -> None:
    callback_id = await provider.register_webhook("invoice", URI)
    await app.state.webhooks.idle()
    [handshake] = service.replies
    assert handshake.confirm is not None and handshake.confirm["callback_id"] == callback_id
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    await app.state.webhooks.idle()
    assert service.named() == []  # not verified yet: FreshBooks sends nothing

    with pytest.raises(Validation):
        await provider.confirm_webhook({**handshake.confirm, "verifier": "forged"})
    await provider.confirm_webhook(handshake.confirm)
    service.secret = handshake.confirm["verifier"]
    ref = await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-1002"))
    await app.state.webhooks.idle()
    # Created, then marked sent: two writes of the invoice, each its own event.
    assert service.named() == [(Entity.INVOICE, ref.remote_id)] * 2


async def test_the_events_api_refuses_an_event_it_does_not_know(
        provider: FreshBooksProvider) -> None:
    with pytest.raises(Validation, match="Unrecognized event"):
        await provider.register_webhook("invoice.paint", URI)
