"""The long run: the demo business synced to four misbehaving sandboxes, the engine SIGKILLed
again and again while jobs are in flight, the sandbox clocks moved past the key window and the
operator retrying in between; then a clean drain and the per-record audit.

What must end up on each platform is what a fault-free run of the same ledger puts there (the
control): the demo plants records the platforms refuse, and those are not the engine's fault.

On PostgreSQL two engines share the store, and the kills are independent: each cycle SIGKILLs
one of them at a random moment while jobs of the connections it leases are in flight (where
the store has per-connection leases; else while any job is), preferring the one killed less
often, the other running on; the killed one is started again the next cycle.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._audit import Audit, Key, audit
from ._scenarios import SABOTAGE
from ._world import (
    CREATE_METHOD,
    ENGINE_WAIT,
    ROOT,
    ChaosError,
    Databases,
    Engine,
    World,
    wait_for,
)

FAULT_KINDS = ("drop", "rate_limit", "error", "timeout", "garbage")
STEADY_FAULTS: tuple[dict[str, Any], ...] = (
    {"kind": "error", "count": -1, "probability": 0.03, "status": 503},
    {"kind": "drop", "count": -1, "probability": 0.02},
    {"kind": "timeout", "count": -1, "probability": 0.01},
    {"kind": "garbage", "count": -1, "probability": 0.01},
)
"""All run long on every sandbox: about 7 % of requests."""
HANG = 2.5
"""Seconds a timeout or drop hangs: past the engine's timeout, so work stays in flight."""
MIN_FAULT_SHARE = 0.01


@dataclass
class StormPlan:
    size: int
    kills: int
    """Kills that must land while jobs are in flight."""
    seed: int = 3
    engines: int = 1
    """Engine processes at once: 2 on PostgreSQL, each killed at moments of its own."""

    @property
    def max_cycles(self) -> int:
        return self.kills * 3


@dataclass
class StormResult:
    plan: StormPlan
    records: int = 0
    cycles: int = 0
    kills_mid_work: int = 0
    kills_idle: int = 0
    kills_by_platform: dict[str, int] = field(default_factory=dict)
    """Kills that found jobs of that platform in flight."""
    kills_by_engine: dict[str, int] = field(default_factory=dict)
    """On PostgreSQL, kills mid-work of each of the two engines ("a", "b")."""
    clock_jumps: int = 0
    operator_retries: int = 0
    engine_restarts: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    audits: dict[str, Audit] = field(default_factory=dict)
    control: dict[str, Audit] = field(default_factory=dict)
    tokens: dict[str, dict[str, int]] = field(default_factory=dict)
    """Each sandbox's refreshes, regrants (a spent refresh token spent again after a lost
    answer) and invalid_grant answers: what a connection that left 'active' went through."""
    connection_states: dict[str, str] = field(default_factory=dict)
    """Each platform's connection at the audit, where not active (why its jobs stopped)."""
    problems: list[str] = field(default_factory=list)
    sabotaged: str = ""
    """The record broken on purpose before the audit (`--sabotage`), to prove it fails."""


def control_run(workdir: Path, ports: list[int], plan: StormPlan, code: Path,
                databases: Databases | None) -> tuple[dict[str, set[Key]], dict[str, Audit]]:
    """The same ledger synced with no faults: what each platform must hold in the end."""
    world = World(workdir, ports, code=code, databases=databases)
    with world.running():
        world.seed(plan.seed, plan.size)
        world.connect()
        world.drain(retries=0).stop()
        expected = {platform: world.synced(platform) for platform in world.platforms}
        audits = {platform: audit(world, platform, expected[platform])
                  for platform in world.platforms}
    return expected, audits


def storm(workdir: Path, ports: list[int], control_ports: list[int], plan: StormPlan,
          sabotage: str | None = None, code: Path = ROOT,
          databases: Databases | None = None) -> StormResult:
    from engine import generate_demo

    result = StormResult(plan)
    rng = random.Random(plan.seed)
    records = generate_demo(seed=plan.seed, size=plan.size)
    result.records = len(records)
    world = World(workdir / "storm", ports, code=code, databases=databases)
    # The control needs nothing from the storm until the audit: it runs beside it.
    with ThreadPoolExecutor(max_workers=1) as pool, world.running():
        control = pool.submit(control_run, workdir / "control", control_ports, plan, code,
                              databases)
        world.seed(plan.seed, plan.size)
        world.connect()
        for sandbox in world.sandboxes.values():
            sandbox.hang(HANG)
            for fault in STEADY_FAULTS:
                sandbox.fault(**fault)
        pair: dict[str, Engine] = {}
        while result.kills_mid_work < plan.kills and result.cycles < plan.max_cycles:
            if not world.unfinished():
                result.problems.append(f"the work ran out after {result.kills_mid_work} "
                                       "kills mid-work: plan a bigger --size")
                break
            result.cycles += 1
            if plan.engines == 2:
                _one_of_two_killed(world, rng, result, pair)
            else:
                _one_kill(world, rng, result)
            if result.cycles % 2 == 0:
                world.operator_retry()
                result.operator_retries += 1
            if result.cycles % 3 == 0:
                for sandbox in world.sandboxes.values():
                    sandbox.pass_key_window()
                result.clock_jumps += 1
        # The steady faults stay on while the engine drains what the kills left (operator
        # retries included); then a drain without faults finishes what they failed.
        world.drain(retries=1).stop()
        for sandbox in world.sandboxes.values():
            sandbox.clear_faults()
        world.drain(retries=1).stop()
        result.engine_restarts = world.engine_restarts
        if sabotage:
            result.sabotaged = SABOTAGE[sabotage](world, world.platforms[0], records)
        try:
            expected, result.control = control.result()
        except ChaosError as exc:  # the storm's figures still count; only "missing" cannot
            result.problems.append(f"the control run failed, so nothing counts as missing: "
                                   f"{exc}")
            expected = {name: set() for name in world.platforms}
        for name, sandbox in world.sandboxes.items():
            state = sandbox.state()
            result.requests[name] = int(state["requests"])
            result.faults[name] = dict(state["faults_injected"])
            result.tokens[name] = {key: int(state.get(key, 0))
                                   for key in ("refreshes", "regrants", "invalid_grants")}
            result.audits[name] = audit(world, name, expected[name])
            connection, reason = world.connection_state(name)
            if connection != "active":
                result.connection_states[name] = f"{connection}: {reason}"
    return result


def _one_kill(world: World, rng: random.Random, result: StormResult) -> None:
    """Arm this cycle's certain fault on every sandbox, start the engine, SIGKILL it mid-work.

    One kind per cycle, in turn, so that a platform that batches (few requests) is not
    buried under them, and every kind is certain to be met in a run of five cycles or more.
    """
    _arm(world, rng, result)
    engine = world.engine()
    # A random moment among those when the store shows jobs in flight, not a random time.
    wanted, seen = rng.randint(1, 40), 0

    def mid_work() -> bool:
        nonlocal seen, engine
        if not engine.alive():
            world.engine_restarts += 1
            engine = world.engine()
            return False
        seen += bool(world.in_flight())
        return seen >= wanted

    try:
        wait_for(mid_work, "jobs in flight", timeout=ENGINE_WAIT, every=0.05)
    except ChaosError as exc:
        result.problems.append(str(exc))
    busy = {name: world.in_flight(name) for name in world.sandboxes}
    engine.kill()
    _count_kill(world, result, busy)


def _arm(world: World, rng: random.Random, result: StormResult) -> None:
    """This cycle's certain fault, one kind per cycle in turn, on every sandbox."""
    kind = FAULT_KINDS[(result.cycles - 1) % len(FAULT_KINDS)]
    for name, sandbox in world.sandboxes.items():
        if kind == "rate_limit":
            sandbox.fault(kind, count=2, retry_after=1)
        elif kind == "drop":
            sandbox.fault(kind, count=1, method=CREATE_METHOD[name])
        else:
            sandbox.fault(kind, count=1, status=rng.choice((500, 502, 503)))


def _one_of_two_killed(world: World, rng: random.Random, result: StormResult,
                       pair: dict[str, Engine]) -> None:
    """`_one_kill` with two engines on the store: at a random moment among those when jobs
    of an engine's own connections are in flight, one such engine is SIGKILLed (the one
    killed less often so far, so both are), the other running on."""
    _arm(world, rng, result)
    for name in ("a", "b"):
        if name not in pair:
            pair[name] = world.engine()
    wanted, seen = rng.randint(1, 40), 0
    busy_engines: list[str] = []

    def mid_work() -> bool:
        nonlocal seen, busy_engines
        for name, engine in pair.items():
            if not engine.alive():
                world.engine_restarts += 1
                pair[name] = world.engine()
                return False
        busy_engines = [name for name, engine in sorted(pair.items())
                        if world.in_flight(engine=engine.pid)]
        seen += bool(busy_engines)
        return seen >= wanted

    try:
        wait_for(mid_work, "jobs in flight in either engine", timeout=ENGINE_WAIT, every=0.05)
    except ChaosError as exc:
        result.problems.append(str(exc))
    victim = min(busy_engines or ["a", "b"],
                 key=lambda name: (result.kills_by_engine.get(name, 0), rng.random()))
    busy = {name: world.in_flight(name, engine=pair[victim].pid) for name in world.sandboxes}
    pair.pop(victim).kill()
    _count_kill(world, result, busy, victim)


def _count_kill(world: World, result: StormResult, busy: dict[str, int],
                engine: str | None = None) -> None:
    # One line a kill: a run whose plan falls short shows which cycles found nothing.
    in_flight = {name: n for name, n in busy.items() if n}
    world.log(f"cycle {result.cycles}: SIGKILLed engine {engine or ''} with jobs in flight: "
              f"{in_flight or 'none'}")
    if not any(busy.values()):
        result.kills_idle += 1
        return
    result.kills_mid_work += 1
    if engine is not None:
        result.kills_by_engine[engine] = result.kills_by_engine.get(engine, 0) + 1
    for name, n in busy.items():
        if n:
            result.kills_by_platform[name] = result.kills_by_platform.get(name, 0) + 1


def fault_shortfalls(result: StormResult) -> list[str]:
    """Where the run injected less than it planned: every kind on every platform, ≥ 1 %."""
    short = []
    for name, faults in result.faults.items():
        missing = [kind for kind in FAULT_KINDS if not faults.get(kind)]
        if missing:
            short.append(f"{name}: no {', '.join(missing)} fault injected")
        share = sum(faults.values()) / max(result.requests.get(name, 0), 1)
        if share < MIN_FAULT_SHARE:
            short.append(f"{name}: {share:.2%} of requests faulted, planned ≥ "
                         f"{MIN_FAULT_SHARE:.0%}")
    return short
