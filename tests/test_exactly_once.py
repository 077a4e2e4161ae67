"""Exactly once: a write whose outcome is unknown is looked up by syncdesk's mark before anything
is sent again — on every platform, whatever the idempotency-key window, after attempts run
out, after an operator's retry, and when the lookup itself fails. Audited per local record on
the platform side (objects carrying our mark), never by totals."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import engine._store as store_module
from console._wiring import connect_sandbox, platforms
from engine import Customer, JobFilter, Store, SyncService
from tests._world import World
from tests.test_engine import LABOR, MARIA, TILE, invoice, payment

MakeWorld = Callable[..., Any]
ALL = ("quickbooks", "xero", "wave", "freshbooks")
WITH_KEYS = ("quickbooks", "xero")
CREATES_WITH = {"quickbooks": "POST", "xero": "PUT", "wave": "POST", "freshbooks": "POST"}
LOOKS_UP_WITH = {"quickbooks": "GET", "xero": "GET", "wave": "POST", "freshbooks": "GET"}


async def eventually(check: Callable[[], Any], what: str, tries: int = 1000) -> None:
    """Wait on state, not on time: `check()` (sync or async) becomes true, or fail."""
    for _ in range(tries):
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def marks(world: World, platform: str, entity: str) -> dict[str, int]:
    report = await world.sandbox(platform, "GET", "/_sandbox/marks")
    return dict(report["marks"][entity])


async def fault(world: World, platform: str, **body: Any) -> None:
    await world.sandbox(platform, "POST", "/_sandbox/faults", json=body)


async def clear_faults(world: World, platform: str) -> None:
    await world.sandbox(platform, "DELETE", "/_sandbox/faults")


def drops_answers(world: World, platform: str) -> None:
    world.apps[platform].state.sandbox.faults.hang_seconds = 5


CUSTOMERS = [Customer(id=f"C-{n}", display_name=f"Customer {n}", email=f"c{n}@example.com")
             for n in range(2, 5)]


async def test_creates_that_ran_out_of_attempts_stay_in_doubt_and_retry_finds_them(
        make_world: MakeWorld) -> None:
    world: World = await make_world(ALL)
    world.worker.max_attempts = 2
    for platform in ALL:
        drops_answers(world, platform)
        # Every create lands and loses its answer, and every lookup fails (on Wave, where
        # reads are POSTs too, they lose their answers as well): attempts run out in doubt.
        for method in ("POST", "PUT"):
            await fault(world, platform, kind="drop", count=-1, method=method)
        await fault(world, platform, kind="error", count=-1, status=503, method="GET")
    await world.ledger.upsert(CUSTOMERS)
    await world.sync()
    service = SyncService(world.store, actor="ana")
    for platform in ALL:
        for customer in CUSTOMERS:
            job = await world.job(platform, "customer", customer.id)
            assert (job["status"], job["in_doubt"]) == ("failed", 1), (platform, job)
        detail = await service.job(job["id"])
        assert detail is not None and "looks for its own copy" in detail.hint
        await clear_faults(world, platform)
    assert await service.retry_matching(JobFilter(statuses=("failed",))) == 12
    await world.sync()
    for platform in ALL:
        found = await marks(world, platform, "customer")
        assert {c.id: found.get(c.id, 0) for c in CUSTOMERS} == {c.id: 1 for c in CUSTOMERS}, \
            platform
        for customer in CUSTOMERS:
            job = await world.job(platform, "customer", customer.id)
            assert (job["status"], job["in_doubt"]) == ("synced", 0)


async def test_a_dropped_quickbooks_batch_of_payments_is_reconciled_not_resent(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, TILE, *[invoice(f"INV-{n}") for n in range(1, 7)]])
    await world.sync()
    drops_answers(world, "quickbooks")
    await fault(world, "quickbooks", kind="drop", count=1, path_contains="batch")
    # Part payments: a second copy of each would be accepted, so only syncdesk prevents it.
    await world.ledger.upsert([payment(f"P-{n}", "20.00", (f"INV-{n}", "20.00"))
                               for n in range(1, 7)])
    await world.sync()
    paid = await marks(world, "quickbooks", "payment")
    assert {f"P-{n}": paid.get(f"P-{n}", 0) for n in range(1, 7)} == {
        f"P-{n}": 1 for n in range(1, 7)}
    for n in range(1, 7):
        assert (await world.job("quickbooks", "payment", f"P-{n}"))["status"] == "synced"
    assert world.apps["quickbooks"].state.sandbox.faults.injected.get("drop") == 1


@pytest.mark.parametrize("platform", WITH_KEYS)
async def test_a_replay_after_the_key_window_finds_the_payment_instead_of_resending(
        make_world: MakeWorld, platform: str) -> None:
    world: World = await make_world((platform,))
    world.worker.max_attempts = 1
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1")])
    await world.sync()
    drops_answers(world, platform)
    await fault(world, platform, kind="drop", count=1, method=CREATES_WITH[platform],
                path_contains="ayment")
    await world.ledger.upsert([payment("P-1", "50.00", ("INV-1", "50.00"))])
    await world.sync()
    assert (await world.job(platform, "payment", "P-1"))["in_doubt"] == 1
    # The engine was down overnight: the platform has long forgotten the key.
    await world.sandbox(platform, "POST", "/_sandbox/clock", json={"advance": 12 * 3600})
    await SyncService(world.store, actor="ana").retry_matching(JobFilter(statuses=("failed",)))
    await world.sync()
    assert (await marks(world, platform, "payment")).get("P-1") == 1
    assert (await world.job(platform, "payment", "P-1"))["status"] == "synced"


@pytest.mark.parametrize("platform", ALL)
async def test_a_lookup_that_fails_keeps_the_record_in_doubt(make_world: MakeWorld,
                                                             platform: str) -> None:
    world: World = await make_world((platform,))
    drops_answers(world, platform)
    await fault(world, platform, kind="drop", count=1, method=CREATES_WITH[platform])
    await world.ledger.upsert([CUSTOMERS[0]])
    # The lookup answers 503 three times: no proof either way.
    await fault(world, platform, kind="error", count=3, status=503,
                method=LOOKS_UP_WITH[platform])
    world.worker.max_attempts = 10
    await world.sync()
    job = await world.job(platform, "customer", "C-2")
    assert (job["status"], job["in_doubt"]) == ("synced", 0), job
    assert (await marks(world, platform, "customer")).get("C-2") == 1
    outcomes = [(r["outcome"], r["message"] or "") for r in await world.store.fetch_all(
        "SELECT outcome, message FROM sync_attempts WHERE job_id = ? ORDER BY id",
        (job["id"],))]
    assert any("could not look for syncdesk's own copy" in m for _, m in outcomes), outcomes
    assert outcomes[-1][0] == "reconciled"


async def test_reconnecting_keeps_every_status_and_pushes_nothing_again(
        make_world: MakeWorld, sealer: Any) -> None:
    world: World = await make_world(("xero", "freshbooks"))
    await world.ledger.upsert([MARIA, TILE, invoice("INV-1"),
                               payment("P-1", "50.00", ("INV-1", "50.00"))])
    await world.sync()
    service = SyncService(world.store, actor="ana")
    before = {p: await statuses(world, p) for p in world.connections}
    attempts = await world.store.fetch_value("SELECT COUNT(*) FROM sync_attempts")
    remote = {p: await world.sandbox(p, "GET", "/_sandbox/marks") for p in world.connections}
    for platform, connection_id in world.connections.items():
        await service.disconnect(connection_id)
        await connect_sandbox(world.store, platforms()[platform], f"http://{platform}.sandbox",
                              sealer, transport=world.transport(platform))
    await world.sync()
    assert {p: await statuses(world, p) for p in world.connections} == before
    assert await world.store.fetch_value("SELECT COUNT(*) FROM sync_attempts") == attempts
    assert {p: await world.sandbox(p, "GET", "/_sandbox/marks")
            for p in world.connections} == remote


async def statuses(world: World, platform: str) -> dict[tuple[str, str], str]:
    rows = await world.store.fetch_all(
        "SELECT entity, record_id, status FROM sync_jobs WHERE connection_id = ?",
        (world.connections[platform],))
    return {(r["entity"], r["record_id"]): r["status"] for r in rows}


async def test_the_engine_waits_out_a_store_locked_past_its_busy_timeout(
        make_world: MakeWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_MS", 100)
    world: World = await make_world(("xero",))
    if world.store.dialect != "sqlite":
        pytest.skip("SQLite's busy timeout: a PostgreSQL writer waits on the rows it needs")
    world.store = await Store.open(world.store.path)  # with the short busy timeout
    locked, release = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        other = sqlite3.connect(world.store.path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        locked.set()
        release.wait(10)
        other.execute("ROLLBACK")
        other.close()

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    await asyncio.to_thread(locked.wait, 5)
    sync = asyncio.create_task(world.sync())
    await asyncio.sleep(0)
    writing = asyncio.create_task(world.ledger.upsert([MARIA]))
    # Ten busy timeouts pass while the lock is held: the writes wait, nothing raises.
    def busy_for_ten_timeouts() -> bool:
        since = world.store.busy_since
        return since is not None and time.monotonic() - since > 1.0

    await eventually(busy_for_ten_timeouts, "the store to stay busy for 1 s")
    assert not sync.done() or sync.exception() is None
    release.set()
    await asyncio.to_thread(holder.join)
    await writing
    await sync
    await world.sync()
    assert (await world.job("xero", "customer", "C-1"))["status"] == "synced"
    await world.store.close()


async def test_a_stop_mid_request_leaves_the_record_visibly_in_doubt(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("freshbooks",))
    world.apps["freshbooks"].state.sandbox.faults.hang_seconds = 30
    await fault(world, "freshbooks", kind="drop", count=1, method=CREATES_WITH["freshbooks"])
    await world.ledger.upsert([MARIA])
    stop = asyncio.Event()
    engine = world.engine(stop_grace=0.2)
    running = asyncio.create_task(engine.run(stop))
    async def in_flight() -> bool:
        return (await world.job("freshbooks", "customer", "C-1"))["status"] == "in_flight"

    await eventually(in_flight, "the customer to be in flight")
    await eventually(lambda: world.apps["freshbooks"].state.sandbox.faults.injected.get("drop"),
                     "the sandbox to commit and drop the answer")
    stop.set()
    await asyncio.wait_for(running, 5)
    job = await world.job("freshbooks", "customer", "C-1")
    assert (job["status"], job["in_doubt"]) == ("uncertain", 1)
    await world.sync()
    assert (await marks(world, "freshbooks", "customer")).get("C-1") == 1


async def test_a_kill_before_anything_was_sent_leaves_nothing_in_doubt_for_good(
        make_world: MakeWorld) -> None:
    """Jobs claimed when the engine was killed are in doubt on restart. Those that end skipped
    or blocked must not stay in doubt for ever: the lookup or the reason settles it."""
    world: World = await make_world(("quickbooks", "wave"))
    await world.ledger.upsert([MARIA, TILE, LABOR, invoice("INV-L", item="LABOR"),
                               invoice("INV-1"), payment("P-1", "20.00", ("INV-1", "20.00"))])
    # The engine was SIGKILLed with every job claimed and nothing sent.
    async with world.store.write() as db:
        await db.execute("UPDATE sync_jobs SET status = 'in_flight'")
    await world.sync()
    qbo = await statuses(world, "quickbooks")
    assert qbo[("item", "LABOR")] == "skipped" and qbo[("invoice", "INV-L")] == "blocked"
    assert (await statuses(world, "wave"))[("payment", "P-1")] == "skipped"
    doubtful = await world.store.fetch_all(
        "SELECT connection_id, entity, record_id, status FROM sync_jobs WHERE in_doubt = 1")
    assert [dict(row) for row in doubtful] == []
    for platform in ("quickbooks", "wave"):
        found = await marks(world, platform, "customer")
        assert found.get("C-1") == 1, platform
