"""The sandbox's own fidelity: envelopes, Eastern time, paging, seed, control API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from providers.freshbooks._dates import eastern, parse_eastern
from tests.providers._support import SandboxTokens, state

from .conftest import raw


def test_eastern_time_follows_daylight_saving() -> None:
    assert parse_eastern("2026-07-01 12:00:00") == datetime(2026, 7, 1, 16, tzinfo=UTC)
    assert parse_eastern("2026-01-15 12:00:00") == datetime(2026, 1, 15, 17, tzinfo=UTC)
    assert eastern(datetime(2026, 1, 15, 17, tzinfo=UTC)) == "2026-01-15 12:00:00"


async def test_answers_carry_eastern_timestamps(control: httpx.AsyncClient,
                                                tokens: SandboxTokens) -> None:
    response = await raw(control, tokens, "POST", "users/clients",
                         json={"client": {"organization": "Timekeepers"}})
    client = response.json()["response"]["result"]["client"]
    stamp = client["updated"]
    assert len(stamp) == 19 and "T" not in stamp and "+" not in stamp
    assert abs(parse_eastern(stamp) - datetime.now(UTC)) < timedelta(seconds=5)
    assert (client["id"], client["userid"], client["vis_state"]) == (client["userid"],
                                                                    client["id"], 0)


async def test_demo_seed(control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    found = (await raw(control, tokens, "GET", "invoices/invoices",
                       params={"search[invoice_number]": "INV-1042"})).json()["response"]
    [invoice] = found["result"]["invoices"]
    assert (invoice["organization"], invoice["amount"], invoice["v3_status"]) == (
        "Riverside Property Group LLC", {"amount": "1250.00", "code": "USD"}, "sent")
    assert (invoice["id"], invoice["invoiceid"], invoice["payment_status"]) == (
        invoice["invoiceid"], invoice["id"], "unpaid")
    assert (await state(control))["objects"] == {"customer": 1, "item": 0, "invoice": 1,
                                                 "payment": 0, "credit_note": 0}


async def test_per_page_is_cut_to_100_without_a_word(control: httpx.AsyncClient,
                                                     tokens: SandboxTokens, app: Any) -> None:
    for n in range(120):
        app.state.books.create_client({"organization": f"C{n}"})
    default = (await raw(control, tokens, "GET", "users/clients")).json()["response"]["result"]
    assert (default["per_page"], default["pages"], default["total"], len(default["clients"])) \
        == (30, 5, 121, 30)
    big = (await raw(control, tokens, "GET", "users/clients",
                     params={"per_page": "500", "page": "2"})).json()["response"]["result"]
    assert (big["per_page"], big["page"], big["pages"], len(big["clients"])) == (100, 2, 2, 21)
    bad = await raw(control, tokens, "GET", "users/clients", params={"page": "0"})
    assert bad.status_code == 400 and bad.json()["response"]["errors"][0]["errno"] == 1014


async def test_search_filters(control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    async def count(**params: str) -> int:
        response = await raw(control, tokens, "GET", "users/clients",
                             params={f"search[{k}]": v for k, v in params.items()})
        return int(response.json()["response"]["result"]["total"])

    assert await count(organization_like="riverside") == 1
    assert await count(email="ap@riversidepg.example") == 1
    assert await count(email="nobody@example.com") == 0
    assert await count(updated_min="2000-01-01") == 1
    assert await count(updated_min="2999-01-01") == 0


async def test_soft_delete_and_deleted_get(control: httpx.AsyncClient,
                                           tokens: SandboxTokens) -> None:
    created = (await raw(control, tokens, "POST", "items/items", json={"item": {
        "name": "Widget", "unit_cost": {"amount": "20.00", "code": "USD"}}})).json()
    item_id = created["response"]["result"]["item"]["id"]
    gone = await raw(control, tokens, "PUT", f"items/items/{item_id}",
                     json={"item": {"vis_state": 1}})
    assert gone.json()["response"]["result"]["item"]["vis_state"] == 1
    again = await raw(control, tokens, "GET", f"items/items/{item_id}")
    assert again.json()["response"]["result"]["item"]["vis_state"] == 1
    assert (await state(control))["objects"]["item"] == 0


async def test_payment_beyond_outstanding_books_an_overpayment(control: httpx.AsyncClient,
                                                               tokens: SandboxTokens,
                                                               app: Any) -> None:
    [invoice] = app.state.books.invoices.values()
    response = await raw(control, tokens, "POST", "payments/payments", json={"payment": {
        "invoiceid": invoice["id"], "amount": {"amount": "1300.00"}, "date": "2026-02-01",
        "type": "Check"}})
    payment = response.json()["response"]["result"]["payment"]
    assert payment["overpaymentid"] is not None and payment["clientid"] == invoice["customerid"]
    assert (invoice["outstanding"], invoice["v3_status"]) == (0, "paid")
    deleted = await raw(control, tokens, "PUT", f"payments/payments/{payment['id']}",
                        json={"payment": {"vis_state": 1}})
    assert deleted.status_code == 200
    assert (invoice["outstanding"], invoice["payment_status"]) == (1250, "unpaid")
    changed = await raw(control, tokens, "PUT", f"payments/payments/{payment['id']}",
                        json={"payment": {"amount": {"amount": "1.00"}}})
    assert changed.json()["response"]["errors"][0]["errno"] == 1004


async def test_control_delete_is_a_soft_delete(control: httpx.AsyncClient, app: Any) -> None:
    [client] = app.state.books.clients.values()
    deleted = await control.post("/_sandbox/delete", json={"entity": "customer",
                                                           "id": str(client["id"])})
    assert deleted.json() == {"deleted": True}
    assert client["vis_state"] == 1
    again = await control.post("/_sandbox/delete", json={"entity": "customer",
                                                         "id": str(client["id"])})
    assert again.status_code == 404
