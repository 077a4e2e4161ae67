"""`read_changes` and `list_states` over the sandbox: CDC pages, cursors, what each change says."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from engine import (
    Allocation,
    ChangeKind,
    ConnectionSettings,
    Entity,
    Payment,
    RemoteAllocation,
    Unsupported,
    Validation,
)
from providers._sandbox import Clock
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, SandboxTokens

from .conftest import Api, Recorder, customer, invoice, item

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 100,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 100}}


async def _invoice(api: Api, number: str, customer_id: str = "1") -> dict[str, Any]:
    response = await api.post("invoice", {"DocNumber": number, "Line": [LINE],
                                          "CustomerRef": {"value": customer_id}})
    assert response.status_code == 200, response.text
    return dict(response.json()["Invoice"])


async def _drain(provider: QuickBooksProvider, entity: Entity, cursor: str | None,
                 since: datetime, limit: int = 1000) -> tuple[list[Any], str, int]:
    """Every change after `cursor`, page by page: (changes, the last cursor, pages read)."""
    changes: list[Any] = []
    pages = 0
    while True:
        page = await provider.read_changes(entity, cursor, since, limit=limit)
        changes.extend(page.changes)
        cursor, pages = page.cursor, pages + 1
        if not page.more:
            return changes, cursor, pages


class StillClock(Clock):
    """Time that moves only when a test moves it, so the changes it makes share one second
    (QBO stamps LastUpdatedTime to the second) however fast or slow the machine runs."""

    def __init__(self) -> None:
        super().__init__()
        self.start = datetime.now(UTC).replace(microsecond=0)

    def now(self) -> datetime:
        return self.start + self.offset


@pytest.fixture
def clock() -> Clock:
    return StillClock()


def _cdc_reads(recorder: Recorder) -> list[httpx.Request]:
    return [r for r in recorder.requests if r.url.path.endswith("/cdc")]


async def test_pages_resume_from_the_cursor_and_see_a_second_change_in_the_same_second(
        provider: QuickBooksProvider, api: Api, clock: Clock, recorder: Recorder) -> None:
    clock.advance(5)
    since = clock.now()
    made = [await _invoice(api, f"FEED-{n}") for n in range(5)]
    first = await provider.read_changes(Entity.INVOICE, None, since, limit=2)
    assert ([c.remote_id for c in first.changes], first.more) == (
        [made[0]["Id"], made[1]["Id"]], True)
    rest, cursor, pages = await _drain(provider, Entity.INVOICE, first.cursor, since, limit=2)
    assert [c.remote_id for c in rest] == [m["Id"] for m in made[2:]]
    assert pages == 2
    state = rest[-1].state
    assert (rest[-1].kind, state.total, state.balance, state.status, state.number,
            state.line_count, state.customer_remote_id) == (
        ChangeKind.UPSERTED, Decimal(100), Decimal(100), "Open", "FEED-4", 1, "1")
    assert rest[-1].changed_at.tzinfo is not None
    # Nothing changed since: nothing comes back, and nothing is handed over twice.
    again = await provider.read_changes(Entity.INVOICE, cursor, since)
    assert (list(again.changes), again.more) == ([], False)
    # An edit within the same second as the read (the clock stands still) is still a
    # change after the cursor.
    await api.post("invoice", {"Id": made[0]["Id"], "SyncToken": "0", "sparse": True,
                               "DueDate": "2026-03-01"})
    edited = await provider.read_changes(Entity.INVOICE, again.cursor, since)
    assert [c.remote_id for c in edited.changes] == [made[0]["Id"]]
    # One CDC answer serves the pages cut from it; a read past its end asks again. Each is
    # for this entity only, through the provider's client.
    reads = _cdc_reads(recorder)
    assert len(reads) == 3
    assert {r.url.params["entities"] for r in reads} == {"Invoice"}


async def test_a_change_made_while_pages_are_cut_from_one_answer_is_read_after_them(
        provider: QuickBooksProvider, api: Api, clock: Clock, recorder: Recorder) -> None:
    clock.advance(5)
    since = clock.now()
    made = [await _invoice(api, f"CUT-{n}") for n in range(4)]
    first = await provider.read_changes(Entity.INVOICE, None, since, limit=2)
    late = await _invoice(api, "CUT-LATE")  # after the answer the pages are cut from
    await api.post("invoice", {"Id": made[3]["Id"], "SyncToken": "0", "sparse": True,
                               "DueDate": "2026-04-01"})
    rest, cursor, _ = await _drain(provider, Entity.INVOICE, first.cursor, since, limit=2)
    assert [(c.remote_id, c.state.number) for c in rest] == [
        (made[2]["Id"], "CUT-2"), (made[3]["Id"], "CUT-3")]
    assert len(_cdc_reads(recorder)) == 1  # both pages cut from the first answer
    # The next cycle asks again: CUT-3 as it is now, and the invoice made meanwhile.
    after, _, _ = await _drain(provider, Entity.INVOICE, cursor, since, limit=2)
    assert [c.remote_id for c in after] == [made[3]["Id"], late["Id"]]


async def test_a_quiet_feed_keeps_its_cursor_inside_the_look_back(
        provider: QuickBooksProvider, clock: Clock) -> None:
    page = await provider.read_changes(Entity.PAYMENT, None, clock.now() - timedelta(days=2))
    assert page.changes == [] and not page.more
    # The cursor moved up to the platform's clock: 29 quiet days later CDC still reads it.
    clock.advance(29 * 86400)
    later = await provider.read_changes(Entity.PAYMENT, page.cursor, clock.now())
    assert later.changes == [] and not later.more


async def test_deletions_voids_and_a_customer_made_inactive(
        provider: QuickBooksProvider, api: Api, clock: Clock) -> None:
    clock.advance(5)
    since = clock.now()
    gone, voided = await _invoice(api, "DEL-1"), await _invoice(api, "VOID-1")
    await api.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    await api.post("invoice", {"Id": voided["Id"], "SyncToken": "0"}, operation="void")
    changes, _, _ = await _drain(provider, Entity.INVOICE, None, since)
    kinds = {c.remote_id: c for c in changes}
    assert kinds[gone["Id"]].kind is ChangeKind.DELETED and kinds[gone["Id"]].state is None
    assert kinds[voided["Id"]].kind is ChangeKind.VOIDED
    assert (kinds[voided["Id"]].state.total, kinds[voided["Id"]].state.status) == (
        Decimal(0), "Voided")

    person = (await api.post("customer", {"DisplayName": "Lakeside Dental"})).json()["Customer"]
    await api.post("customer", {"Id": person["Id"], "SyncToken": "0", "sparse": True,
                                "Active": False})
    customers, _, _ = await _drain(provider, Entity.CUSTOMER, None, since)
    assert [(c.remote_id, c.kind) for c in customers] == [(person["Id"], ChangeKind.DELETED)]


async def test_payments_across_invoices_moved_and_voided(
        provider: QuickBooksProvider, ledger: Ledger, api: Api, clock: Clock) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    ours = [(await ledger.push(provider, Entity.INVOICE,
                               invoice(f"inv{n}", f"SD-{n}"))).remote_id for n in (1, 2, 3)]
    customer_id = ledger.refs[(Entity.CUSTOMER, "c1")].remote_id
    clock.advance(5)
    since = clock.now()
    # A person records one payment across two of the invoices, in QuickBooks.
    made = (await api.post("payment", {
        "CustomerRef": {"value": customer_id}, "TotalAmt": 150, "PaymentRefNum": "CHK-881",
        "PaymentMethodRef": {"value": "2"}, "TxnDate": "2026-02-03", "Line": [
            {"Amount": 100, "LinkedTxn": [{"TxnId": ours[0], "TxnType": "Invoice"}]},
            {"Amount": 50, "LinkedTxn": [{"TxnId": ours[1], "TxnType": "Invoice"}]}]})).json()
    payment_id = made["Payment"]["Id"]
    # And syncdesk pushes one of its own.
    synced = await ledger.push(provider, Entity.PAYMENT, Payment(
        id="pay1", customer_id="c1", date=date(2026, 2, 4), amount=Decimal(20),
        method="other", allocations=[Allocation(invoice_id="inv3", amount=Decimal(20))]))

    changes, cursor, _ = await _drain(provider, Entity.PAYMENT, None, since)
    by_id = {c.remote_id: c.payment for c in changes}
    theirs = by_id[payment_id]
    assert (theirs.amount, theirs.date, theirs.customer_remote_id, theirs.reference,
            theirs.method, theirs.mark, theirs.currency) == (
        Decimal(150), date(2026, 2, 3), customer_id, "CHK-881", "2", None, "USD")
    assert theirs.allocations == (RemoteAllocation(ours[0], Decimal(100)),
                                  RemoteAllocation(ours[1], Decimal(50)))
    assert by_id[synced.remote_id].mark == "pay1"

    # The person moves the payment's 50 from the second invoice to the third.
    await api.post("payment", {"Id": payment_id, "SyncToken": "0", "sparse": True, "Line": [
        {"Amount": 100, "LinkedTxn": [{"TxnId": ours[0], "TxnType": "Invoice"}]},
        {"Amount": 50, "LinkedTxn": [{"TxnId": ours[2], "TxnType": "Invoice"}]}]})
    moved, cursor, _ = await _drain(provider, Entity.PAYMENT, cursor, since)
    assert [(c.remote_id, c.payment.allocations[1].invoice_remote_id) for c in moved] == [
        (payment_id, ours[2])]
    await api.post("payment", {"Id": payment_id, "SyncToken": "1", "sparse": True},
                   operation="update", include="void")
    voided, _, _ = await _drain(provider, Entity.PAYMENT, cursor, since)
    assert [(c.remote_id, c.kind, c.payment) for c in voided] == [
        (payment_id, ChangeKind.VOIDED, None)]


async def test_a_contact_edit_carries_the_contact(provider: QuickBooksProvider, api: Api,
                                                  clock: Clock) -> None:
    clock.advance(5)
    since = clock.now()
    made = (await api.post("customer", {"DisplayName": "Pine Street Vet"})).json()["Customer"]
    await api.post("customer", {
        "Id": made["Id"], "SyncToken": "0", "sparse": True, "CompanyName": "Pine St Vet LLC",
        "PrimaryEmailAddr": {"Address": "desk@pinevet.example"},
        "PrimaryPhone": {"FreeFormNumber": "555-0142"},
        "BillAddr": {"Line1": "12 Pine St", "Line2": "Suite 3", "City": "Bend",
                     "CountrySubDivisionCode": "OR", "PostalCode": "97701", "Country": "US"}})
    changes, _, _ = await _drain(provider, Entity.CUSTOMER, None, since)
    assert len(changes) == 1
    contact = changes[0].contact
    assert (contact.display_name, contact.company, contact.email, contact.phone,
            contact.address_lines, contact.city, contact.region, contact.postal_code,
            contact.country) == (
        "Pine Street Vet", "Pine St Vet LLC", "desk@pinevet.example", "555-0142",
        ("12 Pine St", "Suite 3"), "Bend", "OR", "97701", "US")


async def test_past_the_look_back_queries_read_up_to_its_edge_then_cdc(
        provider: QuickBooksProvider, api: Api, clock: Clock, recorder: Recorder,
        tokens: SandboxTokens) -> None:
    clock.advance(5)
    since = clock.now()
    old = await _invoice(api, "OLD-1")
    gone = await _invoice(api, "OLD-2")
    older = [old, await _invoice(api, "OLD-3"), await _invoice(api, "OLD-4")]
    await api.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, operation="delete")
    closed = (await api.post("customer", {"DisplayName": "Old Mill Bakery"})).json()["Customer"]
    await api.post("customer", {"Id": closed["Id"], "SyncToken": "0", "sparse": True,
                                "Active": False})
    clock.advance(40 * 86400)
    new = await _invoice(Api(api.client, await tokens.refreshed(tokens.current)), "NEW-1")
    changes, _, pages = await _drain(provider, Entity.INVOICE, None, since, limit=1)
    # CDC refused the 40-day-old changedSince; a query read the span before its edge (the
    # old invoices, not their deleted neighbour: queries do not report deletions), its three
    # pages cut from one answer, then CDC.
    assert [c.remote_id for c in changes] == [*(o["Id"] for o in older), new["Id"]]
    assert pages == 4
    statements = [r.url.params["query"] for r in recorder.requests
                  if r.url.path.endswith("/query")]
    assert len(statements) == 1 and "Metadata.LastUpdatedTime <" in statements[0]
    # A query sees an inactive customer only when it asks about Active: this one does.
    customers, _, _ = await _drain(provider, Entity.CUSTOMER, None, since)
    assert [(c.remote_id, c.kind) for c in customers] == [(closed["Id"], ChangeKind.DELETED)]


async def test_a_cursor_this_provider_did_not_write_is_refused(
        provider: QuickBooksProvider, clock: Clock) -> None:
    with pytest.raises(Validation, match="not one this provider wrote"):
        await provider.read_changes(Entity.INVOICE, "2026-01-01", clock.now())
    json.loads(  # what a real cursor looks like stays readable JSON
        (await provider.read_changes(Entity.INVOICE, None, clock.now())).cursor)


async def test_list_states_reads_pages_and_leaves_credit_applications_out(
        settings: ConnectionSettings, tokens: SandboxTokens, api: Api,
        recorder: Recorder) -> None:
    paged = QuickBooksProvider(replace(settings, options={"page_size": "2"}), tokens)
    try:
        made = [await _invoice(api, f"ST-{n}") for n in range(4)]
        await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 100, "Line": [
            {"Amount": 100, "LinkedTxn": [{"TxnId": made[0]["Id"], "TxnType": "Invoice"}]}]})
        await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 0,
                                   "PrivateNote": "syncdesk:cn1:credit", "Line": []})
        recorder.requests.clear()
        states = [s async for s in paged.list_states(Entity.INVOICE)]
        assert [s.number for s in states] == ["INV-1042", "ST-0", "ST-1", "ST-2", "ST-3"]
        assert states[1].status == "Paid" and states[2].status == "Open"
        assert len(recorder.requests) == 3  # list pages, never a read per invoice
        payments = [s async for s in paged.list_states(Entity.PAYMENT)]
        assert [(s.total, s.balance, s.status) for s in payments] == [
            (Decimal(100), Decimal(0), "Applied")]
        with pytest.raises(Unsupported):
            [s async for s in paged.list_states(Entity.CUSTOMER)]
    finally:
        await paged.aclose()
