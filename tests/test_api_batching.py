"""The API's group commit: concurrent PUTs share one transaction, each is answered only after
its own commit, and whatever refuses one of them (or the whole transaction) reaches only the
requests it concerns."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from console._http import _GroupCommit, build_api
from engine import ApiKeys, Businesses, Ledger, Record, Store, StoreError

CUSTOMER = {"display_name": "Maria Lopez"}
ITEM = {"sku": "TILE", "name": "Tile", "unit_price": "12.50", "income_accounts": {"xero": "200"}}


def invoice(n: int, **changes: Any) -> dict[str, Any]:
    return {"number": f"INV-{n}", "customer_id": "C-1", "issue_date": "2026-09-01",
            "status": "sent", "lines": [{"item_id": "TILE", "quantity": 1, "unit_price": "12.50"}],
            **changes}


class Groups:
    """Every transaction the API's writes ran, as the record ids of each request in it. With
    `fail_first`, the first transaction is held until `release` is set, then fails whole."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, *, fail_first: bool = False) -> None:
        self.seen: list[list[str]] = []
        self.entered, self.release = asyncio.Event(), asyncio.Event()
        self.arrived = 0
        self.arrivals: dict[int, asyncio.Event] = {}
        upsert_each, upsert = Ledger.upsert_each, _GroupCommit.upsert

        async def spied(ledger: Ledger, batches: Sequence[tuple[Sequence[Record], str | None]]
                        ) -> Any:
            self.seen.append([records[0].id for records, _ in batches])
            if fail_first and len(self.seen) == 1:
                self.entered.set()
                await self.release.wait()
                raise StoreError("the store went away mid-transaction")
            return await upsert_each(ledger, batches)

        async def counted(writes: _GroupCommit, *args: Any) -> Any:
            self.arrived += 1
            self.arrivals.setdefault(self.arrived, asyncio.Event()).set()
            return await upsert(writes, *args)

        monkeypatch.setattr(Ledger, "upsert_each", spied)
        monkeypatch.setattr(_GroupCommit, "upsert", counted)

    async def until_arrived(self, count: int) -> None:
        await self.arrivals.setdefault(count, asyncio.Event()).wait()


@pytest.fixture
def app(store: Store) -> Starlette:
    return build_api(store)


@contextlib.asynccontextmanager
async def client(app: Starlette, keys: ApiKeys) -> AsyncIterator[httpx.AsyncClient]:
    """A client with a new key of `keys`' business, which has C-1 and TILE."""
    _, secret = await keys.create(f"app {len(await keys.list())}")
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk",
                                 headers={"Authorization": f"Bearer {secret}"}) as opened:
        assert (await opened.put("/v1/customers/C-1", json=CUSTOMER)).status_code == 201
        assert (await opened.put("/v1/items/TILE", json=ITEM)).status_code == 201
        yield opened


@pytest.fixture
async def api(app: Starlette, store: Store) -> AsyncIterator[httpx.AsyncClient]:
    async with client(app, ApiKeys(store)) as opened:
        yield opened


async def stored(store: Store, record_id: str) -> bool:
    return bool(await store.fetch_value("SELECT COUNT(*) FROM invoices WHERE id = ?",
                                        (record_id,)))


async def test_concurrent_puts_share_transactions_and_each_answer_follows_its_commit(
        api: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    groups = Groups(monkeypatch)

    async def put(n: int) -> None:
        response = await api.put(f"/v1/invoices/INV-{n}", json=invoice(n))
        assert response.status_code == 201, response.text
        # Read through the store's other connection: only committed rows are there.
        assert await stored(store, f"INV-{n}")

    await asyncio.gather(*(put(n) for n in range(40)))
    assert sorted(i for group in groups.seen for i in group) == sorted(
        f"INV-{n}" for n in range(40))
    assert len(groups.seen) < 40 and max(len(group) for group in groups.seen) > 1


async def test_a_number_taken_inside_the_same_transaction_refuses_only_the_second(
        api: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own unique check fails one request's INSERT halfway through a shared
    transaction: that request alone is rolled back, its neighbours commit."""
    groups = Groups(monkeypatch)
    answers = await asyncio.gather(*(
        api.put(f"/v1/invoices/INV-{n}", json=invoice(n, number="INV-SAME" if n in (3, 4)
                                                             else f"INV-{n}"))
        for n in range(10)))
    assert any({"INV-3", "INV-4"} <= set(group) for group in groups.seen)
    codes = {n: answer.status_code for n, answer in enumerate(answers)}
    assert sorted([codes.pop(3), codes.pop(4)]) == [201, 422]
    assert set(codes.values()) == {201}
    refused = next(a for a in (answers[3], answers[4]) if a.status_code == 422).json()
    assert refused["errors"][0]["field"] == "number"
    assert "already used" in refused["errors"][0]["message"]
    assert await store.fetch_value("SELECT COUNT(*) FROM invoices") == 9
    assert await store.fetch_value("SELECT COUNT(*) FROM sync_jobs WHERE entity = 'invoice'"
                                   ) == await store.fetch_value(
        "SELECT COUNT(*) FROM sync_jobs WHERE entity = 'invoice' AND record_id IN "
        "(SELECT id FROM invoices)")


async def test_a_transaction_that_fails_fails_its_own_requests_and_writes_none_of_them(
        api: httpx.AsyncClient, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    groups = Groups(monkeypatch, fail_first=True)
    first = asyncio.create_task(api.put("/v1/invoices/INV-0", json=invoice(0)))
    await groups.entered.wait()
    # These arrive while the first transaction is on the store: they wait for the next.
    rest = [asyncio.create_task(api.put(f"/v1/invoices/INV-{n}", json=invoice(n)))
            for n in range(1, 12)]
    await groups.until_arrived(12)
    groups.release.set()
    assert (await first).status_code == 500
    assert {answer.status_code for answer in await asyncio.gather(*rest)} == {201}
    assert groups.seen == [["INV-0"], [f"INV-{n}" for n in range(1, 12)]]
    assert not await stored(store, "INV-0")
    assert all([await stored(store, f"INV-{n}") for n in range(1, 12)])
    assert (await api.put("/v1/invoices/INV-0", json=invoice(0))).status_code == 201


async def test_each_business_commits_its_own_requests_in_a_transaction_of_its_own(
        app: Starlette, api: httpx.AsyncClient, store: Store,
        monkeypatch: pytest.MonkeyPatch) -> None:
    second = (await Businesses(store).add("Harbour Plumbing", actor="test")).id
    async with client(app, ApiKeys(store, business=second)) as other:
        groups = Groups(monkeypatch)
        answers = await asyncio.gather(*(
            (api if n % 2 else other).put(f"/v1/invoices/INV-{n}", json=invoice(n))
            for n in range(20)))
    assert {answer.status_code for answer in answers} == {201}
    for group in groups.seen:  # a transaction writes one business's ledger
        assert len({int(record_id[4:]) % 2 for record_id in group}) == 1
    rows = await store.fetch_all("SELECT business_id, id FROM invoices")
    assert sorted((row["business_id"], row["id"]) for row in rows) == sorted(
        (1 if n % 2 else second, f"INV-{n}") for n in range(20))
