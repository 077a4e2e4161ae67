"""The way back on Wave: `modifiedAtAfter` polls of customers, products and invoices, what a
person changes in Wave coming back through them, and what Wave cannot feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from wave_support import BASE_URL, Ledger, Recording, customer, invoice

from engine import ChangeKind, ConnectionSettings, Entity, Unsupported
from engine._limiter import RateGate
from providers._sandbox import Clock
from providers.wave import CAPABILITIES, PLATFORM, WaveProvider, create_sandbox_app
from tests.providers._support import SandboxTokens, connect

SINCE = datetime(2020, 1, 1, tzinfo=UTC)


class Frozen(Clock):
    """Moves only when told: an import's objects share one instant, to the microsecond."""

    def now(self) -> datetime:
        return datetime(2026, 3, 2, 15, 0, tzinfo=UTC) + self.offset


@pytest.fixture
def clock() -> Clock:
    return Frozen()


@pytest.fixture
def app(clock: Clock) -> Starlette:
    return create_sandbox_app(clock=clock, limits_enabled=False, seed_demo_company=False)


async def gql(control: httpx.AsyncClient, token: str, query: str,
              variables: dict[str, Any]) -> dict[str, Any]:
    """A request straight to the sandbox's GraphQL endpoint, as a person's app sends it."""
    response = await control.post("/graphql/public", json={
        "query": query, "variables": variables}, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def customers(app: Starlette, count: int) -> list[str]:
    books = app.state.books
    return [books.create_customer({"name": f"Customer {n:03d}"}).value["id"]
            for n in range(count)]


async def listed(control: httpx.AsyncClient, tokens: SandboxTokens, after: Any,
                 field: str = "customers", sort: str = "MODIFIED_AT_ASC") -> dict[str, Any]:
    return await gql(control, tokens.current, f"""
        query ($after: DateTime) {{ business {{ {field}(page: 1, pageSize: 50,
            sort: [{sort}], modifiedAtAfter: $after) {{ edges {{ node {{ id }} }} }} }} }}""",
                     {"after": after})


# -- the sandbox's read side ----------------------------------------------------------------


async def test_modified_at_after_is_a_strict_bound(app: Starlette, clock: Clock,
                                                   control: httpx.AsyncClient,
                                                   tokens: SandboxTokens) -> None:
    first, = customers(app, 1)
    at = clock.now().isoformat()
    clock.advance(1)
    later, = customers(app, 1)
    body = await listed(control, tokens, at)
    assert [e["node"]["id"] for e in body["data"]["business"]["customers"]["edges"]] == [later]
    newest = await listed(control, tokens, SINCE.isoformat(), sort="MODIFIED_AT_DESC")
    assert [e["node"]["id"] for e in newest["data"]["business"]["customers"]["edges"]] == [
        later, first]


@pytest.mark.parametrize(("after", "field", "sort"), [
    ("2026-03-02T15:00:00", "customers", "MODIFIED_AT_ASC"),  # no zone: Wave's DateTime
    ("yesterday", "invoices", "MODIFIED_AT_ASC"),
    ("2026-03-02T15:00:00Z", "customers", "UPDATED_AT_ASC"),  # not a sort Wave has
    ("2026-03-02T15:00:00Z", "accounts", "MODIFIED_AT_ASC"),  # accounts have no such filter
])
async def test_forms_wave_refuses_are_graphql_validation_failed(
        control: httpx.AsyncClient, tokens: SandboxTokens, after: str, field: str,
        sort: str) -> None:
    body = await listed(control, tokens, after, field, sort)
    assert "data" not in body or body["data"] is None
    assert {e["extensions"]["code"] for e in body["errors"]} == {"GRAPHQL_VALIDATION_FAILED"}


# -- read_changes ---------------------------------------------------------------------------


async def test_a_feed_pages_through_one_instant_and_resumes_from_its_cursor(
        app: Starlette, provider: WaveProvider, recording: Recording) -> None:
    made = customers(app, 120)
    before = len(recording.requests)
    page = await provider.read_changes(Entity.CUSTOMER, None, SINCE, limit=50)
    read = list(page.changes)
    while page.more:
        page = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE, limit=50)
        read += page.changes
    assert [c.remote_id for c in read] == made
    assert all(c.kind is ChangeKind.UPSERTED and c.contact is not None for c in read)
    # Whole pages of what was taken are skipped unread: 3 pages, plus the empty last look.
    assert len(recording.requests) - before <= 4
    again = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE)
    assert (again.changes, again.more) == ([], False)


async def test_a_contact_edit_in_wave_comes_back_with_its_address(
        app: Starlette, clock: Clock, provider: WaveProvider, control: httpx.AsyncClient,
        tokens: SandboxTokens, ledger: Ledger) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer("c2", "Untouched Ltd"))
    clock.advance(1)
    ref = await ledger.push(provider, Entity.CUSTOMER, customer())
    page = await provider.read_changes(Entity.CUSTOMER, None, SINCE)
    clock.advance(30)
    patched = await gql(control, tokens.current, """
        mutation ($input: CustomerPatchInput!) { customerPatch(input: $input) { didSucceed } }
        """, {"input": {"id": ref.remote_id, "email": "ap@harborview.example",
                        "address": {"addressLine1": "9 Pier Rd", "city": "Tacoma",
                                    "provinceCode": "US-WA", "countryCode": "US",
                                    "postalCode": "98402"}}})
    assert patched["data"]["customerPatch"]["didSucceed"]
    later = await provider.read_changes(Entity.CUSTOMER, page.cursor, SINCE)
    [edit] = later.changes  # the edit, and nothing older again
    assert edit.contact is not None
    assert (edit.contact.email, edit.contact.address_lines, edit.contact.city,
            edit.contact.region, edit.contact.postal_code, edit.contact.country) == (
        "ap@harborview.example", ("9 Pier Rd",), "Tacoma", "WA", "98402", "US")
    assert edit.changed_at == clock.now()


async def test_a_payment_recorded_in_wave_shows_as_its_invoice_state(
        app: Starlette, clock: Clock, provider: WaveProvider, control: httpx.AsyncClient,
        ledger: Ledger) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    page = await provider.read_changes(Entity.INVOICE, None, SINCE)
    [synced] = page.changes
    assert synced.state is not None
    assert (synced.state.total, synced.state.balance, synced.state.line_count,
            synced.state.number) == (Decimal("293.25"), Decimal("293.25"), 2, "SD-1001")
    clock.advance(30)
    paid = await control.post("/_sandbox/record-payment",
                              json={"invoiceId": ref.remote_id, "amount": "93.25"})
    assert paid.status_code == 200, paid.text
    later = await provider.read_changes(Entity.INVOICE, page.cursor, SINCE)
    [change] = later.changes
    assert change.state is not None
    assert (change.state.balance, change.state.status) == (Decimal("200.00"), "PARTIAL")
    with pytest.raises(Unsupported, match="no list or read of payments"):
        await provider.read_changes(Entity.PAYMENT, None, SINCE)
    with pytest.raises(Unsupported, match="no credit notes"):
        await provider.read_changes(Entity.CREDIT_NOTE, None, SINCE)


async def test_deletions_never_show_in_a_wave_poll_but_an_archived_product_does(
        app: Starlette, clock: Clock, provider: WaveProvider, control: httpx.AsyncClient,
        tokens: SandboxTokens, ledger: Ledger) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    invoices = await provider.read_changes(Entity.INVOICE, None, SINCE)
    products = await provider.read_changes(Entity.ITEM, None, SINCE)
    clock.advance(30)
    for mutation, payload in (("invoiceDelete", {"invoiceId": ref.remote_id}),
                              ("productArchive", {"id": ledger.refs[(Entity.ITEM, "i1")]
                                                  .remote_id})):
        done = await gql(control, tokens.current, f"""
            mutation ($input: {mutation[0].upper()}{mutation[1:]}Input!) {{
                {mutation}(input: $input) {{ didSucceed }} }}""", {"input": payload})
        assert done["data"][mutation]["didSucceed"], done
    gone = await provider.read_changes(Entity.INVOICE, invoices.cursor, SINCE)
    assert gone.changes == []  # Wave removed it: only the link check finds it
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) is None
    archived = await provider.read_changes(Entity.ITEM, products.cursor, SINCE)
    assert [(c.remote_id, c.kind) for c in archived.changes] == [
        (ledger.refs[(Entity.ITEM, "i1")].remote_id, ChangeKind.DELETED)]


async def test_a_cursor_from_elsewhere_is_refused(provider: WaveProvider) -> None:
    with pytest.raises(ValueError, match="not a Wave feed cursor"):
        await provider.read_changes(Entity.ITEM, '{"live": 1}', SINCE)


async def test_invoice_states_are_read_in_list_pages(provider: WaveProvider, ledger: Ledger,
                                                     recording: Recording) -> None:
    await ledger.basics(provider)
    for n in range(3):
        await ledger.push(provider, Entity.INVOICE, invoice(f"inv{n}", f"SD-{n}"))
    before = len(recording.requests)
    states = [s async for s in provider.list_states(Entity.INVOICE)]
    assert len(recording.requests) - before == 1
    assert sorted(s.number or "" for s in states) == ["SD-0", "SD-1", "SD-2"]
    assert {s.status for s in states} == {"DRAFT"}
    with pytest.raises(Unsupported):
        [s async for s in provider.list_states(Entity.PAYMENT)]


async def test_a_throttled_feed_read_of_several_pages_draws_no_429() -> None:
    app = create_sandbox_app(seed_demo_company=False)  # 60 a minute, as reported for Wave
    made = customers(app, 120)
    transport = Recording(httpx.ASGITransport(app=app))
    settings = ConnectionSettings(platform="wave", client_id="syncdesk",
                                  client_secret="secret", base_url=BASE_URL,
                                  transport=transport)
    tokens, grant = await connect(PLATFORM, settings)
    budget = RateGate(CAPABILITIES.limits)
    provider = PLATFORM.provider(replace(settings, tenant_id=grant.tenants[0].tenant_id,
                                         budget=budget), tokens)
    before = app.state.sandbox.requests
    try:
        page = await provider.read_changes(Entity.CUSTOMER, None, SINCE)
    finally:
        await provider.aclose()
    assert [c.remote_id for c in page.changes] == made
    assert not page.more
    assert app.state.sandbox.limiter.rejected == 0
    # Three pages of 50, every one through the budget.
    assert budget.requests == app.state.sandbox.requests - before == 3
