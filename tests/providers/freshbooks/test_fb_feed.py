"""The way back on FreshBooks: the sandbox's list reads by `updated`, and `read_changes` /
`list_states` over them, with a person's changes made through FreshBooks' own API."""

from __future__ import annotations

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
    CreditNote,
    Entity,
    Line,
    Payment,
    RemoteAllocation,
    Unsupported,
)
from engine._limiter import RateGate
from providers._sandbox import Clock
from providers.freshbooks import (
    CAPABILITIES,
    PLATFORM,
    FreshBooksProvider,
    create_sandbox_app,
)
from providers.freshbooks._dates import eastern
from tests.providers._support import SandboxTokens, connect

from .conftest import ACCOUNT, BASE, Ledger, Recorder, invoice, raw

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


class Frozen(Clock):
    """A clock that moves only when told: many writes land in the same second, as an
    import does, and the feed must page through them without losing or repeating one."""

    def __init__(self) -> None:
        super().__init__()
        self.start = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self.start + self.offset


@pytest.fixture
def clock() -> Clock:
    return Frozen()


@pytest.fixture
def app(clock: Clock) -> Any:
    """No demo company: every object a test reads back is one it made."""
    return create_sandbox_app(clock=clock, limits_enabled=False, seed_demo_company=False)


async def listed(control: httpx.AsyncClient, tokens: SandboxTokens, path: str,
                 params: list[tuple[str, str]] | dict[str, str]) -> httpx.Response:
    return await raw(control, tokens, "GET", path, params=params)


def ids(response: httpx.Response, plural: str) -> list[int]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["response"]["result"][plural]]


def errno(response: httpx.Response) -> int:
    errors = response.json()["response"]["errors"]
    return int(errors[0]["errno"])


def clients(app: Any, count: int, prefix: str = "Client") -> list[int]:
    books = app.state.books
    return [books.create_client({"organization": f"{prefix} {n:03d}"})["id"]
            for n in range(count)]


# -- the sandbox's read side ----------------------------------------------------------------


async def test_updated_bounds_lists_and_sort_as_the_sdks_build_them(
        app: Any, clock: Clock, control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    first, second = clients(app, 2)
    clock.advance(60)
    third, = clients(app, 1, "Later")
    at = eastern(clock.now())
    since = await listed(control, tokens, "users/clients", {"search[updated_min]": at})
    assert ids(since, "clients") == [third]
    before = eastern(clock.now() - timedelta(seconds=1))
    until = await listed(control, tokens, "users/clients", {"search[updated_max]": before})
    assert first in ids(until, "clients") and third not in ids(until, "clients")
    # The bound may carry its own offset; naive text is Eastern, like the answers.
    iso = await listed(control, tokens, "users/clients",
                       {"search[updated_min]": clock.now().isoformat()})
    assert ids(iso, "clients") == [third]

    chosen = await listed(control, tokens, "users/clients", [
        ("search[userids][]", str(first)), ("search[userids][]", str(third))])
    assert ids(chosen, "clients") == [first, third]
    newest = await listed(control, tokens, "users/clients", {"sort": "updated_desc"})
    assert ids(newest, "clients")[0] == third
    assert ids(await listed(control, tokens, "users/clients", {"sort": "updated_asc"}),
               "clients")[-1] == third
    assert second in ids(newest, "clients")


async def test_deleted_objects_are_listed_only_when_asked(
        app: Any, control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    kept, gone = clients(app, 2)
    deleted = await raw(control, tokens, "PUT", f"users/clients/{gone}",
                        json={"client": {"vis_state": 1}})
    assert deleted.status_code == 200
    everyone = ids(await listed(control, tokens, "users/clients", {}), "clients")
    assert kept in everyone and gone not in everyone
    asked = await listed(control, tokens, "users/clients", {"search[vis_state]": "1"})
    assert ids(asked, "clients") == [gone]


async def test_a_documents_lines_are_listed_only_when_included(
        provider: FreshBooksProvider, ledger: Ledger, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    await ledger.push(provider, Entity.INVOICE, invoice())
    bare = await listed(control, tokens, "invoices/invoices", {})
    [row] = bare.json()["response"]["result"]["invoices"]
    assert "lines" not in row
    full = await listed(control, tokens, "invoices/invoices", {"include[]": "lines"})
    assert len(full.json()["response"]["result"]["invoices"][0]["lines"]) == 2


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"search[updated_min]": "2026-03-02 12:00:00", "search[updated_max]": "2026-03-01"},
     400, 1007),
    ({"search[updated_min]": "yesterday"}, 400, 1004),
    ({"search[colour]": "red"}, 400, 1004),
    ({"search[colours][]": "red"}, 400, 1004),
    ({"sort": "colour_desc"}, 400, 1004),
    ({"sort": "updated_sideways"}, 400, 1004),
    ({"search[vis_state]": "5"}, 400, 1004),
    ({"per_page": "0"}, 400, 1013),
    ({"page": "-1"}, 400, 1014),
])
async def test_forms_freshbooks_refuses_get_its_400(
        control: httpx.AsyncClient, tokens: SandboxTokens, params: dict[str, str],
        status: int, code: int) -> None:
    response = await listed(control, tokens, "users/clients", params)
    assert response.status_code == status, response.text
    assert errno(response) == code


# -- read_changes ---------------------------------------------------------------------------


async def test_a_feed_pages_through_one_second_of_an_import_and_resumes_from_its_cursor(
        app: Any, provider: FreshBooksProvider, recorder: Recorder) -> None:
    made = clients(app, 250)  # the frozen clock: all in one second
    before = len(recorder.api("GET"))
    page = await provider.read_changes(Entity.CUSTOMER, None, SINCE, limit=100)
    assert [c.remote_id for c in page.changes] == [str(i) for i in made[:100]]
    assert page.more
    read = list(page.changes)
    while page.more:
        page = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE, limit=100)
        read += page.changes
    assert [c.remote_id for c in read] == [str(i) for i in made]
    assert all(c.kind is ChangeKind.UPSERTED and c.contact is not None for c in read)
    # 100 a page, the ties at one second skipped page by page: no page read twice for rows.
    gets = recorder.api("GET")[before:]
    assert len(gets) <= 2 * 3 + 2, [str(r.url) for r in gets]
    assert {r.url.params["sort"] for r in gets} == {"updated_asc"}

    again = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE)
    assert (again.changes, again.more) == ([], False)


async def test_an_edit_while_the_feed_reads_loses_no_row_and_comes_again(
        app: Any, clock: Clock, provider: FreshBooksProvider, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    made = clients(app, 150)
    page = await provider.read_changes(Entity.CUSTOMER, None, SINCE, limit=60)
    clock.advance(5)
    for edited in (made[3], made[100]):  # one already read, one not yet
        response = await raw(control, tokens, "PUT", f"users/clients/{edited}",
                             json={"client": {"email": f"new{edited}@example.com"}})
        assert response.status_code == 200
    read = list(page.changes)
    while page.more:
        page = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE, limit=60)
        read += page.changes
    remote_ids = [c.remote_id for c in read]
    assert set(remote_ids) == {str(i) for i in made}
    assert remote_ids.count(str(made[3])) == 2  # once as made, once as edited
    assert remote_ids.count(str(made[100])) == 1  # read once, already edited
    latest = {c.remote_id: c for c in read}
    assert latest[str(made[3])].contact is not None
    assert latest[str(made[3])].contact.email == f"new{made[3]}@example.com"
    assert latest[str(made[3])].changed_at == clock.now().replace(microsecond=0)


async def test_an_edit_in_the_second_the_feed_last_read_still_comes(
        app: Any, provider: FreshBooksProvider, control: httpx.AsyncClient,
        tokens: SandboxTokens) -> None:
    """FreshBooks stamps `updated` to the second: the edit looks no newer than the read."""
    made, = clients(app, 1)
    page = await provider.read_changes(Entity.CUSTOMER, None, SINCE)
    response = await raw(control, tokens, "PUT", f"users/clients/{made}",
                         json={"client": {"email": "same@example.com"}})
    assert response.status_code == 200
    again = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE)
    [edit] = again.changes
    assert edit.contact is not None and edit.contact.email == "same@example.com"
    assert (await provider.read_changes(Entity.CUSTOMER, again.cursor, SINCE)).changes == []


async def test_payments_a_person_records_moves_and_deletes_come_back(
        app: Any, clock: Clock, provider: FreshBooksProvider, ledger: Ledger,
        control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    one = await ledger.push(provider, Entity.INVOICE, invoice("inv1", "SD-1"))
    two = await ledger.push(provider, Entity.INVOICE, invoice("inv2", "SD-2"))
    ours = Payment(id="pay1", customer_id="c1", date=date(2026, 2, 1), amount=Decimal("50"),
                   reference="CHK-7",
                   allocations=[Allocation(invoice_id="inv1", amount=Decimal("50"))])
    await ledger.push(provider, Entity.PAYMENT, ours)
    start = await provider.read_changes(Entity.PAYMENT, None, SINCE)
    [mine] = start.changes
    assert mine.payment is not None
    assert (mine.payment.mark, mine.payment.reference) == ("pay1", "CHK-7")

    clock.advance(10)
    # A payment across two invoices is two FreshBooks payments: one invoiceid each.
    made = []
    for ref, amount in ((one, "100.00"), (two, "40.00")):
        response = await raw(control, tokens, "POST", "payments/payments", json={"payment": {
            "invoiceid": int(ref.remote_id), "amount": {"amount": amount},
            "date": "2026-02-03", "type": "Bank Transfer", "note": "paid at the desk"}})
        assert response.status_code == 200, response.text
        made.append(response.json()["response"]["result"]["payment"])
    page = await provider.read_changes(Entity.PAYMENT, start.cursor, SINCE)
    assert [c.remote_id for c in page.changes] == [str(p["id"]) for p in made]
    first = page.changes[0].payment
    assert first is not None
    assert first.mark is None and first.reference == "paid at the desk"
    assert first.allocations == (RemoteAllocation(one.remote_id, Decimal("100.00")),)
    assert (first.amount, first.currency, first.method, first.date) == (
        Decimal("100.00"), "USD", "Bank Transfer", date(2026, 2, 3))
    assert first.customer_remote_id == str(made[0]["clientid"])

    clock.advance(10)
    moved = await control.post("/_sandbox/move-payment",
                               json={"id": made[1]["id"], "invoiceid": int(one.remote_id)})
    assert moved.status_code == 200, moved.text
    deleted = await raw(control, tokens, "PUT", f"payments/payments/{made[0]['id']}",
                        json={"payment": {"vis_state": 1}})
    assert deleted.status_code == 200
    later = await provider.read_changes(Entity.PAYMENT, page.cursor, SINCE)
    kinds = {c.remote_id: c for c in later.changes}
    assert sorted(kinds) == sorted(str(p["id"]) for p in made)  # nothing older comes again
    assert kinds[str(made[1]["id"])].kind is ChangeKind.UPSERTED
    assert kinds[str(made[1]["id"])].payment is not None
    assert kinds[str(made[1]["id"])].payment.allocations == (
        RemoteAllocation(one.remote_id, Decimal("40.00")),)
    assert kinds[str(made[0]["id"])].kind is ChangeKind.DELETED
    assert kinds[str(made[0]["id"])].payment is None
    assert not later.more


async def test_documents_come_with_their_state_and_a_deleted_invoice_as_deleted(
        clock: Clock, provider: FreshBooksProvider, ledger: Ledger,
        control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice("inv1", "SD-1"))
    page = await provider.read_changes(Entity.INVOICE, None, SINCE)
    ours = next(c for c in page.changes if c.remote_id == ref.remote_id)
    assert ours.state is not None
    assert (ours.state.total, ours.state.balance, ours.state.status, ours.state.number,
            ours.state.line_count) == (Decimal("275.50"), Decimal("275.50"), "sent", "SD-1", 2)
    clock.advance(10)
    response = await raw(control, tokens, "DELETE", f"invoices/invoices/{ref.remote_id}")
    assert response.status_code == 200
    after = await provider.read_changes(Entity.INVOICE, page.cursor, SINCE)
    assert [(c.remote_id, c.kind) for c in after.changes] == [(ref.remote_id,
                                                              ChangeKind.DELETED)]


async def test_a_credit_note_comes_with_its_state_and_its_application_is_no_payment(
        provider: FreshBooksProvider, ledger: Ledger) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice("inv1", "SD-1"))
    note = CreditNote(id="cn1", number="CN-1", customer_id="c1", date=date(2026, 2, 3),
                      lines=[Line(description="Goodwill", unit_price=Decimal("25.00"))],
                      allocations=[Allocation(invoice_id="inv1", amount=Decimal("10.00"))])
    credit = await ledger.push(provider, Entity.CREDIT_NOTE, note)
    notes = await provider.read_changes(Entity.CREDIT_NOTE, None, SINCE)
    [change] = notes.changes
    assert change.remote_id == credit.remote_id and change.state is not None
    assert (change.state.total, change.state.balance, change.state.number) == (
        Decimal("25.00"), Decimal("15.00"), "CN-1")
    # Applying it was a FreshBooks payment of type Credit: not money received.
    payments = await provider.read_changes(Entity.PAYMENT, None, SINCE)
    assert payments.changes == []
    states = [s async for s in provider.list_states(Entity.INVOICE)]
    assert [(s.remote_id, s.balance) for s in states] == [(ref.remote_id, Decimal("265.50"))]


async def test_a_cursor_from_elsewhere_is_refused(provider: FreshBooksProvider) -> None:
    with pytest.raises(ValueError, match="not a FreshBooks feed cursor"):
        await provider.read_changes(Entity.ITEM, "{}", SINCE)


# -- list_states ----------------------------------------------------------------------------


async def test_states_are_read_in_list_pages(provider: FreshBooksProvider, ledger: Ledger,
                                             recorder: Recorder) -> None:
    await ledger.basics(provider)
    for n in range(3):
        await ledger.push(provider, Entity.INVOICE, invoice(f"inv{n}", f"SD-{n}"))
    before = len(recorder.api("GET"))
    states = [s async for s in provider.list_states(Entity.INVOICE)]
    assert len(recorder.api("GET")) - before == 1
    ours = {s.number: s for s in states}
    assert {"SD-0", "SD-1", "SD-2"} <= ours.keys()
    assert ours["SD-1"].line_count == 2 and ours["SD-1"].status == "sent"
    with pytest.raises(Unsupported):
        [s async for s in provider.list_states(Entity.CUSTOMER)]


# -- at FreshBooks' limits ------------------------------------------------------------------


async def test_a_throttled_feed_read_of_several_pages_draws_no_429() -> None:
    app = create_sandbox_app(seed_demo_company=False)  # 600 a minute, 5 at once: FreshBooks'
    made = clients(app, 230)
    transport = Recorder(httpx.ASGITransport(app=app))
    settings = ConnectionSettings(platform="freshbooks", tenant_id=ACCOUNT,
                                  client_id="syncdesk", client_secret="secret", base_url=BASE,
                                  transport=transport)
    tokens, _ = await connect(PLATFORM, settings)
    budget = RateGate(CAPABILITIES.limits)
    provider = FreshBooksProvider(replace(settings, budget=budget), tokens)
    try:
        page = await provider.read_changes(Entity.CUSTOMER, None, SINCE)
    finally:
        await provider.aclose()
    assert [c.remote_id for c in page.changes] == [str(i) for i in made]
    assert not page.more
    assert app.state.sandbox.limiter.rejected == 0
    assert not [r for r in transport.requests if r.url.path.startswith("/accounting/")
                and r.headers.get("authorization") is None]
    # Three pages of live clients (100 a page) and one of deleted ones, all through the budget.
    assert budget.requests == len(transport.api("GET")) == 4
