"""Xero's webhooks both ways: the receiver (`x-xero-signature` over the raw body, the
intent-to-receive answers, the envelope's names) and the sandbox sending Xero's envelope,
signed, on every change, with its faults (duplicates, out of order, bad signatures)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import Entity, PlatformEvent, WebhookReply
from providers._sandbox import Clock
from providers.xero import PLATFORM, create_sandbox_app
from providers.xero._webhooks import signature
from providers.xero.sandbox import DEMO_TENANT_ID

API = "/api.xro/2.0"
KEY = "c2VjcmV0LXdlYmhvb2sta2V5"
HOOK_URL = "http://hooks.syncdesk.test/v1/hooks/xero"
RECEIVER = PLATFORM.webhooks()
assert RECEIVER is not None


def envelope(*events: tuple[str, str], sequence: int = 7) -> bytes:
    return json.dumps({
        "events": [{"resourceUrl": f"https://api.xero.com/api.xro/2.0/X/{resource}",
                    "resourceId": resource, "eventDateUtc": "2026-03-01T09:00:00.123",
                    "eventType": "UPDATE", "eventCategory": category,
                    "tenantId": DEMO_TENANT_ID, "tenantType": "ORGANISATION"}
                   for category, resource in events],
        "firstEventSequence": sequence, "lastEventSequence": sequence + len(events) - 1,
        "entropy": "FXNGWLCCGVANWHKILRUB"}).encode()


def receive(body: bytes, signed: str | None, secret: str = KEY) -> WebhookReply:
    headers = {"X-Xero-Signature": signed} if signed is not None else {}
    return RECEIVER.receive(headers, body, secret)  # type: ignore[union-attr]


def test_a_good_signature_names_the_objects_and_nothing_more() -> None:
    body = envelope(("CONTACT", "c-1"), ("INVOICE", "i-1"), ("CREDITNOTE", "n-1"),
                    ("SUBSCRIPTION", "s-1"))
    reply = receive(body, signature(KEY, body))
    assert (reply.status, reply.body, reply.verified) == (200, b"", True)
    assert list(reply.events) == [
        PlatformEvent(DEMO_TENANT_ID, Entity.CUSTOMER, "c-1"),
        PlatformEvent(DEMO_TENANT_ID, Entity.INVOICE, "i-1"),
        PlatformEvent(DEMO_TENANT_ID, Entity.CREDIT_NOTE, "n-1")]


@pytest.mark.parametrize("signed", [None, "", "bm90IGEgc2lnbmF0dXJl",
                                    signature("another key", envelope(("CONTACT", "c-1")))])
def test_a_missing_or_bad_signature_is_refused_before_parsing(signed: str | None) -> None:
    reply = receive(envelope(("CONTACT", "c-1")), signed)
    assert (reply.status, reply.body, reply.verified, list(reply.events)) == \
        (401, b"", False, [])
    # Not even parsed: a body that is not JSON is refused the same way.
    assert receive(b"{not json", signed).status == 401


def test_a_signature_over_another_body_or_without_a_key_is_refused() -> None:
    body = envelope(("INVOICE", "i-1"))
    tampered = body.replace(b"i-1", b"i-2")
    assert receive(tampered, signature(KEY, body)).status == 401
    assert receive(body, signature(KEY, body), secret="").status == 401


def test_a_replayed_delivery_verifies_again_and_names_the_same_objects() -> None:
    body = envelope(("CONTACT", "c-9"))
    signed = signature(KEY, body)
    first, again = receive(body, signed), receive(body, signed)
    assert first.status == again.status == 200
    assert list(first.events) == list(again.events) == [
        PlatformEvent(DEMO_TENANT_ID, Entity.CUSTOMER, "c-9")]


def test_intent_to_receive_is_answered_as_xero_asks() -> None:
    body = json.dumps({"events": [], "lastEventSequence": 0, "firstEventSequence": 0,
                       "entropy": "S0m3r4Nd0mt3xt"}).encode()
    good = receive(body, signature(KEY, body))
    assert (good.status, good.body, list(good.events)) == (200, b"", [])
    assert receive(body, signature("wrong", body)).status == 401


# -- the sandbox sends them ------------------------------------------------------------------


@dataclass
class Hooks:
    """The receiving end: Xero's receiver behind a route, every call kept."""

    honest: bool = True
    """False: answers 200 whatever the signature (what intent-to-receive must catch)."""
    calls: list[tuple[int, list[PlatformEvent], Any]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            reply = receive(body, request.headers.get("x-xero-signature"))
            status = reply.status if self.honest else 200
            self.calls.append((status, list(reply.events), json.loads(body)))
            return Response(reply.body, status_code=status)

        return Starlette(routes=[Route("/v1/hooks/xero", hook, methods=["POST"])])

    def events(self) -> list[PlatformEvent]:
        return [event for status, events, _ in self.calls if status == 200 for event in events]


@pytest.fixture
def hooks() -> Hooks:
    return Hooks()


@pytest.fixture
def app(clock: Clock, hooks: Hooks) -> Starlette:
    return create_sandbox_app(clock=clock,
                              webhook_transport=httpx.ASGITransport(app=hooks.app()))


async def configure(control: httpx.AsyncClient, **faults: int) -> None:
    answer = await control.post("/_sandbox/webhooks", json={"url": HOOK_URL, "key": KEY,
                                                            "faults": faults})
    assert answer.status_code == 200, answer.text


async def drained(control: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await control.post("/_sandbox/webhooks/drain")).json()["deliveries"])


async def new_contact(api: httpx.AsyncClient, name: str) -> str:
    answer = await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": name}]})
    return str(answer.json()["Contacts"][0]["ContactID"])


async def test_every_change_is_sent_signed_in_xeros_envelope(
        api: httpx.AsyncClient, control: httpx.AsyncClient, hooks: Hooks) -> None:
    await new_contact(api, "Before Hooks")  # nothing configured yet: nothing sent
    await configure(control)
    contact = await new_contact(api, "Hook Co")
    made = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact}, "InvoiceNumber": "W-1",
        "Status": "AUTHORISED", "LineItems": [{"Description": "Work", "Quantity": 1,
                                               "UnitAmount": 40, "AccountCode": "200"}]}]})
    invoice = made.json()["Invoices"][0]["InvoiceID"]
    await api.put(f"{API}/Payments", json={"Payments": [{
        "Invoice": {"InvoiceID": invoice}, "Account": {"Code": "090"}, "Amount": 10}]})
    note = await api.put(f"{API}/CreditNotes", json={"CreditNotes": [{
        "Type": "ACCRECCREDIT", "Contact": {"ContactID": contact}, "Status": "AUTHORISED",
        "LineItems": [{"Description": "Back", "Quantity": 1, "UnitAmount": 5,
                       "AccountCode": "200"}]}]})
    credit = note.json()["CreditNotes"][0]["CreditNoteID"]
    deliveries = await drained(control)
    assert [(d["status"], d["signed_right"], d["first"], d["last"]) for d in deliveries] == \
        [(200, True, 1, 1), (200, True, 2, 2), (200, True, 3, 3), (200, True, 4, 4)]
    [(_, _, first)] = [call for call in hooks.calls if call[2]["firstEventSequence"] == 1]
    [event] = first["events"]
    assert event == {"resourceUrl": f"https://api.xero.com/api.xro/2.0/Contacts/{contact}",
                     "resourceId": contact, "eventDateUtc": event["eventDateUtc"],
                     "eventType": "CREATE", "eventCategory": "CONTACT",
                     "tenantId": DEMO_TENANT_ID, "tenantType": "ORGANISATION"}
    assert set(first) == {"events", "firstEventSequence", "lastEventSequence", "entropy"}
    assert hooks.events() == [
        PlatformEvent(DEMO_TENANT_ID, Entity.CUSTOMER, contact),
        PlatformEvent(DEMO_TENANT_ID, Entity.INVOICE, invoice),
        # The payment: its invoice's UPDATE, the only way Xero tells of one.
        PlatformEvent(DEMO_TENANT_ID, Entity.INVOICE, invoice),
        PlatformEvent(DEMO_TENANT_ID, Entity.CREDIT_NOTE, credit)]
    [(_, _, credited)] = [call for call in hooks.calls if call[2]["firstEventSequence"] == 4]
    assert credited["events"][0]["data"] == {"Type": "ACCRECCREDIT", "Status": "AUTHORISED"}
    assert [call[2]["events"][0]["eventType"] for call in hooks.calls] == \
        ["CREATE", "CREATE", "UPDATE", "CREATE"]


async def test_faults_duplicate_out_of_order_and_bad_signature(
        api: httpx.AsyncClient, control: httpx.AsyncClient, hooks: Hooks) -> None:
    await configure(control, duplicate=1)
    await new_contact(api, "Twice Co")
    await configure(control, out_of_order=1)
    await new_contact(api, "Late Co")
    await new_contact(api, "Early Co")
    await configure(control, bad_signature=1)
    await new_contact(api, "Forged Co")
    deliveries = await drained(control)
    assert [(d["first"], d["status"], d["signed_right"]) for d in deliveries] == [
        (1, 200, True), (1, 200, True),  # the duplicate: the same body and signature again
        (3, 200, True), (2, 200, True),  # the held one comes after the one that followed it
        (4, 401, False)]                 # refused, and its event is not taken
    assert hooks.calls[0][2] == hooks.calls[1][2]
    assert len(hooks.events()) == 4 and len({e.remote_id for e in hooks.events()}) == 3


async def test_intent_to_receive_passes_an_honest_endpoint_only(
        control: httpx.AsyncClient, hooks: Hooks) -> None:
    assert (await control.post("/_sandbox/webhooks/intent")).status_code == 400
    await configure(control)
    check = (await control.post("/_sandbox/webhooks/intent")).json()
    assert check["passed"] is True
    assert (check["signed"]["status"], check["badly_signed"]["status"]) == (200, 401)
    hooks.honest = False
    assert (await control.post("/_sandbox/webhooks/intent")).json()["passed"] is False
    refused = await control.post("/_sandbox/webhooks", json={"faults": {"lost": 1}})
    assert refused.status_code == 400 and "unknown webhook faults" in refused.text


async def test_deliveries_reach_a_receiver_over_loopback(clock: Clock, hooks: Hooks) -> None:
    """With no transport handed in, the sandbox posts over the network, as the demo's does."""
    server = uvicorn.Server(uvicorn.Config(hooks.app(), host="127.0.0.1", port=20450,
                                           log_level="warning", lifespan="off"))
    serving = asyncio.create_task(server.serve())
    app = create_sandbox_app(clock=clock, limits_enabled=False)
    try:
        while not server.started:
            assert not serving.done(), "the receiver did not start"
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://xero.sandbox") as control:
            await control.post("/_sandbox/webhooks", json={
                "url": "http://127.0.0.1:20450/v1/hooks/xero", "key": KEY})
            app.state.company.save_contact({"Name": "Loopback Co"}, None)
            app.state.webhooks.emit()
            [delivery] = await drained(control)
        assert (delivery["status"], delivery["error"]) == (200, None)
        assert [e.entity for e in hooks.events()] == [Entity.CUSTOMER]
    finally:
        server.should_exit = True
        await serving
