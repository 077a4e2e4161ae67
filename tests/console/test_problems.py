"""The problems queue, the filter bar (and its grammar), and following a retry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from console.app import SyncdeskApp
from console.screens.detail import DetailScreen
from console.screens.modals import ConfirmScreen
from console.screens.problems import ProblemsScreen
from console.screens.records import RecordScreen
from console.widgets.filter_bar import FilterBar, complete
from console.widgets.job_table import JobTable
from console.widgets.table import Table
from engine import Entity, JobFilter, QueryError, Store, SyncService
from engine._service import message_shape

from .conftest import BRACKETS, NOW, ago
from .test_flows import SIZE, messages, open_failed_invoices, settle, until

# -- the grammar ------------------------------------------------------------------------


def test_query_grammar_reads_every_key_and_free_text() -> None:
    where = JobFilter.parse('status:failed,blocked class:duplicate code:6240 platform:Xero '
                            'entity:invoice since:2d doubt:yes Riverside "Homes Ltd"', now=NOW)
    assert where == JobFilter(
        statuses=("failed", "blocked"), error_class="duplicate", error_code="6240",
        platform="xero", entity=Entity.INVOICE, since=NOW - timedelta(days=2), in_doubt=True,
        text="Riverside Homes Ltd")
    assert JobFilter.parse("", now=NOW) == JobFilter()


@pytest.mark.parametrize(("query", "token", "why"), [
    ("status:lost", "status:lost", "no status 'lost'"),
    ("class:oops x", "class:oops", "no error class 'oops'"),
    ("since:soon", "since:soon", "since: takes a number"),
    ("entity:", "entity:", "needs a value"),
    ("code:1 code:2", "code:2", "given twice"),
    ("colour:red", "colour:red", "unknown filter 'colour'"),
])
def test_a_bad_query_names_its_token(query: str, token: str, why: str) -> None:
    with pytest.raises(QueryError) as raised:
        JobFilter.parse(query, now=NOW)
    assert raised.value.token == token and why in str(raised.value)


def test_messages_fold_names_and_numbers_into_one_shape() -> None:
    one = message_shape("Duplicate Name 'Riverside Homes' (id 12)")
    two = message_shape("Duplicate Name 'Riverside Kitchens & Co' (id 4410)")
    assert one == two == ("Duplicate Name '…' (id #)", "Duplicate Name '%' (id %)")
    assert message_shape("50% off_line")[1] == "%\\% off\\_line"  # literal LIKE characters


def test_completion_of_keys_and_values() -> None:
    assert complete("st") == "status:"
    assert complete("status:fa") == "status:failed"
    assert complete("status:failed,bl") == "status:failed,blocked"
    assert complete("code:6240 pl") == "code:6240 platform:"
    assert complete("platform:x") == "platform:xero"
    assert complete("zz") is None and complete("status:failed") is None


# -- the service's groups ---------------------------------------------------------------


async def add_duplicates(store: Store) -> None:
    """Three xero customers refused as duplicates, each naming itself: one group."""
    async with store.write() as db:
        for n, (record, name) in enumerate((("C-1", "Smith & Co"), ("C-2", "Jones Builders"),
                                            ("C-3", "Ada Homes")), 1):
            await db.execute(
                "UPDATE sync_jobs SET status = 'failed', error_class = 'duplicate', "
                "error_code = '6240', error_message = ?, updated_at = ? WHERE connection_id = "
                "2 AND entity = 'customer' AND record_id = ?",
                (f"Duplicate Name '{name}' (id {n * 7})", ago(hours=n), record))
        await db.execute("UPDATE sync_jobs SET in_doubt = 1, status = 'pending' "
                         "WHERE connection_id = 2 AND record_id = 'V-5'")


async def test_problems_group_siblings_across_the_queue(store: Store,
                                                        service: SyncService) -> None:
    await add_duplicates(store)
    groups = {(g.platform, g.kind, g.error_class, g.error_code, g.message): g
              for g in await service.problems()}
    duplicate = groups[("xero", "failed", "duplicate", "6240", "Duplicate Name '…' (id #)")]
    assert duplicate.count == 3 and duplicate.oldest.isoformat().startswith("2025-03-14T09")
    assert await service.count(duplicate.where) == 3  # the group's filter finds exactly them
    invalid = groups[("quickbooks", "failed", "validation", "6000", BRACKETS.replace(
        "0", "#").replace("1", "#"))]
    assert invalid.count == 2
    assert groups[("xero", "in doubt", None, None, "")].count == 1
    assert ("quickbooks", "skipped", "unmapped", None, "item GROUT has no income account") in groups
    assert sum(g.count for g in groups.values() if g.kind == "blocked") == 1
    narrowed = await service.problems(JobFilter.parse("code:6240", now=NOW))
    assert [g.count for g in narrowed] == [3]


# -- the console ------------------------------------------------------------------------


async def open_problems(pilot: object) -> ProblemsScreen:
    await settle(pilot)  # type: ignore[arg-type]
    await pilot.press("exclamation_mark")  # type: ignore[attr-defined]
    await settle(pilot)  # type: ignore[arg-type]
    screen = pilot.app.screen  # type: ignore[attr-defined]
    assert isinstance(screen, ProblemsScreen)
    return screen


def group_rows(screen: ProblemsScreen) -> list[list[str]]:
    table = screen.query_one(Table)
    return [[cell.plain for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def test_problems_open_from_any_screen_enter_and_retry_a_group(
        app: SyncdeskApp, store: Store, service: SyncService) -> None:
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        await open_failed_invoices(pilot)
        screen = await open_problems(pilot)  # `!` from the record view, not only the overview
        rows = group_rows(screen)
        assert "8 records need a person, in 5 groups" in str(
            screen.query_one("#totals").render())
        duplicate = next(i for i, row in enumerate(rows) if row[4] == "6240")
        assert rows[duplicate][5] == "3" and rows[duplicate][6] == "3h"
        assert rows[duplicate][7] == "Duplicate Name '…' (id #)"
        table = screen.query_one(Table)
        table.move_cursor(row=duplicate)
        await pilot.press("enter")
        await settle(pilot)
        records = app.screen
        assert isinstance(records, RecordScreen) and records.connection is None
        assert len(records.query_one(JobTable).rows) == 3
        assert "Problems › xero · failed · duplicate/6240" in records.title
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("R")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "Retry 3 records?" in confirm.question
        assert "every connection to xero · failed · duplicate/6240" in confirm.scope
        await pilot.click("#confirm")
        await settle(pilot)
        assert "3 records re-queued (every connection to xero" in " ".join(messages(app))
        assert not any(row[4] == "6240" for row in group_rows(screen))


async def test_problems_marks_retry_several_groups_behind_one_confirm(
        app: SyncdeskApp, store: Store) -> None:
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_problems(pilot)
        rows = group_rows(screen)
        failed = [i for i, row in enumerate(rows) if row[4] in ("6000", "6240")]
        for row in failed:
            screen.query_one(Table).move_cursor(row=row)
            await pilot.press("space")
        assert len(screen.marked) == 2
        await pilot.press("r")
        await settle(pilot)
        confirm = app.screen
        assert isinstance(confirm, ConfirmScreen)
        assert "Retry 5 records?" in confirm.question and "2 problem groups" in confirm.scope


async def test_filter_bar_narrows_names_a_bad_token_and_esc_clears_first(
        app: SyncdeskApp) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        await pilot.press("f", "f", "f", "f", "f", "f", "f")  # any status
        await settle(pilot)
        await pilot.press("slash", *"status:lost")
        await pilot.press("enter")
        await settle(pilot)
        error = screen.query_one("#query-error")
        assert error.display and "'status:lost': no status 'lost'" in str(error.render())
        assert screen.query_one(FilterBar).display  # still open, to correct it
        await pilot.press(*("backspace" for _ in "lost"), *"fa", "right", *" code:6000")
        await pilot.press("enter")
        await settle(pilot)
        assert screen.query_text == "status:failed code:6000"
        assert screen.where.statuses == ("failed",) and screen.where.error_code == "6000"
        assert screen.where.connection_id == 1 and len(screen.query_one(JobTable).rows) == 2
        assert not screen.query_one(FilterBar).display
        await pilot.press("escape")  # clears the query
        await settle(pilot)
        assert isinstance(app.screen, RecordScreen) and screen.query_text == ""
        assert screen.where.statuses == () and len(screen.query_one(JobTable).rows) == 5
        await pilot.press("escape")  # now leaves
        assert not isinstance(app.screen, RecordScreen)


async def test_problems_filter_bar(app: SyncdeskApp, store: Store) -> None:
    await add_duplicates(store)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_problems(pilot)
        await pilot.press("slash", *"platform:xero", "enter")
        await settle(pilot)
        assert {row[1] for row in group_rows(screen)} == {"xero", ""}
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and "quickbooks" in {row[1] for row in group_rows(screen)}


async def test_a_retried_row_stays_as_retrying_until_its_outcome(
        app: SyncdeskApp, store: Store) -> None:
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_failed_invoices(pilot)
        table = screen.query_one(JobTable)
        first = table.held[0]
        await pilot.press("r")
        await settle(pilot)
        await until(pilot, lambda: table.get_cell(str(first.id), "status").plain
                    == "↻ retrying…")
        assert screen.where.statuses == ("failed",) and len(table.rows) == 2  # still shown
        async with store.write() as db:  # the engine's answer: synced
            await db.execute("UPDATE sync_jobs SET status = 'synced', attempts = 0, "
                             "updated_at = ? WHERE id = ?", (ago(seconds=0), first.id))
        await until(pilot, lambda: table.get_cell(str(first.id), "status").plain
                    == "✔ synced")
        assert len(table.rows) == 2  # the outcome stays on screen until the filter changes
        await pilot.press("f")
        await settle(pilot)
        assert str(first.id) not in table.rows


async def test_detail_counts_every_attempt_and_shows_rate_limit_waits(
        app: SyncdeskApp, store: Store) -> None:
    async with store.write() as db:
        await db.execute(
            "INSERT INTO sync_attempts (job_id, started_at, duration_ms, operation, outcome, "
            "error_class, message, http_status) SELECT id, ?, 90, 'create', 'rate_limited', "
            "'rate_limited', 'Too many requests: wait 30s', 429 FROM sync_jobs "
            "WHERE connection_id = 1 AND record_id = 'V-2'", (ago(minutes=1),))
        await db.execute("UPDATE sync_jobs SET attempts = 0 WHERE record_id = 'V-2'")
    async with app.run_test(size=SIZE) as pilot:
        await open_failed_invoices(pilot)
        await pilot.press("j", "enter")
        await settle(pilot)
        detail = app.screen
        assert isinstance(detail, DetailScreen)
        facts = str(detail.query_one("#facts").render())
        assert "4 in all (rate-limit waits included); 0 of 6 in this round" in facts
        attempts = detail.query_one("#attempts", Table)
        newest = [cell.plain for cell in attempts.get_row_at(0)]
        assert newest[3] == "⧗ rate limited" and newest[6] == "429"


async def test_a_read_only_problems_queue_refuses_retries_out_loud(
        store: Store, service: SyncService) -> None:
    app = SyncdeskApp(SyncService(store, actor="test", read_only=True), poll_interval=0.05)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_problems(pilot)
        await pilot.press("R", "r")
        await settle(pilot)
        assert app.screen is screen
        assert [m for m in messages(app) if m.startswith("read-only:")] == [
            "read-only: retry all refused (console opened with --read-only)",
            "read-only: retry refused (console opened with --read-only)"]
        assert await service.count(JobFilter(statuses=("failed",))) == 2
