"""Pilot tests of the record table on more rows than a window holds: a sort, a multi-status
filter and a search each show the listing's own order and count, `G` its true last row; a
jump draws its rows once they are read, never a screen of `…` first."""

from __future__ import annotations

from itertools import pairwise

import pytest
from textual.pilot import Pilot
from textual.strip import Strip

from console.app import SyncdeskApp
from console.screens.records import RecordScreen
from console.widgets.job_table import JobTable
from engine import Entity, JobFilter, Sort, Store, SyncService

from .conftest import ago
from .test_flows import SIZE, settle

BULK = 600


async def bulk_customers(store: Store) -> None:
    """600 more customers on QuickBooks, failed and blocked in turn, labels out of order."""
    async with store.write() as db:
        await db.executemany(
            "INSERT INTO sync_jobs (connection_id, entity, record_id, stage, operation, "
            "status, record_version, label, created_at, updated_at) VALUES "
            "(1, 'customer', ?, 0, 'create', ?, 1, ?, ?, ?)",
            [(f"X-{n:05}", "failed" if n % 3 else "blocked", f"Bulk {(n * 7919) % BULK:05}",
              ago(hours=1), ago(seconds=n)) for n in range(BULK)])


async def open_customers(pilot: Pilot[None]) -> tuple[RecordScreen, JobTable]:
    await settle(pilot)
    await pilot.press("enter")  # QuickBooks customers, every status
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, RecordScreen)
    return screen, screen.query_one(JobTable)


def position(screen: RecordScreen) -> str:
    return str(screen.query_one("#window").render())


async def test_sort_by_label_reads_a_to_z_to_the_true_end(
        app: SyncdeskApp, store: Store, service: SyncService) -> None:
    await bulk_customers(store)
    where = JobFilter(connection_id=1, entity=Entity.CUSTOMER)
    listing = await service.rows_after(where, Sort.LABEL, limit=BULK + 10)
    labels = [job.label for job in listing.rows]
    assert labels == sorted(labels)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_customers(pilot)
        await pilot.press("s")  # recent -> label
        await settle(pilot)
        assert screen.sort is Sort.LABEL and table.cursor_row == 0
        assert [job.label for job in table.held] == labels[:len(table.held)]
        assert len(table.held) < len(labels) and f"of {len(labels):,}" in position(screen)
        await pilot.press("G")
        await settle(pilot)
        assert table.cursor_job is not None and table.cursor_job.label == labels[-1]
        assert [job.label for job in table.held] == labels[-len(table.held):]


async def test_a_multi_status_filter_keeps_the_order_and_counts(
        app: SyncdeskApp, store: Store, service: SyncService) -> None:
    await bulk_customers(store)
    where = JobFilter(connection_id=1, entity=Entity.CUSTOMER, statuses=("blocked", "failed"))
    expected = [job.id for job in (await service.rows_after(
        where, Sort.RECENT, limit=BULK + 10)).rows]
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_customers(pilot)
        await pilot.press("slash", *"status:blocked,failed", "enter")
        await settle(pilot)
        assert screen.where.statuses == ("blocked", "failed")
        assert table.total == len(expected) == BULK
        assert f"row 1 of {BULK:,}" in position(screen)
        assert [job.id for job in table.held] == expected[:len(table.held)]
        await pilot.press("colon", *str(BULK // 2), "enter")
        await settle(pilot)
        assert table.cursor_job is not None and table.cursor_job.id == expected[BULK // 2 - 1]
        await pilot.press("pagedown")
        await settle(pilot)
        row = table.cursor_row
        assert table.cursor_job is not None and table.cursor_job.id == expected[row]


async def test_a_search_shows_its_matches_and_their_count(
        app: SyncdeskApp, store: Store) -> None:
    await bulk_customers(store)
    async with app.run_test(size=SIZE) as pilot:
        screen, table = await open_customers(pilot)
        await pilot.press("slash", *"bulk 0042", "enter")  # any case: Bulk 00420 .. 00429
        await settle(pilot)
        assert sorted(job.label for job in table.held) == [f"Bulk {n:05}"
                                                            for n in range(420, 430)]
        assert table.total == 10 and "row 1 of 10" in position(screen)
        await pilot.press("escape")  # clears the query, the whole listing is back
        await settle(pilot)
        assert table.total == BULK + 3 and screen.where.text is None


async def test_a_jump_draws_its_row_in_one_frame_then_holds_a_screen_either_side(
        app: SyncdeskApp, store: Store, service: SyncService,
        monkeypatch: pytest.MonkeyPatch) -> None:
    await bulk_customers(store)
    where = JobFilter(connection_id=1, entity=Entity.CUSTOMER)
    expected = [job.id for job in (await service.rows_after(
        where, Sort.RECENT, limit=BULK + 10)).rows]
    pending: list[int] = []  # rows on screen drawn as `…` (not held yet)
    draw = JobTable.render_line

    def render_line(table: JobTable, y: int) -> Strip:
        row = table.first_shown + y - 1
        if y and row < table.total and table.job_at(row) is None:
            pending.append(row)
        return draw(table, y)

    monkeypatch.setattr(JobTable, "render_line", render_line)
    async with app.run_test(size=SIZE) as pilot:
        _, table = await open_customers(pilot)
        for keys, row in ((("colon", *str(BULK // 2), "enter"), BULK // 2 - 1),
                          (("G",), len(expected) - 1), (("g",), 0)):
            await pilot.press(*keys)
            await settle(pilot)
            assert table.cursor_row == row and table.cursor_job is not None
            assert table.cursor_job.id == expected[row] and not pending, keys
            first, page = table.first_shown, table.page
            # The jump read the screen alone; the screens above and below followed it.
            assert table.start <= max(0, first - page)
            assert table.end >= min(len(expected), first + 2 * page)
            assert [job.id for job in table.held] == expected[table.start:table.end]
        await pilot.press("colon", *str(BULK // 2), "enter", *"k" * table.page)
        await settle(pilot)  # moving on from a jump finds its neighbours held
        assert not pending and table.cursor_job is not None
        assert table.cursor_job.id == expected[BULK // 2 - 1 - table.page]


async def test_a_row_is_one_segment_per_run_of_one_style(app: SyncdeskApp) -> None:
    # Textual's steps after the table's (crop, colour filter, the compositor's cuts) go
    # segment by segment: neighbours of one style are drawn as one.
    async with app.run_test(size=SIZE) as pilot:
        _, table = await open_customers(pilot)
        line = table.render_line(2)
        segments = list(line)
        assert all(a.style != b.style for a, b in pairwise(segments))
        assert line.text.startswith(f"   {table.held[1].label}  ") and len(segments) < 10
