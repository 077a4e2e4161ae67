"""Following the event log: every event once, in commit order, on both backends.

On PostgreSQL event ids come from a sequence, so a transaction that took a lower id can commit
after one that took a higher id; a follower reading `id > last` would step over it."""

from __future__ import annotations

import pytest

from engine import EventCursor, Store, SyncService

NOW = "2026-09-01T12:00:00.000000Z"
EVENT = "INSERT INTO events (at, kind, record_id) VALUES (?, 'job', ?)"


async def _write(store: Store, *records: str) -> None:
    async with store.write() as db:
        for record in records:
            await db.execute(EVENT, (NOW, record))


async def _follow(service: SyncService, cursor: EventCursor) -> tuple[list[str], EventCursor]:
    events, cursor = await service.events_after(cursor)
    return [str(event.record_id) for event in events], cursor


async def test_a_follower_reads_each_event_once_in_order(store: Store) -> None:
    service = SyncService(store, actor="t")
    start = await service.event_cursor()
    await _write(store, "a", "b")
    await _write(store, "c")
    seen, cursor = await _follow(service, start)
    assert seen == ["a", "b", "c"]
    assert cursor == await service.event_cursor() and cursor > start
    assert await _follow(service, cursor) == ([], cursor)
    await _write(store, "d")
    assert (await _follow(service, cursor))[0] == ["d"]
    first, after_first = await service.events_after(start, limit=1)
    assert [e.record_id for e in first] == ["a"]
    assert (await _follow(service, after_first))[0] == ["b", "c", "d"]


@pytest.mark.postgresql
async def test_an_event_committed_after_a_higher_numbered_one_is_not_skipped(
        store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("SQLite's one writer commits in id order")
    other = await Store.open(store.path)
    service = SyncService(store, actor="t")
    try:
        cursor = await service.event_cursor()
        async with store.write() as db:
            async with db.execute(EVENT + " RETURNING id", (NOW, "early")) as taken:
                early = (await taken.fetchone())[0]  # the lower id, committed last
            await _write(other, "late")
            assert early < await other.fetch_value(
                "SELECT id FROM events WHERE record_id = 'late'")
            # "late" is committed, but a transaction older than it still runs: not yet.
            seen, cursor = await _follow(service, cursor)
            assert seen == []
            assert await service.event_cursor() == cursor
        seen, cursor = await _follow(service, cursor)
        assert seen == ["early", "late"]
        assert await _follow(service, cursor) == ([], cursor)
    finally:
        await other.close()


@pytest.mark.postgresql
async def test_transactions_follow_in_number_order_across_a_power_of_ten(store: Store) -> None:
    """Transaction ids are numbers read as text (psycopg has no xid8): 999 comes before 1000."""
    if store.dialect != "postgresql":
        pytest.skip("SQLite's cursor is the event id alone")
    service = SyncService(store, actor="t")
    start = await service.event_cursor()
    upcoming = int(await store.fetch_value(
        "SELECT CAST(pg_snapshot_xmax(pg_current_snapshot()) AS text)"))
    boundary = 10 ** len(str(upcoming + 2))
    async with store.write() as db:  # through the writer: autocommit runs none of it
        await db.execute("COMMIT")
        await db.execute(f"""DO $$ BEGIN
            WHILE pg_snapshot_xmax(pg_current_snapshot()) < '{boundary - 1}'::xid8 LOOP
                PERFORM pg_current_xact_id(); COMMIT;
            END LOOP; END $$""")
        await db.execute("BEGIN")
    await _write(store, "below")
    await _write(store, "above")
    txs = [str(row[0]) for row in await store.fetch_all(
        "SELECT CAST(tx AS text) FROM events WHERE record_id IN ('below', 'above') ORDER BY id")]
    assert len(txs[0]) < len(txs[1]), txs  # the two sides of the boundary
    seen, cursor = await _follow(service, start)
    assert seen == ["below", "above"]
    assert cursor == await service.event_cursor()
