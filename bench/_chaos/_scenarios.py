"""Named scenarios: each replays one known way to lose or double a write, deterministically.

Every scenario gets a fresh store and fresh sandbox processes. Most are staged: the demo's
customers, items and invoices are synced fault-free first, then its payments are added and go
out into the one fault the scenario is about. Faults are targeted and counted, never drawn at
random, and every kill waits for a state the harness observes (the sandbox counted the fault,
the store shows the jobs in flight), never for a timer.

A scenario ends with the per-record audit. What must be on each platform: every record with a
job there, less those the platform or the engine's pre-flight legitimately refused with no
object of ours there (the demo plants a few; see `_audit.refused`). Checks that are not about
objects (the engine stayed alive, a record stayed in doubt, a status did not change) are
`problems`; any problem fails the scenario.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._audit import Audit, Key, audit
from ._world import (
    CREATE_METHOD,
    ENGINE_SETTINGS,
    ENGINE_WAIT,
    PLATFORMS,
    REQUEST_TIMEOUT,
    ROOT,
    ChaosError,
    Databases,
    Engine,
    PortPool,
    World,
    utcnow,
    wait_for,
)

LOCK_SECONDS = 60.0
TOKEN_PATH_PART = "token"
"""Every platform's token endpoint path contains it, and none of their API paths do."""
RECOVERS_LOST_REFRESH = ("quickbooks", "xero", "wave")
"""FreshBooks refresh tokens are strictly single-use: a lost refresh answer cannot be undone."""
DEMO_SIZE, DEMO_SEED = 10, 11


@dataclass
class Outcome:
    name: str
    audit: Audit = field(default_factory=Audit)
    problems: list[str] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)
    elapsed: float = 0.0


@dataclass
class Stage:
    """A scenario's world and what it found; staged, its customers, items and invoices are
    synced and its payments not yet added."""

    world: World
    outcome: Outcome
    records: list[Any]
    """The demo business, as the store holds it once every part is added."""
    sabotage: str | None

    def add_payments(self) -> None:
        self.world.seed(DEMO_SEED, DEMO_SIZE, only=("payment",))

    def finish(self, engine: Engine | None = None, retries: int = 1,
               expected: dict[str, set[Key]] | None = None,
               unstuck: Sequence[str] = ()) -> None:
        """Drain, then audit every platform (`unstuck`: platforms whose waiting is legitimate)."""
        self.world.drain(engine, retries=retries).stop()
        if self.world.engine_restarts:
            self.outcome.problems.append(f"the engine exited on its own "
                                         f"{self.world.engine_restarts} time(s) with work left")
        if self.sabotage:
            self.outcome.figures["sabotaged"] = SABOTAGE[self.sabotage](
                self.world, self.world.platforms[0], self.records)
        for platform in self.world.platforms:
            report = audit(self.world, platform, (expected or {}).get(platform))
            if platform in unstuck:
                report.stuck.clear()
            self.outcome.audit.merge(report)

    def problem(self, text: str) -> None:
        self.outcome.problems.append(text)


def _stage(world: World, outcome: Outcome, sabotage: str | None, staged: bool) -> Stage:
    from engine import generate_demo

    if staged:
        world.seed(DEMO_SEED, DEMO_SIZE, without=("payment", "credit_note"))
        world.connect()
        world.drain(retries=0).stop()
    return Stage(world, outcome, generate_demo(seed=DEMO_SEED, size=DEMO_SIZE), sabotage)


def _first_customers(world: World, limit: int | None = None) -> None:
    """Unstaged scenarios: the demo's customers only, connected, nothing synced yet. Customers
    are the one entity every platform creates (Wave cannot apply payments)."""
    world.seed(DEMO_SEED, DEMO_SIZE, only=("customer",), limit=limit)
    world.connect()


def _committed(world: World, platform: str, entity: str = "payment") -> int:
    """Local records of `entity` with a marked object on the platform: writes that landed."""
    return len(world.sandboxes[platform].marks()["marks"].get(entity, {}))


# -- the scenarios ------------------------------------------------------------------------


def qbo_batch_drop(stage: Stage) -> None:
    """≥ 6 payments in one QuickBooks /batch, committed, its answer lost; restart; replay."""
    world, qbo = stage.world, stage.world.sandboxes["quickbooks"]
    qbo.hang(REQUEST_TIMEOUT + 2.5)
    qbo.fault("drop", count=1, method="POST", path_contains="/batch")
    stage.add_payments()
    engine = world.engine()
    in_batch = _batch_committed(stage, "the payments' /batch to be committed and dropped")
    # The engine's own timeout must have fired and been recorded before the restart.
    wait_for(lambda: world.count(
        "SELECT COUNT(*) FROM sync_attempts a JOIN sync_jobs j ON j.id = a.job_id "
        "WHERE j.entity = 'payment'"), "the engine to record the lost batch answer",
        ENGINE_WAIT)
    stage.outcome.figures["payments_in_batch"] = in_batch
    engine.stop()
    stage.finish(retries=0)


def qbo_batch_kill(stage: Stage) -> None:
    """The engine SIGKILLed while a /batch of ≥ 6 payments hangs, after QuickBooks committed it."""
    world, qbo = stage.world, stage.world.sandboxes["quickbooks"]
    qbo.hang(60)
    qbo.fault("drop", count=1, method="POST", path_contains="/batch")
    stage.add_payments()
    engine = world.engine()
    stage.outcome.figures["payments_in_batch"] = _batch_committed(
        stage, "the payments' /batch to be committed and hang")
    engine.kill()
    stage.finish(retries=0)


def _batch_committed(stage: Stage, what: str) -> int:
    world = stage.world
    in_flight = wait_for(lambda: world.sandboxes["quickbooks"].injected("drop")
                         and world.in_flight("quickbooks", "payment"), what, ENGINE_WAIT,
                         every=0.02)
    committed = wait_for(lambda: _committed(world, "quickbooks"),
                         "QuickBooks to hold the batch's payments", 10)
    if min(in_flight, committed) < 6:
        stage.problem(f"only {in_flight} payments in flight and {committed} committed when the "
                      "batch answer was dropped; the scenario needs ≥ 6 in one batch")
    return int(in_flight)


def xero_after_window(stage: Stage) -> None:
    """A Xero payment's answer lost, the engine killed, the key window passed, a restart."""
    world, xero = stage.world, stage.world.sandboxes["xero"]
    xero.hang(60)
    xero.fault("drop", count=1, method="PUT", path_contains="/Payments")
    stage.add_payments()
    engine = world.engine()
    wait_for(lambda: xero.injected("drop") and world.in_flight("xero", "payment"),
             "a Xero payment create to be committed and hang", ENGINE_WAIT, every=0.02)
    committed = wait_for(lambda: _committed(world, "xero"), "Xero to hold the payment", 10)
    engine.kill()
    stage.outcome.figures["clock_advanced_s"] = xero.pass_key_window()
    stage.outcome.figures["payments_committed_before_kill"] = committed
    stage.finish(retries=0)


def retry_after_exhausted(stage: Stage) -> None:
    """From the first sync, every customer create lands and loses its answer until attempts
    run out; then the operator retries. Each must end as one object, on every platform."""
    world = stage.world
    for sandbox in world.sandboxes.values():
        sandbox.hang(REQUEST_TIMEOUT + 1.5)
        sandbox.fault("drop", count=-1)
    _first_customers(world)
    engine = world.engine()

    def exhausted() -> bool:
        return all(any(job["status"] == "failed" for job in world.jobs(p, "customer"))
                   for p in world.platforms)
    wait_for(exhausted, "customers to run out of attempts on every platform", 120, every=0.25)
    engine.stop()
    for platform in world.platforms:
        stage.outcome.figures[f"{platform}_failed_after_attempts"] = sum(
            job["status"] == "failed" for job in world.jobs(platform))
        stage.outcome.figures[f"{platform}_objects_landed"] = sum(
            map(len, world.sandboxes[platform].marks()["marks"].values()))
        world.sandboxes[platform].clear_faults()
    world.operator_retry()
    stage.finish()


def lookup_fails_during_reconcile(stage: Stage) -> None:
    """A customer create lands and loses its answer; every lookup then gets a 5xx. The record
    must stay in doubt (never "not ours", never failed for good) and later reconcile to the
    object that exists. One customer, so that no other create can land beside it."""
    world = stage.world
    for name, sandbox in world.sandboxes.items():
        sandbox.hang(REQUEST_TIMEOUT + 2.5)
        # Every write hangs until the create has landed (on Wave, reads are POSTs too).
        sandbox.fault("drop", count=-1, method=CREATE_METHOD[name])
    _first_customers(world, limit=1)
    engine = world.engine()
    failing: set[str] = set()

    def lookups_fail() -> bool:
        # Armed as soon as the create is seen landed, before the engine's timeout fires.
        for name, sandbox in world.sandboxes.items():
            if name not in failing and _committed(world, name, "customer"):
                sandbox.clear_faults()
                sandbox.fault("error", count=-1, status=503)
                failing.add(name)
        return len(failing) == len(world.sandboxes)
    wait_for(lookups_fail, "a customer create on every platform to land and hang", ENGINE_WAIT,
             every=0.02)
    doubted = {name: set(world.sandboxes[name].marks()["marks"].get("customer", {}))
               for name in world.sandboxes}
    for name, ids in doubted.items():
        if len(ids) != 1:
            stage.problem(f"{name}: {len(ids)} customers landed under the dropped answer; the "
                          "scenario needs exactly one")
    attempts = int(ENGINE_SETTINGS["max_attempts"])

    def tried_through() -> bool:
        # Either its attempts ran out, or it kept asking past them: both show the verdict.
        return all(s.injected("error") > attempts or any(
            job["status"] == "failed" for job in world.jobs(name, "customer"))
            for name, s in world.sandboxes.items())
    wait_for(tried_through, "the engine to use up its attempts against the 5xx", 90,
             every=0.25)
    for name in world.platforms:
        for job in world.jobs(name, "customer"):
            if job["record_id"] not in doubted[name]:
                continue
            if not (job["status"] in ("uncertain", "in_flight") or job["in_doubt"]):
                stage.problem(f"{name} customer {job['record_id']}: {job['status']} "
                              f"({job['error_class']}: {job['error_message']}) while its "
                              "lookup failed; it must stay in doubt")
    stage.outcome.figures["in_doubt"] = {name: sorted(ids) for name, ids in doubted.items()}
    engine.stop()
    for sandbox in world.sandboxes.values():
        sandbox.clear_faults()
    stage.finish()
    for name in world.platforms:
        for job in world.jobs(name, "customer"):
            if job["record_id"] in doubted[name] and job["status"] != "synced":
                stage.problem(f"{name} customer {job['record_id']} never reconciled to the "
                              f"object that exists: {job['status']} {job['error_message']}")


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=60, isolation_level=None)
db.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def lock_60s(stage: Stage) -> None:
    """Another process holds the store's write lock for 60 s while the engine has work in
    flight: the engine stays alive, its heartbeat resumes, the work completes."""
    world = stage.world
    for sandbox in world.sandboxes.values():
        sandbox.hang(REQUEST_TIMEOUT + 0.5)
        sandbox.fault("timeout", count=2)
    stage.add_payments()
    engine = world.engine()
    wait_for(world.in_flight, "jobs in flight before the lock", ENGINE_WAIT, every=0.02)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(world.db), str(LOCK_SECONDS)],
                              stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert locker.stdout is not None
    if locker.stdout.readline().strip() != "locked":
        stage.problem("the locking process could not take the write lock")
    died_at: float | None = None
    while locker.poll() is None:  # the lock's 60 s are the scenario itself
        if died_at is None and not engine.alive():
            died_at = time.monotonic()
        time.sleep(0.5)
    released = utcnow()
    if died_at is not None or not engine.alive():
        stage.problem(f"the engine died while the store was locked (exit "
                      f"{engine.process.poll()}); see engine.log")
    else:
        try:
            wait_for(lambda: (beat := world.heartbeat()) is not None and beat > released,
                     "the engine's heartbeat after the lock", 30, every=0.5)
        except ChaosError as exc:
            stage.problem(str(exc))
    stage.finish(engine)
    if world.in_flight():
        stage.problem(f"{world.in_flight()} jobs still in flight after the drain")


def refresh_lost(stage: Stage) -> None:
    """The token endpoint commits a refresh and its answer is lost (the engine is killed while
    it waits). QuickBooks, Xero and Wave carry on without a reconnect; FreshBooks asks for one,
    saying what to do."""
    world = stage.world
    _first_customers(world)
    for sandbox in world.sandboxes.values():
        sandbox.hang(60)
        sandbox.control("POST", "/_sandbox/expire-tokens")
        sandbox.fault("drop", count=1, path_contains=TOKEN_PATH_PART)
    engine = world.engine()
    try:
        wait_for(lambda: all(s.injected("drop") for s in world.sandboxes.values()),
                 "a refresh to be dropped on every platform", ENGINE_WAIT, every=0.05)
    except ChaosError:
        stage.problem("no refresh answer was lost on " + ", ".join(
            name for name, s in world.sandboxes.items() if not s.injected("drop"))
            + ": the token endpoint took no fault")
    engine.kill()
    for sandbox in world.sandboxes.values():
        sandbox.clear_faults()
    engine = world.engine()
    expected = {}
    for name in world.platforms:
        if name in RECOVERS_LOST_REFRESH:
            continue
        expected[name] = set()  # its customers wait for the reconnect
        try:
            wait_for(lambda n=name: world.connection_state(n)[0] == "needs_reconnect",
                     f"{name} to ask for a reconnect", ENGINE_WAIT, every=0.2)
        except ChaosError as exc:
            stage.problem(str(exc))
    stage.finish(engine, expected=expected,
                 unstuck=[n for n in world.platforms if n not in RECOVERS_LOST_REFRESH])
    for name in world.platforms:
        state, reason = world.connection_state(name)
        stage.outcome.figures[f"{name}_state"] = f"{state}: {reason or ''}"
        if name in RECOVERS_LOST_REFRESH and state != "active":
            stage.problem(f"{name} is {state} ({reason}) after a lost refresh answer; it "
                          "should recover without a reconnect")
        if name not in RECOVERS_LOST_REFRESH and (
                state != "needs_reconnect" or "connect" not in (reason or "").lower()):
            stage.problem(f"{name} is {state} ({reason}); it should ask for a reconnect and "
                          "say so")


def reconnect(stage: Stage) -> None:
    """Disconnect and reconnect every connection: no write reaches a platform, no status
    changes."""
    world = stage.world
    stage.add_payments()
    world.drain(retries=0).stop()
    before = {p: {(j["entity"], j["record_id"]): j["status"] for j in world.jobs(p)}
              for p in world.platforms}
    synced_before = {p: world.synced(p) for p in world.platforms}
    for name in world.platforms:
        result = world.syncdesk("disconnect", name)
        if result.returncode != 0:
            stage.problem(f"syncdesk disconnect {name}: {result.stderr.strip()}")
        world.connect([name])
    for sandbox in world.sandboxes.values():
        # Any write from here on is counted (and refused): nothing synced may be sent again.
        # Wave reads are POSTs too, but an engine with nothing to do reads nothing.
        for method in ("POST", "PUT"):
            sandbox.fault("error", count=-1, status=503, method=method)
    idle = world.engine(until_idle=True)
    try:
        idle.process.wait(timeout=ENGINE_WAIT)
    except subprocess.TimeoutExpired:
        stage.problem(f"engine run --until-idle did not exit within {ENGINE_WAIT:.0f} s after "
                      "the reconnect")
        idle.kill()
    writes = {name: s.injected() for name, s in world.sandboxes.items()}
    stage.outcome.figures["writes_after_reconnect"] = writes
    for name, n in writes.items():
        if n:
            stage.problem(f"{name}: {n} write request(s) after the reconnect; expected none")
    for name in world.platforms:
        after = {(j["entity"], j["record_id"]): j["status"] for j in world.jobs(name)}
        changed = [f"{e} {r}: {before[name][(e, r)]} -> {after.get((e, r))}"
                   for e, r in before[name] if after.get((e, r)) != before[name][(e, r)]]
        if changed:
            stage.problem(f"{name}: {len(changed)} status(es) changed by the reconnect, e.g. "
                          f"{changed[:3]}")
        world.sandboxes[name].clear_faults()
    stage.finish(retries=0, expected=synced_before)


@dataclass(frozen=True)
class Scenario:
    run: Callable[[Stage], None]
    platforms: tuple[str, ...] = PLATFORMS
    staged: bool = True
    """Customers, items and invoices synced fault-free before the scenario begins."""
    sqlite_only: bool = False
    """About SQLite's own machinery (its file's write lock): not run on PostgreSQL."""


SCENARIOS: dict[str, Scenario] = {
    "qbo-batch-drop": Scenario(qbo_batch_drop, ("quickbooks",)),
    "qbo-batch-kill": Scenario(qbo_batch_kill, ("quickbooks",)),
    "xero-after-window": Scenario(xero_after_window, ("xero",)),
    "retry-after-exhausted": Scenario(retry_after_exhausted, staged=False),
    "lookup-fails-during-reconcile": Scenario(lookup_fails_during_reconcile, staged=False),
    "lock-60s": Scenario(lock_60s, ("xero", "freshbooks"), sqlite_only=True),
    "refresh-lost": Scenario(refresh_lost, staged=False),
    "reconnect": Scenario(reconnect),
}


def run_scenario(name: str, workdir: Path, ports: PortPool, sabotage: str | None = None,
                 code: Path = ROOT, databases: Databases | None = None) -> Outcome:
    scenario = SCENARIOS[name]
    outcome = Outcome(name)
    started = time.monotonic()
    world = World(workdir / name, ports.take(len(scenario.platforms)), scenario.platforms,
                  code, databases=databases)
    try:
        with world.running():
            scenario.run(_stage(world, outcome, sabotage, scenario.staged))
    except ChaosError as exc:
        outcome.problems.append(f"{exc} (logs in {world.workdir.name}/)")
    except Exception as exc:  # a crash of the harness itself fails the scenario, not the run
        outcome.problems.append(f"harness error: {type(exc).__name__}: {exc}")
        traceback.print_exc()
    outcome.elapsed = time.monotonic() - started
    return outcome


# -- breaking the result on purpose, to prove the audit fails ---------------------------


def _delete_one(world: World, platform: str, records: Sequence[Any]) -> str:
    """Delete a synced customer's object behind the engine's back: it is now missing."""
    row = world.query(
        "SELECT l.record_id, l.remote_id FROM sync_links l WHERE l.entity = 'customer' AND "
        "l.connection_id = (SELECT MAX(id) FROM connections WHERE platform = ?) "
        "ORDER BY l.record_id LIMIT 1", (platform,))[0]
    world.sandboxes[platform].control("POST", "/_sandbox/delete",
                                      {"entity": "customer", "id": row["remote_id"]})
    return f"{platform} customer {row['record_id']}"


def _duplicate_one(world: World, platform: str, records: Sequence[Any]) -> str:
    """Create a second marked object for a synced customer, as a fresh-keyed resend would."""
    from console._wiring import platforms as registry
    from engine import (
        Customer,
        Entity,
        Operation,
        PushRequest,
        Sealer,
        Store,
        live_connections,
        open_provider,
    )

    synced = world.synced(platform)
    customer = next(r for r in records if isinstance(r, Customer) and ("customer", r.id) in synced)
    # Another name: platforms refuse a second customer by the same name, not by the same mark.
    twin = customer.model_copy(update={"display_name": f"{customer.display_name} (planted)"})

    async def plant() -> None:
        store = await Store.open(world.db)
        try:
            row = next(c for c in await live_connections(store) if c.platform == platform)
            provider = await open_provider(store, row, registry()[platform], Sealer.load())
            try:
                await provider.push(PushRequest(entity=Entity.CUSTOMER,
                                                operation=Operation.CREATE, record=twin,
                                                idempotency_key=f"planted-{customer.id}"))
            finally:
                await provider.aclose()
        finally:
            await store.close()
    asyncio.run(plant())
    return f"{platform} customer {customer.id}"


SABOTAGE: dict[str, Callable[[World, str, Sequence[Any]], str]] = {
    "delete": _delete_one,
    "duplicate": _duplicate_one,
}
