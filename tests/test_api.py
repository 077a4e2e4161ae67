"""The HTTP API (`syncdesk serve`): keys, upserts that are idempotent, refusals that name the
record and field and write nothing, ending records, sync status, problems and retry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from console._http import build_api
from engine import ApiKeys, Entity, Ledger, Store, parse_json

MakeWorld = Callable[..., Any]

CUSTOMER = {"display_name": "Maria Lopez", "email": "maria@example.com"}
ITEM = {"sku": "TILE", "name": "Tile", "unit_price": "12.50",
        "income_accounts": {"xero": "200", "quickbooks": "79"}}
INVOICE = {"number": "INV-1", "customer_id": "C-1", "issue_date": "2026-09-01",
           "status": "sent", "lines": [{"item_id": "TILE", "quantity": 4, "unit_price": 12.5}]}
PAYMENT = {"customer_id": "C-1", "date": "2026-09-05", "amount": "50.00",
           "allocations": [{"invoice_id": "INV-1", "amount": "50.00"}]}


@pytest.fixture
async def api(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    _, secret = await ApiKeys(store).create("shop app")
    transport = httpx.ASGITransport(app=build_api(store, max_body=50_000))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk",
                                 headers={"Authorization": f"Bearer {secret}"}) as client:
        yield client


async def ledger_count(store: Store) -> int:
    total = 0
    for table in ("customers", "items", "invoices", "payments", "credit_notes"):
        total += int(await store.fetch_value(f"SELECT COUNT(*) FROM {table}"))
    return total


async def put_all(api: httpx.AsyncClient) -> None:
    for path, body in (("customers/C-1", CUSTOMER), ("items/TILE", ITEM),
                       ("invoices/INV-1", INVOICE), ("payments/P-1", PAYMENT)):
        response = await api.put(f"/v1/{path}", json=body)
        assert response.status_code == 201, response.text


async def test_no_key_or_a_wrong_key_is_401_with_a_problem_document(store: Store) -> None:
    transport = httpx.ASGITransport(app=build_api(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk") as client:
        bare = await client.get("/v1/customers/C-1")
        wrong = await client.get("/v1/customers/C-1",
                                 headers={"Authorization": "Bearer sdk_not-a-key"})
    for response in (bare, wrong):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert "api-key create" in bare.json()["detail"]


async def test_a_put_twice_changes_nothing_the_second_time(api: httpx.AsyncClient,
                                                           store: Store) -> None:
    first = await api.put("/v1/customers/C-1", json=CUSTOMER)
    again = await api.put("/v1/customers/C-1", json=CUSTOMER)
    assert first.status_code == 201 and first.json()["result"] == "created"
    assert again.status_code == 200 and again.json() == {
        "id": "C-1", "entity": "customer", "result": "unchanged", "jobs_queued": 0}
    stored = (await api.get("/v1/customers/C-1")).json()
    assert stored["display_name"] == "Maria Lopez" and stored["id"] == "C-1"


async def test_a_malformed_record_is_422_naming_the_field_and_nothing_is_written(
        api: httpx.AsyncClient, store: Store) -> None:
    await api.put("/v1/customers/C-1", json=CUSTOMER)
    await api.put("/v1/items/TILE", json=ITEM)
    before = await ledger_count(store)
    bad = {**INVOICE, "lines": [{"item_id": "TILE", "quantity": 0, "unit_price": "12.50"}]}
    response = await api.put("/v1/invoices/INV-1", json=bad)
    assert response.status_code == 422
    problem = response.json()
    assert problem["errors"] == [{"record": "invoice INV-1", "field": "lines[0].quantity",
                                  "message": "must be greater than zero, got 0"}]
    assert "nothing was saved" in problem["detail"]
    unknown = await api.put("/v1/invoices/INV-1", json={**INVOICE, "customer_id": "C-404"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["field"] == "customer_id"
    not_json = await api.put("/v1/invoices/INV-1", content=b'{"number": ',
                             headers={"content-type": "application/json"})
    assert not_json.status_code == 422 and "not JSON" in not_json.json()["detail"]
    mismatch = await api.put("/v1/invoices/INV-2", json={**INVOICE, "id": "INV-1"})
    assert mismatch.status_code == 422 and mismatch.json()["errors"][0]["field"] == "id"
    exact = await api.put("/v1/items/TILE", content=b'{"sku": "T", "name": "T", '
                          b'"unit_price": 1e400}')
    assert exact.status_code == 422
    assert await ledger_count(store) == before


async def test_a_put_record_gets_exactly_a_ledger_files_checks(
        api: httpx.AsyncClient, store: Store) -> None:
    """Text fields take text: a number there is refused as a .json file's would be (the body
    was once written out as text and read back, which turned every number into a string)."""
    await api.put("/v1/customers/C-1", json=CUSTOMER)
    await api.put("/v1/items/TILE", json=ITEM)
    before = await ledger_count(store)
    response = await api.put("/v1/invoices/INV-1", json={**INVOICE, "number": 1042})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"record": "invoice INV-1", "field": "number",
                                          "message": "Input should be a valid string, got "
                                                     "1042"}]
    file = parse_json("file", json.dumps({"invoices": [{**INVOICE, "id": "INV-1",
                                                        "number": 1042}]}))
    assert [(p.record, p.field, p.message) for p in file.problems] == [
        (e["record"], e["field"], e["message"]) for e in response.json()["errors"]]
    assert await ledger_count(store) == before
    exact = await api.put("/v1/invoices/INV-1", json={**INVOICE, "lines": [
        {"item_id": "TILE", "quantity": 3, "unit_price": 0.1}]})
    assert exact.status_code == 201
    stored = await Ledger(store).get(Entity.INVOICE, "INV-1")
    assert stored is not None and str(stored.lines[0].unit_price) == "0.1"


async def test_oversize_bodies_are_413_and_unknown_collections_404(
        api: httpx.AsyncClient) -> None:
    big = {**CUSTOMER, "company": "x" * 60_000}
    assert (await api.put("/v1/customers/C-1", json=big)).status_code == 413
    missing = await api.put("/v1/vendors/V-1", json={})
    assert missing.status_code == 404 and "customers" in missing.json()["detail"]
    assert (await api.get("/v1/customers/C-404")).status_code == 404


async def test_a_batch_is_all_or_nothing(api: httpx.AsyncClient, store: Store) -> None:
    refused = await api.post("/v1/batch", json={
        "customers": [{"id": "C-1", **CUSTOMER}],
        "items": [{"id": "TILE", **ITEM}, {"id": "BAD", "sku": "", "name": "x"}]})
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["record"] == "item BAD"
    assert await ledger_count(store) == 0
    done = await api.post("/v1/batch", json={
        "customers": [{"id": "C-1", **CUSTOMER}], "items": [{"id": "TILE", **ITEM}],
        "invoices": [{"id": "INV-1", **INVOICE}]})
    assert done.status_code == 200 and done.json()["created"] == 3


async def test_ending_a_paid_invoice_is_refused_then_done_with_unapply(
        api: httpx.AsyncClient, store: Store) -> None:
    await put_all(api)
    refused = await api.delete("/v1/invoices/INV-1")
    assert refused.status_code == 409 and "payment P-1" in refused.json()["detail"]
    done = await api.post("/v1/invoices/INV-1/void", params={"unapply": "true"})
    assert done.status_code == 200
    assert done.json()["changed"] == ["payment P-1", "invoice INV-1"]
    assert (await api.get("/v1/invoices/INV-1")).json()["status"] == "void"
    assert (await api.delete("/v1/customers/C-1")).status_code == 405
    actors = await store.fetch_all("SELECT DISTINCT actor FROM audit WHERE actor LIKE 'api:%'")
    assert [row["actor"] for row in actors] == ["api:shop app"]


async def test_send_queues_a_draft(api: httpx.AsyncClient, store: Store) -> None:
    await api.put("/v1/customers/C-1", json=CUSTOMER)
    await api.put("/v1/items/TILE", json=ITEM)
    await api.put("/v1/invoices/INV-1", json={**INVOICE, "status": "draft"})
    sent = await api.post("/v1/invoices/INV-1/send")
    assert sent.status_code == 200 and sent.json()["status"] == "sent"
    assert (await api.get("/v1/invoices/INV-1")).json()["status"] == "sent"


async def test_read_only_keys_read_and_are_refused_writes(store: Store) -> None:
    _, secret = await ApiKeys(store).create("dashboard", read_only=True)
    transport = httpx.ASGITransport(app=build_api(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk",
                                 headers={"X-API-Key": secret}) as client:
        refused = await client.put("/v1/customers/C-1", json=CUSTOMER)
        listed = await client.get("/v1/problems")
    assert refused.status_code == 403 and "only read" in refused.json()["detail"]
    assert listed.status_code == 200 and listed.json() == {"problems": [], "next_after": None}


async def test_rotation_overlaps_and_revoke_ends_every_copy(store: Store) -> None:
    keys = ApiKeys(store)
    _, old = await keys.create("shop app")
    _, new = await keys.rotate("shop app", overlap=timedelta(hours=1))
    assert await keys.authenticate(old) is not None and await keys.authenticate(new) is not None
    await keys.revoke("shop app")
    assert await keys.authenticate(old) is None and await keys.authenticate(new) is None
    digests = await store.fetch_all("SELECT digest, hint FROM api_keys")
    assert all(new not in row["digest"] and len(row["hint"]) < 10 for row in digests)


async def test_sync_status_problems_and_retry_for_a_synced_world(
        make_world: MakeWorld, store: Store) -> None:
    world = await make_world(("xero",))
    _, secret = await ApiKeys(store).create("shop app")
    transport = httpx.ASGITransport(app=build_api(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk",
                                 headers={"Authorization": f"Bearer {secret}"}) as api:
        await put_all(api)
        await api.put("/v1/invoices/INV-2", json={
            **INVOICE, "number": "INV-2",
            "lines": [{"description": "no such item", "unit_price": "5", "item_id": "TILE",
                       "tax_code": "NO-SUCH-TAX"}]})
        await world.sync()
        status = (await api.get("/v1/invoices/INV-1/sync")).json()
        assert [c["status"] for c in status["connections"]] == ["synced"]
        assert status["connections"][0]["platform"] == "xero"
        assert status["connections"][0]["remote_id"]
        problems = (await api.get("/v1/problems", params={"filter": "entity:invoice"})).json()
        assert [p["record_id"] for p in problems["problems"]] == ["INV-2"]
        assert problems["problems"][0]["hint"]
        dry = await api.post("/v1/retry", json={"filter": "entity:invoice", "dry_run": True})
        assert dry.json()["matched"] == 1
        bad = await api.get("/v1/problems", params={"filter": "status:nonsense"})
        assert bad.status_code == 422


async def test_the_openapi_document_comes_from_the_models(api: httpx.AsyncClient) -> None:
    document = (await api.get("/v1/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    invoice = document["components"]["schemas"]["Invoice"]
    assert {"number", "customer_id", "lines", "tax_inclusive"} <= set(invoice["properties"])
    assert "/v1/invoices/{record_id}/sync" in document["paths"]
    assert "put" in document["paths"]["/v1/payments/{record_id}"]


async def test_concurrent_puts_commit_together_and_a_bad_one_fails_alone(
        api: httpx.AsyncClient, store: Store) -> None:
    await api.put("/v1/customers/C-1", json=CUSTOMER)
    await api.put("/v1/items/TILE", json=ITEM)

    def numbered(n: int) -> dict[str, object]:
        customer = "C-404" if n == 7 else "C-1"
        return {**INVOICE, "number": f"INV-{n}", "customer_id": customer}

    answers = await asyncio.gather(*(api.put(f"/v1/invoices/INV-{n}", json=numbered(n))
                                     for n in range(20)))
    assert [a.status_code for a in answers] == [422 if n == 7 else 201 for n in range(20)]
    assert answers[7].json()["errors"][0]["field"] == "customer_id"
    stored = await store.fetch_all("SELECT id FROM invoices ORDER BY id")
    assert len(stored) == 19 and "INV-7" not in {row["id"] for row in stored}
    batches = await store.fetch_value("SELECT COUNT(*) FROM audit WHERE command = 'upsert'")
    assert batches == 21  # one audit row per request that changed something, as before


async def test_a_revoked_key_stops_at_once_once_its_check_is_not_cached(store: Store) -> None:
    keys = ApiKeys(store)
    _, secret = await keys.create("shop app")
    transport = httpx.ASGITransport(app=build_api(store, key_cache_seconds=0))
    async with httpx.AsyncClient(transport=transport, base_url="http://syncdesk",
                                 headers={"Authorization": f"Bearer {secret}"}) as client:
        assert (await client.get("/v1/problems")).status_code == 200
        await keys.revoke("shop app")
        assert (await client.get("/v1/problems")).status_code == 401
