"""One chaos world: sandboxes and the engine as separate processes around one store file.

Everything the harness does to the system goes through the same doors a person has: the
`syncdesk` command line (engine, retry, disconnect, sandbox serve), the sandboxes' control API
over loopback, and the store, which it only reads (SQLite WAL lets a reader look while the
engine writes; on PostgreSQL, `--db postgresql`, each world is a database of its own in one
throwaway cluster, read in autocommit). The two exceptions are seeding the ledger and
connecting, done with the same Python calls `syncdesk demo` makes, because the sandbox
consent page has no browser.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
SYNCDESK = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]

UNTHROTTLED_SYNCDESK = [sys.executable, "-c", """
import functools, sys
from console import _commands
# The sandboxes run without limits; the engine pacing itself to Wave's and Xero's 60 a minute
# would stretch every run to many minutes without touching what the harness proves.
if "throttle" in (getattr(_commands._engine, "__kwdefaults__", None) or {}):
    _commands._engine = functools.partial(_commands._engine, throttle=False)
from console.cli import main
sys.exit(main())
"""]
"""`syncdesk` with the engine's own rate limiting off (`engine run` has no flag for it)."""

PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")
CREATE_METHOD = {"quickbooks": "POST", "xero": "PUT", "wave": "POST", "freshbooks": "POST"}
"""The HTTP method each platform's creates use (Xero creates with PUT, updates with POST)."""

UNFINISHED = ("pending", "in_flight", "uncertain")
ENGINE_SETTINGS = {"backoff_base": 0.2, "backoff_cap": 1.0, "max_attempts": 4,
                   "poll_interval": 0.2}
"""Short back-offs keep a run in minutes; four attempts make "attempts used up" reachable."""
REQUEST_TIMEOUT = 1.5
"""The engine's `--timeout`: hangs longer than this are lost answers to it."""
ENGINE_WAIT = 120.0
"""Seconds a step may wait for the first work of an engine it just started: the engine
imports, joins and takes its leases first, which on a loaded machine (load 20-50 seen) took
over 30 s."""

T = TypeVar("T")


class ChaosError(Exception):
    """The world did not reach a state the harness waited for; the message says which."""


def wait_for(condition: Callable[[], T], what: str, timeout: float = 60.0,
             every: float = 0.1) -> T:
    """Poll `condition` until it returns something truthy; raise naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise ChaosError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class PortPool:
    """Blocks of ports from the harness's own range, handed out once each."""

    def __init__(self, first: int, last: int) -> None:
        self._next, self._last = first, last
        self._lock = threading.Lock()

    def take(self, count: int) -> list[int]:
        with self._lock:
            if self._next + count - 1 > self._last:
                raise ChaosError(f"port range exhausted at {self._next} (last {self._last})")
            ports = list(range(self._next, self._next + count))
            self._next += count
            return ports


class Databases:
    """A PostgreSQL cluster (`tests._pg`) handing each world a fresh, empty database."""

    def __init__(self, cluster: Any) -> None:
        self.cluster = cluster
        self._made = 0
        self._lock = threading.Lock()

    def create(self) -> str:
        import psycopg

        with self._lock:
            self._made += 1
            name = f"chaos_{self._made}"
        with psycopg.connect(self.cluster.url, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        url: str = self.cluster.database_url(name)
        return url


class Sandbox:
    """`syncdesk sandbox serve` for one platform, in its own process."""

    def __init__(self, platform: str, port: int, log: Path) -> None:
        self.platform, self.port, self.url = platform, port, f"http://127.0.0.1:{port}"
        self._log = log.open("ab")
        self.process = subprocess.Popen(
            [*SYNCDESK, "sandbox", "serve", "--platform", platform, "--port", str(port),
             "--no-limits"], cwd=ROOT, stdout=self._log, stderr=subprocess.STDOUT)
        # A connection per control request: uvicorn closes one idle for 5 s, and a request
        # sent on it as it closes is reset (a pytest run's refresh-lost failed so, likely this).
        self._client = httpx.Client(base_url=self.url, timeout=10,
                                    limits=httpx.Limits(max_keepalive_connections=0))

    def wait_ready(self) -> None:
        def up() -> bool:
            if self.process.poll() is not None:
                raise ChaosError(f"{self.platform} sandbox on port {self.port} exited "
                                 f"({self.process.returncode}); see {self._log.name}")
            try:
                return self._client.get("/_sandbox/state").status_code == 200
            except httpx.TransportError:
                return False
        # Generous: on a loaded machine a dozen sandboxes starting at once take a while.
        wait_for(up, f"the {self.platform} sandbox on port {self.port}", timeout=120)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        response = self._client.request(method, path, json=body)
        response.raise_for_status()
        return response.json()

    def state(self) -> dict[str, Any]:
        result: dict[str, Any] = self.control("GET", "/_sandbox/state")
        return result

    def injected(self, kind: str | None = None) -> int:
        counts = self.state()["faults_injected"]
        return int(counts.get(kind, 0) if kind else sum(counts.values()))

    def fault(self, kind: str, **options: Any) -> None:
        self.control("POST", "/_sandbox/faults", {"kind": kind, **options})

    def clear_faults(self) -> None:
        self.control("DELETE", "/_sandbox/faults")

    def hang(self, seconds: float) -> None:
        self.control("POST", "/_sandbox/hang", {"seconds": seconds})

    def marks(self) -> dict[str, Any]:
        """`{"marks": {entity: {local id: objects}}, "parts": {entity: {local id: {invoice:
        applications}}}}`: the live objects carrying syncdesk's mark."""
        response = self._client.get("/_sandbox/marks")
        if response.status_code == 404:
            raise ChaosError(f"the {self.platform} sandbox has no GET /_sandbox/marks: the "
                             "per-record audit cannot run")
        response.raise_for_status()
        marks: dict[str, Any] = response.json()
        return marks

    def pass_key_window(self) -> float:
        """Move the sandbox clock past the window in which it remembers idempotency keys."""
        window = 360.0
        response = self._client.get("/_sandbox/idempotency")
        if response.status_code == 200:
            window = float(response.json().get("window_seconds", window))
        advance = max(window, 360.0) + 3600.0
        self.control("POST", "/_sandbox/clock", {"advance": advance})
        return advance

    def stop(self) -> None:
        self._client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Engine:
    """`syncdesk engine run` in its own process: started, SIGKILLed, or asked to stop."""

    def __init__(self, world: World, until_idle: bool = False) -> None:
        self.world = world
        command = [*UNTHROTTLED_SYNCDESK, "engine", "run", *world.db_option,
                   "--timeout", str(REQUEST_TIMEOUT)]
        if until_idle:
            command.append("--until-idle")
        with (world.workdir / "engine.log").open("ab") as log:
            self.process = subprocess.Popen(command, cwd=world.code, env=world.env, stdout=log,
                                            stderr=subprocess.STDOUT)
        world.engines.append(self)

    def alive(self) -> bool:
        return self.process.poll() is None

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM; the exit code, or None if it had to be SIGKILLed after `timeout`."""
        if self.process.poll() is not None:
            return self.process.returncode
        self.process.terminate()
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.world.log(f"the engine ignored SIGTERM for {timeout:.0f} s: SIGKILL")
            self.kill()
            return None


@dataclass
class World:
    """A store, its workdir and the sandboxes of `platforms`, all fresh. The store is a file in
    the workdir, or with `databases` a database of its own on that PostgreSQL cluster."""

    workdir: Path
    ports: Sequence[int]
    platforms: Sequence[str] = PLATFORMS
    code: Path = ROOT
    """The checkout whose engine and command line run (the sandboxes are always this one's)."""
    sandboxes: dict[str, Sandbox] = field(default_factory=dict)
    connections: dict[str, int] = field(default_factory=dict)
    engine_restarts: int = 0
    """Times the engine had exited on its own while work was left (it must run until told)."""
    engines: list[Engine] = field(default_factory=list)
    databases: Databases | None = None

    def __post_init__(self) -> None:
        self.started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.db: Path | str = (self.workdir / "store.db" if self.databases is None
                               else self.databases.create())
        config = self.workdir / "config.toml"
        config.write_text("[engine]\n" + "".join(f"{k} = {v}\n"
                                                 for k, v in ENGINE_SETTINGS.items()))
        # One key for every world of a run: worlds in threads share this process's Sealer.
        self.env = {**os.environ, "SYNCDESK_CONFIG": str(config), "PYTHONPATH": str(self.code)}
        self._reader: Any = None
        self._reader_lock = threading.Lock()
        if isinstance(self.db, str):
            # Commands find a URL in $SYNCDESK_DB: most commands' --db is a path, which
            # folds the URL's "//".
            self.env["SYNCDESK_DB"] = self.db

    @property
    def postgres(self) -> bool:
        return isinstance(self.db, str)

    @property
    def db_option(self) -> list[str]:
        """What names the store on a command line (on PostgreSQL, $SYNCDESK_DB does)."""
        return [] if self.postgres else ["--db", str(self.db)]

    @contextmanager
    def running(self) -> Iterator[World]:
        try:
            for platform, port in zip(self.platforms, self.ports, strict=False):
                self.sandboxes[platform] = Sandbox(platform, port,
                                                   self.workdir / f"{platform}.log")
            for sandbox in self.sandboxes.values():
                sandbox.wait_ready()
            self.log("sandboxes up")
            yield self
        finally:
            for engine in self.engines:  # left running when a step failed half-way
                if engine.alive():
                    engine.kill()
            for sandbox in self.sandboxes.values():
                sandbox.stop()
            if self._reader is not None:
                self._reader.close()

    def log(self, text: str) -> None:
        """Progress on stderr, so a slow or stuck step shows where it is."""
        print(f"[{self.workdir.name} +{time.monotonic() - self.started:5.1f}s] {text}",
              file=sys.stderr, flush=True)

    # -- the ledger and connections, made by the engine code under test ---------------------

    def seed(self, seed: int, size: int, only: Sequence[str] = (),
             without: Sequence[str] = (), limit: int | None = None) -> None:
        """Upsert the demo business (`only`/`without`: entity names; `limit`: the first N)."""
        self._setup("seed", str(seed), str(size), "--only", ",".join(only),
                    "--without", ",".join(without),
                    *(("--limit", str(limit)) if limit else ()))

    def connect(self, platforms: Iterable[str] | None = None) -> None:
        for name in platforms or self.platforms:
            self.connections[name] = int(self._setup("connect", name,
                                                     self.sandboxes[name].url))

    def _setup(self, *args: str) -> str:
        result = subprocess.run([sys.executable, str(Path(__file__).with_name("_setup.py")),
                                 str(self.db), *args], cwd=self.code, env=self.env,
                                capture_output=True, text=True, timeout=120, check=False)
        if result.returncode != 0:
            raise ChaosError(f"_setup.py {' '.join(args)} failed: {result.stderr[-2000:]}")
        return result.stdout.strip()

    # -- the command line ----------------------------------------------------------------

    def syncdesk(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*SYNCDESK, *args, *self.db_option], cwd=self.code,
                              env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def operator_retry(self) -> None:
        """What a person does about failed records: `syncdesk retry --status failed --yes`."""
        result = self.syncdesk("retry", "--status", "failed", "--yes")
        if result.returncode != 0:
            raise ChaosError(f"syncdesk retry exited {result.returncode}: {result.stderr}")

    def engine(self, until_idle: bool = False) -> Engine:
        return Engine(self, until_idle)

    # -- reading the store -----------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        """Rows readable by column name; `?` placeholders on either backend."""
        if isinstance(self.db, str):
            return self._query_postgres(sql, params)
        if not self.db.exists():
            return []
        db = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=30)
        try:
            db.row_factory = sqlite3.Row
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def _query_postgres(self, sql: str, params: Sequence[Any]) -> list[Any]:
        import psycopg

        with self._reader_lock:
            if self._reader is None:
                # Bound client-side, as SQLite binds: `? IS NULL` needs no declared type.
                self._reader = psycopg.connect(str(self.db), autocommit=True,
                                               row_factory=_rows,
                                               cursor_factory=psycopg.ClientCursor)
            try:
                return self._reader.execute(sql.replace("?", "%s"), params).fetchall()
            except psycopg.errors.UndefinedTable:  # not migrated yet: nothing to see
                return []

    def count(self, sql: str, params: Sequence[Any] = ()) -> int:
        return int(self.query(sql, params)[0][0] or 0)

    def in_flight(self, platform: str | None = None, entity: str | None = None,
                  engine: int | None = None) -> int:
        """`engine`: a pid; only jobs of the connections it leases, where the store has
        per-connection leases (without, any engine may be working on any job)."""
        held = engine is not None and self.has_leases()
        return self.count(
            "SELECT COUNT(*) FROM sync_jobs j JOIN connections c ON c.id = j.connection_id "
            "WHERE j.status = 'in_flight' AND (? IS NULL OR c.platform = ?) "
            "AND (? IS NULL OR j.entity = ?)" + (
                " AND j.connection_id IN (SELECT l.connection_id FROM connection_leases l "
                "JOIN engines e ON e.name = l.engine WHERE e.pid = ?)" if held else ""),
            (platform, platform, entity, entity, *((engine,) if held else ())))

    def has_leases(self) -> bool:
        """The store leases each connection to one engine (`connection_leases`, `engines`)."""
        if self.postgres:
            return bool(self.count("SELECT COUNT(*) FROM information_schema.tables "
                                   "WHERE table_name = 'connection_leases'"))
        return bool(self.count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' "
                               "AND name = 'connection_leases'"))

    def unfinished(self) -> int:
        """Jobs the engine still has to finish, on connections it may work on."""
        marks = ", ".join("?" * len(UNFINISHED))
        return self.count(
            "SELECT COUNT(*) FROM sync_jobs j JOIN connections c ON c.id = j.connection_id "
            f"WHERE j.status IN ({marks}) AND c.state = 'active'", UNFINISHED)

    def has_in_doubt(self) -> bool:
        if self.postgres:
            return bool(self.count("SELECT COUNT(*) FROM information_schema.columns WHERE "
                                   "table_name = 'sync_jobs' AND column_name = 'in_doubt'"))
        return any(row["name"] == "in_doubt"
                   for row in self.query("PRAGMA table_info(sync_jobs)"))

    def jobs(self, platform: str, entity: str | None = None) -> list[Any]:
        """The jobs of the platform's newest connection (a reconnect may add a row)."""
        doubt = "in_doubt" if self.has_in_doubt() else "0"  # a column the engine may lack
        return self.query(
            f"SELECT id, entity, record_id, status, error_class, error_message, attempts, "
            f"{doubt} AS in_doubt, (SELECT a.outcome FROM sync_attempts a WHERE a.job_id = "
            f"sync_jobs.id ORDER BY a.id DESC LIMIT 1) AS last_outcome "
            f"FROM sync_jobs WHERE connection_id = "
            "(SELECT MAX(id) FROM connections WHERE platform = ?) "
            "AND (? IS NULL OR entity = ?) ORDER BY id", (platform, entity, entity))

    def synced(self, platform: str) -> set[tuple[str, str]]:
        """Records the platform holds an object of ours for, by the engine's account (a
        void of something never sent is synced with nothing there)."""
        return {(row["entity"], row["record_id"]) for row in self.jobs(platform)
                if row["status"] == "synced" and row["last_outcome"] != "nothing_to_send"}

    def connection_state(self, platform: str) -> tuple[str, str | None]:
        rows = self.query("SELECT state, state_reason FROM connections WHERE platform = ? "
                          "ORDER BY id DESC LIMIT 1", (platform,))
        return (rows[0]["state"], rows[0]["state_reason"]) if rows else ("absent", None)

    def parked(self) -> bool:
        """Some connection is parked (told to wait by its platform) until a later time."""
        now = utcnow().isoformat().replace("+00:00", "Z")
        return bool(self.count("SELECT COUNT(*) FROM connections WHERE parked_until > ?",
                               (now,)))

    def heartbeat(self) -> datetime | None:
        rows = self.query("SELECT heartbeat_at FROM engine_lease")
        if not rows or not rows[0]["heartbeat_at"]:
            return None
        beat = datetime.fromisoformat(rows[0]["heartbeat_at"])
        return beat if beat.tzinfo else beat.replace(tzinfo=UTC)

    # -- driving the engine to the end -------------------------------------------------------

    def drain(self, engine: Engine | None = None, stall: float = 90.0,
              retries: int = 1) -> Engine:
        """Run the engine until no job is pending, in flight or uncertain.

        Then the operator retries what failed (`retries` rounds) and the engine drains again.
        Fails only when `stall` seconds pass with no job finishing, however big the store.
        An engine that exits on its own while work is left is restarted and counted in
        `engine_restarts`: the always-on engine must not do that.
        """
        engine = engine if engine is not None and engine.alive() else self.engine()
        self.log(f"draining {self.unfinished()} unfinished jobs")
        for round_ in range(retries + 1):
            if round_:
                self.operator_retry()
            least = self.unfinished()
            deadline = time.monotonic() + stall
            while (left := self.unfinished()) > 0:
                # A connection parked by its rate limit waits on purpose; that is no stall.
                if left < least or self.parked():
                    least, deadline = min(left, least), time.monotonic() + stall
                if time.monotonic() > deadline:
                    raise ChaosError(f"the engine finished no job for {stall:.0f} s with {left} "
                                     "pending, in flight or uncertain")
                if not engine.alive():
                    self.engine_restarts += 1
                    engine = self.engine()
                time.sleep(0.2)
        self.log("drained")
        return engine


class _Row(dict[str, Any]):
    """A PostgreSQL row read by column name or by position, as a `sqlite3.Row` is."""

    def __getitem__(self, key: str | int) -> Any:
        return list(self.values())[key] if isinstance(key, int) else super().__getitem__(key)


def _rows(cursor: Any) -> Callable[[Sequence[Any]], _Row]:
    names = [column.name for column in cursor.description or ()]
    return lambda values: _Row(zip(names, values, strict=True))


def utcnow() -> datetime:
    return datetime.now(UTC)
