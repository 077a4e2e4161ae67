"""Scale: many businesses on one PostgreSQL store, one and two engine processes, one SIGKILLed.

A throwaway PostgreSQL cluster holds the store. Each platform's sandboxes run in one process
of their own, limits off, no latency: a sandbox is one tenant (one company, one realm), so that
process serves one sandbox per business, each under its own path (`/t17/…`), and every
connection is a tenant of its own, connected through the real authorization-code flow. Each
business has `--records` customers, sent to each of its connections (customers are the one
entity every platform creates).

Three runs, each on a fresh database and fresh sandboxes, the engines being `syncdesk engine
run` processes with the engine's own rate limiting off:

- `scale.engines_1.records_per_s`: one engine, from its start until no job is left to do;
- `scale.engines_2.records_per_s` and `scale.speedup_2` (target ≥ 1.6): two engines;
- two engines, one SIGKILLed once a third of the jobs are synced while it holds connections
  with jobs in flight: `scale.takeover_s` (target ≤ 30), from the kill until every connection
  it held is leased by the survivor, then `scale.duplicates` and `scale.missing` (both 0),
  counted per record from the objects carrying syncdesk's mark in each tenant's sandbox.

Exits 1 when a target is missed, 2 when the run did less than planned (fewer jobs than planned,
jobs failed or left unfinished, the kill found no work in flight, no lease to take over).

    python bench/scale.py                 # 250 businesses × 4 platforms × 4 records
    python bench/scale.py --quick         # 40 × 2 platforms × 3 records, seconds; unjudged
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench._chaos._world import UNTHROTTLED_SYNCDESK  # noqa: E402
from bench._common import Outcome, emit  # noqa: E402

PORTS = (20750, 20799)
PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")
UNFINISHED = ("pending", "in_flight", "uncertain")
TEMPLATE = "connected"
"""The database every run copies: the businesses and their connections, no records."""
ENGINE_CONFIG = {"poll_interval": 0.2, "feed_interval": 3600, "backoff_base": 0.2,
                 "backoff_cap": 1.0}
"""The change feeds are read once an hour: the run measures pushes, not 1,000 idle pulls."""
SPEEDUP_TARGET, TAKEOVER_TARGET = 1.6, 30.0
KILL_AT = 1 / 3
"""Share of the jobs synced before the kill: mid-run, with most of the work still to do."""


def tenant_options(platform: str, n: int) -> dict[str, str]:
    """Sandbox options giving tenant `n` an id of its own, shaped like the platform's."""
    if platform == "quickbooks":
        return {"realm_id": f"93414529{n:08d}"}
    if platform == "freshbooks":
        return {"account_id": f"sc{n:05d}"}
    key = {"xero": "tenant_id", "wave": "business_uuid"}[platform]
    return {key: str(uuid.uuid5(uuid.NAMESPACE_URL, f"syncdesk-scale/{platform}/{n}"))}


def serve(platform: str, port: int, tenants: int) -> None:
    """One process, one sandbox per tenant: `/t<n>/<path>` is `<path>` on sandbox n."""
    import uvicorn

    from console._wiring import sandbox_app

    apps = {f"t{n}": sandbox_app(platform, limits_enabled=False, seed_demo_company=False,
                                 **tenant_options(platform, n)) for n in range(tenants)}

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        head, _, rest = scope["path"][1:].partition("/")
        sandbox = apps.get(head)
        if sandbox is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"no such tenant"})
            return
        path = "/" + rest
        await sandbox({**scope, "path": path, "raw_path": path.encode()}, receive, send)

    print(f"{platform}: {tenants} sandboxes on http://127.0.0.1:{port}/t<n>", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


# -- the world ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Plan:
    businesses: int
    platforms: tuple[str, ...]
    records: int
    """Customers per business, each one job per connection."""

    @property
    def connections(self) -> int:
        return self.businesses * len(self.platforms)

    @property
    def jobs(self) -> int:
        return self.connections * self.records


def customer_id(run: str, business: int, n: int) -> str:
    return f"{run}-b{business}-c{n}"


class Fleet:
    """The sandbox processes of one run, one per platform, each serving every business."""

    def __init__(self, plan: Plan, ports: Sequence[int], workdir: Path) -> None:
        self.plan = plan
        self.urls = {p: f"http://127.0.0.1:{port}" for p, port in zip(plan.platforms, ports,
                                                                      strict=False)}
        self.processes = {}
        for platform, port in zip(plan.platforms, ports, strict=False):
            with (workdir / f"{platform}.log").open("ab") as log:
                self.processes[platform] = subprocess.Popen(
                    [sys.executable, __file__, "--serve", platform, str(port),
                     str(plan.businesses)], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.client = httpx.Client(timeout=30)
        try:
            for platform in plan.platforms:
                # Building hundreds of sandboxes takes minutes on a loaded machine.
                wait_for(lambda p=platform: self._up(p), f"the {platform} sandboxes", 600)  # type: ignore[misc]
        except BaseException:
            self.stop()
            raise

    def _up(self, platform: str) -> bool:
        if self.processes[platform].poll() is not None:
            raise RunFailed(f"the {platform} sandboxes exited; see {platform}.log")
        try:
            return self.client.get(self.tenant_url(platform, 0) + "/_sandbox/state"
                                   ).status_code == 200
        except httpx.TransportError:
            return False

    def tenant_url(self, platform: str, business_index: int) -> str:
        return f"{self.urls[platform]}/t{business_index}"

    def marks(self, platform: str, business_index: int) -> dict[str, int]:
        answer = self.client.get(self.tenant_url(platform, business_index) + "/_sandbox/marks")
        answer.raise_for_status()
        customers: dict[str, int] = answer.json()["marks"].get("customer", {})
        return customers

    def stop(self) -> None:
        self.client.close()
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class RunFailed(Exception):
    """The run could not do what it planned; the message says what."""


def wait_for(condition: Callable[[], Any], what: str, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise RunFailed(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return value


async def connect_all(url: str, plan: Plan, fleet: Fleet) -> dict[int, int]:
    """The businesses and their connections, each through its sandbox's consent page;
    {business id: index of its sandboxes}."""
    from console._wiring import connect_sandbox, platforms
    from engine import Businesses, Sealer, Store, live_connections
    from engine._feed import FEED_ENTITIES
    from engine._time import to_iso, utcnow

    store = await Store.open(url)
    known, sealer = platforms(), Sealer.load()
    gate = asyncio.Semaphore(16)
    try:
        ids = {}
        for index in range(plan.businesses):
            business = await Businesses(store).add(f"Scale business {index}", actor="scale")
            ids[business.id] = index

        async def one(business: int, index: int) -> None:
            async with gate:
                for platform in plan.platforms:
                    await connect_sandbox(store, known[platform],
                                          fleet.tenant_url(platform, index), sealer,
                                          business_id=business)

        await asyncio.gather(*(one(business, index) for business, index in ids.items()))
        # Every feed read once, as an engine restarted over these connections finds them:
        # the runs measure pushes (feeds due hourly), where a feed never read is due at once
        # and 1,000 connections' first reads were a quarter of the engine's time.
        async with store.write() as db:
            await db.executemany(
                "INSERT INTO feed_cursors (connection_id, entity, read_at) VALUES (?, ?, ?)",
                [(connection.id, entity.value, to_iso(utcnow()))
                 for connection in await live_connections(store) for entity in FEED_ENTITIES])
        return ids
    finally:
        await store.close()


async def add_records(url: str, plan: Plan, ids: dict[int, int], run: str) -> None:
    """Each business's customers, ids and names marked with the run: the sandboxes live
    through every run, and a record another run sent must not count here."""
    from engine import Customer, Ledger, Store

    store = await Store.open(url)
    try:
        for business, index in ids.items():
            await Ledger(store, business=business).upsert([
                Customer(id=customer_id(run, index, n),
                         display_name=f"Scale {run} {index} customer {n}",
                         email=f"c{n}@{run}.b{index}.scale.example")
                for n in range(plan.records)])
    finally:
        await store.close()


class Watch:
    """Reads the store beside the engines (autocommit, one statement per look)."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.db = psycopg.connect(url, autocommit=True)

    def one(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = self.db.execute(sql, params).fetchone()
        return row[0] if row else None

    def jobs(self) -> dict[str, int]:
        return dict(self.db.execute(
            "SELECT status, COUNT(*) FROM sync_jobs GROUP BY status").fetchall())

    def unfinished(self) -> int:
        return int(self.one("SELECT COUNT(*) FROM sync_jobs WHERE status = ANY(%s)",
                            (list(UNFINISHED),)))

    def holders(self) -> dict[int, int]:
        """{connection id: pid of the engine holding its lease}."""
        return {int(c): int(pid) for c, pid in self.db.execute(
            "SELECT l.connection_id, e.pid FROM connection_leases l "
            "JOIN engines e ON e.name = l.engine").fetchall()}

    def busy_connections(self) -> set[int]:
        return {int(r[0]) for r in self.db.execute(
            "SELECT DISTINCT connection_id FROM sync_jobs WHERE status = 'in_flight'")}

    def close(self) -> None:
        self.db.close()


class Sampler:
    """`--sample-waits`: what the store's sessions do, every `every` seconds, beside a run
    (a connection of its own): each sample counts every syncdesk session by state and wait
    event, and the busiest sessions by the share of samples they were not idle; once a
    second, the leases and the synced jobs per engine (by the connection's holder)."""

    def __init__(self, url: str, every: float = 0.05) -> None:
        import psycopg

        self.db = psycopg.connect(url, autocommit=True)
        self.every = every
        self.samples = 0
        self.waits: Counter[str] = Counter()
        self.busy: Counter[int] = Counter()
        self.queries: Counter[str] = Counter()
        self.timeline: list[dict[str, Any]] = []
        self._cpu_times = _machine_times()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)
        self._started = time.monotonic()
        self._thread.start()

    def _run(self) -> None:
        second = 0.0
        while not self._stop.wait(self.every):
            self._sample()
            if (now := time.monotonic() - self._started) >= second:
                second = now + 1.0
                self._second(now)

    def _sample(self) -> None:
        self.samples += 1
        for pid, state, kind, event, query in self.db.execute(
                "SELECT pid, state, wait_event_type, wait_event, left(query, 60) "
                "FROM pg_stat_activity WHERE datname = current_database() "
                "AND application_name = 'syncdesk' AND pid != pg_backend_pid()"):
            self.waits[f"{state}/{kind}:{event}" if kind else str(state)] += 1
            if state != "idle":
                self.busy[int(pid)] += 1
                if state == "active":
                    self.queries[" ".join(str(query).split())] += 1

    def _second(self, at: float) -> None:
        leases = dict(self.db.execute(
            "SELECT e.pid, COUNT(*) FROM connection_leases l JOIN engines e "
            "ON e.name = l.engine GROUP BY e.pid").fetchall())
        synced = dict(self.db.execute(
            "SELECT e.pid, COUNT(*) FROM sync_jobs j JOIN connection_leases l "
            "ON l.connection_id = j.connection_id JOIN engines e ON e.name = l.engine "
            "WHERE j.status = 'synced' GROUP BY e.pid").fetchall())
        engines = [int(r[0]) for r in self.db.execute(
            "SELECT pid FROM engines WHERE stopped_at IS NULL")]
        backends = [int(r[0]) for r in self.db.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")]
        # CPU seconds so far of each engine and of this database's sessions together, and
        # the machine's idle share since the last second (every core, other work included).
        cpu = {str(pid): round(cpu_seconds(pid), 1) for pid in engines}
        cpu["postgres"] = round(sum(cpu_seconds(pid) for pid in backends), 1)
        (idle, total), last = _machine_times(), self._cpu_times
        self._cpu_times = (idle, total)
        self.timeline.append({
            "t": round(at, 1), "leases": leases, "synced": synced, "cpu_s": cpu,
            "idle": round((idle - last[0]) / max(total - last[1], 1), 2)})

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join()
        self.db.close()
        share = max(self.samples, 1)
        return {"samples": self.samples, "every_s": self.every,
                "states": {k: round(n / share, 2) for k, n in self.waits.most_common()},
                "busiest_sessions": [round(n / share, 2) for _, n in self.busy.most_common(6)],
                "active_queries": {q: round(n / share, 2)
                                   for q, n in self.queries.most_common(12)},
                "timeline": self.timeline}


def _machine_times() -> tuple[int, int]:
    """Idle (idle + iowait) and total jiffies of every core since boot, from /proc/stat:
    read at the sampler's start too, so its first second is not an average since boot."""
    times = [int(n) for n in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return times[3] + times[4], sum(times)


@dataclass
class Run:
    engines: int
    elapsed: float = 0.0
    jobs: dict[str, int] = field(default_factory=dict)
    takeover_s: float | None = None
    killed_held: int = 0
    kill_in_flight: int = 0
    duplicates: dict[str, int] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    waits: dict[str, Any] | None = None
    """`--sample-waits`: what `Sampler.stop` reports."""

    @property
    def synced(self) -> int:
        return self.jobs.get("synced", 0)


@contextmanager
def engines(count: int, url: str, env: dict[str, str], workdir: Path
            ) -> Iterator[list[subprocess.Popen[bytes]]]:
    started = []
    workdir.mkdir(exist_ok=True)
    try:
        for n in range(count):
            with (workdir / f"engine{n}.log").open("ab") as log:
                # $SYNCDESK_DB, not --db: most commands' --db is still a path, which
                # folds the URL's "//".
                started.append(subprocess.Popen(
                    [*UNTHROTTLED_SYNCDESK, "engine", "run", "--timeout", "10"],
                    cwd=ROOT, env={**env, "SYNCDESK_DB": url}, stdout=log,
                    stderr=subprocess.STDOUT))
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in started:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process, from /proc (children excluded)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(name: str, plan: Plan, cluster: Any, env: dict[str, str], fleet: Fleet,
        ids: dict[int, int], workdir: Path, *, count: int, kill: bool, deadline: float,
        sample: bool = False) -> Run:
    """One run on a copy of the connected template, with records of its own."""
    import psycopg

    with psycopg.connect(cluster.url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    url = cluster.database_url(name)
    result = Run(count)
    tag = name.replace("_", "")
    started = time.monotonic()
    asyncio.run(add_records(url, plan, ids, tag))
    log(f"{name}: {plan.jobs} jobs queued in {time.monotonic() - started:.1f} s")
    sandbox_cpu = {p: cpu_seconds(proc.pid) for p, proc in fleet.processes.items()}
    watch = Watch(url)
    sampler = None
    try:
        with engines(count, url, env, workdir / name) as procs:
            started = time.monotonic()
            sampler = Sampler(url) if sample else None
            if kill:
                _kill_mid_run(watch, procs, plan, result, deadline)

            def done() -> bool:
                for n, process in enumerate(procs):
                    if process.poll() not in (None, -signal.SIGKILL):
                        raise RunFailed(f"engine {n} exited ({process.returncode}) with "
                                        f"work left; see {name}/engine{n}.log")
                return not watch.unfinished()

            wait_for(done, "every job done", deadline, 0.1)
            result.elapsed = time.monotonic() - started
            if sampler is not None:
                result.waits, sampler = sampler.stop(), None
            result.cpu = {f"engine{n}": cpu_seconds(p.pid) for n, p in enumerate(procs)
                          if p.poll() is None}
            result.cpu |= {p: cpu_seconds(proc.pid) - sandbox_cpu[p]
                           for p, proc in fleet.processes.items()}
        result.jobs = watch.jobs()
    finally:
        if sampler is not None:
            sampler.stop()
        watch.close()
    for index in ids.values():
        expected = {customer_id(tag, index, n) for n in range(plan.records)}
        for platform in plan.platforms:
            marks = {r: c for r, c in fleet.marks(platform, index).items()
                     if r.startswith(f"{tag}-")}
            result.duplicates |= {f"{platform} t{index} {r}": c for r, c in marks.items()
                                  if c >= 2}
            result.missing += [f"{platform} t{index} {r}" for r in sorted(expected - set(marks))]
    log(f"{name}: {result.synced} synced in {result.elapsed:.1f} s; jobs {result.jobs}")
    return result


def _kill_mid_run(watch: Watch, procs: list[subprocess.Popen[bytes]], plan: Plan,
                  result: Run, deadline: float) -> None:
    """SIGKILL the first engine once a third of the jobs are synced, while it holds
    connections with jobs in flight; then time until the survivor holds all of them."""
    victim, survivor = procs[0], procs[1]

    def ready() -> set[int] | None:
        synced = watch.one("SELECT COUNT(*) FROM sync_jobs WHERE status = 'synced'")
        if synced < plan.jobs * KILL_AT:
            return None
        held = {c for c, pid in watch.holders().items() if pid == victim.pid}
        return held if held & watch.busy_connections() else None

    held = wait_for(ready, "the first engine holding connections with jobs in flight",
                    deadline, 0.02)
    result.kill_in_flight = len(held & watch.busy_connections())
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    killed = time.monotonic()
    result.killed_held = len(held)
    log(f"SIGKILLed engine {victim.pid}: it held {len(held)} connections, "
        f"{result.kill_in_flight} with jobs in flight")
    wait_for(lambda: all(watch.holders().get(c) == survivor.pid for c in held),
             "the survivor leasing every connection of the killed engine", deadline, 0.1)
    result.takeover_s = time.monotonic() - killed


def log(text: str) -> None:
    print(f"[scale {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="40 businesses × quickbooks, xero × 3 records; unjudged")
    parser.add_argument("--businesses", type=int, default=None)
    parser.add_argument("--platforms", default=None,
                        help=f"comma-separated (default {','.join(PLATFORMS)})")
    parser.add_argument("--records", type=int, default=None, help="customers per business")
    parser.add_argument("--port-base", type=int, default=PORTS[0],
                        help=f"first of 6 loopback ports (default {PORTS[0]})")
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="seconds any one wait may take")
    parser.add_argument("--only", choices=("engines_1", "engines_2", "kill"), action="append",
                        help="run only these runs (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--sample-waits", action="store_true",
                        help="sample pg_stat_activity every 50 ms and the leases and synced "
                             "jobs per engine every second; reported as each run's `waits`")
    parser.add_argument("--serve", nargs=3, metavar=("PLATFORM", "PORT", "TENANTS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]), int(args.serve[2]))
        return 0
    from tests import _pg

    quick = args.quick
    plan = Plan(businesses=args.businesses or (40 if quick else 250),
                platforms=tuple((args.platforms or ("quickbooks,xero" if quick else
                                                    ",".join(PLATFORMS))).split(",")),
                records=args.records or (3 if quick else 4))
    outcome = Outcome(judged=not quick)
    emit("scale.plan", plan.connections, "connections", f"{plan.businesses} businesses × "
         f"{len(plan.platforms)} platforms; {plan.records} records each", jobs=plan.jobs,
         platforms=list(plan.platforms))
    workdir = Path(tempfile.mkdtemp(prefix="scale-"))
    config = workdir / "config.toml"
    config.write_text("[engine]\n" + "".join(f"{k} = {v}\n" for k, v in ENGINE_CONFIG.items()))
    os.environ["SYNCDESK_KEY_FILE"] = str(workdir / "secret.key")
    env = {**os.environ, "SYNCDESK_CONFIG": str(config), "PYTHONPATH": str(ROOT)}
    cluster = _pg.start(args.port_base)
    sandbox_ports = list(range(args.port_base + 1, args.port_base + 1 + len(plan.platforms)))
    runs: dict[str, Run] = {}
    fleet = None
    try:
        import psycopg

        with psycopg.connect(cluster.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {TEMPLATE}")
        fleet = Fleet(plan, sandbox_ports, workdir)
        started = time.monotonic()
        ids = asyncio.run(connect_all(cluster.database_url(TEMPLATE), plan, fleet))
        log(f"{len(ids)} businesses, {plan.connections} connections in "
            f"{time.monotonic() - started:.1f} s")
        for name, count, kill in (("engines_1", 1, False), ("engines_2", 2, False),
                                  ("kill", 2, True)):
            if args.only and name not in args.only:
                continue
            try:
                runs[name] = run(name, plan, cluster, env, fleet, ids, workdir, count=count,
                                 kill=kill, deadline=args.deadline,
                                 sample=args.sample_waits)
            except RunFailed as exc:
                outcome.short.append(f"{name}: {exc}")
                log(f"{name}: {exc}")
    finally:
        if fleet is not None:
            fleet.stop()
        cluster.stop()
        if args.keep:
            log(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    report(plan, runs, outcome)
    return outcome.exit_code()


def report(plan: Plan, runs: dict[str, Run], outcome: Outcome) -> None:
    rates = {}
    for name, result in runs.items():
        outcome.planned(f"{name}: jobs synced", result.synced, plan.jobs)
        if result.synced and result.elapsed:
            rates[name] = result.synced / result.elapsed
        if name == "kill":
            continue
        emit(f"scale.{name}.records_per_s", rates.get(name, 0.0), "records/s",
             f"{result.engines} engine process(es), {plan.connections} connections",
             elapsed=round(result.elapsed, 1), jobs=result.jobs,
             cpu_s={k: round(v, 1) for k, v in result.cpu.items()},
             **({"waits": result.waits} if result.waits is not None else {}))
    if "engines_1" in rates and "engines_2" in rates:
        speedup = rates["engines_2"] / rates["engines_1"]
        emit("scale.speedup_2", speedup, "×", "engines_2 / engines_1 records per second",
             **outcome.target("scale.speedup_2", speedup, at_least=SPEEDUP_TARGET))
    audit_runs(plan, runs, outcome)
    kill = runs.get("kill")
    if kill is None:
        return
    outcome.planned("kill: connections with jobs in flight at the kill", kill.kill_in_flight, 1)
    if kill.takeover_s is None:
        outcome.short.append("kill: no takeover measured")
    else:
        emit("scale.takeover_s", kill.takeover_s, "s",
             f"from the SIGKILL until the survivor leased all {kill.killed_held} of its "
             "connections", in_flight_at_kill=kill.kill_in_flight,
             **outcome.target("scale.takeover_s", kill.takeover_s, at_most=TAKEOVER_TARGET))
    emit("scale.kill.records_per_s", rates.get("kill", 0.0), "records/s",
         "two engines, one SIGKILLed mid-run", elapsed=round(kill.elapsed, 1), jobs=kill.jobs)


def audit_runs(plan: Plan, runs: dict[str, Run], outcome: Outcome) -> None:
    """Duplicates and missing over every run (each its own records), the kill's included."""
    duplicates = {f"{name} {key}": n for name, result in runs.items()
                  for key, n in result.duplicates.items()}
    missing = [f"{name} {key}" for name, result in runs.items() for key in result.missing]
    for name, found in (("duplicates", list(duplicates.items())), ("missing", missing)):
        emit(f"scale.{name}", len(found), "records",
             f"of {plan.jobs} in each of {len(runs)} runs ({', '.join(runs)}); must be 0",
             detail=found[:20],
             **outcome.target(f"scale.{name}", len(found), at_most=0, always=True))


if __name__ == "__main__":
    sys.exit(main())
