"""Chaos: prove that every record reaches each platform once, whatever the faults and kills.

The four sandboxes run as separate `syncdesk sandbox serve` processes and the engine as a
separate `syncdesk engine run` process, all on loopback. The storm syncs the demo business
while the sandboxes inject 5xx, commit-then-drop, timeouts, 429 bursts and HTML bodies, and
SIGKILLs the engine at moments when the store shows jobs in flight (only those kills count);
between kills the sandbox clocks jump past the idempotency-key window and the operator runs
`syncdesk retry`. Then the named scenarios each replay one known way to lose or double a write,
deterministically, on a store and sandboxes of their own.

The audit is per local record: the objects on the platform that carry syncdesk's mark for it
(0 = missing, 2+ = duplicate). Exits 1 on any duplicate, missing or stuck record, on a failed
scenario check, and when the kills mid-work or injected faults fall short of the plan.

    python bench/chaos.py                       # ~2,000 records, ≥ 100 kills mid-work
    python bench/chaos.py --quick               # ≤ 3 min: ≥ 5 kills, every scenario
    python bench/chaos.py --scenario reconnect  # one scenario (repeatable), no storm
    python bench/chaos.py --quick --db postgresql  # each world a database in a throwaway
                                                   # cluster, two engines killed independently

On PostgreSQL (`--db postgresql`) the harness starts a cluster (`tests._pg`) on the first port
of its range, and the storm runs two engine processes side by side, each SIGKILLed at moments
of its own; the scenarios about SQLite's file lock are left out.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._chaos._audit import Audit
from bench._chaos._scenarios import SABOTAGE, SCENARIOS, Outcome, run_scenario
from bench._chaos._storm import StormPlan, StormResult, fault_shortfalls, storm
from bench._chaos._world import PLATFORMS, ROOT, Databases, PortPool
from bench._common import emit

PORTS = (19400, 19499)
"""The harness's own loopback ports: sandboxes are started on explicit ports from here."""
WORKERS = 3
"""Scenarios run at once, beside the storm (two cores: they mostly wait on hangs and locks)."""
SLOW_FIRST = ("lock-60s", "retry-after-exhausted", "lookup-fails-during-reconcile",
              "refresh-lost", "reconnect", "xero-after-window", "qbo-batch-kill",
              "qbo-batch-drop")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="≤ 3 min: small storm, every "
                                                             "scenario")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="run only this scenario (repeatable); no storm")
    parser.add_argument("--size", type=int, default=None, help="demo customers in the storm")
    parser.add_argument("--kills", type=int, default=None, help="kills mid-work planned")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--port-base", type=int, default=PORTS[0],
                        help=f"first loopback port (default {PORTS[0]})")
    parser.add_argument("--port-count", type=int, default=100,
                        help="ports the harness may use from --port-base on (a quick run "
                             "takes ~40)")
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite",
                        help="each world's store: a SQLite file, or a database of a "
                             "throwaway PostgreSQL cluster with two engines in the storm")
    parser.add_argument("--sabotage", choices=sorted(SABOTAGE),
                        help="break the result on purpose before the audit (proves it fails)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--engine-code", type=Path, default=ROOT,
                        help="run the engine and CLI of another checkout (e.g. an old commit, "
                             "to see the checks fail); the sandboxes stay this one's")
    args = parser.parse_args(argv)
    ports = PortPool(args.port_base, args.port_base + args.port_count - 1)
    workdir = Path(tempfile.mkdtemp(prefix="chaos-"))
    os.environ["SYNCDESK_KEY_FILE"] = str(workdir / "secret.key")
    started = time.monotonic()
    failures: list[str] = []
    databases = None
    try:
        if args.db == "postgresql":
            from tests import _pg

            databases = Databases(_pg.start(ports.take(1)[0]))
        names = args.scenario or ([] if args.sabotage else [
            name for name, scenario in SCENARIOS.items()
            if not (databases and scenario.sqlite_only)])
        code = args.engine_code.resolve()
        # Mostly waiting on processes and hangs: run side by side to keep --quick short.
        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            scenarios = [pool.submit(run_scenario, name, workdir, ports, args.sabotage, code,
                                     databases)
                         for name in sorted(names, key=SLOW_FIRST.index)]
            if not args.scenario:
                size, kills = (18, 6) if args.quick else (470, 110)
                if databases:  # two engines get through the ledger twice as fast
                    size *= 2
                plan = StormPlan(size=args.size or size, kills=args.kills or kills,
                                 seed=args.seed, engines=2 if databases else 1)
                emit("chaos.plan.kills_mid_work", plan.kills, "SIGKILLs", "planned minimum",
                     size=plan.size, fault_share="≥ 1 % of requests, every kind, every platform",
                     db=args.db, engines=plan.engines)
                try:
                    result = storm(workdir, ports.take(4), ports.take(4), plan, args.sabotage,
                                   code, databases)
                except Exception as exc:  # reported as a failed storm, after the scenarios
                    traceback.print_exc()
                    result = StormResult(plan, problems=[f"the storm broke off: {exc!r}"])
                failures += _report_storm(result)
            outcomes = [future.result() for future in scenarios]
        for outcome in outcomes:
            failures += _report_scenario(outcome)
    finally:
        if databases is not None:
            databases.cluster.stop()
        if args.keep:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    emit("chaos.elapsed", time.monotonic() - started, "s")
    for failure in failures:
        print(f"chaos: FAILED {failure}", file=sys.stderr)
    return 1 if failures else 0


def _report_storm(result: StormResult) -> list[str]:
    failures = []
    emit("chaos.records", result.records, "records", f"{len(PLATFORMS)} platforms",
         sabotaged=result.sabotaged or None)
    emit("chaos.kills_mid_work", result.kills_mid_work, "SIGKILLs",
         f"planned ≥ {result.plan.kills}; killed while the store showed jobs in flight",
         by_platform=result.kills_by_platform, idle_kills=result.kills_idle,
         cycles=result.cycles, clock_jumps=result.clock_jumps,
         operator_retries=result.operator_retries, engine_restarts=result.engine_restarts,
         **({"by_engine": result.kills_by_engine} if result.plan.engines == 2 else {}))
    if result.kills_mid_work < result.plan.kills:
        failures.append(f"{result.kills_mid_work} kills mid-work, planned {result.plan.kills}")
    for engine in ("a", "b") if result.plan.engines == 2 else ():
        if not result.kills_by_engine.get(engine):
            failures.append(f"engine {engine} of the two was never killed mid-work")
    if result.engine_restarts:
        failures.append(f"the engine exited on its own {result.engine_restarts} time(s) "
                        "while work was left")
    failures += result.problems
    short = fault_shortfalls(result)
    failures += short
    for name in PLATFORMS:
        faults = result.faults.get(name, {})
        emit(f"chaos.{name}.faults_injected", sum(faults.values()), "requests",
             f"of {result.requests.get(name, 0)} requests; planned ≥ 1 %, every kind",
             detail=faults, tokens=result.tokens.get(name))
        control, figures = result.control.get(name), result.audits.get(name)
        if control is not None and not control.clean:
            failures.append(f"{name}: the fault-free control run is not clean: "
                            f"{_summary(control)}")
        if figures is None:
            continue
        emit(f"chaos.{name}.duplicates", len(figures.duplicates), "records", "must be 0",
             detail=dict(list(figures.duplicates.items())[:20]))
        emit(f"chaos.{name}.missing", len(figures.missing), "records",
             f"of {figures.expected} expected; must be 0", detail=figures.missing[:20])
        emit(f"chaos.{name}.stuck", len(figures.stuck), "jobs", "must be 0",
             detail=figures.stuck[:20])
        emit(f"chaos.{name}.not_synced", len(figures.not_synced), "records",
             "expected records whose job did not end synced; must be 0",
             detail=figures.not_synced[:20])
        if not figures.clean:
            state = result.connection_states.get(name)
            failures.append(f"{name}: {_summary(figures)}"
                            + (f"; its connection is {state}" if state else ""))
    return failures


def _report_scenario(outcome: Outcome) -> list[str]:
    prefix = f"chaos.scenario.{outcome.name}"
    emit(f"{prefix}.duplicates", len(outcome.audit.duplicates), "records", "must be 0",
         detail=dict(list(outcome.audit.duplicates.items())[:20]))
    emit(f"{prefix}.missing", len(outcome.audit.missing), "records",
         f"of {outcome.audit.expected} expected ({outcome.audit.excused} legitimately refused "
         "left out); must be 0", detail=outcome.audit.missing[:20])
    emit(f"{prefix}.stuck", len(outcome.audit.stuck), "jobs", "must be 0",
         detail=outcome.audit.stuck[:20])
    emit(f"{prefix}.not_synced", len(outcome.audit.not_synced), "records", "must be 0",
         detail=outcome.audit.not_synced[:20])
    emit(f"{prefix}.failed_checks", len(outcome.problems), "checks", "must be 0",
         detail=outcome.problems, elapsed=round(outcome.elapsed, 1), **outcome.figures)
    failures = [f"{outcome.name}: {problem}" for problem in outcome.problems]
    if not outcome.audit.clean:
        failures.append(f"{outcome.name}: {_summary(outcome.audit)}")
    return failures


def _summary(audit: Audit) -> str:
    return (f"{len(audit.duplicates)} duplicated {sorted(audit.duplicates)[:5]}, "
            f"{len(audit.missing)} missing {audit.missing[:5]}, {len(audit.stuck)} stuck "
            f"{audit.stuck[:5]}, {len(audit.not_synced)} not synced {audit.not_synced[:3]}")


if __name__ == "__main__":
    sys.exit(main())
