"""A spent daily quota: the round is released, nothing sleeps in flight.

The records that did not go are pending again with their next attempt at the reset (UTC
midnight), the connection is parked until then with one notice, and the engine's drain ends
instead of waiting a day. Both ways a day runs out: by the gate's own count of the platform's
published limit, and by the platform's `X-DayLimit-Remaining` header saying less than that.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from console._wiring import platforms
from engine import ConnectionSettings, Platform
from engine._connections import ConnectionRow
from engine._engine import EngineSettings, SyncEngine
from engine._time import from_iso
from tests._world import World
from tests.test_budget import Counting, ledger

MakeWorld = Callable[..., Any]


def with_day_limit(per_day: int) -> dict[str, Platform]:
    """The real platforms, Xero's published day quota made `per_day`."""
    found = platforms()
    xero = found["xero"]
    limits = replace(xero.capabilities.limits, per_day=per_day)
    found["xero"] = replace(xero, capabilities=replace(xero.capabilities, limits=limits))
    return found


def at_reset(stamp: str) -> bool:
    """Whether `stamp` is the next UTC midnight (to the second: the wait is computed from a
    clock read a moment before), as seen now or a minute ago (a test across midnight)."""
    now = datetime.now(UTC)
    return any(abs(from_iso(stamp) - datetime.combine(day + timedelta(days=1), time(),
                                                      tzinfo=UTC)) < timedelta(seconds=1)
               for day in (now.date(), (now - timedelta(minutes=1)).date()))


@pytest.mark.parametrize("spent_by", ["our count", "the platform's header"])
async def test_a_spent_day_quota_releases_the_round_until_the_reset(
        make_world: MakeWorld, spent_by: str) -> None:
    world: World = await make_world(("xero",), limits_enabled=True)
    sandbox = Counting(world.transport("xero"))
    if spent_by == "our count":
        # Four a day, one kept spare: three requests (customers, items, invoices in arrays).
        chosen = with_day_limit(4)
    else:
        # The platform counts the tenant's other apps too: its header says 3 left, far less
        # than our count of its 5,000 (the gate keeps 2 % of the day spare).
        chosen = platforms()
        await world.sandbox("xero", "POST", "/_sandbox/limits", json={"per_day": 103})

    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        return replace(settings, transport=sandbox, timeout=10.0)

    engine = SyncEngine(world.store, chosen, world.sealer, settings_hook=hook,
                        settings=EngineSettings(worker=replace(world.worker, throttle=True),
                                                poll_interval=0.01))
    await world.ledger.upsert(ledger())
    await engine.run(until_idle=True)  # returns: a parked day is not waited for

    connection = world.connections["xero"]
    jobs = await world.store.fetch_all(
        "SELECT status, next_attempt_at FROM sync_jobs WHERE connection_id = ?", (connection,))
    statuses = {row["status"] for row in jobs}
    assert "synced" in statuses and statuses <= {"synced", "pending"}, statuses
    waiting = [row["next_attempt_at"] for row in jobs if row["status"] == "pending"]
    assert waiting and all(at_reset(stamp) for stamp in waiting), waiting
    parked = await world.store.fetch_value("SELECT parked_until FROM connections WHERE id = ?",
                                           (connection,))
    assert at_reset(parked), parked
    notices = await world.store.fetch_all(
        "SELECT title FROM notifications WHERE connection_id = ?", (connection,))
    assert [n["title"] for n in notices] == [
        f"Xero: request quota used up until {from_iso(parked):%Y-%m-%d %H:%M} UTC"]
    # Nothing was sent into a spent day: the platform refused nothing.
    state = await world.sandbox("xero", "GET", "/_sandbox/state")
    assert (state["rate_limited"], sandbox.throttled) == (0, 0)
