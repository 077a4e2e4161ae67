"""Where exactly-once depends on it, the sandbox is as strict as QuickBooks.

- Batch items are independent: what one item creates does not exist for the others.
- A batch's `requestid` is at most 36 characters, its `bId`s 10 beside a requestid.
- A `requestid` is remembered for a window on the sandbox clock; past it the same request is
  a second write, the duplicate that only the mark lookup prevents.
"""

from __future__ import annotations

from typing import Any

import httpx

from providers._sandbox import Clock
from providers.quickbooks import create_sandbox_app
from tests.providers._support import state

from .conftest import BASE, Api

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 47.5,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 5, "UnitPrice": 9.5}}
INVOICE = {"CustomerRef": {"value": "1"}, "Line": [LINE]}


def _code(response: httpx.Response) -> str:
    return str(response.json()["Fault"]["Error"][0]["code"])


async def test_an_item_cannot_see_what_another_item_of_its_batch_created(api: Api) -> None:
    ids = [int(c["Id"]) for c in (await api.query("select * from Customer"))[
        "QueryResponse"]["Customer"]]
    new_id = str(max(ids) + 1)  # name lists count ids per entity
    answer = await api.post("batch", {"BatchItemRequest": [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Cedar Works"}},
        {"bId": "b2", "operation": "create",
         "Invoice": {**INVOICE, "CustomerRef": {"value": new_id}}},
        {"bId": "b3", "Query": "select * from Customer where DisplayName = 'Cedar Works'"},
        {"bId": "b4", "operation": "update", "Customer": {
            "Id": new_id, "SyncToken": "0", "sparse": True, "CompanyName": "Cedar"}},
        # A name is still taken by a batch-mate: the company holds it.
        {"bId": "b5", "operation": "create", "Customer": {"DisplayName": "Cedar Works"}},
    ]})
    by_bid = {item["bId"]: item for item in answer.json()["BatchItemResponse"]}
    assert by_bid["b1"]["Customer"]["Id"] == new_id
    assert by_bid["b2"]["Fault"]["Error"][0]["code"] == "610"
    assert by_bid["b3"]["QueryResponse"] == {}
    assert by_bid["b4"]["Fault"]["Error"][0]["code"] == "610"
    assert by_bid["b5"]["Fault"]["Error"][0]["code"] == "6240"

    # Once the batch is over, the customer is there for everyone.
    assert (await api.get(f"customer/{new_id}")).status_code == 200
    invoice = await api.post("invoice", {**INVOICE, "CustomerRef": {"value": new_id}})
    assert invoice.status_code == 200


async def test_a_batch_requestid_over_36_characters_is_refused(
        api: Api, control: httpx.AsyncClient) -> None:
    batch = {"BatchItemRequest": [{"bId": "b1", "operation": "create", "Invoice": INVOICE}]}
    before = (await state(control))["objects"]["invoice"]
    refused = await api.post("batch", batch, requestid="x" * 37)
    assert refused.status_code == 400 and _code(refused) == "2050"
    assert "requestid:Max=36" in refused.json()["Fault"]["Error"][0]["Detail"]
    assert (await state(control))["objects"]["invoice"] == before
    assert (await api.post("batch", batch, requestid="x" * 36)).status_code == 200
    # A single write allows 50.
    assert (await api.post("invoice", INVOICE, requestid="y" * 50)).status_code == 200
    assert (await state(control))["objects"]["invoice"] == before + 2


async def test_batch_ids_beside_a_requestid_are_at_most_10_characters(api: Api) -> None:
    batch = {"BatchItemRequest": [{"bId": "b" * 11, "Query": "select * from Item"}]}
    refused = await api.post("batch", batch, requestid="r-1")
    assert refused.status_code == 400 and "bId:Max=10" in refused.text
    assert (await api.post("batch", batch)).status_code == 200


async def test_a_requestid_is_forgotten_after_its_window(
        api: Api, control: httpx.AsyncClient) -> None:
    before = (await state(control))["objects"]["invoice"]
    first = await api.post("invoice", INVOICE, requestid="r-window")
    again = await api.post("invoice", INVOICE, requestid="r-window")
    assert again.content == first.content
    assert (await state(control))["objects"]["invoice"] == before + 1

    window = await control.post("/_sandbox/idempotency", json={"window_seconds": 30})
    assert window.json() == {"window_seconds": 30.0, "live_keys": 1}
    await control.post("/_sandbox/clock", json={"advance": 29})
    assert (await api.post("invoice", INVOICE, requestid="r-window")).content == first.content
    await control.post("/_sandbox/clock", json={"advance": 2})
    late = await api.post("invoice", INVOICE, requestid="r-window")
    assert late.json()["Invoice"]["Id"] != first.json()["Invoice"]["Id"]
    assert (await state(control))["objects"]["invoice"] == before + 2
    assert (await control.get("/_sandbox/idempotency")).json()["live_keys"] == 1


async def test_one_clock_advance_moves_keys_tokens_and_rate_windows() -> None:
    app: Any = create_sandbox_app(clock=Clock(), idempotency_window=600)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        authority = app.state.sandbox.authority
        api = Api(raw, str(authority.grant_direct("t")["access_token"]))
        first = await api.post("invoice", INVOICE, requestid="r-1")
        answers = [await api.get("customer/1") for _ in range(10)]
        assert answers[-1].status_code == 429  # 10 a second, the write included

        await raw.post("/_sandbox/clock", json={"advance": 3601})
        assert (await api.get("customer/1")).status_code == 401  # the hour-long token expired
        api = Api(raw, str(authority.grant_direct("t")["access_token"]))
        assert (await api.get("customer/1")).status_code == 200  # the second is long past
        late = await api.post("invoice", INVOICE, requestid="r-1")
        assert late.json()["Invoice"]["Id"] != first.json()["Invoice"]["Id"]
