"""Per-connection mappings: how one connection names the business's codes on its platform.

A mapping joins a local value (an item id, a tax code, a payment method, a class, a location)
or a connection-wide slot (the default income account, the deposit account, the code for an
untaxed line) to a value of the platform's own lists. Every value is checked against that
list when it is set (`check_value`), so a value the platform does not know is refused at
entry, with the list, and never found out at push time.

The worker reads a connection's mappings once per round (`read_mappings`, one query) and
hands them to the provider in every `PushRequest`. A provider that misses one raises
`Unmapped(kind=…, key=…)`, stored as the code `unmapped:<kind>:<key>`; setting that mapping
re-queues exactly the failed or skipped jobs whose code names it (`write_mapping`).

The engine never imports a platform: whoever needs the platform's lists passes its `Provider`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum

from ._businesses import business_of
from ._db import AsyncDB
from ._errors import ConfigError, unmapped_code
from ._models import Item
from ._port import ConnectionMappings, Provider
from ._store import Store
from ._sync_state import requeue


class MappingKind(StrEnum):
    """What a mapping maps. The keyed kinds map one local value each; the others are one
    value for the whole connection."""

    INCOME_ACCOUNT = "income_account"
    DEFAULT_INCOME_ACCOUNT = "default_income_account"
    DEPOSIT_ACCOUNT = "deposit_account"
    TAX_CODE = "tax_code"
    NO_TAX_CODE = "no_tax_code"
    PAYMENT_METHOD = "payment_method"
    CLASS = "class"
    LOCATION = "location"

    @property
    def keyed(self) -> bool:
        return self in _KEY_OF

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")

    @property
    def key_label(self) -> str:
        """What the local key is, in words ("item", "tax code"); '' for connection-wide."""
        return _KEY_OF.get(self, "")


_KEY_OF = {
    MappingKind.INCOME_ACCOUNT: "item",
    MappingKind.TAX_CODE: "tax code",
    MappingKind.PAYMENT_METHOD: "payment method",
    MappingKind.CLASS: "class",
    MappingKind.LOCATION: "location",
}
_KINDS = frozenset(kind.value for kind in MappingKind)

_LIST_OF = {
    MappingKind.INCOME_ACCOUNT: "accounts",
    MappingKind.DEFAULT_INCOME_ACCOUNT: "accounts",
    MappingKind.DEPOSIT_ACCOUNT: "accounts",
    MappingKind.TAX_CODE: "tax codes",
    MappingKind.NO_TAX_CODE: "tax codes",
    MappingKind.PAYMENT_METHOD: "payment methods",
    MappingKind.CLASS: "classes",
    MappingKind.LOCATION: "locations",
}
"""Which of the platform's lists a kind's values come from."""


def parse_kind(text: str) -> MappingKind:
    try:
        return MappingKind(text.strip().lower().replace("-", "_").replace(" ", "_"))
    except ValueError:
        raise ConfigError(f"{text!r} is not a mapping kind; kinds: "
                          f"{', '.join(kind.value for kind in MappingKind)}") from None


@dataclass(frozen=True, slots=True)
class Choice:
    """One entry of a platform's list, as a picker shows it."""

    value: str
    """What is stored and sent: an account code, a tax code, an option id."""
    name: str
    """What the platform calls it."""
    detail: str = ""
    """The account type, the tax rate."""

    def __str__(self) -> str:
        shown = self.value if self.name in ("", self.value) else f"{self.value} ({self.name})"
        return f"{shown} — {self.detail}" if self.detail else shown


class MappingRefused(ConfigError):
    """A mapping value the platform does not know; `choices` is the platform's list."""

    def __init__(self, message: str, choices: list[Choice]) -> None:
        super().__init__(message)
        self.choices = choices


@dataclass(frozen=True, slots=True)
class MappingRow:
    """One stored mapping."""

    kind: MappingKind
    key: str
    """The local value ('' for a connection-wide kind)."""
    value: str
    label: str
    """The platform's name of `value` when it was checked."""
    updated_at: str
    updated_by: str


@dataclass(frozen=True, slots=True)
class MappingChange:
    """What setting or unsetting a mapping did."""

    kind: MappingKind
    key: str
    value: str | None
    """The new value; None when unset."""
    previous: str | None
    requeued: int
    """Records re-queued because this mapping was what held them back."""


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One line of a connection's mapping table: a slot, mapped or not."""

    kind: MappingKind
    key: str
    key_name: str
    """What the key is locally (an item's name); '' when the key says it all."""
    value: str | None
    label: str
    waiting: int
    """Failed or skipped records held back until this is mapped."""


async def mapping_entries(store: Store, connection_id: int) -> list[MappingEntry]:
    """Every mapping a person may set on a connection, with its current value: the
    connection-wide kinds, one income account per item, and every tax code, payment method,
    class or location that is mapped already or that a held-back record needs. The slots
    that hold records back come first."""
    stored = {(row.kind, row.key): row for row in await list_mappings(store, connection_id)}
    waiting = await waiting_on(store, connection_id)
    items = {row["id"]: row["name"] for row in await store.fetch_all(
        "SELECT id, name FROM items WHERE business_id = ? ORDER BY name, id",
        (await business_of(store, connection_id),))}
    slots: dict[tuple[MappingKind, str], str] = {
        (kind, ""): "" for kind in MappingKind if not kind.keyed}
    slots.update(((MappingKind.INCOME_ACCOUNT, item_id), name)
                 for item_id, name in items.items())
    for kind, key in sorted({*stored, *waiting} - set(slots)):
        slots[(kind, key)] = items.get(key, "") if kind is MappingKind.INCOME_ACCOUNT else ""
    order = list(MappingKind)
    entries = []
    # What holds records back comes first; then every kind in its order, items by name.
    for (kind, key), name in sorted(slots.items(), key=lambda s: (
            not waiting.get(s[0]), order.index(s[0][0]))):
        row = stored.get((kind, key))
        entries.append(MappingEntry(kind, key, name, row.value if row else None,
                                    row.label if row else "", waiting.get((kind, key), 0)))
    return entries


async def platform_choices(provider: Provider, kind: MappingKind) -> list[Choice]:
    """The platform's own list a value of `kind` is picked from."""
    what = _LIST_OF[kind]
    if what == "accounts":
        return [Choice(a.code, a.name, a.kind) async for a in provider.list_accounts()]
    if what == "tax codes":
        return [Choice(t.code, t.name, "" if t.rate is None else f"rate {t.rate}")
                async for t in provider.list_tax_codes()]
    options = {"payment methods": provider.list_payment_methods,
               "classes": provider.list_classes, "locations": provider.list_locations}[what]
    return [Choice(option.id, option.name) async for option in options()]


def check_value(kind: MappingKind, value: str, choices: list[Choice], title: str) -> Choice:
    """The platform's entry for `value`: its code or id exactly, else its name (any case)
    when exactly one entry has that name. Anything else is refused with the whole list."""
    wanted = value.strip()
    for choice in choices:
        if choice.value == wanted:
            return choice
    named = [choice for choice in choices if choice.name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    what = _LIST_OF[kind]
    if not choices:
        raise MappingRefused(f"{title} lists no {what}: a {kind.label} cannot be mapped on "
                             "this connection", choices)
    shown = "; ".join(str(choice) for choice in choices[:40])
    more = f"; … and {len(choices) - 40} more" if len(choices) > 40 else ""
    why = (f"names {len(named)} of its {what}" if named else f"is not one of its {what}")
    raise MappingRefused(f"{wanted!r} {why} on {title}; pick one of: {shown}{more}", choices)


def check_key(kind: MappingKind, key: str | None) -> str:
    """The stored key: the local value for a keyed kind, '' for a connection-wide one."""
    key = (key or "").strip()
    if kind.keyed and not key:
        raise ConfigError(f"{kind.value} maps one {kind.key_label} at a time: name the "
                          f"{kind.key_label} (map set … {kind.value} KEY VALUE)")
    if not kind.keyed and key:
        raise ConfigError(f"{kind.value} is one value for the whole connection; it takes no "
                          f"key (got {key!r})")
    return key


async def read_mappings(store: Store, connection_id: int) -> ConnectionMappings:
    """A connection's mappings as the providers read them, in one query."""
    keyed: dict[MappingKind, dict[str, str]] = {kind: {} for kind in _KEY_OF}
    single: dict[MappingKind, str] = {}
    # One value for the whole set: the worker reads this every round, and rows cost more
    # to build than the JSON costs to parse.
    found = await store.fetch_value(
        "SELECT json_group_array(json_array(kind, key, value)) FROM connection_mappings "
        "WHERE connection_id = ?", (connection_id,))
    for name, key, value in json.loads(found):
        kind = MappingKind(name)
        if kind.keyed:
            keyed[kind][key] = value
        else:
            single[kind] = value
    return ConnectionMappings(
        income_accounts=keyed[MappingKind.INCOME_ACCOUNT],
        default_income_account=single.get(MappingKind.DEFAULT_INCOME_ACCOUNT),
        deposit_account=single.get(MappingKind.DEPOSIT_ACCOUNT),
        tax_codes=keyed[MappingKind.TAX_CODE],
        no_tax_code=single.get(MappingKind.NO_TAX_CODE),
        payment_methods=keyed[MappingKind.PAYMENT_METHOD],
        classes=keyed[MappingKind.CLASS],
        locations=keyed[MappingKind.LOCATION],
    )


def income_account_for(mappings: ConnectionMappings, item: Item | None,
                       platform: str) -> str | None:
    """The income account a line of `item` goes to on this connection.

    The connection's mapping for the item wins; then the item's own account for the platform
    (`Item.income_accounts`, then `Item.income_account`), which keep working as they did;
    then the connection's default income account.
    """
    if item is not None:
        account = mappings.income_accounts.get(item.id) or item.income_account_for(platform)
        if account:
            return account
    return mappings.default_income_account


async def list_mappings(store: Store, connection_id: int) -> list[MappingRow]:
    rows = await store.fetch_all(
        "SELECT kind, key, value, label, updated_at, updated_by FROM connection_mappings "
        "WHERE connection_id = ? ORDER BY kind, key", (connection_id,))
    return [MappingRow(MappingKind(row["kind"]), row["key"], row["value"], row["label"],
                       row["updated_at"], row["updated_by"]) for row in rows]


async def waiting_on(store: Store, connection_id: int) -> dict[tuple[MappingKind, str], int]:
    """How many failed or skipped records each missing mapping holds back, by (kind, key)."""
    rows = await store.fetch_all(
        "SELECT error_code, COUNT(*) AS n FROM sync_jobs WHERE connection_id = ? "
        "AND status IN ('failed', 'skipped') AND error_class = 'unmapped' "
        "AND error_code LIKE 'unmapped:%' GROUP BY error_code", (connection_id,))
    found: dict[tuple[MappingKind, str], int] = {}
    for row in rows:
        kind, _, key = str(row["error_code"]).removeprefix("unmapped:").partition(":")
        if kind in _KINDS:
            found[(MappingKind(kind), key)] = int(row["n"])
    return found


async def write_mapping(db: AsyncDB, connection_id: int, kind: MappingKind,
                        key: str, choice: Choice | None, *, actor: str,
                        now: str) -> MappingChange:
    """Set (or, with `choice` None, remove) one mapping inside the caller's transaction, and
    re-queue the records that waited for it. Removing one unblocks nothing."""
    previous = await (await db.execute(
        "SELECT value FROM connection_mappings WHERE connection_id = ? AND kind = ? "
        "AND key = ?", (connection_id, kind.value, key))).fetchone()
    if choice is None:
        await db.execute("DELETE FROM connection_mappings WHERE connection_id = ? AND kind = ? "
                         "AND key = ?", (connection_id, kind.value, key))
        return MappingChange(kind, key, None, previous[0] if previous else None, 0)
    await db.execute(
        "INSERT INTO connection_mappings (connection_id, kind, key, value, label, updated_at, "
        "updated_by) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (connection_id, kind, key) DO "
        "UPDATE SET value = excluded.value, label = excluded.label, "
        "updated_at = excluded.updated_at, updated_by = excluded.updated_by",
        (connection_id, kind.value, key, choice.value, choice.name, now, actor))
    codes = [unmapped_code(kind.value, key if kind.keyed else None)]
    clause = "j.error_code IN (?)"
    if kind is MappingKind.DEFAULT_INCOME_ACCOUNT:
        # Every item without an account of its own falls back to the default.
        clause = "(j.error_code IN (?) OR j.error_code LIKE 'unmapped:income_account:%')"
    requeued = await requeue(
        db, f"j.connection_id = ? AND j.status IN ('failed', 'skipped') AND "
        f"j.error_class = 'unmapped' AND {clause}", [connection_id, *codes], now)
    return MappingChange(kind, key, choice.value, previous[0] if previous else None, requeued)
