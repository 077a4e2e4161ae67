"""QuickBooks webhooks both ways: the receiver's signature check, and the sandbox emitting
Intuit's classic envelope with its faults (duplicates, out of order, bad signatures)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine import Entity, PlatformEvent, WebhookReply
from providers.quickbooks import PLATFORM
from providers.quickbooks._webhooks import QuickBooksWebhooks

from .conftest import REALM, Api

TOKEN = "verifier-7f3a"
LINE = {"DetailType": "SalesItemLineDetail", "Amount": 100,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 100}}


def _signed(body: bytes, token: str = TOKEN) -> dict[str, str]:
    digest = hmac.new(token.encode(), body, hashlib.sha256).digest()
    return {"intuit-signature": base64.b64encode(digest).decode()}


def _envelope(*entities: dict[str, str], realm: str = REALM) -> bytes:
    return json.dumps({"eventNotifications": [{"realmId": realm, "dataChangeEvent": {
        "entities": list(entities)}}]}).encode()


def _entity(name: str, object_id: str, operation: str = "Update",
            **extra: str) -> dict[str, str]:
    return {"name": name, "id": object_id, "operation": operation,
            "lastUpdated": "2026-05-30T15:00:00-0700", **extra}


def _receive(body: bytes, headers: dict[str, str]) -> WebhookReply:
    receiver = PLATFORM.webhooks()
    assert isinstance(receiver, QuickBooksWebhooks)
    return receiver.receive(headers, body, TOKEN)


def test_a_signed_notification_names_the_objects_syncdesk_syncs() -> None:
    body = _envelope(_entity("Payment", "145", "Create"), _entity("Vendor", "3"),
                     _entity("Customer", "58", "Merge", deletedId="59"),
                     _entity("CreditMemo", "77", "Void"))
    reply = _receive(body, {"Intuit-Signature": _signed(body)["intuit-signature"]})
    assert (reply.status, reply.verified) == (200, True)
    assert list(reply.events) == [
        PlatformEvent(REALM, Entity.PAYMENT, "145"), PlatformEvent(REALM, Entity.CUSTOMER, "58"),
        PlatformEvent(REALM, Entity.CUSTOMER, "59"),
        PlatformEvent(REALM, Entity.CREDIT_NOTE, "77")]


def test_cloudevents_payloads_are_read_too() -> None:
    body = json.dumps([{"specversion": "1.0", "id": "88cd52aa", "source": "intuit.dsnBgb",
                        "type": "qbo.invoice.updated.v1", "datacontenttype": "application/json",
                        "time": "2026-09-10T21:31:25.179Z", "intuitentityid": "1234",
                        "intuitaccountid": REALM, "data": {}},
                       {"specversion": "1.0", "id": "88cd52ab", "source": "intuit.dsnBgb",
                        "type": "qbo.account.created.v1", "intuitentityid": "9",
                        "intuitaccountid": REALM, "data": {}}]).encode()
    assert list(_receive(body, _signed(body)).events) == [
        PlatformEvent(REALM, Entity.INVOICE, "1234")]


@pytest.mark.parametrize("headers", [
    {}, {"intuit-signature": ""}, {"intuit-signature": "not base64!"},
    _signed(_envelope(_entity("Invoice", "1")), "wrong-token"),
    # A signature Intuit made for another body, replayed on this one.
    _signed(_envelope(_entity("Invoice", "1")))])
def test_a_missing_bad_or_replayed_signature_is_refused_before_parsing(
        headers: dict[str, str]) -> None:
    body = b'{"eventNotifications": not even json'
    reply = _receive(body, headers)
    assert (reply.status, reply.verified, list(reply.events)) == (401, False, [])


def test_a_replayed_notification_names_the_same_objects_and_only_those() -> None:
    body = _envelope(_entity("Invoice", "130"))
    first, replay = _receive(body, _signed(body)), _receive(body, _signed(body))
    # No nonce in Intuit's envelope: a replay verifies, and only asks for a re-read of 130.
    assert list(first.events) == list(replay.events) == [
        PlatformEvent(REALM, Entity.INVOICE, "130")]
    tampered = body.replace(b'"130"', b'"131"')
    assert _receive(tampered, _signed(body)).status == 401


def test_signed_nonsense_is_a_bad_request_and_an_empty_notification_is_fine() -> None:
    junk = b'{"eventNotifications": [{"realmId": "1"}]}'
    assert (_receive(junk, _signed(junk)).status, _receive(junk, _signed(junk)).verified) == (
        400, True)
    empty = json.dumps({"eventNotifications": []}).encode()
    assert (_receive(empty, _signed(empty)).status, list(_receive(empty,
                                                                  _signed(empty)).events)) == (
        200, [])


# -- the sandbox emits ---------------------------------------------------------------------


@dataclass
class Endpoint:
    """The app's webhook endpoint: answers through the real receiver, keeps what came."""

    got: list[tuple[int, list[dict[str, str]]]] = field(default_factory=list)

    def app(self) -> Starlette:
        async def hook(request: Request) -> Response:
            body = await request.body()
            reply = QuickBooksWebhooks().receive(request.headers, body, TOKEN)
            entities = json.loads(body)["eventNotifications"][0]["dataChangeEvent"]["entities"]
            self.got.append((reply.status, entities))
            return Response(reply.body, status_code=reply.status)

        return Starlette(routes=[Route("/hooks/quickbooks", hook, methods=["POST"])])

    def operations(self, index: int) -> list[tuple[str, str]]:
        return [(e["name"], e["operation"]) for e in self.got[index][1]]


@pytest.fixture
async def endpoint(app: Any, control: httpx.AsyncClient) -> Endpoint:
    received = Endpoint()
    app.state.webhooks.transport = httpx.ASGITransport(app=received.app())
    answer = await control.post("/_sandbox/webhooks", json={
        "url": "http://syncdesk.local/hooks/quickbooks", "key": TOKEN})
    assert answer.status_code == 200
    return received


async def _invoice(api: Api, number: str) -> dict[str, Any]:
    response = await api.post("invoice", {"DocNumber": number, "Line": [LINE],
                                          "CustomerRef": {"value": "1"}})
    return dict(response.json()["Invoice"])


async def test_every_change_is_one_signed_notification_per_request(
        app: Any, api: Api, endpoint: Endpoint, control: httpx.AsyncClient) -> None:
    first, second = await _invoice(api, "WH-1"), await _invoice(api, "WH-2")
    await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 150, "Line": [
        {"Amount": 100, "LinkedTxn": [{"TxnId": first["Id"], "TxnType": "Invoice"}]},
        {"Amount": 50, "LinkedTxn": [{"TxnId": second["Id"], "TxnType": "Invoice"}]}]})
    await api.post("invoice", {"Id": second["Id"], "SyncToken": "1"}, operation="void")
    # The void left the payment's other invoice a new version too (its links changed).
    current = (await api.get(f"invoice/{first['Id']}")).json()["Invoice"]["SyncToken"]
    await api.post("invoice", {"Id": first["Id"], "SyncToken": current}, operation="delete")
    await app.state.webhooks.drain()
    assert [status for status, _ in endpoint.got] == [200] * 5
    assert endpoint.operations(0) == [("Invoice", "Create")]
    # The payment and the two balances it moved go out together, as Intuit aggregates.
    assert endpoint.operations(2) == [("Payment", "Create"), ("Invoice", "Update"),
                                      ("Invoice", "Update")]
    assert ("Invoice", "Void") in endpoint.operations(3)
    assert ("Invoice", "Delete") in endpoint.operations(4)
    assert all(e["lastUpdated"][-5] in "+-" for e in endpoint.got[0][1])  # -0700, no colon
    report = (await control.get("/_sandbox/webhooks")).json()
    assert [d["status"] for d in report["deliveries"]] == [200] * 5


async def test_faults_duplicates_out_of_order_and_bad_signatures(
        app: Any, api: Api, endpoint: Endpoint, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/webhooks", json={"faults": {"duplicate": 1}})
    dup = await _invoice(api, "DUP-1")
    await app.state.webhooks.drain()
    assert [entities[0]["id"] for _, entities in endpoint.got] == [dup["Id"], dup["Id"]]

    await control.post("/_sandbox/webhooks", json={"faults": {"out_of_order": 2}})
    early, late = await _invoice(api, "OOO-1"), await _invoice(api, "OOO-2")
    await app.state.webhooks.drain()
    assert [entities[0]["id"] for _, entities in endpoint.got[2:]] == [late["Id"], early["Id"]]

    await control.post("/_sandbox/webhooks", json={"faults": {"bad_signature": 1}})
    await _invoice(api, "BAD-1")
    await _invoice(api, "GOOD-1")
    # Waiting through the control route, as a test in another process would.
    report = (await control.post("/_sandbox/webhooks/drain")).json()
    assert [status for status, _ in endpoint.got[4:]] == [401, 200]
    assert [d["signed_right"] for d in report["deliveries"]][-2:] == [False, True]
    assert report["faults"] == {"duplicate": 0, "out_of_order": 0, "bad_signature": 0}
    for wrong in ({"json": {"retries": 3}}, {"json": {"faults": {"drop": 1}}},
                  {"json": {"faults": {"duplicate": "twice"}}}, {"content": b"url=x"}):
        assert (await control.post("/_sandbox/webhooks", **wrong)).status_code == 400


async def test_nothing_is_sent_until_a_url_is_configured(app: Any, api: Api,
                                                         control: httpx.AsyncClient) -> None:
    await _invoice(api, "QUIET-1")
    await app.state.webhooks.drain()
    assert (await control.get("/_sandbox/webhooks")).json()["deliveries"] == []
