"""The sandbox's change data capture reads as QBO's does, and refuses what QBO refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from providers._sandbox import Clock
from providers.quickbooks.sandbox._rules import BUILDERS

from .conftest import Api

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 100,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 100}}


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")


async def _cdc(api: Api, entities: str, since: datetime | str) -> Any:
    response = await api.get("cdc", entities=entities,
                             changedSince=since if isinstance(since, str) else _iso(since))
    return response


def _objects(body: Any, name: str) -> list[dict[str, Any]]:
    return [obj for answer in body["CDCResponse"] for found in answer["QueryResponse"]
            for obj in found.get(name, [])]


async def _invoice(api: Api, number: str, amount: int = 100) -> dict[str, Any]:
    line = {**LINE, "Amount": amount,
            "SalesItemLineDetail": {**LINE["SalesItemLineDetail"], "UnitPrice": amount}}
    response = await api.post("invoice", {"DocNumber": number, "CustomerRef": {"value": "1"},
                                          "Line": [line]})
    assert response.status_code == 200, response.text
    return dict(response.json()["Invoice"])


async def test_cdc_reports_changes_since_with_deletions_and_voids(api: Api,
                                                                   clock: Clock) -> None:
    clock.advance(5)
    start = clock.now()
    kept = await _invoice(api, "CDC-1")
    gone = await _invoice(api, "CDC-2")
    voided = await _invoice(api, "CDC-3")
    await api.post("invoice", {"Id": gone["Id"], "SyncToken": gone["SyncToken"]},
                   operation="delete")
    await api.post("invoice", {"Id": voided["Id"], "SyncToken": voided["SyncToken"]},
                   operation="void")
    paid = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 40, "Line": [
        {"Amount": 40, "LinkedTxn": [{"TxnId": kept["Id"], "TxnType": "Invoice"}]}]})
    assert paid.status_code == 200

    body = (await _cdc(api, "Invoice,Payment", start)).json()
    invoices = {obj["Id"]: obj for obj in _objects(body, "Invoice")}
    # The seeded INV-1042 did not change since; each changed one is there once, as it is now.
    assert set(invoices) == {kept["Id"], gone["Id"], voided["Id"]}
    assert invoices[kept["Id"]]["Balance"] == 60.0  # the payment touched it: a new version
    assert invoices[kept["Id"]]["SyncToken"] == "1"
    assert set(invoices[gone["Id"]]) == {"Id", "status", "domain", "MetaData"}
    assert invoices[gone["Id"]]["status"] == "Deleted"
    assert (invoices[voided["Id"]]["TotalAmt"], invoices[voided["Id"]]["PrivateNote"]) == (
        0.0, "Voided")
    assert [p["TotalAmt"] for p in _objects(body, "Payment")] == [40.0]
    assert body["CDCResponse"][0]["QueryResponse"][0]["maxResults"] == 3

    # changedSince is a lower bound on MetaData.LastUpdatedTime, which every write moves.
    later = clock.now() + timedelta(seconds=10)
    clock.advance(10)
    await api.post("invoice", {"Id": kept["Id"], "SyncToken": "1", "sparse": True,
                               "PrivateNote": "called about it"})
    again = (await _cdc(api, "Invoice,Payment", later)).json()
    assert [obj["Id"] for obj in _objects(again, "Invoice")] == [kept["Id"]]
    assert again["CDCResponse"][0]["QueryResponse"][1] == {}  # no payment changed since


async def test_cdc_refuses_what_qbo_refuses(api: Api, clock: Clock) -> None:
    async def fault(**params: str) -> tuple[int, str, str]:
        response = await api.get("cdc", **params)
        error = response.json()["Fault"]["Error"][0]
        return response.status_code, error["code"], error["Detail"]

    now = clock.now()
    assert (await fault(changedSince=_iso(now)))[:2] == (400, "2020")
    assert (await fault(entities="Invoice"))[:2] == (400, "2020")
    assert (await fault(entities="Invoice,Widget", changedSince=_iso(now)))[:2] == (400, "2170")
    assert (await fault(entities="Invoice", changedSince="last tuesday"))[:2] == (400, "2010")
    old = _iso(now - timedelta(days=30, minutes=1))
    status, code, detail = await fault(entities="Invoice", changedSince=old)
    assert (status, code) == (400, "500")
    assert detail == (f"Operation cdc with changedSince date {old} which is older than fixed "
                      "days is not supported.")
    # Inside the look-back, an offset of the company's own is read as the same instant.
    inside = (now - timedelta(days=29)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S-00:00")
    assert (await api.get("cdc", entities="Invoice", changedSince=inside)).status_code == 200


async def test_cdc_answers_at_most_1000_objects_oldest_first_across_entities(
        app: Any, api: Api, clock: Clock) -> None:
    company = app.state.company
    clock.advance(5)
    start = clock.now()
    for n in range(600):
        if n % 100 == 0:
            clock.advance(1)
        company.create("Customer", {"DisplayName": f"Bulk {n}"}, BUILDERS["Customer"])
    for n in range(600):
        if n % 100 == 0:
            clock.advance(1)
        company.create("Item", {"Name": f"Bulk item {n}", "Type": "Service",
                                "IncomeAccountRef": {"value": "80"}}, BUILDERS["Item"])
    body = (await _cdc(api, "Customer,Item", start)).json()
    customers, items = _objects(body, "Customer"), _objects(body, "Item")
    assert (len(customers), len(items)) == (600, 400)
    assert items[-1]["Name"] == "Bulk item 399"  # the newest 200 wait for a later changedSince
    newest = items[-1]["MetaData"]["LastUpdatedTime"]
    rest = (await _cdc(api, "Item", newest)).json()
    assert [obj["Name"] for obj in _objects(rest, "Item")][:1] == ["Bulk item 300"]
    assert len(_objects(rest, "Item")) == 300
