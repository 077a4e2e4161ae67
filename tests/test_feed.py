"""The change feed's runner: cursors, crash safety, bounds, failures, and the engine's loop."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.cli import main
from engine import (
    Entity,
    FeedSettings,
    Ledger,
    Sealer,
    Store,
    Transient,
    Unsupported,
    _feed,
    mark_due,
    payment_id,
    read_feed,
)
from tests._feedfake import T0, FakePlatform, engine_for, invoice, synced, until


async def cycle(store: Store, platform: FakePlatform, connection: int, *,
                entities: set[Entity] | None = None, **settings: object) -> _feed.FeedReport:
    return await read_feed(store, connection, platform.providers["A"], platform="fake",
                           title="Fake", entities=entities or set(Entity),
                           settings=FeedSettings(**settings))  # type: ignore[arg-type]



async def test_the_first_read_starts_at_the_connection_and_the_next_at_its_cursor(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.paid("P-1", "10", ("R-INV-1", "10"))
    await cycle(store, platform, ids["A"], entities={Entity.PAYMENT})
    a.paid("P-2", "10", ("R-INV-2", "10"))
    report = await cycle(store, platform, ids["A"], entities={Entity.PAYMENT})
    assert [(entity, cursor, since) for entity, cursor, since in a.reads] == [
        (Entity.PAYMENT, None, T0), (Entity.PAYMENT, "1", T0)]
    assert (report.changes, report.applied.payments_imported) == (1, 1)


async def test_a_crash_between_applying_a_page_and_its_cursor_reads_it_again_once(
        store: Store, sealer: Sealer, monkeypatch: pytest.MonkeyPatch) -> None:
    platform, ids = await synced(store, sealer)
    platform.providers["A"].paid("P-1", "10", ("R-INV-1", "10"))
    real = _feed._save_cursor

    async def killed(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the process dies once the page is applied, cursor unwritten

    monkeypatch.setattr(_feed, "_save_cursor", killed)
    with pytest.raises(KeyboardInterrupt):
        await cycle(store, platform, ids["A"], entities={Entity.PAYMENT})
    assert await store.fetch_value("SELECT COUNT(*) FROM payments") == 0
    assert await store.fetch_value("SELECT cursor FROM feed_cursors") is None

    monkeypatch.setattr(_feed, "_save_cursor", real)
    await cycle(store, platform, ids["A"], entities={Entity.PAYMENT})
    await cycle(store, platform, ids["A"], entities={Entity.PAYMENT})
    assert await store.fetch_value("SELECT COUNT(*) FROM payments") == 1
    assert await Ledger(store).get(Entity.PAYMENT, payment_id("fake", ids["A"], "P-1"))


async def test_a_cycle_reads_a_bounded_number_of_pages_and_is_due_again(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    for n in range(5):
        a.gone(Entity.ITEM, f"X-{n}")
    report = await cycle(store, platform, ids["A"], entities={Entity.ITEM}, page_size=1,
                         pages_per_run=2)
    assert report.pages == 2
    assert await store.fetch_value("SELECT due_at IS NOT NULL FROM feed_cursors") == 1
    report = await cycle(store, platform, ids["A"], entities={Entity.ITEM}, page_size=2,
                         pages_per_run=5)
    assert (report.pages, report.changes) == (2, 3)
    assert await store.fetch_value("SELECT due_at FROM feed_cursors") is None


async def test_a_failing_feed_is_told_and_an_unfed_entity_only_noted(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.failing[Entity.ITEM] = Unsupported("items have no change feed on Fake")
    a.failing[Entity.INVOICE] = Transient("Fake answered 503")
    a.failing[Entity.CREDIT_NOTE] = KeyError("Balance")  # a bug reading the platform's page
    a.paid("P-1", "10", ("R-INV-1", "10"))
    report = await cycle(store, platform, ids["A"])
    assert report.unsupported == ["item: items have no change feed on Fake"]
    assert report.failures == ["invoice: Fake answered 503", "credit note: syncdesk could "
                               "not read or apply it: KeyError: 'Balance'"]
    assert report.applied.payments_imported == 1  # the other entities were read
    # One notification while unread for the connection's feed; each error in its state.
    told = await store.fetch_all("SELECT title, message FROM notifications WHERE kind = 'feed'")
    assert [(r["title"], r["message"]) for r in told] == [
        ("Fake: reading invoice changes failed", "Fake answered 503")]
    errors = {s.entity: s.error for s in await _feed.feed_states(store)}
    assert errors[Entity.ITEM] == "not fed: items have no change feed on Fake"
    assert errors[Entity.INVOICE] == "Fake answered 503"
    assert errors[Entity.CREDIT_NOTE] == "syncdesk could not read or apply it: KeyError: " \
        "'Balance'"
    assert errors[Entity.PAYMENT] is None


async def test_the_engine_reads_the_feed_beside_its_pushes_and_at_once_when_marked(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    a.failing[Entity.CUSTOMER] = Transient("Fake is down")  # never stops the pushes
    engine = engine_for(store, platform, sealer,
                        feed=FeedSettings(interval=3600, push_payments_to_other_platforms=False))
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        await until(lambda: _read(store, Entity.PAYMENT), "the first read of payments")
        await Ledger(store).upsert([invoice("INV-9")])
        await until(lambda: _synced(store, ids["A"], "INV-9"), "a push while the feed fails")
        a.paid("P-1", "10", ("R-INV-9", "10"))
        reads = len(a.reads)
        await mark_due(store, ids["A"], [Entity.PAYMENT], datetime.now(UTC))
        await until(lambda: _has_payment(store, payment_id("fake", ids["A"], "P-1")),
                    "the payment read at once after the mark")
        # Only what was marked was read again: the hour's interval has not passed.
        assert {entity for entity, _, _ in a.reads[reads:]} == {Entity.PAYMENT}
    finally:
        stop.set()
        await running


async def _read(store: Store, entity: Entity) -> bool:
    return bool(await store.fetch_value(
        "SELECT read_at IS NOT NULL FROM feed_cursors WHERE entity = ?", (entity.value,)))


async def _synced(store: Store, connection: int, record_id: str) -> bool:
    return await store.fetch_value(
        "SELECT status FROM sync_jobs WHERE connection_id = ? AND record_id = ?",
        (connection, record_id)) == "synced"


async def _has_payment(store: Store, record_id: str) -> bool:
    return bool(await store.fetch_value("SELECT 1 FROM payments WHERE id = ?", (record_id,)))


async def test_every_feed_read_takes_a_slot_of_the_connections_budget(
        store: Store, sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    engine = engine_for(store, platform, sealer, feed=FeedSettings(interval=3600))
    stop = asyncio.Event()
    running = asyncio.create_task(engine.run(stop))
    try:
        await until(lambda: _read(store, Entity.PAYMENT), "a feed cycle")
        gate = engine._workers[ids["A"]].gate
        assert gate.requests >= len(platform.providers["A"].reads) == len(Entity)
    finally:
        stop.set()
        await running


def test_feed_status_and_history_through_the_cli(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "cli.db"

    async def read_once() -> None:
        async with await Store.open(db) as store:
            platform, ids = await synced(store, Sealer.load())
            platform.providers["A"].failing[Entity.ITEM] = Transient("Fake answered 503")
            platform.providers["A"].contact("R-C-1", T0.replace(year=2030),
                                            display_name="Maria Lopez-Ruiz")
            await cycle(store, platform, ids["A"])

    asyncio.run(read_once())
    assert main(["feed", "status", "--db", str(db), "--json"]) == 0
    states = {s["entity"]: s for s in json.loads(capsys.readouterr().out)}
    assert states["item"]["error"] == "Fake answered 503"
    assert states["payment"]["error"] is None and not states["payment"]["due"]
    assert main(["history", "customer", "C-1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert "kept the platform's (later)" in out
    assert "display_name: platform 'Maria Lopez-Ruiz', ledger 'Maria Lopez'" in out


async def test_a_stop_ends_the_cycle_after_the_page_in_hand(store: Store,
                                                            sealer: Sealer) -> None:
    platform, ids = await synced(store, sealer)
    a = platform.providers["A"]
    for n in range(3):
        a.gone(Entity.ITEM, f"X-{n}")
    stop = asyncio.Event()
    real = a.read_changes

    async def stopping(*args: object, **kwargs: object) -> object:
        stop.set()  # the engine stops while this request is out
        return await real(*args, **kwargs)  # type: ignore[arg-type]

    a.read_changes = stopping  # type: ignore[method-assign]
    report = await read_feed(store, ids["A"], a, platform="fake", title="Fake",
                             entities={Entity.ITEM}, settings=FeedSettings(page_size=1),
                             stop=stop)
    assert (report.pages, len(a.reads)) == (1, 1)
    assert await store.fetch_value("SELECT cursor FROM feed_cursors") == "1"
