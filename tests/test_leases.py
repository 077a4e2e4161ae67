"""Many engines on one store: a lease per connection, claims that never overlap, takeover.

Each test runs on both backends; SQLite's file takes several engines the same way.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from console._wiring import platforms
from engine import ConnectionSettings, Customer, Ledger, Sealer, Store
from engine._connections import ConnectionRow
from engine._engine import EngineSettings, SyncEngine
from engine._sync_state import SyncState
from tests._feedfake import until
from tests._world import World

ROOT = Path(__file__).resolve().parents[1]
KEY = Fernet.generate_key()
PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")
LEASES = {"heartbeat_interval": 0.1, "lease_timeout": 5.0, "stop_grace": 0.5}


@pytest.fixture
def sealer() -> Sealer:
    """One key the child engine process is handed too."""
    return Sealer(KEY)


def customers(prefix: str, n: int) -> list[Customer]:
    return [Customer(id=f"{prefix}-{i}", display_name=f"{prefix} customer {i}")
            for i in range(n)]


async def holders(store: Store) -> dict[int, str]:
    rows = await store.fetch_all("SELECT connection_id, engine FROM connection_leases")
    return {int(row["connection_id"]): str(row["engine"]) for row in rows}


async def remote_customers(world: World) -> dict[str, int]:
    return {name: (await world.remote_counts(name))["customer"] for name in PLATFORMS}


async def all_synced(store: Store) -> bool:
    return not await store.fetch_value(
        "SELECT COUNT(*) FROM sync_jobs WHERE status != 'synced'")


# --- claims ----------------------------------------------------------------------------------

async def test_concurrent_claimers_never_get_one_job_twice(make_world: Any) -> None:
    world: World = await make_world(("xero",))
    await Ledger(world.store).upsert(customers("C", 120))
    connection = world.connections["xero"]
    stores = [await Store.open(world.store.path) for _ in range(4)]
    later = datetime.now(UTC) + timedelta(days=1)

    async def claimer(store: Store) -> list[int]:
        state, got = SyncState(store), []
        while claimed := await state.claim(connection, 7, later):
            got += [job.id for job in claimed]
        return got

    try:
        claims = await asyncio.gather(*(claimer(store) for store in stores))
    finally:
        for store in stores:
            await store.close()
    every = [job for got in claims for job in got]
    assert len(every) == len(set(every)) == 120
    assert await world.store.fetch_value(
        "SELECT COUNT(*) FROM sync_jobs WHERE status = 'in_flight'") == 120


# --- two engines share the connections --------------------------------------------------------

@dataclass
class Sends:
    """Every request an engine sent, per connection: (engine, started, ended)."""
    log: dict[int, list[tuple[str, float, float]]] = field(default_factory=dict)

    def overlaps(self) -> list[str]:
        found = []
        for connection_id, sends in self.log.items():
            sends = sorted(sends, key=lambda send: send[1])
            for i, (engine, _, ended) in enumerate(sends):
                found += [f"connection {connection_id}: {engine} and {other}"
                          for other, started, _ in sends[i + 1:]
                          if other != engine and started < ended]
        return found


class Recorded(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, sends: list[tuple[str, float, float]],
                 engine: str, gate: asyncio.Event | None = None) -> None:
        self.inner, self.sends, self.engine, self.gate = inner, sends, engine, gate

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        try:
            if self.gate is not None:
                await self.gate.wait()
            return await self.inner.handle_async_request(request)
        finally:
            self.sends.append((self.engine, started, time.monotonic()))


def engine_on(world: World, store: Store, sends: Sends, name: str,
              gate: asyncio.Event | None = None) -> SyncEngine:
    def hook(row: ConnectionRow, settings: ConnectionSettings) -> ConnectionSettings:
        transport = Recorded(world.transport(row.platform), sends.log.setdefault(row.id, []),
                             name, gate)
        return replace(settings, transport=transport, timeout=60.0)  # the gate is no timeout

    return SyncEngine(store, platforms(), world.sealer, settings_hook=hook,
                      settings=EngineSettings(worker=world.worker, poll_interval=0.05,
                                              **LEASES))


async def running(engine: SyncEngine, stop: asyncio.Event) -> asyncio.Task[Any]:
    task = asyncio.create_task(engine.run(stop))
    await until(lambda: _started(engine, task), "the engine to take its first leases")
    return task


async def _started(engine: SyncEngine, task: asyncio.Task[Any]) -> bool:
    if task.done():
        task.result()
    return bool(engine.held)


async def test_two_engines_split_the_connections_and_never_share_one(make_world: Any) -> None:
    world: World = await make_world(PLATFORMS)
    before = await remote_customers(world)
    other = await Store.open(world.store.path)
    sends, stop, gate = Sends(), asyncio.Event(), asyncio.Event()
    # The first engine's requests wait at the gate: it is mid-request on every connection
    # when the second joins, so the connections it hands back are busy ones.
    first = engine_on(world, world.store, sends, "first", gate)
    second = engine_on(world, other, sends, "second")
    try:
        await Ledger(world.store).upsert(customers("A", 20))
        one = await running(first, stop)
        assert first.held == frozenset(world.connections.values())  # alone, it takes all

        async def busy() -> bool:
            return await world.store.fetch_value(
                "SELECT COUNT(DISTINCT connection_id) FROM sync_jobs "
                "WHERE status = 'in_flight'") == 4

        await until(busy, "the first engine's requests on their way")
        two = await running(second, stop)

        async def split() -> bool:
            held = await holders(world.store)
            return len(held) == 4 and sorted(list(held.values()).count(e.seat.name)
                                             for e in (first, second)) == [2, 2]

        await until(split, "each engine to hold half of the connections")
        assert first.held.isdisjoint(second.held)
        names = {first.seat.name: "first", second.seat.name: "second"}
        split_at, holder = time.monotonic(), {
            cid: names[engine] for cid, engine in (await holders(world.store)).items()}
        gate.set()
        await Ledger(world.store).upsert(customers("B", 20))
        await until(lambda: all_synced(world.store), "every customer to sync")
        stop.set()
        await asyncio.gather(one, two)
    finally:
        stop.set()
        gate.set()
        await other.close()
    assert sends.overlaps() == []
    # Once split, each connection's requests come from its lease's holder alone.
    after = {(cid, engine) for cid, log in sends.log.items()
             for engine, started, _ in log if started > split_at}
    assert after == set(holder.items())
    # Each customer made once on each platform.
    assert await remote_customers(world) == {name: n + 40 for name, n in before.items()}
    assert await holders(world.store) == {}  # both stopped: every lease is free


async def test_a_newcomer_takes_the_leases_handed_back_within_its_catch_up_not_a_heartbeat(
        make_world: Any) -> None:
    world: World = await make_world(PLATFORMS)
    other = await Store.open(world.store.path)
    sends, stop = Sends(), asyncio.Event()
    first = engine_on(world, world.store, sends, "first")
    # The newcomer's own heartbeat is far longer than the wait below: only its catch-up
    # beats, while the first engine holds more than its share, can take what that one frees.
    second = engine_on(world, other, sends, "second")
    second.settings.heartbeat_interval, second.settings.lease_timeout = 60.0, 300.0
    second.settings.catch_up_interval = 0.1
    tasks: list[asyncio.Task[Any]] = []
    try:
        tasks.append(await running(first, stop))
        assert first.held == frozenset(world.connections.values())
        tasks.append(two := asyncio.create_task(second.run(stop)))

        async def split() -> bool:
            if two.done():
                two.result()
            held = await holders(world.store)
            return sorted(list(held.values()).count(e.seat.name)
                          for e in (first, second)) == [2, 2]

        await until(split, "the newcomer to hold its half")
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        await other.close()


# --- a killed engine -------------------------------------------------------------------------

CHILD = """
import asyncio, sys
from dataclasses import replace
sys.path.insert(0, {root!r})
import httpx
from console._wiring import platforms
from engine import Sealer, Store
from engine._engine import EngineSettings, SyncEngine

class Hang(httpx.AsyncBaseTransport):
    async def handle_async_request(self, request):
        await asyncio.Event().wait()

async def main():
    store = await Store.open({target!r})
    engine = SyncEngine(store, platforms(), Sealer({key!r}),
                        settings_hook=lambda row, s: replace(s, transport=Hang(), timeout=600),
                        settings=EngineSettings(poll_interval=0.01, **{leases!r}))
    await engine.run()

asyncio.run(main())
"""


@pytest.mark.timeout(120)
async def test_a_killed_engines_connections_move_and_only_theirs_are_recovered(
        make_world: Any) -> None:
    world: World = await make_world(PLATFORMS)
    before = await remote_customers(world)
    sends, stop, gate = Sends(), asyncio.Event(), asyncio.Event()
    survivor = engine_on(world, world.store, sends, "survivor", gate)
    task = await running(survivor, stop)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD.format(root=str(ROOT), target=str(world.store.path),
                                           key=KEY, leases=LEASES))
    try:
        async def split() -> bool:
            held = await holders(world.store)
            return len(held) == 4 and len(survivor.held) == 2 and len(set(held.values())) == 2

        await until(split, "the child engine to take half of the connections")
        theirs, mine = set(world.connections.values()) - survivor.held, set(survivor.held)
        await Ledger(world.store).upsert(customers("K", 10))

        async def in_flight(connections: set[int]) -> int:
            marks = ", ".join("?" * len(connections))
            return int(await world.store.fetch_value(
                f"SELECT COUNT(DISTINCT connection_id) FROM sync_jobs WHERE status = 'in_flight' "
                f"AND connection_id IN ({marks})", tuple(connections)))

        async def both_sending() -> bool:
            return await in_flight(theirs) == 2 and await in_flight(mine) == 2

        await until(both_sending, "requests of both engines on their way")
        lost = int(await world.store.fetch_value(
            f"SELECT COUNT(*) FROM sync_jobs WHERE status = 'in_flight' AND connection_id "
            f"IN ({', '.join('?' * len(theirs))})", tuple(theirs)))
        mark = await world.store.fetch_value("SELECT MAX(id) FROM events")
        child.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        assert await child.wait() == -signal.SIGKILL

        async def taken_over() -> bool:
            return survivor.held == frozenset(world.connections.values())

        await until(taken_over, "the survivor to take the killed engine's connections")
        took = time.monotonic() - killed
        # On one host the survivor's next beat sees the process gone: its leases are taken
        # before they could have expired (the last renewal was at most a beat before the kill).
        assert took < LEASES["lease_timeout"] - 1.0, took

        async def recovered() -> bool:  # as its workers start on them
            return survivor.report.recovered >= lost

        await until(recovered, "the taken connections' in-flight jobs recovered")
        assert survivor.report.recovered == lost
        doubted = await world.store.fetch_all(
            "SELECT DISTINCT connection_id FROM events WHERE id > ? AND kind = 'job' "
            "AND status = 'uncertain'", (mark,))
        assert {int(row[0]) for row in doubted} == theirs  # the live engine's were left alone
        assert await in_flight(mine) == 2
        gate.set()
        await until(lambda: all_synced(world.store), "every customer to sync")
        stop.set()
        await task
    finally:
        stop.set()
        gate.set()
        if child.returncode is None:
            child.kill()
            await child.wait()
    assert await remote_customers(world) == {name: n + 10 for name, n in before.items()}



async def test_an_engine_that_cannot_renew_stops_sending_before_its_leases_expire(
        make_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world: World = await make_world(("xero",))
    sends, stop, gate, unstuck = Sends(), asyncio.Event(), asyncio.Event(), asyncio.Event()
    engine = engine_on(world, world.store, sends, "alone", gate)
    await Ledger(world.store).upsert(customers("F", 5))
    task = await running(engine, stop)
    try:
        async def sending() -> bool:
            return bool(await world.store.fetch_value(
                "SELECT COUNT(*) FROM sync_jobs WHERE status = 'in_flight'"))

        await until(sending, "requests on their way")
        renew = engine.state.keep_leases

        async def stuck(*args: Any, **kwargs: Any) -> Any:  # the store stops answering
            await unstuck.wait()
            return await renew(*args, **kwargs)

        monkeypatch.setattr(engine.state, "keep_leases", stuck)
        since = time.monotonic()

        async def halted() -> bool:
            return not engine.held and not await sending()

        await until(halted, "the engine to stop its worker")
        assert time.monotonic() - since < LEASES["lease_timeout"]
        unstuck.set()
        await until(lambda: _started(engine, task), "the lease renewed again")
        gate.set()
        await until(lambda: all_synced(world.store), "every customer to sync")
    finally:
        stop.set()
        gate.set()
        unstuck.set()
        await task
