"""Live views on PostgreSQL: a commit that writes events wakes every follower through
LISTEN/NOTIFY, in whichever process it ran, so a console shows it without waiting a poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from console.app import SyncdeskApp
from engine import Store, SyncService

pytestmark = pytest.mark.postgresql

NOW = "2026-09-01T12:00:00.000000Z"
WAIT = 10.0
"""Far longer than a wake takes; far shorter than the console's poll in the test (60 s)."""


@pytest.fixture
async def pg_store(store: Store) -> AsyncIterator[Store]:
    if store.dialect != "postgresql":
        pytest.skip("SQLite's followers poll")
    yield store


async def _write_event(store: Store) -> None:
    async with store.write() as db:
        await db.execute("INSERT INTO events (at, kind) VALUES (?, 'job')", (NOW,))
        await db.execute("INSERT INTO events (at, kind) VALUES (?, 'job')", (NOW,))


async def _until_listening(store: Store) -> None:
    """Until a listener has run its LISTEN (a write before it would tell no one)."""
    deadline = time.monotonic() + WAIT
    while not await store.fetch_value(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND application_name = 'syncdesk-listen' AND query LIKE 'LISTEN%'"):
        assert time.monotonic() < deadline, "the listener never listened"
        await asyncio.sleep(0.01)


async def test_a_commit_in_another_process_wakes_the_follower(pg_store: Store) -> None:
    other = await Store.open(pg_store.path)
    service = SyncService(pg_store, actor="t")
    assert service.notified
    written = service.events_written()
    try:
        before = await service.event_cursor()
        woken = asyncio.ensure_future(anext(written))
        await _until_listening(pg_store)
        assert not woken.done()
        started = time.monotonic()
        await _write_event(other)
        await asyncio.wait_for(woken, WAIT)
        assert time.monotonic() - started < 1.0
        # Woken after the commit: the follower's read finds what it wrote.
        events, _ = await service.events_after(before)
        assert len(events) == 2
    finally:
        await written.aclose()
        await other.close()


async def test_a_console_shows_a_commit_without_waiting_for_its_poll(pg_store: Store) -> None:
    other = await Store.open(pg_store.path)
    app = SyncdeskApp(SyncService(pg_store, actor="console"), poll_interval=60.0)
    try:
        async with app.run_test() as pilot:
            deadline = time.monotonic() + WAIT
            while not app.revision:
                assert time.monotonic() < deadline, "the console never read the store"
                await pilot.pause(0.01)
            await _until_listening(pg_store)
            seen = app.revision
            await _write_event(other)
            while app.revision == seen:
                assert time.monotonic() < deadline, "the commit never reached the console"
                await pilot.pause(0.01)
    finally:
        await other.close()
