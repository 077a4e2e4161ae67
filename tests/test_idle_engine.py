"""An idle connection costs its engine (almost) nothing: one look per poll for all of them.

Each worker used to read its connection's state, its wait and whether anything was due once a
poll, and each feed its cursors: ~4 reads per connection per poll, ~20,000 reads/s for 1,000
idle connections (issue #16). The engine now reads them all in one query a poll and wakes
only the workers with work or a change of state; a feed sleeps until its next read is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from engine import Entity, FeedSettings, Ledger, Sealer, Store, SyncEngine
from engine._feed import mark_due, read_feed
from engine._status import ConnectionState
from engine._sync_state import set_connection_state
from engine._time import to_iso
from tests._feedfake import engine_for, invoice, synced, until

POLL = 0.05
CONNECTIONS = 12


class Reads:
    """Every read the store answers, and every look the engine takes."""

    def __init__(self, store: Store, engine: SyncEngine, monkeypatch: pytest.MonkeyPatch
                 ) -> None:
        self.reads = self.looks = 0
        for name in ("fetch_all", "fetch_one", "fetch_value"):
            monkeypatch.setattr(store, name, self._counted(getattr(store, name), "reads"))
        monkeypatch.setattr(engine.state, "looks",
                            self._counted(engine.state.looks, "looks"))

    def _counted(self, real: Callable[..., Awaitable[Any]], what: str
                 ) -> Callable[..., Awaitable[Any]]:
        async def counted(*args: Any, **kwargs: Any) -> Any:
            setattr(self, what, getattr(self, what) + 1)
            return await real(*args, **kwargs)
        return counted


@contextlib.asynccontextmanager
async def idle_engine(store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch
                      ) -> AsyncIterator[tuple[SyncEngine, dict[str, int], Reads]]:
    """CONNECTIONS connections, everything synced, their feeds read once: the engine running
    with nothing to do, until the block ends."""
    tenants = [f"T{n}" for n in range(CONNECTIONS)]
    platform, ids = await synced(store, sealer, *tenants)
    engine = engine_for(store, platform, sealer, feed=FeedSettings(interval=3600))
    engine.settings.poll_interval = POLL
    reads = Reads(store, engine, monkeypatch)
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))

    async def fed() -> bool:
        return await store.fetch_value(
            "SELECT COUNT(*) FROM feed_cursors WHERE entity = 'payment' AND read_at IS NOT "
            "NULL") == CONNECTIONS and len(engine._tasks) == CONNECTIONS

    try:
        await until(fed, "every connection's worker running and its feed read once")
        yield engine, ids, reads
    finally:
        stop.set()
        await running


async def test_an_idle_engine_reads_the_store_a_few_times_a_poll_not_per_connection(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with idle_engine(store, sealer, monkeypatch) as (_, _, reads):
        await until(lambda: _after(reads, 3), "the first feed cycles over")
        reads.reads, looks = 0, reads.looks
        await until(lambda: _after(reads, looks + 20), "twenty polls")
        per_poll = reads.reads / (reads.looks - looks)
        # The look itself, the weekly schedule's two settings, the webhooks' due deliveries;
        # each feed's cursors once per 5 s at most. Per connection, that was 4 reads a poll.
        assert per_poll < 6, f"{per_poll:.1f} reads a poll for {CONNECTIONS} connections"


async def test_a_job_queued_while_idle_is_claimed_within_about_a_poll(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with idle_engine(store, sealer, monkeypatch) as (_, _, reads):
        # Idle for longer than a worker's longest sleep of its own (5 s would pass the
        # latency below only by luck): each is woken by its engine's look.
        looks = reads.looks
        await until(lambda: _after(reads, looks + 3), "a few idle polls")
        since = time.monotonic()
        await Ledger(store).upsert([invoice("INV-9")])
        await until(lambda: _all_sent(store, "INV-9", CONNECTIONS), "INV-9 on every connection")
        assert time.monotonic() - since < 1.0 + 4 * POLL


async def test_a_paused_connection_stops_its_worker_and_a_resumed_one_syncs_again(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with idle_engine(store, sealer, monkeypatch) as (engine, ids, _):
        paused = ids["T3"]
        await _set_state(store, paused, ConnectionState.PAUSED)

        async def stopped() -> bool:
            return engine._tasks[paused].done()

        await until(stopped, "the paused connection's worker to stop")
        assert sum(not task.done() for task in engine._tasks.values()) == CONNECTIONS - 1
        await Ledger(store).upsert([invoice("INV-9")])
        await until(lambda: _all_sent(store, "INV-9", CONNECTIONS - 1),
                    "INV-9 on the active connections")
        assert await _status(store, paused, "INV-9") == "pending"
        await _set_state(store, paused, ConnectionState.ACTIVE)
        await until(lambda: _all_sent(store, "INV-9", CONNECTIONS), "INV-9 after the resume")


async def test_a_webhook_mark_wakes_a_sleeping_feed_within_about_a_poll(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    async with idle_engine(store, sealer, monkeypatch) as (_, ids, reads):
        looks = reads.looks
        await until(lambda: _after(reads, looks + 3), "a few idle polls")
        since = time.monotonic()
        await mark_due(store, ids["T5"], [Entity.PAYMENT], datetime.now(UTC))

        async def read_again() -> bool:
            return not await store.fetch_value(
                "SELECT COUNT(*) FROM feed_cursors WHERE due_at IS NOT NULL")

        await until(read_again, "the marked feed read")
        # A feed asleep until its hour is up looks at its cursors every 5 s on its own.
        assert time.monotonic() - since < 1.0 + 4 * POLL


async def test_a_feed_cycle_with_nothing_new_writes_once_per_entity(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, ids = await synced(store, sealer)
    writes = 0
    real = store.write

    def counted() -> Any:
        nonlocal writes
        writes += 1
        return real()

    monkeypatch.setattr(store, "write", counted)
    report = await read_feed(store, ids["A"], platform.providers["A"], platform="fake",
                             title="Fake", entities=set(Entity))
    # Its page and cursor, and the read's end (error, webhook mark), in one transaction.
    assert (report.pages, report.changes, writes) == (len(Entity), 0, len(Entity))


async def test_an_engine_recovers_every_connection_it_starts_in_one_statement(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, ids = await synced(store, sealer, "A", "B", "C")
    await Ledger(store).upsert([invoice("INV-9")])
    # A dead engine's claims on two of them: the first engine to start there recovers them.
    async with store.write() as db:
        await db.execute("UPDATE sync_jobs SET status = 'in_flight' WHERE record_id = "
                         "'INV-9' AND connection_id != ?", (ids["C"],))
    engine = engine_for(store, platform, sealer)
    calls: list[tuple[int, ...]] = []
    real = engine.state.recover_in_flight

    async def recover(now: datetime, *connection_ids: int) -> int:
        calls.append(connection_ids)
        return await real(now, *connection_ids)

    monkeypatch.setattr(engine.state, "recover_in_flight", recover)
    report = await engine.run(until_idle=True)
    assert calls == [tuple(sorted(ids.values()))]
    assert report.recovered == 2
    assert await _all_sent(store, "INV-9", 3)


async def _after(reads: Reads, looks: int) -> bool:
    await asyncio.sleep(POLL / 2)  # the store is not read for this: the count is in memory
    return reads.looks >= looks


async def _all_sent(store: Store, record_id: str, connections: int) -> bool:
    return bool(await store.fetch_value(
        "SELECT COUNT(*) FROM sync_jobs WHERE record_id = ? AND status = 'synced'",
        (record_id,)) == connections)


async def _status(store: Store, connection: int, record_id: str) -> str:
    return str(await store.fetch_value(
        "SELECT status FROM sync_jobs WHERE connection_id = ? AND record_id = ?",
        (connection, record_id)))


async def _set_state(store: Store, connection: int, state: ConnectionState) -> None:
    async with store.write() as db:
        await set_connection_state(db, connection, state, "test", to_iso(datetime.now(UTC)))
