"""The sandbox's read side as Xero behaves: If-Modified-Since, order, the `where` forms the
SDKs build, Xero's QueryParseException for what it cannot evaluate, UpdatedDateUTC on every
write, and a person's changes (batch payment, Remove and Redo, archive, void, delete)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from providers._sandbox import Clock
from providers.xero._dates import parse_ms_date
from providers.xero.sandbox import DEMO_CUSTOMER

API = "/api.xro/2.0"


async def contact(api: httpx.AsyncClient, name: str, **fields: Any) -> dict[str, Any]:
    answer = await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": name, **fields}]})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["Contacts"][0])


async def invoice(api: httpx.AsyncClient, contact_id: str, number: str, amount: str = "100",
                  day: str = "2026-03-01") -> dict[str, Any]:
    answer = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": contact_id}, "InvoiceNumber": number,
        "Date": day, "Status": "AUTHORISED",
        "LineItems": [{"Description": "Work", "Quantity": 1, "UnitAmount": amount,
                       "AccountCode": "200", "TaxType": "NONE"}]}]})
    assert answer.status_code == 200, answer.text
    return dict(answer.json()["Invoices"][0])


async def listed(api: httpx.AsyncClient, collection: str, *, since: str | None = None,
                 **params: str) -> list[dict[str, Any]]:
    headers = {"If-Modified-Since": since} if since else {}
    answer = await api.get(f"{API}/{collection}", params=params, headers=headers)
    assert answer.status_code == 200, answer.text
    return list(answer.json()[collection])


async def refused(api: httpx.AsyncClient, collection: str, *, headers: dict[str, str] | None
                  = None, **params: str) -> str:
    answer = await api.get(f"{API}/{collection}", params=params, headers=headers or {})
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert (body["ErrorNumber"], body["Type"]) == (16, "QueryParseException")
    return str(body["Message"])


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


async def test_where_forms_the_sdks_build(api: httpx.AsyncClient) -> None:
    acme = await contact(api, "Acme Tiles", EmailAddress="ap@acme.example")
    other = await contact(api, "Bolt Grout")
    first = await invoice(api, acme["ContactID"], "F-1", day="2025-12-20")
    second = await invoice(api, acme["ContactID"], "F-2", day="2026-02-01")
    await invoice(api, other["ContactID"], "F-3", day="2026-02-02")

    by_contact = await listed(api, "Invoices",
                              where=f'Contact.ContactID==Guid("{acme["ContactID"]}")')
    assert {i["InvoiceNumber"] for i in by_contact} == {"F-1", "F-2"}
    dated = await listed(api, "Invoices", where='Date>=DateTime(2026, 01, 01) AND '
                                                f'Contact.ContactID=Guid("{acme["ContactID"]}")')
    assert [i["InvoiceNumber"] for i in dated] == ["F-2"]
    either = await listed(api, "Invoices", where='InvoiceNumber=="F-1" OR InvoiceNumber=="F-3"')
    assert {i["InvoiceNumber"] for i in either} == {"F-1", "F-3"}
    grouped = await listed(api, "Invoices", where='Status=="AUTHORISED" AND (InvoiceNumber=="F-1"'
                                                  ' OR Contact.Name.Contains("Bolt"))')
    assert {i["InvoiceNumber"] for i in grouped} == {"F-1", "F-3"}
    named = await listed(api, "Contacts", where='Name.Contains("Tiles")')
    assert [c["ContactID"] for c in named] == [acme["ContactID"]]
    assert await listed(api, "Contacts", where='Name.StartsWith("Bolt") AND '
                                               'EmailAddress==null')
    totals = await listed(api, "Invoices", where="Total>=100 AND AmountDue>99.5")
    assert {first["InvoiceID"], second["InvoiceID"]} <= {i["InvoiceID"] for i in totals}


@pytest.mark.parametrize(("where", "message"), [
    ('Contact.ContactID=="0b3a4f4e-7d1d-4b8e-9d40-2f5d9b3c6a11"',
     "Operator '==' incompatible with operand types 'Guid' and 'String'"),
    ('DueDate > "2024-01-01"', "Operator '>' incompatible with operand types 'DateTime?' and "
                               "'String'"),
    ('IsSupplier=="true"', "No property or field 'IsSupplier' exists in type 'Invoice'"),
    ("AmountPaid==0.0 AND Colour==\"red\"", "No property or field 'Colour' exists in type "
                                            "'Invoice'"),
    ('Reference.ToLower()=="x"', "No applicable method 'ToLower' exists in type 'String'"),
    ('Total.Contains("1")', "No applicable method 'Contains' exists in type 'Decimal'"),
    ('Status=="PAID" AND', "Expression expected"),
    ('Status=="PAID" XOR Status=="DRAFT"', "Syntax error"),
    ("Date>=DateTime(2026,13,1)", "is not a date"),
    ("Status==AUTHORISED", "No property or field 'AUTHORISED' exists in type 'Invoice'"),
])
async def test_what_xero_cannot_evaluate_is_its_400(api: httpx.AsyncClient, where: str,
                                                    message: str) -> None:
    assert message in await refused(api, "Invoices", where=where)


async def test_order_and_a_refused_order(api: httpx.AsyncClient) -> None:
    base = await contact(api, "Order Co")
    for number, amount in (("O-1", "30"), ("O-2", "10"), ("O-3", "20")):
        await invoice(api, base["ContactID"], number, amount)
    mine = f'Contact.ContactID==Guid("{base["ContactID"]}")'
    assert [i["InvoiceNumber"] for i in await listed(api, "Invoices", where=mine,
                                                     order="Total DESC")] == ["O-1", "O-3", "O-2"]
    assert [i["InvoiceNumber"] for i in await listed(api, "Invoices", where=mine,
                                                     order="Total")] == ["O-2", "O-3", "O-1"]
    assert "No property or field 'Colour'" in await refused(api, "Invoices", order="Colour ASC")
    assert "Syntax error" in await refused(api, "Invoices", order="Total SIDEWAYS")


async def test_if_modified_since_keeps_only_what_changed_after_it(api: httpx.AsyncClient,
                                                                  clock: Clock) -> None:
    old = await contact(api, "Before Co")
    clock.advance(60)
    cut = clock.now()
    clock.advance(1)
    new = await contact(api, "After Co")
    clock.advance(1)
    await api.post(f"{API}/Contacts/{old['ContactID']}",
                   json={"Contacts": [{"EmailAddress": "new@before.example"}]})
    since = iso(cut)
    changed = await listed(api, "Contacts", since=since, order="UpdatedDateUTC ASC")
    assert [c["ContactID"] for c in changed] == [new["ContactID"], old["ContactID"]]
    stamps = [parse_ms_date(c["UpdatedDateUTC"]) for c in changed]
    assert all(stamp > cut for stamp in stamps) and stamps == sorted(stamps)
    # An HTTP date works too; a stamp the client read back excludes that very object.
    http_date = (cut - timedelta(days=1)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert len(await listed(api, "Contacts", since=http_date)) >= 2
    last = changed[-1]["UpdatedDateUTC"]
    assert await listed(api, "Contacts", since=iso(parse_ms_date(last))) == []
    assert "If-Modified-Since" in await refused(api, "Contacts",
                                                headers={"If-Modified-Since": "yesterday"})


async def test_pages_of_payments_and_of_a_feed(api: httpx.AsyncClient) -> None:
    payer = await contact(api, "Paging Co")
    bill = await invoice(api, payer["ContactID"], "P-1", "500")
    for n in range(3):
        answer = await api.put(f"{API}/Payments", json={"Payments": [{
            "Invoice": {"InvoiceID": bill["InvoiceID"]}, "Account": {"Code": "090"},
            "Date": "2026-03-02", "Amount": 10 + n}]})
        assert answer.status_code == 200, answer.text
    first = (await api.get(f"{API}/Payments", params={"page": "1", "pageSize": "2",
                                                      "order": "Amount DESC"})).json()
    assert [p["Amount"] for p in first["Payments"]] == [12.0, 11.0]
    assert first["pagination"] == {"page": 1, "pageSize": 2, "pageCount": 2, "itemCount": 3}
    second = await listed(api, "Payments", page="2", pageSize="2", order="Amount DESC")
    assert [p["Amount"] for p in second] == [10.0]


async def test_every_object_carries_updated_date_utc_as_xero_writes_it(
        api: httpx.AsyncClient) -> None:
    payer = await contact(api, "Stamp Co")
    bill = await invoice(api, payer["ContactID"], "S-1")
    await api.put(f"{API}/Payments", json={"Payments": [{
        "Invoice": {"InvoiceID": bill["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": "2026-03-02", "Amount": 5}]})
    for collection in ("Contacts", "Invoices", "Payments", "Items", "CreditNotes"):
        for element in await listed(api, collection):
            stamp = element["UpdatedDateUTC"]
            assert stamp.startswith("/Date(") and stamp.endswith("+0000)/"), (collection, stamp)


async def test_a_persons_changes_show_in_the_feed(api: httpx.AsyncClient, clock: Clock,
                                                  control: httpx.AsyncClient) -> None:
    payer = await contact(api, "Person Co")
    one = await invoice(api, payer["ContactID"], "H-1", "100")
    two = await invoice(api, payer["ContactID"], "H-2", "50")
    three = await invoice(api, payer["ContactID"], "H-3", "80")
    draft = await api.put(f"{API}/Invoices", json={"Invoices": [{
        "Type": "ACCREC", "Contact": {"ContactID": payer["ContactID"]}, "InvoiceNumber": "H-4",
        "LineItems": [{"Description": "Draft", "Quantity": 1, "UnitAmount": 5,
                       "AccountCode": "200"}]}]})
    clock.advance(5)
    cut = iso(clock.now())
    clock.advance(1)

    batch = await api.put(f"{API}/BatchPayments", json={"BatchPayments": [{
        "Account": {"Code": "090"}, "Date": "2026-03-05", "Reference": "Deposit 7",
        "Payments": [{"Invoice": {"InvoiceID": one["InvoiceID"]}, "Amount": 100},
                     {"Invoice": {"InvoiceID": two["InvoiceID"]}, "Amount": 20}]}]})
    assert batch.status_code == 200, batch.text
    batch_id = batch.json()["BatchPayments"][0]["BatchPaymentID"]
    parts = await listed(api, "Payments", where=f'BatchPaymentID==Guid("{batch_id}")')
    assert sorted(p["Amount"] for p in parts) == [20.0, 100.0]
    # A batch is changed whole or not at all, as in Xero.
    part = parts[0]["PaymentID"]
    alone = await api.post(f"{API}/Payments/{part}", json={"Status": "DELETED"})
    assert alone.status_code == 400 and "part of a batch" in alone.text
    assert (await control.post("/_sandbox/redo-payment", json={
        "payment_id": part, "invoice_id": three["InvoiceID"]})).status_code == 400
    ended = await api.post(f"{API}/BatchPayments/{batch_id}",
                           json={"BatchPayments": [{"Status": "DELETED"}]})
    assert ended.status_code == 200, ended.text
    single = await api.put(f"{API}/Payments", json={"Payments": [{
        "Invoice": {"InvoiceID": two["InvoiceID"]}, "Account": {"Code": "090"},
        "Date": "2026-03-06", "Amount": 20, "Reference": "cheque 12"}]})
    moved = single.json()["Payments"][0]
    redo = await control.post("/_sandbox/redo-payment",
                              json={"payment_id": moved["PaymentID"],
                                    "invoice_id": three["InvoiceID"]})
    assert redo.status_code == 200, redo.text
    [again] = redo.json()["Payments"]
    assert (again["Invoice"]["InvoiceID"], again["Reference"], again["Amount"]) == \
        (three["InvoiceID"], "cheque 12", 20.0)
    await api.post(f"{API}/Contacts/{payer['ContactID']}",
                   json={"Contacts": [{"ContactStatus": "ARCHIVED"}]})
    await api.post(f"{API}/Invoices/{two['InvoiceID']}",
                   json={"Invoices": [{"Status": "VOIDED"}]})
    draft_id = draft.json()["Invoices"][0]["InvoiceID"]
    await api.post(f"{API}/Invoices/{draft_id}", json={"Invoices": [{"Status": "DELETED"}]})

    payments = await listed(api, "Payments", since=cut, order="UpdatedDateUTC ASC")
    statuses = sorted((p["Invoice"]["InvoiceID"] == three["InvoiceID"], p["Amount"],
                       p["Status"]) for p in payments)
    assert statuses == [(False, 20.0, "DELETED"), (False, 20.0, "DELETED"),
                        (False, 100.0, "DELETED"), (True, 20.0, "AUTHORISED")]
    invoices = {i["InvoiceNumber"]: i["Status"] for i in await listed(api, "Invoices",
                                                                      since=cut)}
    assert invoices == {"H-1": "AUTHORISED", "H-2": "VOIDED", "H-3": "AUTHORISED",
                        "H-4": "DELETED"}
    # An archived contact is left out unless asked for, as Xero does.
    assert await listed(api, "Contacts", since=cut) == []
    [archived] = await listed(api, "Contacts", since=cut, includeArchived="true")
    assert archived["ContactStatus"] == "ARCHIVED"
    assert DEMO_CUSTOMER not in {c["Name"] for c in await listed(api, "Contacts", since=cut,
                                                                 includeArchived="true")}


async def test_contact_ids_search_terms_and_what_the_sandbox_cannot_know(
        api: httpx.AsyncClient) -> None:
    one = await contact(api, "Search Tiles", EmailAddress="books@search.example")
    two = await contact(api, "Other Grout")
    await invoice(api, one["ContactID"], "T-1")
    await invoice(api, two["ContactID"], "T-2")
    by_contact = await listed(api, "Invoices", ContactIDs=two["ContactID"].upper())
    assert [i["InvoiceNumber"] for i in by_contact] == ["T-2"]
    assert [c["Name"] for c in await listed(api, "Contacts", searchTerm="SEARCH.EX")] == \
        ["Search Tiles"]
    assert [i["InvoiceNumber"] for i in await listed(api, "Invoices", searchTerm="t-1")] == \
        ["T-1"]
    assert "createdByMyApp" in await refused(api, "Invoices", createdByMyApp="true")
