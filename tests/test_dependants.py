"""A job released to wait for its parent is due the moment the parent is on the platform."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from engine import Customer, Entity, Invoice, RemoteRef
from engine._sync_state import Attempt, SyncState
from engine._time import utcnow

MARIA = Customer(id="C-1", display_name="Maria Lopez")
OTHER = Customer(id="C-2", display_name="Ola Nordmann")


def invoice(number: str, customer: str) -> Invoice:
    return Invoice.model_validate({
        "id": number, "number": number, "customer_id": customer, "issue_date": "2026-09-01",
        "status": "sent",
        "lines": [{"description": "Work", "unit_price": Decimal(10)}]})


async def test_a_parent_linked_before_the_release_leaves_no_timer(
        make_world: Callable[..., Any]) -> None:
    world = await make_world(("quickbooks",))
    await world.ledger.upsert([MARIA, OTHER, invoice("INV-1", "C-1"), invoice("INV-2", "C-2")])
    state, connection, now = SyncState(world.store), world.connections["quickbooks"], utcnow()
    claimed = {(job.entity, job.record_id): job
               for job in await state.claim(connection, 10, now)}
    # The round read no link for either customer; then C-1 synced before INV-1 was released,
    # so the wake-up C-1's success gives its dependants has already passed.
    await state.succeed([(claimed[Entity.CUSTOMER, "C-1"], RemoteRef(remote_id="58"),
                          Attempt(now, 1, "create"))], now)
    later = now + timedelta(seconds=60)
    for number, parent in (("INV-1", "C-1"), ("INV-2", "C-2")):
        await state.release(claimed[Entity.INVOICE, number], now, retry_at=later,
                            waiting_for=(Entity.CUSTOMER, parent))
    one = await world.job("quickbooks", "invoice", "INV-1")
    two = await world.job("quickbooks", "invoice", "INV-2")
    assert (one["status"], one["next_attempt_at"], one["blocked_record"]) == (
        "pending", None, None)
    # C-2 is still on its way: INV-2 waits for it by name, the timer only as the fallback.
    assert (two["status"], two["blocked_record"]) == ("pending", "C-2")
    assert two["next_attempt_at"] is not None
