"""Per-connection mappings: checked against the platform's own lists, read by the worker in
one query, and a change re-queues exactly the records it unblocks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from console._wiring import Config, connect_sandbox, platforms
from console.cli import main
from engine import (
    ConfigError,
    ConnectionMappings,
    Customer,
    Invoice,
    InvoiceStatus,
    Item,
    Ledger,
    Line,
    MappingKind,
    MappingRefused,
    Provider,
    PushRequest,
    Sealer,
    Store,
    SyncService,
    Unmapped,
    income_account_for,
    live_connections,
    open_provider,
    unmapped_code,
)
from engine._mappings import read_mappings
from tests._world import World

MakeWorld = Callable[..., Any]


def service_of(world: World, **options: Any) -> SyncService:
    @contextlib.asynccontextmanager
    async def provider(connection_id: int) -> AsyncIterator[Provider]:
        row = next(c for c in await live_connections(world.store) if c.id == connection_id)
        opened = await open_provider(
            world.store, row, platforms()[row.platform], world.sealer,
            adjust=lambda r, s: replace(s, transport=world.transport(r.platform)))
        try:
            yield opened
        finally:
            await opened.aclose()

    return SyncService(world.store, actor="tester", providers=provider, **options)


def invoice(number: str, *lines: Line) -> Invoice:
    return Invoice(id=number, number=number, customer_id="C-1", issue_date=date(2026, 3, 1),
                   status=InvoiceStatus.SENT, lines=list(lines))


async def held_back(world: World, platform: str, record_id: str, error: Unmapped) -> None:
    """The job as a provider's `Unmapped` leaves it: skipped, its code naming the mapping."""
    async with world.store.write() as db:
        await db.execute(
            "UPDATE sync_jobs SET status = 'skipped', error_class = 'unmapped', "
            "error_code = ?, error_message = ? WHERE connection_id = ? AND record_id = ?",
            (error.code, error.message, world.connections[platform], record_id))


async def statuses(world: World, platform: str) -> dict[str, str]:
    rows = await world.store.fetch_all(
        "SELECT record_id, status FROM sync_jobs WHERE connection_id = ? AND entity = 'invoice'",
        (world.connections[platform],))
    return {row["record_id"]: row["status"] for row in rows}


def test_unmapped_names_its_mapping_in_its_code() -> None:
    assert Unmapped("x", kind="tax_code", key="GST").code == "unmapped:tax_code:GST"
    assert Unmapped("x", kind="deposit_account").code == "unmapped:deposit_account"
    assert Unmapped("x", code="keep").code == "keep"
    assert unmapped_code("income_account", "wave:#ab") == "unmapped:income_account:wave:#ab"


async def test_a_value_the_platform_does_not_know_is_refused_with_its_list(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([Item(id="TILE", sku="TILE", name="Tile")])
    service = service_of(world)
    qbo = world.connections["quickbooks"]
    # The old prompt's own example: not an account of the QuickBooks sandbox.
    with pytest.raises(MappingRefused) as refused:
        await service.set_mapping(qbo, MappingKind.INCOME_ACCOUNT, "TILE", "4000")
    assert "'4000' is not one of its accounts on quickbooks" in str(refused.value)
    assert "79 (Sales of Product Income)" in str(refused.value)
    assert {c.value for c in refused.value.choices} >= {"79", "4"}
    assert await read_mappings(world.store, qbo) == ConnectionMappings()

    # By its code, or by the name the platform shows: stored as the code either way.
    await service.set_mapping(qbo, MappingKind.INCOME_ACCOUNT, "TILE", "Sales of Product Income")
    await service.set_mapping(qbo, MappingKind.DEPOSIT_ACCOUNT, None, "4")
    mappings = await read_mappings(world.store, qbo)
    assert mappings.income_accounts == {"TILE": "79"}
    assert mappings.deposit_account == "4"

    with pytest.raises(ConfigError, match="no item 'NOPE' in the ledger"):
        await service.set_mapping(qbo, MappingKind.INCOME_ACCOUNT, "NOPE", "79")
    with pytest.raises(ConfigError, match="takes no key"):
        await service.set_mapping(qbo, MappingKind.DEPOSIT_ACCOUNT, "x", "4")
    with pytest.raises(ConfigError, match="name the tax code"):
        await service.set_mapping(qbo, MappingKind.TAX_CODE, None, "TAX")


async def test_lists_other_than_accounts_come_from_the_platform(make_world: MakeWorld) -> None:
    world: World = await make_world(("freshbooks",))
    service = service_of(world)
    fb = world.connections["freshbooks"]
    methods = await service.mapping_choices(fb, MappingKind.PAYMENT_METHOD)
    assert "Credit" not in {c.value for c in methods} and methods
    change = await service.set_mapping(fb, MappingKind.PAYMENT_METHOD, "card",
                                       methods[0].name.upper())
    assert change.value == methods[0].value
    # FreshBooks has no classes: nothing can be picked, and the refusal says why.
    with pytest.raises(MappingRefused, match="lists no classes"):
        await service.set_mapping(fb, MappingKind.CLASS, "north", "North")


async def test_a_mapping_re_queues_exactly_the_records_it_unblocks(
        make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    await world.ledger.upsert([
        Customer(id="C-1", display_name="Ana"),
        Item(id="TILE", sku="TILE", name="Tile"), Item(id="GROUT", sku="GROUT", name="Grout"),
        invoice("I-GST", Line(description="a", unit_price=Decimal(1), tax_code="GST")),
        invoice("I-VAT", Line(description="b", unit_price=Decimal(1), tax_code="VAT")),
        invoice("I-TILE", Line(item_id="TILE", unit_price=Decimal(1))),
        invoice("I-GROUT", Line(item_id="GROUT", unit_price=Decimal(1))),
        invoice("I-NOITEM", Line(description="c", unit_price=Decimal(1))),
        invoice("I-OTHER", Line(description="d", unit_price=Decimal(1))),
    ])
    reasons = {
        "I-GST": Unmapped("tax 'GST'", kind="tax_code", key="GST"),
        "I-VAT": Unmapped("tax 'VAT'", kind="tax_code", key="VAT"),
        "I-TILE": Unmapped("item 'Tile'", kind="income_account", key="TILE"),
        "I-GROUT": Unmapped("item 'Grout'", kind="income_account", key="GROUT"),
        "I-NOITEM": Unmapped("no item, no default", kind="default_income_account"),
        "I-OTHER": Unmapped("customer 'C-1' is not on QuickBooks yet"),
    }
    for record_id, error in reasons.items():
        await held_back(world, "quickbooks", record_id, error)
    service = service_of(world)
    qbo = world.connections["quickbooks"]
    taxes = await service.mapping_choices(qbo, MappingKind.TAX_CODE)

    change = await service.set_mapping(qbo, MappingKind.TAX_CODE, "GST", taxes[0].value)
    assert change.requeued == 1
    assert (await statuses(world, "quickbooks"))["I-GST"] == "pending"
    assert (await statuses(world, "quickbooks"))["I-VAT"] == "skipped"

    change = await service.set_mapping(qbo, MappingKind.INCOME_ACCOUNT, "TILE", "79")
    assert change.requeued == 1
    # The default account is what every item without one of its own falls back to.
    change = await service.set_mapping(qbo, MappingKind.DEFAULT_INCOME_ACCOUNT, None, "79")
    assert change.requeued == 2
    assert await statuses(world, "quickbooks") == {
        "I-GST": "pending", "I-VAT": "skipped", "I-TILE": "pending", "I-GROUT": "pending",
        "I-NOITEM": "pending", "I-OTHER": "skipped"}

    # Correcting a value re-queues nothing more; unsetting unblocks nothing.
    change = await service.set_mapping(qbo, MappingKind.TAX_CODE, "GST", taxes[-1].value)
    assert (change.previous, change.requeued) == (taxes[0].value, 0)
    gone = await service.unset_mapping(qbo, MappingKind.TAX_CODE, "GST")
    assert (gone.previous, gone.value, gone.requeued) == (taxes[-1].value, None, 0)
    audit = await world.store.fetch_all("SELECT actor, command, scope, affected FROM audit "
                                        "WHERE command LIKE 'map_%' ORDER BY id")
    assert [(a["command"], a["affected"]) for a in audit] == [
        ("map_set", 1), ("map_set", 1), ("map_set", 2), ("map_set", 0), ("map_unset", 0)]
    assert json.loads(audit[-1]["scope"])["previous"] == taxes[-1].value
    assert {a["actor"] for a in audit} == {"tester"}

    listed = await service.mappings(qbo)
    assert (listed[0].kind, listed[0].key) == (MappingKind.TAX_CODE, "VAT")  # holds one back
    entries = {(e.kind, e.key): e for e in listed}
    assert entries[(MappingKind.TAX_CODE, "VAT")].waiting == 1
    assert entries[(MappingKind.INCOME_ACCOUNT, "GROUT")].value is None
    assert entries[(MappingKind.INCOME_ACCOUNT, "TILE")].value == "79"
    assert entries[(MappingKind.INCOME_ACCOUNT, "TILE")].key_name == "Tile"
    assert entries[(MappingKind.DEPOSIT_ACCOUNT, "")].value is None


async def test_read_only_refuses_a_mapping(make_world: MakeWorld) -> None:
    world: World = await make_world(("quickbooks",))
    service = service_of(world, read_only=True)
    with pytest.raises(ConfigError, match="read-only"):
        await service.set_mapping(world.connections["quickbooks"],
                                  MappingKind.DEPOSIT_ACCOUNT, None, "4")


def test_a_connection_mapping_wins_over_the_items_own_account() -> None:
    item = Item(id="TILE", sku="TILE", name="Tile", income_accounts={"xero": "200"},
                income_account="400")
    bare = Item(id="BARE", sku="BARE", name="Bare")
    mappings = ConnectionMappings(income_accounts={"TILE": "260"}, default_income_account="210")
    assert income_account_for(mappings, item, "xero") == "260"
    assert income_account_for(ConnectionMappings(), item, "xero") == "200"
    assert income_account_for(ConnectionMappings(), item, "wave") == "400"
    assert income_account_for(mappings, bare, "xero") == "210"
    assert income_account_for(mappings, None, "xero") == "210"


async def test_every_push_carries_the_connections_mappings(make_world: MakeWorld,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    world: World = await make_world(("wave",))
    wave = world.connections["wave"]
    async with world.store.write() as db:
        await db.execute(
            "INSERT INTO connection_mappings (connection_id, kind, key, value, label, "
            "updated_at, updated_by) VALUES (?, 'tax_code', 'GST', 'tax-1', '', '', 't'), "
            "(?, 'payment_method', 'card', 'CARD', '', '', 't')", (wave, wave))
    seen: list[PushRequest] = []
    provider_class = type(await _provider(world, "wave"))
    original = provider_class.push

    async def push(self: Any, request: PushRequest) -> Any:
        seen.append(request)
        return await original(self, request)

    monkeypatch.setattr(provider_class, "push", push)
    await world.ledger.upsert([Customer(id="C-1", display_name="Ana"),
                               Customer(id="C-2", display_name="Bo")])
    await world.sync()
    assert len(seen) == 2
    assert all(r.mappings == ConnectionMappings(tax_codes={"GST": "tax-1"},
                                                payment_methods={"card": "CARD"})
               for r in seen)


async def _provider(world: World, platform: str) -> Provider:
    row = next(c for c in await live_connections(world.store) if c.platform == platform)
    provider = await open_provider(world.store, row, platforms()[platform], world.sealer)
    await provider.aclose()
    return provider


# -- the CLI and config.toml ---------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """A store connected to a QuickBooks sandbox served on loopback, as `syncdesk` reaches it."""
    from console._fleet import SandboxFleet

    db = tmp_path / "cli.db"
    with SandboxFleet(["quickbooks"], first_port=20100, limits_enabled=False) as fleet:
        async def prepare() -> None:
            store = await Store.open(db)
            await Ledger(store).upsert([Item(id="TILE", sku="TILE", name="Tile")])
            await connect_sandbox(store, platforms()["quickbooks"], fleet.urls["quickbooks"],
                                  Sealer.load())
            await store.close()

        asyncio.run(prepare())
        yield db


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_map_from_the_command_line(served: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = ("--db", str(served), "--connection", "quickbooks")
    code, out, _ = cli(capsys, "map", "options", "income_account", "--json", *db)
    assert code == 0 and {"value": "79", "name": "Sales of Product Income",
                          "detail": "Income"} in json.loads(out)

    code, _, err = cli(capsys, "map", "set", "deposit_account", "4000", *db)
    assert code == 2
    assert "'4000' is not one of its accounts on quickbooks" in err and "4 (Undeposited" in err
    code, out, _ = cli(capsys, "map", "set", "deposit_account", "4000", "--json", *db)
    refused = json.loads(out)
    assert code == 2 and "79" in {c["value"] for c in refused["choices"]}

    code, out, _ = cli(capsys, "map", "set", "income_account", "TILE", "79", "--json", *db)
    assert code == 0 and json.loads(out) == {"connection": 1, "kind": "income_account",
                                             "key": "TILE", "value": "79", "previous": None,
                                             "requeued": 0}
    code, out, _ = cli(capsys, "map", "set", "deposit-account", "Undeposited Funds", *db)
    assert (code, out.strip()) == (0, "connection 1: deposit account → 4; 0 record(s) "
                                      "re-queued")
    code, out, _ = cli(capsys, "map", "list", "--json", *db)
    listed = {(m["kind"], m["key"]): m["value"] for m in json.loads(out)}
    assert listed[("income_account", "TILE")] == "79"
    assert listed[("deposit_account", None)] == "4"
    assert listed[("no_tax_code", None)] is None

    code, out, _ = cli(capsys, "map", "unset", "income_account", "TILE", *db)
    assert code == 0 and "income account of TILE unset (was 79)" in out
    code, _, err = cli(capsys, "map", "set", "colour", "x", "y", *db)
    assert code == 2 and "'colour' is not a mapping kind; kinds: income_account" in err
    code, _, err = cli(capsys, "map", "set", "tax_code", "GST", *db)
    assert code == 2 and "name the tax code" in err


def write_config(text: str) -> None:
    Path(os.environ["SYNCDESK_CONFIG"]).write_text(text, encoding="utf-8")


def test_config_mappings_are_checked_and_applied_once(served: Path) -> None:
    from console._commands import apply_config_mappings

    async def apply() -> tuple[int, ConnectionMappings]:
        store = await Store.open(served)
        try:
            return (await apply_config_mappings(store, Config.load()),
                    await read_mappings(store, 1))
        finally:
            await store.close()

    write_config('[mappings.quickbooks]\ndeposit_account = "4"\n'
                 '[mappings.quickbooks.income_account]\nTILE = "Sales of Product Income"\n')
    changed, mappings = asyncio.run(apply())
    assert changed == 2
    assert (mappings.deposit_account, mappings.income_accounts) == ("4", {"TILE": "79"})
    assert asyncio.run(apply())[0] == 0  # the name is its code: nothing changes again

    write_config('[mappings.quickbooks]\ndeposit_account = "4000"\n')
    with pytest.raises(ConfigError, match=r"\[mappings.quickbooks\] deposit_account: '4000' "
                                          "is not one of its accounts on quickbooks"):
        asyncio.run(apply())
    write_config('[mappings.xero]\ndeposit_account = "090"\n')
    with pytest.raises(ConfigError, match=r"\[mappings.xero\]: no connection to 'xero'"):
        asyncio.run(apply())


@pytest.mark.parametrize(("text", "says"), [
    ('[mappings.quickbooks]\ncolour = "x"\n', "[mappings.quickbooks]: 'colour' is not a "
                                              "mapping kind"),
    ('[mappings.quickbooks]\ntax_code = "TAX"\n', "tax_code maps each tax code to a platform "
                                                  "code"),
    ('[mappings.quickbooks]\ndeposit_account = 4\n', "deposit_account is one platform code"),
    ('[mappings]\nquickbooks = 1\n', "[mappings.quickbooks] must be a table"),
])
def test_config_mappings_say_what_is_wrong(text: str, says: str) -> None:
    write_config(text)
    with pytest.raises(ConfigError) as wrong:
        Config.load()
    assert says in str(wrong.value)


async def test_xero_records_held_back_by_a_mapping_resume_when_it_is_set(
        make_world: MakeWorld) -> None:
    """Through the real Xero provider: its Unmapped failures name their mapping, so setting
    it re-queues them and the next sync lands them."""
    world: World = await make_world(("xero",))
    await world.ledger.upsert([
        Customer(id="C-1", display_name="Ana"), Item(id="TILE", sku="TILE", name="Tile"),
        invoice("I-GST", Line(item_id="TILE", unit_price=Decimal(10), tax_code="GST",
                              tax_amount=Decimal(1)))])
    await world.sync()
    item = await world.job("xero", "item", "TILE")
    assert (item["status"], item["error_code"]) == ("skipped", "unmapped:income_account:TILE")
    service = service_of(world)
    xero = world.connections["xero"]
    assert (await service.set_mapping(xero, MappingKind.INCOME_ACCOUNT, "TILE", "200")
            ).requeued == 1
    await world.sync()
    held = await world.job("xero", "invoice", "I-GST")
    assert (held["status"], held["error_code"]) == ("skipped", "unmapped:tax_code:GST")
    rates = {choice.value for choice in await service.mapping_choices(xero, MappingKind.TAX_CODE)}
    assert "OUTPUT" in rates  # the demo organisation's 10 % sales tax
    assert (await service.set_mapping(xero, MappingKind.TAX_CODE, "GST", "OUTPUT")
            ).requeued == 1
    await world.sync()
    assert (await world.job("xero", "invoice", "I-GST"))["status"] == "synced"
