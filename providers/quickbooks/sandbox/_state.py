"""One QuickBooks company: its objects, id sequences, preferences and the write lifecycle.

What every entity shares lives here: ids (name lists count per entity, transactions share one
sequence), `SyncToken` (+1 per write, 5010 when stale), full vs sparse update, `MetaData`
times, references that must point at live objects (610), and the demo company seed.
The business rules of each entity are in `_rules`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from providers._sandbox import Clock

from ._wire import QboFault, qbo_time

Obj = dict[str, Any]

PEOPLE = ("Customer", "Vendor", "Employee")
"""Entities sharing one DisplayName namespace (6240)."""
NAME_LISTS = (*PEOPLE, "Item", "Account", "TaxCode", "TaxRate", "PaymentMethod", "Class",
              "Department")
TRANSACTIONS = ("Invoice", "CreditMemo", "Payment")

ENTITY_OF_CONTROL_NAME = {"customer": "Customer", "item": "Item", "invoice": "Invoice",
                          "payment": "Payment", "credit_note": "CreditMemo"}
"""The control API speaks the engine's entity names."""

SERVER_FIELDS = frozenset({"Id", "SyncToken", "MetaData", "domain", "sparse", "status"})
"""Fields a client may send but only the server sets."""

OBJECT_NOT_FOUND = (
    "Object Not Found : Something you're trying to use has been made inactive. "
    "Check the fields with accounts, customers, items, vendors or employees."
)
DELETED_TXN = "Object Not Found : Another user has deleted this transaction."


def not_found(detail: str = OBJECT_NOT_FOUND, element: str = "") -> QboFault:
    return QboFault("610", "Object Not Found", detail, element=element)


def invalid_reference(entity: str, object_id: str, element: str) -> QboFault:
    # QBO's wording names the kind of list, e.g. "Invalid Reference Id : Class assigned to
    # this transaction has been deleted" (UNCERTAIN beyond code 2500 and its Message).
    return QboFault("2500", "Invalid Reference Id",
                    f"Invalid Reference Id : {entity} {object_id} assigned to this transaction "
                    "does not exist or has been made inactive.", element=element)


def required(element: str) -> QboFault:
    return QboFault("2020", "Required Param Missing",
                    f"Required parameter {element} is missing in the request", element=element)


def stale(entity: str) -> QboFault:
    return QboFault(
        "5010", "Stale Object Error",
        "Stale Object Error : You and root were working on this at the same time. root finished "
        f"before you did, so your work was not saved. Entity={entity}",
    )


@dataclass
class Preferences:
    custom_txn_numbers: bool = True
    """SalesFormsPrefs.CustomTxnNumbers: the company types its own numbers, so 6140 applies."""
    home_currency: str = "USD"
    country: str = "US"
    """US companies code lines TAX/NON and charge one sales tax per transaction
    (`TxnTaxCodeRef`); every other country codes each line with a TaxCode id."""


@dataclass
class Application:
    """Part of a payment applied to one invoice or taken from one credit memo."""

    txn_type: str
    txn_id: str
    amount: Decimal


Builder = Callable[["Company", Obj, "Obj | None", bool], Obj]
"""Validate and complete a written body: (company, body, current, allow_dup_docnum) -> object."""


@dataclass
class Company:
    realm_id: str
    clock: Clock
    name: str = "Sandbox Company_US_1"
    prefs: Preferences = field(default_factory=Preferences)
    objects: dict[str, dict[str, Obj]] = field(
        default_factory=lambda: {entity: {} for entity in (*NAME_LISTS, *TRANSACTIONS)})
    applications: dict[str, list[Application]] = field(default_factory=dict)
    """Payment id -> what it applies; invoice and credit memo balances derive from it."""
    notes_before_void: dict[tuple[str, str], Any] = field(default_factory=dict)
    """(entity, id) -> the PrivateNote a void overwrote with "Voided": the marks audit still
    knows whose a voided transaction is (it exists, so it counts)."""
    deleted: dict[tuple[str, str], str] = field(default_factory=dict)
    """(entity, id) -> when it was deleted (QBO time): CDC reports it as `status: Deleted`."""
    listeners: list[Callable[[str, str, str], None]] = field(default_factory=list)
    """Told (entity, id, operation) of every change, as QBO's webhooks name operations
    (Create, Update, Delete, Void): the webhook emitter listens here."""
    _sequences: dict[str, int] = field(default_factory=dict)
    _batch_created: set[tuple[str, str]] | None = None
    """While a batch runs: what its items created, which its other items cannot see."""

    # -- reading --------------------------------------------------------------------------

    def rows(self, entity: str) -> list[Obj]:
        """Every object, batch-mates included: what uniqueness rules check against."""
        return list(self.objects[entity].values())

    def visible_rows(self, entity: str) -> list[Obj]:
        """What a query sees: not what other items of the running batch created."""
        return [obj for obj in self.objects[entity].values()
                if self.visible(entity, obj["Id"]) is not None]

    def visible(self, entity: str, object_id: str) -> Obj | None:
        """The object, unless it is absent or another item of the running batch created it."""
        if self._batch_created and (entity, object_id) in self._batch_created:
            return None
        return self.objects[entity].get(object_id)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Run one `/batch`: its items are independent, so none sees what another created."""
        self._batch_created = set()
        try:
            yield
        finally:
            self._batch_created = None

    def read(self, entity: str, object_id: str) -> Obj:
        found = self.visible(entity, object_id)
        if found is None:
            raise not_found(DELETED_TXN if entity in TRANSACTIONS else OBJECT_NOT_FOUND)
        return found

    def resolve(self, entity: str, ref: Any, element: str) -> Obj:
        """The live object a `{"value": id}` reference names; 2020 if absent, 610 if gone."""
        if not isinstance(ref, dict) or not ref.get("value"):
            raise required(element)
        found = self.visible(entity, str(ref["value"]))
        if found is None or found.get("Active") is False:
            raise not_found(element=element)
        return found

    def reference(self, entity: str, ref: Any, element: str) -> Obj:
        """What a reference to a list the company keeps (class, location, tax code, payment
        method, deposit account) names; an id it does not have is 2500, as QBO answers."""
        if not isinstance(ref, dict) or not ref.get("value"):
            raise required(element)
        found = self.visible(entity, str(ref["value"]))
        if found is None or found.get("Active") is False:
            raise invalid_reference(entity, str(ref["value"]), element)
        return found

    def counts(self) -> dict[str, int]:
        return {control: len(self.objects[entity])
                for control, entity in ENTITY_OF_CONTROL_NAME.items()}

    def applications_to(self, txn_type: str, txn_id: str) -> Iterator[tuple[str, Decimal]]:
        for payment_id, applied in self.applications.items():
            for application in applied:
                if (application.txn_type, application.txn_id) == (txn_type, txn_id):
                    yield payment_id, application.amount

    # -- writing --------------------------------------------------------------------------

    def create(self, entity: str, body: Obj, build: Builder, *, allow_dup: bool = False) -> Obj:
        body = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        built = build(self, body, None, allow_dup)
        return self.store(entity, built, None)

    def update(self, entity: str, body: Obj, build: Builder, *, allow_dup: bool = False) -> Obj:
        current = self.current(entity, body)
        fields_in = {k: v for k, v in body.items() if k not in SERVER_FIELDS}
        if body.get("sparse") is True:
            # Sparse: only the elements sent change; everything else stays as it was.
            merged = {k: copy.deepcopy(v) for k, v in current.items() if k not in SERVER_FIELDS}
            merged.update(fields_in)
        else:
            # Full: the body is the whole object; writable fields it omits are cleared.
            merged = fields_in
        built = build(self, merged, current, allow_dup)
        return self.store(entity, built, current)

    def current(self, entity: str, body: Obj) -> Obj:
        """The object an update/void/delete names, checked against its `SyncToken`."""
        object_id = body.get("Id")
        if not object_id:
            raise required("Id")
        found = self.visible(entity, str(object_id))
        if found is None:
            raise not_found(DELETED_TXN if entity in TRANSACTIONS else OBJECT_NOT_FOUND)
        if "SyncToken" not in body:
            raise required("SyncToken")
        if str(body["SyncToken"]) != found["SyncToken"]:
            raise stale(entity)
        return found

    def store(self, entity: str, obj: Obj, current: Obj | None, *,
              operation: str | None = None) -> Obj:
        now = qbo_time(self.clock.now())
        if current is None:
            obj["Id"] = self.next_id(entity)
            obj["SyncToken"] = "0"
            if self._batch_created is not None:
                self._batch_created.add((entity, obj["Id"]))
            obj["MetaData"] = {"CreateTime": now, "LastUpdatedTime": now}
        else:
            obj["Id"] = current["Id"]
            obj["SyncToken"] = str(int(current["SyncToken"]) + 1)
            obj["MetaData"] = {"CreateTime": current["MetaData"]["CreateTime"],
                               "LastUpdatedTime": now}
        obj["domain"] = "QBO"
        obj["sparse"] = False
        self.objects[entity][obj["Id"]] = obj
        self._changed(entity, obj["Id"], operation or ("Create" if current is None
                                                       else "Update"))
        return obj

    def touch(self, entity: str, obj: Obj) -> None:
        """A side effect changed an object (a payment moved an invoice's balance and links):
        like QBO, that is a new version, so a client still holding the old token gets 5010."""
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        obj["MetaData"] = {**obj["MetaData"], "LastUpdatedTime": qbo_time(self.clock.now())}
        self.objects[entity][obj["Id"]] = obj
        self._changed(entity, obj["Id"], "Update")

    def remove(self, entity: str, object_id: str) -> Obj | None:
        """Take an object out of the company, keeping when, for CDC; None if there is none."""
        gone = self.objects[entity].pop(object_id, None)
        if gone is not None:
            self.deleted[(entity, object_id)] = qbo_time(self.clock.now())
            self._changed(entity, object_id, "Delete")
        return gone

    def _changed(self, entity: str, object_id: str, operation: str) -> None:
        for listener in self.listeners:
            listener(entity, object_id, operation)

    def next_id(self, entity: str) -> str:
        sequence = "txn" if entity in TRANSACTIONS else entity
        number = self._sequences.get(sequence, 0) + 1
        self._sequences[sequence] = number
        return str(number)

    def next_doc_number(self, entity: str) -> str:
        used = {obj.get("DocNumber") for obj in self.objects[entity].values()}
        number = 1001 + len(self.objects[entity])
        while str(number) in used:
            number += 1
        return str(number)

    def seed(self, entity: str, object_id: str, obj: Obj) -> Obj:
        """Put a name-list object in place with a fixed id, as a new QBO company has it."""
        now = qbo_time(self.clock.now())
        stored = {**obj, "Id": object_id, "SyncToken": "0", "domain": "QBO", "sparse": False,
                  "MetaData": {"CreateTime": now, "LastUpdatedTime": now}}
        self.objects[entity][object_id] = stored
        return stored
