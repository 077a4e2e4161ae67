"""Tokens: sealed at rest, refreshed once under the store lock across processes."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from console._wiring import connect_sandbox, platforms, sandbox_app
from engine import (
    AuthRevoked,
    ConnectionSettings,
    Customer,
    OAuthClient,
    Sealer,
    Store,
    TokenSet,
    TokenVault,
    Transient,
)
from engine._vault import UNANSWERED, Refresher
from providers._http import ApiClient
from providers._sandbox import Fault, FaultKind, SandboxContext, TokenAuthority
from tests._feedfake import until
from tests._world import World

ROOT = Path(__file__).resolve().parents[1]


async def test_no_plaintext_token_in_the_database_file(make_world: object, store: Store,
                                                       sealer: Sealer) -> None:
    world: World = await make_world(("quickbooks", "xero"))  # type: ignore[operator]
    sealed = await store.fetch_all("SELECT sealed FROM tokens")
    secrets = [sealer.unseal(row["sealed"]) for row in sealed]
    if isinstance(store.path, Path):
        await store.close()
        raw = b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    else:  # a database server's files are not ours to read: every row of every table is
        tables = await store.fetch_all("SELECT table_name FROM information_schema.tables "
                                       "WHERE table_schema = current_schema()")
        raw = b"".join([str([tuple(row) for row in await store.fetch_all(
            f'SELECT t::text FROM "{table[0]}" t')]).encode() for table in tables])
    assert secrets and world.connections
    for bundle in secrets:
        for value in (bundle["access_token"], bundle["refresh_token"], bundle["client_secret"]):
            assert value and value.encode() not in raw


def test_key_file_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    monkeypatch.setenv("SYNCDESK_KEY_FILE", str(key_file))
    Sealer.load()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Sealer.load().unseal(Sealer.load().seal({"a": 1})) == {"a": 1}


@pytest.mark.e2e
def test_twenty_refreshers_in_four_processes_spend_each_token_once() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "token_race.py"), "--processes", "4",
         "--workers", "5", "--seconds", "3"],
        capture_output=True, text=True, timeout=180, check=False)
    figures = {f["name"]: f["value"] for f in map(json.loads, result.stdout.splitlines())}
    assert result.returncode == 0, result.stderr
    assert figures["token_race.invalid_grant"] == 0
    assert figures["token_race.refreshes"] > 0
    assert figures["token_race.platform_refreshes"] == figures["token_race.refreshes"]


# --- a refresh whose answer is lost, or whose process is killed ----------------------------

ADVICE = {
    "freshbooks": "FreshBooks spends each refresh token once and the answer to the last "
                  "refresh was lost, so syncdesk holds no valid token: reconnect with "
                  "`syncdesk connect freshbooks`",
}
"""Platforms where no retry of the stored refresh token can work: what the user is told."""
PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")


class Killed(BaseException):
    """The process died between the platform's answer and the store's commit."""


def oauth_of(world: World, name: str) -> OAuthClient:
    settings = ConnectionSettings(platform=name, client_id="syncdesk-demo",
                                  client_secret="demo-secret", base_url=f"http://{name}.sandbox",
                                  transport=world.transport(name), timeout=0.5)
    return platforms()[name].oauth(settings)


def vault_of(world: World, name: str, refresher: Refresher | None = None) -> TokenVault:
    """A vault as a freshly started process builds it: nothing cached."""
    return TokenVault(world.store, world.connections[name],
                      refresher or oauth_of(world, name).refresh, world.sealer)


async def stored(world: World, name: str) -> dict[str, Any]:
    row = await world.store.fetch_one(
        "SELECT t.sealed, c.state, c.state_reason FROM tokens t JOIN connections c "
        "ON c.id = t.connection_id WHERE c.id = ?", (world.connections[name],))
    assert row is not None
    return {**world.sealer.unseal(row["sealed"]), "state": row["state"],
            "reason": row["state_reason"]}


async def assert_next_refresh_recovers_or_says_why(world: World, name: str, old: str) -> None:
    """What a restarted engine's first refresh does after the answer to the last was lost."""
    authority: TokenAuthority = world.apps[name].state.sandbox.authority
    vault = vault_of(world, name)
    if name in ADVICE:
        with pytest.raises(AuthRevoked) as caught:
            await vault.refreshed(old)
        assert caught.value.message == ADVICE[name]
        after = await stored(world, name)
        assert (after["state"], after["reason"]) == ("needs_reconnect",
                                                     f"needs reconnecting: {ADVICE[name]}")
        return
    fresh = await vault.refreshed(old)
    assert fresh != old
    assert authority.check(f"Bearer {fresh}", None) is None  # the platform takes it
    assert authority.regrants == 1  # the stored (old) refresh token, spent again in grace
    after = await stored(world, name)
    assert after["state"] == "active" and UNANSWERED not in after
    assert (await vault_of(world, name).access_token()) == fresh  # committed before use


@pytest.mark.parametrize("name", PLATFORMS)
async def test_lost_refresh_answer_recovers_where_the_platform_allows(
        make_world: Any, name: str) -> None:
    world: World = await make_world((name,))
    sandbox: SandboxContext = world.apps[name].state.sandbox
    sandbox.faults.hang_seconds = 30.0  # far past the client's 0.5 s: the answer is lost
    sandbox.faults.add(Fault(kind=FaultKind.DROP, count=1,
                             path_contains=world.apps[name].state.dialect.token_path))
    before = await stored(world, name)
    old = await vault_of(world, name).access_token()
    with pytest.raises(Transient, match=r"no answer.*tries it again on the next request"):
        await vault_of(world, name).refreshed(old)
    assert sandbox.authority.refreshes == 1  # the platform rotated; syncdesk never heard
    after = await stored(world, name)
    assert after["state"] == "active"  # a lost answer is not a revoked grant
    assert after["refresh_token"] == before["refresh_token"] and after[UNANSWERED] == 1
    await assert_next_refresh_recovers_or_says_why(world, name, old)


@pytest.mark.parametrize("name", PLATFORMS)
async def test_killed_between_answer_and_commit_recovers_on_restart(
        make_world: Any, name: str) -> None:
    world: World = await make_world((name,))
    oauth = oauth_of(world, name)

    async def answered_then_killed(token: str, *, after_lost_answer: bool = False) -> TokenSet:
        await oauth.refresh(token, after_lost_answer=after_lost_answer)
        raise Killed

    before = await stored(world, name)
    old = await vault_of(world, name).access_token()
    with pytest.raises(Killed):
        await vault_of(world, name, answered_then_killed).refreshed(old)
    assert world.apps[name].state.sandbox.authority.refreshes == 1
    after = await stored(world, name)
    assert after["refresh_token"] == before["refresh_token"]  # rolled back with the process
    assert after["access_token"] == old and after[UNANSWERED] == 1
    await assert_next_refresh_recovers_or_says_why(world, name, old)


@pytest.mark.parametrize("name", PLATFORMS)
async def test_refresh_that_never_reached_the_platform_works_next_time(
        make_world: Any, name: str) -> None:
    """A timeout before the platform did anything: even a single-use token is still good."""
    world: World = await make_world((name,))
    sandbox: SandboxContext = world.apps[name].state.sandbox
    sandbox.faults.hang_seconds = 30.0
    sandbox.faults.add(Fault(kind=FaultKind.TIMEOUT, count=1,
                             path_contains=world.apps[name].state.dialect.token_path))
    old = await vault_of(world, name).access_token()
    with pytest.raises(Transient):
        await vault_of(world, name).refreshed(old)
    fresh = await vault_of(world, name).refreshed(old)
    assert fresh != old and sandbox.authority.regrants == 0
    assert (await stored(world, name))["state"] == "active"


async def test_a_request_refreshes_again_when_the_token_another_worker_stored_is_rejected(
        make_world: Any) -> None:
    """A request that held its token while another worker refreshed is handed the stored
    token after its 401; when that one has expired too, it is refreshed for real. Given up
    after the first, the connection needed reconnecting (a PostgreSQL chaos run lost its
    QuickBooks connection mid-storm; the sandbox clock had jumped past both tokens)."""
    world: World = await make_world(("quickbooks",))
    realm = await world.store.fetch_value("SELECT tenant_id FROM connections WHERE id = ?",
                                          (world.connections["quickbooks"],))
    mine, other = vault_of(world, "quickbooks"), vault_of(world, "quickbooks")
    held = await mine.access_token()
    await world.sandbox("quickbooks", "POST", "/_sandbox/expire-tokens")
    stored_since = await other.refreshed(held)
    await world.sandbox("quickbooks", "POST", "/_sandbox/expire-tokens")
    api = ApiClient(ConnectionSettings(platform="quickbooks", transport=world.transport(
        "quickbooks"), timeout=2.0), mine, base_url="http://quickbooks.sandbox")
    try:
        response = await api.send("GET", f"/v3/company/{realm}/companyinfo/{realm}")
    finally:
        await api.aclose()
    assert response.status_code == 200
    assert await mine.access_token() not in (held, stored_since)


async def test_faults_meant_for_the_api_leave_the_token_endpoint_alone(make_world: Any) -> None:
    world: World = await make_world(("freshbooks",))
    sandbox: SandboxContext = world.apps["freshbooks"].state.sandbox
    sandbox.faults.add(Fault(kind=FaultKind.DROP, count=1))  # no path: any API request
    old = await vault_of(world, "freshbooks").access_token()
    assert await vault_of(world, "freshbooks").refreshed(old) != old
    assert len(sandbox.faults.faults) == 1  # still waiting for an API request


@pytest.mark.parametrize("name", PLATFORMS)
async def test_the_engine_rides_out_a_lost_refresh_answer(make_world: Any, name: str) -> None:
    """Through the worker: the token endpoint's lost answer is a retry, not a reconnect."""
    world: World = await make_world((name,))
    sandbox: SandboxContext = world.apps[name].state.sandbox
    sandbox.faults.hang_seconds = 30.0  # past the engine's 2 s timeout
    await world.sandbox(name, "POST", "/_sandbox/expire-tokens")
    sandbox.faults.add(Fault(kind=FaultKind.DROP, count=1,
                             path_contains=world.apps[name].state.dialect.token_path))
    await world.ledger.upsert([Customer(id="C-1", display_name="Maria Lopez")])
    await world.sync()
    after = await stored(world, name)
    job = await world.job(name, "customer", "C-1")
    assert sandbox.faults.injected == {"drop": 1}
    if name in ADVICE:
        assert (after["state"], after["reason"]) == ("needs_reconnect",
                                                     f"needs reconnecting: {ADVICE[name]}")
        assert job["status"] != "synced"
    else:
        assert (after["state"], job["status"]) == ("active", "synced")
        assert sandbox.authority.regrants == 1


# --- a real SIGKILL between the platform's answer and the commit ---------------------------

PORTS = dict(zip(PLATFORMS, range(19350, 19354), strict=True))
"""Loopback ports of this file's sandboxes (the range this suite's token tests own)."""

CHILD = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from console._wiring import platforms
from engine import ConnectionSettings, Sealer, Store, TokenVault

async def main():
    store = await Store.open(Path({db!r}))
    oauth = platforms()[{name!r}].oauth(ConnectionSettings(
        platform={name!r}, client_id="syncdesk-demo", client_secret="demo-secret",
        base_url={url!r}))

    async def answered_then_hang(token, *, after_lost_answer=False):
        await oauth.refresh(token, after_lost_answer=after_lost_answer)
        print("answered", flush=True)  # the new pair is here, not yet committed
        await asyncio.sleep(3600)

    vault = TokenVault(store, 1, answered_then_hang, Sealer.load())
    await vault.refreshed(await vault.access_token())

asyncio.run(main())
"""


class Served:
    """One platform's sandbox on a loopback port, outliving the processes that use it."""

    def __init__(self, name: str) -> None:
        import uvicorn

        self.app = sandbox_app(name, limits_enabled=False)
        self.url = f"http://127.0.0.1:{PORTS[name]}"
        self.server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1",
                                                    port=PORTS[name], log_level="warning",
                                                    lifespan="off"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "the sandbox did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.mark.e2e
@pytest.mark.parametrize("name", PLATFORMS)
async def test_sigkill_between_answer_and_commit_then_restart(tmp_path: Path, name: str) -> None:
    db = tmp_path / "kill.db"
    with Served(name) as served:
        store = await Store.open(db)
        sealer = Sealer.load()
        world = World(store, sealer, {name: served.app}, {name: 1})
        await connect_sandbox(store, platforms()[name], served.url, sealer)
        before = await stored(world, name)
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-c", CHILD.format(root=str(ROOT), db=str(db), name=name,
                                               url=served.url),
            stdout=asyncio.subprocess.PIPE)
        assert child.stdout is not None
        assert (await asyncio.wait_for(child.stdout.readline(), 60)) == b"answered\n"
        child.send_signal(signal.SIGKILL)
        assert await child.wait() == -signal.SIGKILL
        after = await stored(world, name)
        assert after["refresh_token"] == before["refresh_token"] and after[UNANSWERED] == 1
        assert served.app.state.sandbox.authority.refreshes == 1
        restarted = TokenVault(store, 1, platforms()[name].oauth(ConnectionSettings(
            platform=name, client_id="syncdesk-demo", client_secret="demo-secret",
            base_url=served.url)).refresh, sealer)
        old = str(before["access_token"])
        try:
            if name in ADVICE:
                with pytest.raises(AuthRevoked, match="FreshBooks spends each refresh token"):
                    await restarted.refreshed(old)
                assert (await stored(world, name))["state"] == "needs_reconnect"
            else:
                assert await restarted.refreshed(old) != old
                assert served.app.state.sandbox.authority.regrants == 1
                assert (await stored(world, name))["state"] == "active"
        finally:
            await store.close()


# --- two stores on one database: one refresh -----------------------------------------------

async def waits_for_the_token_lock(other: Store) -> bool:
    """`other`'s refresh is blocked behind the one in progress (its lock, not its turn)."""
    if other.dialect == "sqlite":
        return other.busy_since is not None
    return bool(await other.fetch_value(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND wait_event_type = 'Lock'"))


async def test_two_stores_refreshing_at_once_send_one_refresh(
        make_world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two engines (hosts) with the same expired token: the second waits for the first's
    commit and uses its token; FreshBooks' single-use refresh token is spent once."""
    world: World = await make_world(("freshbooks",))
    authority: TokenAuthority = world.apps["freshbooks"].state.sandbox.authority
    monkeypatch.setattr("engine._store.BUSY_TIMEOUT_MS", 20)  # the wait shows at once
    other = await Store.open(world.store.path)
    oauth = oauth_of(world, "freshbooks")
    old = await vault_of(world, "freshbooks").access_token()
    second: asyncio.Task[str] | None = None
    entered = 0

    async def first(token: str, *, after_lost_answer: bool = False) -> TokenSet:
        nonlocal second, entered
        entered += 1
        if second is None:
            # Inside the first refresh, the second store's vault asks too.
            second = asyncio.create_task(TokenVault(
                other, world.connections["freshbooks"], first, world.sealer).refreshed(old))

            async def blocked_or_through() -> bool:
                return entered > 1 or await waits_for_the_token_lock(other)

            await until(blocked_or_through, "the second refresh waits for the first")
        return await oauth.refresh(token, after_lost_answer=after_lost_answer)

    try:
        fresh = await TokenVault(world.store, world.connections["freshbooks"], first,
                                 world.sealer).refreshed(old)
        assert second is not None
        assert await second == fresh != old
        assert entered == 1 and authority.refreshes == 1
    finally:
        await other.close()


async def test_a_refresh_waiting_for_the_platform_holds_only_its_token(
        make_world: Any) -> None:
    """While one connection's refresh waits for the platform's answer, the same store
    writes on for everything else (on PostgreSQL the refresh holds its token row, not the
    process's writer; SQLite has one writer whatever it does)."""
    world: World = await make_world(("freshbooks",))
    if world.store.dialect == "sqlite":
        pytest.skip("SQLite has one writer: a refresh holds it, by design of the file lock")
    oauth = oauth_of(world, "freshbooks")
    old = await vault_of(world, "freshbooks").access_token()
    asked, answered = asyncio.Event(), asyncio.Event()

    async def slow(token: str, *, after_lost_answer: bool = False) -> TokenSet:
        asked.set()
        await answered.wait()  # the platform has not answered yet
        return await oauth.refresh(token, after_lost_answer=after_lost_answer)

    async def write_beside() -> None:
        async with world.store.write() as db:
            await db.execute("INSERT INTO settings (key, value) VALUES ('beside', 'refresh')")

    refreshing = asyncio.create_task(TokenVault(
        world.store, world.connections["freshbooks"], slow, world.sealer).refreshed(old))
    await asked.wait()
    # A second worker of the connection asks too: it waits for that answer, on its own.
    second = asyncio.create_task(vault_of(world, "freshbooks").refreshed(old))
    await until(lambda: waits_for_the_token_lock(world.store),
                "the second refresh to wait for the token row")
    try:
        # Bounded only so that a write stuck behind the refresh fails here, not hangs.
        await asyncio.wait_for(write_beside(), timeout=10)
    finally:
        answered.set()
    assert await refreshing != old
    assert await second == await refreshing
