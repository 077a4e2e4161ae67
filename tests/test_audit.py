"""The drift audit against a fake platform whose states are a dict: what it finds, what it
stores, what it clears, and the one notification per connection."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from cryptography.fernet import Fernet

from console._wiring import Config
from engine import (
    Allocation,
    ConfigError,
    CreditNote,
    Customer,
    DriftField,
    EngineSettings,
    Entity,
    EntryStatus,
    Invoice,
    InvoiceStatus,
    Ledger,
    Line,
    NewConnection,
    Payment,
    Provider,
    RemoteCustomer,
    RemoteItem,
    RemoteRef,
    RemoteState,
    Sealer,
    Store,
    SyncEngine,
    SyncService,
    TokenSet,
    Unsupported,
    add_connection,
    run_audit,
)
from engine._audit import audit_runs, drift_rows
from engine._sync_state import link_synced
from engine._time import to_iso

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class FakePlatform:
    """`list_states` from a dict per entity; `fetch` finds what `listed_out` holds."""

    def __init__(self) -> None:
        self.states: dict[Entity, dict[str, RemoteState]] = {}
        self.listed_out: set[str] = set()
        """Objects the list leaves out that a read by id still finds (archived, say)."""
        self.fetched: list[str] = []
        self.unsupported: set[Entity] = set()

    async def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        if entity in self.unsupported:
            raise Unsupported(f"{entity.label}s cannot be listed here")
        for state in self.states.get(entity, {}).values():
            if state.remote_id not in self.listed_out:
                yield state

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        self.fetched.append(remote_id)
        known = self.states.get(entity, {})
        return RemoteRef(remote_id) if all(part in known for part in remote_id.split(",")) \
            else None

    async def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """What the weekly link check reads: the customers, and every object listed."""
        listed = {"cus-1", "cus-2"} if entity is Entity.CUSTOMER else self.states.get(entity, {})
        for remote_id in listed:
            yield RemoteRef(remote_id)

    async def list_customers(self) -> AsyncIterator[RemoteCustomer]:
        for _ in ():
            yield _

    async def list_items(self) -> AsyncIterator[RemoteItem]:
        for _ in ():
            yield _

    def plant(self, entity: Entity, remote_id: str, **change: Any) -> None:
        self.states[entity][remote_id] = replace(self.states[entity][remote_id], **change)

    @property
    def provider(self) -> Provider:
        return cast(Provider, self)


def clock() -> datetime:
    return NOW


CUSTOMERS = [Customer(id="C-1", display_name="Maria Lopez"),
             Customer(id="C-2", display_name="Jones Builders")]
INVOICES = [
    Invoice(id="V-1", number="INV-1", customer_id="C-1", issue_date=date(2026, 11, 2),
            status=InvoiceStatus.SENT,
            lines=[Line(description="Tile", quantity=Decimal(3), unit_price=Decimal("12.50"),
                        tax_code="GST", tax_amount=Decimal("5.63")),
                   Line(description="Grout", unit_price=Decimal("9.99"))]),
    Invoice(id="V-2", number="INV-2", customer_id="C-2", issue_date=date(2026, 11, 3),
            status=InvoiceStatus.SENT, lines=[Line(description="Labour",
                                                   unit_price=Decimal(200))]),
    Invoice(id="V-3", number="INV-3", customer_id="C-2", issue_date=date(2026, 11, 4),
            status=InvoiceStatus.VOID, lines=[Line(description="Oops", unit_price=Decimal(5))]),
]
# V-1 totals 37.50 + 5.63 + 9.99 = 53.12; 20 paid, 10 credited, so 23.12 owed.
PAYMENTS = [
    Payment(id="P-1", customer_id="C-1", date=date(2026, 11, 5), amount=Decimal(20),
            allocations=[Allocation(invoice_id="V-1", amount=Decimal(20))]),
    # Split on the platform: one payment per invoice, a link joining both ids.
    Payment(id="P-2", customer_id="C-2", date=date(2026, 11, 6), amount=Decimal(150),
            allocations=[Allocation(invoice_id="V-2", amount=Decimal(150))]),
]
CREDITS = [CreditNote(id="N-1", number="CN-1", customer_id="C-1", date=date(2026, 11, 7),
                      lines=[Line(description="Chipped tile", unit_price=Decimal(25))],
                      allocations=[Allocation(invoice_id="V-1", amount=Decimal(10))])]


def agreeing() -> dict[Entity, dict[str, RemoteState]]:
    """What the platform holds for the ledger above when every record agrees."""
    return {
        Entity.INVOICE: {
            "inv-1": RemoteState("inv-1", Decimal("53.12"), Decimal("23.12"), "AUTHORISED",
                                 "cus-1", 2, "INV-1"),
            "inv-2": RemoteState("inv-2", Decimal("200.0"), Decimal(50), "AUTHORISED", "cus-2",
                                 1, "INV-2"),
            # Voided on the platform too, its amounts zeroed (as QuickBooks does).
            "inv-3": RemoteState("inv-3", Decimal(0), Decimal(0), "VOIDED", "cus-2", 1),
        },
        Entity.PAYMENT: {
            "pay-1": RemoteState("pay-1", Decimal(20), None, None, "cus-1"),
            "pay-2a": RemoteState("pay-2a", Decimal(100), Decimal(0), None, "cus-2"),
            "pay-2b": RemoteState("pay-2b", Decimal(50), Decimal(0), None, "cus-2"),
        },
        Entity.CREDIT_NOTE: {
            "cn-1": RemoteState("cn-1", Decimal(25), Decimal(15), "AUTHORISED", "cus-1", 1),
        },
    }


LINKS = {(Entity.CUSTOMER, "C-1"): "cus-1", (Entity.CUSTOMER, "C-2"): "cus-2",
         (Entity.INVOICE, "V-1"): "inv-1", (Entity.INVOICE, "V-2"): "inv-2",
         (Entity.INVOICE, "V-3"): "inv-3", (Entity.PAYMENT, "P-1"): "pay-1",
         (Entity.PAYMENT, "P-2"): "pay-2a,pay-2b", (Entity.CREDIT_NOTE, "N-1"): "cn-1"}


@pytest.fixture
async def synced(store: Store, sealer: Sealer) -> int:
    """A connection on which every record above is synced and linked."""
    await Ledger(store, clock).upsert([*CUSTOMERS, *INVOICES, *PAYMENTS, *CREDITS])
    connection = await add_connection(store, NewConnection(
        platform="xero", tenant_id="t-1", tenant_name="Acme Ltd",
        tokens=TokenSet("a", "r", NOW + timedelta(hours=1))), sealer, clock)
    now = to_iso(NOW)

    def link_all(db: Any) -> None:
        for (entity, record_id), remote_id in LINKS.items():
            link_synced(db, connection, entity, record_id, RemoteRef(remote_id), now)

    await store.run_write(link_all)
    return connection


@pytest.fixture
def platform() -> FakePlatform:
    fake = FakePlatform()
    fake.states = agreeing()
    return fake


async def audit(store: Store, connection: int, platform: FakePlatform) -> Any:
    return await run_audit(store, connection, platform.provider, "Xero", clock)


async def notices(store: Store) -> list[tuple[str, str, bool]]:
    return [(n.kind, n.title, n.read_at is None)
            for n in reversed(await SyncService(store, actor="t").notifications())]


async def test_a_clean_run_finds_nothing_and_stores_nothing(
        store: Store, synced: int, platform: FakePlatform) -> None:
    report = await audit(store, synced, platform)
    assert report.differences == []
    assert (report.compared, report.unlisted, report.clean) == (6, 0, True)
    assert platform.fetched == []  # everything was in the lists
    assert await drift_rows(store) == []
    assert await notices(store) == []  # a clean run after a clean run says nothing
    [run] = await audit_runs(store)
    assert (run.compared, run.differing, run.ran_at) == (6, 0, NOW)


@pytest.mark.parametrize(("entity", "remote_id", "change", "field", "ledger", "theirs"), [
    (Entity.INVOICE, "inv-1", {"total": Decimal("53.13")}, DriftField.TOTAL, "53.12",
     "53.13"),
    (Entity.INVOICE, "inv-1", {"balance": Decimal(0)}, DriftField.BALANCE, "23.12", "0.00"),
    (Entity.INVOICE, "inv-2", {"status": "VOIDED"}, DriftField.STATUS, "sent", "VOIDED"),
    (Entity.INVOICE, "inv-2", {"status": "DRAFT"}, DriftField.STATUS, "sent", "DRAFT"),
    (Entity.INVOICE, "inv-3", {"status": "AUTHORISED"}, DriftField.STATUS, "void",
     "AUTHORISED"),
    (Entity.INVOICE, "inv-2", {"customer_remote_id": "cus-1"}, DriftField.CUSTOMER,
     "C-2 (cus-2)", "cus-1"),
    (Entity.INVOICE, "inv-1", {"line_count": 3}, DriftField.LINES, "2", "3"),
    (Entity.CREDIT_NOTE, "cn-1", {"balance": Decimal(25)}, DriftField.BALANCE, "15.00",
     "25.00"),
    (Entity.CREDIT_NOTE, "cn-1", {"status": "Deleted"}, DriftField.STATUS, "active",
     "Deleted"),
    # One part of a split payment changed: the parts are summed.
    (Entity.PAYMENT, "pay-2b", {"total": Decimal(40)}, DriftField.TOTAL, "150.00", "140.00"),
    (Entity.PAYMENT, "pay-2a", {"customer_remote_id": "cus-9"}, DriftField.CUSTOMER,
     "C-2 (cus-2)", "cus-9, cus-2"),
])
async def test_each_planted_difference_is_found_with_both_values(
        store: Store, synced: int, platform: FakePlatform, entity: Entity, remote_id: str,
        change: dict[str, Any], field: DriftField, ledger: str, theirs: str) -> None:
    platform.plant(entity, remote_id, **change)
    report = await audit(store, synced, platform)
    [found] = report.differences
    assert (found.entity, found.field, found.ledger, found.platform) == (
        entity, field, ledger, theirs)
    assert found.remote_id.split(",").count(remote_id) == 1
    [row] = await drift_rows(store)
    assert (row.field, row.ledger, row.platform_value, row.found_at) == (
        field, ledger, theirs, NOW)
    assert row.job_id is not None and row.platform == "xero"


async def test_money_is_compared_at_the_currencys_minor_unit(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """A platform that says 53.120 or 53.1249 says 53.12: not a difference."""
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal("53.1249"),
                   balance=Decimal("23.120"))
    assert (await audit(store, synced, platform)).clean


async def test_a_void_record_is_compared_on_its_status_only(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.plant(Entity.INVOICE, "inv-3", total=Decimal(0), line_count=0,
                   customer_remote_id="cus-1")
    assert (await audit(store, synced, platform)).clean
    # Left out of the list altogether, a void object is not missing either, nor read.
    del platform.states[Entity.INVOICE]["inv-3"]
    assert (await audit(store, synced, platform)).clean
    assert platform.fetched == []


async def test_a_missing_object_is_confirmed_by_a_read_before_it_is_called_missing(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.listed_out = {"inv-2"}  # archived: the list skips it, a read by id finds it
    report = await audit(store, synced, platform)
    assert (report.clean, report.unlisted, report.compared) == (True, 1, 5)
    assert platform.fetched == ["inv-2"]

    del platform.states[Entity.PAYMENT]["pay-2b"]  # one part of the split payment is gone
    report = await audit(store, synced, platform)
    [missing] = report.differences
    assert (missing.record_id, missing.field, missing.remote_id) == (
        "P-2", DriftField.MISSING, "pay-2a,pay-2b")
    assert platform.fetched[-1] == "pay-2a,pay-2b"


async def test_a_rerun_clears_what_was_fixed_and_keeps_when_the_rest_was_found(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal(1))
    platform.plant(Entity.INVOICE, "inv-2", line_count=4)
    await audit(store, synced, platform)
    assert {(r.record_id, r.field) for r in await drift_rows(store)} == {
        ("V-1", DriftField.TOTAL), ("V-2", DriftField.LINES)}

    later = NOW + timedelta(days=7)
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal("53.12"))  # fixed on the platform
    report = await run_audit(store, synced, platform.provider, "Xero", lambda: later)
    [left] = await drift_rows(store)
    assert (left.record_id, left.field, left.found_at) == ("V-2", DriftField.LINES, NOW)
    assert report.differing == 1

    platform.plant(Entity.INVOICE, "inv-2", line_count=1)
    assert (await audit(store, synced, platform)).clean
    assert await drift_rows(store) == []


async def test_one_notification_per_connection_and_a_clean_run_says_so(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal(1), line_count=9)
    platform.plant(Entity.CREDIT_NOTE, "cn-1", customer_remote_id="cus-2")
    report = await audit(store, synced, platform)
    assert (len(report.differences), report.differing) == (3, 2)
    await audit(store, synced, platform)  # the same drift again: no second notice
    assert await notices(store) == [("drift", "Xero: 2 records differ from the ledger", True)]

    platform.states = agreeing()
    await audit(store, synced, platform)
    assert await notices(store) == [
        ("drift", "Xero: 2 records differ from the ledger", False),
        ("drift", "Xero: the ledger and the platform agree again", True)]
    await audit(store, synced, platform)
    assert len(await notices(store)) == 2


async def test_its_notice_has_a_slot_of_its_own(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """An unread connection-level notice (a spent quota) does not swallow the drift's."""
    async with store.write() as db:
        await db.execute("INSERT INTO notifications (connection_id, kind, title, message, "
                         "created_at) VALUES (?, 'quota', 'quota', 'spent', ?)",
                         (synced, to_iso(NOW)))
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal(1))
    await audit(store, synced, platform)
    assert [kind for kind, _, _ in await notices(store)] == ["quota", "drift"]


async def test_a_record_changed_since_its_sync_is_not_compared(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """A pending push is not drift: the platform is about to hear of the change."""
    await Ledger(store, clock).upsert([INVOICES[1].model_copy(update={
        "lines": [Line(description="Labour", unit_price=Decimal(260))]})])
    report = await audit(store, synced, platform)
    assert report.clean and report.compared == 5


async def test_an_entity_the_platform_cannot_list_is_said_and_skipped(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.unsupported = {Entity.CREDIT_NOTE}
    platform.plant(Entity.CREDIT_NOTE, "cn-1", total=Decimal(1))
    report = await audit(store, synced, platform)
    assert report.clean and report.compared == 5
    assert report.unsupported == ["credit note: credit notes cannot be listed here"]


async def test_a_void_payment_pays_nothing_on_the_invoice(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """The invoice's balance is what live payments leave: voiding P-1 in the ledger while
    the platform still holds it shows on both the payment and the invoice."""
    await Ledger(store, clock).upsert([PAYMENTS[0].model_copy(
        update={"status": EntryStatus.VOID})])
    async with store.write() as db:  # pushed: the job is synced again, the platform not
        await db.execute("UPDATE sync_jobs SET status = 'synced' WHERE record_id = 'P-1'")
    platform.plant(Entity.PAYMENT, "pay-1", status="AUTHORISED")
    report = await audit(store, synced, platform)
    assert {(d.record_id, d.field, d.ledger, d.platform) for d in report.differences} == {
        ("P-1", DriftField.STATUS, "void", "AUTHORISED"),
        ("V-1", DriftField.BALANCE, "43.12", "23.12")}
    assert report.compared == 6


@pytest.mark.parametrize("weekly_audit", [True, False])
async def test_the_weekly_sync_audits_after_the_link_check_when_configured(
        store: Store, synced: int, platform: FakePlatform, weekly_audit: bool) -> None:
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal(1))
    del platform.states[Entity.INVOICE]["inv-2"]  # deleted on the platform
    engine = SyncEngine(store, {}, Sealer(Fernet.generate_key()), clock=clock,
                        settings=EngineSettings(weekly_audit=weekly_audit))
    worker = SimpleNamespace(connection_id=synced, platform="xero", title="Xero",
                             provider=platform)
    await engine._weekly(cast(Any, worker))
    # The check marks the deleted invoice's link broken; the audit, after it, does not
    # call that invoice missing again.
    jobs = {r["record_id"]: r["status"] for r in await store.fetch_all(
        "SELECT record_id, status FROM sync_jobs WHERE entity = 'invoice'")}
    assert jobs["V-2"] == "broken_link"
    found = {(r.record_id, r.field) for r in await drift_rows(store)}
    assert found == ({("V-1", DriftField.TOTAL)} if weekly_audit else set())
    assert len(await audit_runs(store)) == (1 if weekly_audit else 0)


def test_config_turns_the_weekly_audit_on_and_refuses_a_non_boolean(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert not Config.load(path).weekly_audit
    path.write_text("[engine]\nweekly_audit = true\npoll_interval = 0.5\n")
    config = Config.load(path)
    assert config.weekly_audit and config.engine == {"poll_interval": 0.5}
    path.write_text('[engine]\nweekly_audit = "yes"\n')
    with pytest.raises(ConfigError, match="weekly_audit is true or false"):
        Config.load(path)


async def test_drafts_are_compared_on_sent_invoices_only(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """The ledger knows no draft payment or credit note: a platform's word for one is not
    drift (only void or not is compared there)."""
    platform.plant(Entity.CREDIT_NOTE, "cn-1", status="draft")
    assert (await audit(store, synced, platform)).clean


async def test_an_invoice_owes_there_what_reached_that_platform(
        store: Store, synced: int, platform: FakePlatform) -> None:
    """A payment the platform cannot take (skipped, as every payment on Wave) pays nothing
    there; one still on its way leaves the invoice's balance unjudged until it arrives."""
    await Ledger(store, clock).upsert([PAYMENTS[0].model_copy(update={
        "amount": Decimal(25), "allocations": [Allocation(invoice_id="V-1",
                                                          amount=Decimal(25))]})])
    report = await audit(store, synced, platform)  # P-1's edit is pending: V-1 not judged
    assert report.clean and report.compared == 5

    async with store.write() as db:
        await db.execute("UPDATE sync_jobs SET status = 'skipped' WHERE record_id = 'P-1'")
    report = await audit(store, synced, platform)
    assert [(d.record_id, d.field, d.ledger, d.platform) for d in report.differences] == [
        ("V-1", DriftField.BALANCE, "43.12", "23.12")]


def test_syncdesk_audit_prints_each_difference_and_exits_like_diff(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """0 when all agree, 1 on drift (a person's payment in Wave), 2 when the platform
    cannot be read; --json is one object."""
    import asyncio
    import json

    import httpx

    from console._fleet import SandboxFleet
    from console._wiring import connect_sandbox, platforms
    from console.cli import main
    from tests.test_budget import ledger

    db = str(tmp_path / "audit.db")
    fleet = SandboxFleet(["wave"], first_port=20350, limits_enabled=False)
    with fleet:
        async def prepare() -> str:
            store = await Store.open(Path(db))
            try:
                await Ledger(store).upsert(ledger())
                await connect_sandbox(store, platforms()["wave"], fleet.urls["wave"],
                                      Sealer.load())
            finally:
                await store.close()
            return fleet.urls["wave"]

        url = asyncio.run(prepare())
        assert main(["engine", "run", "--until-idle", "--db", db]) == 0
        capsys.readouterr()
        assert main(["audit", "--db", db]) == 0
        out = capsys.readouterr().out
        assert "[1] wave — " in out and "4 records compared, all agree with the ledger" in out

        invoice = asyncio.run(_remote_id(db, "INV-2"))
        httpx.post(f"{url}/_sandbox/record-payment",
                   json={"invoiceId": invoice, "amount": "40.00"}).raise_for_status()
        assert main(["audit", "--db", db, "--connection", "wave"]) == 1
        out = capsys.readouterr().out
        assert "4 records compared, 1 differ" in out
        assert "invoice INV-2 (INV-2)" in out and "ledger 58.00" in out \
            and "platform 18.00" in out
        assert main(["audit", "--db", db, "--json"]) == 1
        data = json.loads(capsys.readouterr().out)
        assert data["drift"] is True
        [connection] = data["connections"]
        assert (connection["compared"], connection["differing"], connection["error"]) == (
            4, 1, None)
        assert connection["differences"] == [{
            "entity": "invoice", "record_id": "INV-2", "label": "INV-2",
            "remote_id": invoice, "field": "balance", "ledger": "58.00",
            "platform": "18.00"}]
    # The sandbox is gone: the audit says it did not finish, and keeps the last drift.
    assert main(["audit", "--db", db, "--json"]) == 2
    [connection] = json.loads(capsys.readouterr().out)["connections"]
    assert connection["error"]
    assert asyncio.run(_drift_count(db)) == 1
    assert main(["audit", "--db", db, "--connection", "9"]) == 2
    assert "no connection 9" in capsys.readouterr().err


async def _remote_id(db: str, record_id: str) -> str:
    store = await Store.open(Path(db))
    try:
        return str(await store.fetch_value(
            "SELECT remote_id FROM sync_links WHERE record_id = ?", (record_id,)))
    finally:
        await store.close()


async def _drift_count(db: str) -> int:
    store = await Store.open(Path(db))
    try:
        return int(await store.fetch_value("SELECT COUNT(*) FROM drift"))
    finally:
        await store.close()


async def test_a_disconnected_connections_drift_is_not_shown(
        store: Store, synced: int, platform: FakePlatform) -> None:
    platform.plant(Entity.INVOICE, "inv-1", total=Decimal(1))
    await audit(store, synced, platform)
    service = SyncService(store, actor="t", clock=clock)
    assert len(await service.drift()) == 1 and len(await service.audit_runs()) == 1
    assert len(await service.drift(synced)) == 1 and await service.drift(synced + 1) == []
    await service.disconnect(synced)
    assert await service.drift() == [] and await service.audit_runs() == []


@pytest.mark.parametrize("platform", ["freshbooks", "quickbooks", "wave", "xero"])
async def test_the_audit_reads_through_the_budget_at_real_limits(
        make_world: Any, platform: str) -> None:
    """Right after a throttled sync, at the sandbox's real limits, in the budget the sync
    spent: the platform refuses nothing, and every request it answered took a slot."""
    from console._wiring import platforms
    from engine import ConnectionSettings, RequestBudget, live_connections, open_provider
    from engine._connections import ConnectionRow
    from engine._limiter import RateGate
    from tests.test_budget import Counting, ledger

    world = await make_world((platform,), limits_enabled=True)
    sandbox = Counting(world.transport(platform))
    budgets: dict[int, RequestBudget | None] = {}

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        budgets[row.id] = settings.budget
        return replace(settings, transport=sandbox, timeout=10.0)

    await world.ledger.upsert(ledger())
    await SyncEngine(world.store, platforms(), world.sealer, settings_hook=hook,
                     settings=EngineSettings(worker=replace(world.worker, throttle=True),
                                             poll_interval=0.01)).run(until_idle=True)
    connection = world.connections[platform]
    budget = budgets[connection]
    assert isinstance(budget, RateGate)
    before = ((await world.sandbox(platform, "GET", "/_sandbox/state"))["requests"],
              budget.requests)
    row = next(c for c in await live_connections(world.store) if c.id == connection)
    provider = await open_provider(world.store, row, platforms()[platform], world.sealer,
                                   adjust=lambda r, s: replace(s, transport=sandbox,
                                                               budget=budget))
    try:
        report = await run_audit(world.store, connection, provider, platform)
    finally:
        await provider.aclose()
    state = await world.sandbox(platform, "GET", "/_sandbox/state")
    assert report.clean and report.compared >= 4
    assert (state["rate_limited"], sandbox.throttled) == (0, 0)
    assert 1 <= state["requests"] - before[0] == budget.requests - before[1]
