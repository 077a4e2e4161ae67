"""Webhooks out to the business's app: raised with the sync state, deduplicated per problem,
signed, retried with back-off, and delivered once each to a receiver that checks them."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from console.cli import main
from engine import (
    Customer,
    Sealer,
    Store,
    SyncService,
    SyncState,
    WebhookPolicy,
    Webhooks,
    verify_webhook,
)
from engine._webhooks import Deliverer, sign
from tests._world import World

MakeWorld = Callable[..., Any]
MARIA = Customer(id="C-1", display_name="Maria Lopez", email="maria@example.com")
URL = "http://127.0.0.1:20150/hooks/syncdesk"
"""Nothing listens there: the engines that `World.sync` runs try it and are refused, and the
receivers below are handed to a deliverer as its transport."""


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """The business's app: checks every signature, answers 500 to the first `fail_first`
    tries of each event, and keeps what it accepted."""

    def __init__(self, clock: Callable[[], datetime], fail_first: int = 2) -> None:
        self.secret = ""
        self.clock = clock
        self.fail_first = fail_first
        self.tries: Counter[str] = Counter()
        self.accepted: list[dict[str, Any]] = []
        self.bad_signatures = 0
        app = Starlette(routes=[Route("/hooks/syncdesk", self.hook, methods=["POST"])])
        self.transport = httpx.ASGITransport(app=app)

    async def hook(self, request: Request) -> Response:
        body = await request.body()
        headers = request.headers
        timestamp, signature = headers["syncdesk-timestamp"], headers["syncdesk-signature"]
        # As docs/API.md tells a receiver written in any language to check it.
        if signature != by_hand(self.secret, timestamp, body) or not verify_webhook(
                self.secret, timestamp, body, signature, now=self.clock().timestamp()):
            self.bad_signatures += 1
            return Response(status_code=401)
        event = headers["syncdesk-event-id"]
        self.tries[event] += 1
        if self.tries[event] <= self.fail_first:
            return Response("busy", status_code=500)
        if event not in {e["id"] for e in self.accepted}:
            self.accepted.append(json.loads(body))
        return Response(status_code=204)

    def accepted_kinds(self) -> list[tuple[str, str | None]]:
        return [(e["type"], e["record"]["id"] if e["record"] else None) for e in self.accepted]


def by_hand(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


async def deliveries(store: Store) -> list[dict[str, Any]]:
    return [dict(r) for r in await store.fetch_all(
        "SELECT * FROM webhook_deliveries ORDER BY id")]


async def deliver_everything(deliverer: Deliverer, clock: FakeClock) -> None:
    """Rounds until nothing is pending, the clock moved past each back-off between them."""
    for _ in range(60):
        await deliverer.deliver_due()
        if all(d["status"] != "pending" for d in await deliveries(deliverer.store)):
            return
        clock.advance(3600)
    raise AssertionError(f"still pending: {await deliveries(deliverer.store)}")


async def failing_world(make_world: MakeWorld) -> World:
    world: World = await make_world(("quickbooks",))
    world.worker.max_attempts = 1
    await world.sandbox("quickbooks", "POST", "/_sandbox/faults",
                        json={"kind": "error", "count": -1, "status": 503})
    return world


async def test_a_receiver_that_fails_twice_sees_each_event_once(
        make_world: MakeWorld, sealer: Sealer) -> None:
    world = await failing_world(make_world)
    clock = FakeClock()
    receiver = Receiver(clock)
    _, receiver.secret = await Webhooks(world.store).add(URL, sealer)
    service = SyncService(world.store, actor="ana")

    await world.ledger.upsert([MARIA])
    await world.sync()
    job = await world.job("quickbooks", "customer", "C-1")
    assert job["status"] == "failed"
    await service.retry([job["id"]])  # fails again: the same problem, raised twice
    await world.sync()
    assert [d["kind"] for d in await deliveries(world.store)] == ["record.failed"]

    deliverer = Deliverer(world.store, sealer, clock=clock, transport=receiver.transport)
    await deliver_everything(deliverer, clock)
    [failed] = await deliveries(world.store)
    assert (failed["status"], failed["last_status"]) == ("delivered", 204)
    assert receiver.accepted_kinds() == [("record.failed", "C-1")]
    event = receiver.accepted[0]
    assert event["connection"] == {"id": world.connections["quickbooks"],
                                   "platform": "quickbooks"}
    assert event["record"] == {"entity": "customer", "id": "C-1", "status": "failed"}

    await world.sandbox("quickbooks", "DELETE", "/_sandbox/faults")
    await service.retry([job["id"]])
    await world.sync()
    await world.sync()  # a success raised twice is still one recovery
    await deliver_everything(deliverer, clock)
    await deliverer.aclose()
    assert receiver.accepted_kinds() == [("record.failed", "C-1"), ("record.recovered", "C-1")]
    assert sorted(receiver.tries.values()) == [3, 3]
    assert receiver.bad_signatures == 0


async def test_a_new_failure_after_a_recovery_is_a_new_event(make_world: MakeWorld,
                                                             sealer: Sealer) -> None:
    world = await failing_world(make_world)
    await Webhooks(world.store).add(URL, sealer)
    await world.ledger.upsert([MARIA, Customer(id="C-1:2", display_name="Ana Ruiz")])
    await world.sync()
    await world.sandbox("quickbooks", "DELETE", "/_sandbox/faults")
    job = await world.job("quickbooks", "customer", "C-1")
    await SyncService(world.store, actor="ana").retry([job["id"]])
    await world.sync()
    await world.sandbox("quickbooks", "POST", "/_sandbox/faults",
                        json={"kind": "error", "count": -1, "status": 503})
    await world.ledger.upsert([MARIA.model_copy(update={"email": "m@example.com"})])
    await world.sync()
    told = [(d["kind"], d["record_id"]) for d in await deliveries(world.store)]
    assert sorted(told[:2]) == [("record.failed", "C-1"), ("record.failed", "C-1:2")]
    assert told[2:] == [("record.recovered", "C-1"), ("record.failed", "C-1")]


async def test_a_lost_grant_is_one_event_however_often_raised(make_world: MakeWorld,
                                                              sealer: Sealer) -> None:
    world: World = await make_world(("quickbooks",))
    hooks = Webhooks(world.store)
    await hooks.add(URL, sealer)
    await hooks.add("https://other.example/in", sealer)
    state = SyncState(world.store)
    connection = world.connections["quickbooks"]
    for _ in range(3):
        await state.needs_reconnect(connection, "QuickBooks needs reconnecting",
                                    "invalid_grant", datetime.now(UTC))
    rows = await deliveries(world.store)
    assert [(d["endpoint_id"], d["kind"]) for d in rows] == [
        (1, "connection.needs_reconnect"), (2, "connection.needs_reconnect")]
    assert {d["entity"] for d in rows} == {""}


async def test_no_endpoint_no_delivery_and_a_removed_one_hears_nothing(
        make_world: MakeWorld, sealer: Sealer) -> None:
    world = await failing_world(make_world)
    await world.ledger.upsert([MARIA])
    await world.sync()
    assert await deliveries(world.store) == []
    hooks = Webhooks(world.store)
    endpoint, _ = await hooks.add(URL, sealer)
    await hooks.remove(endpoint.id)
    await SyncState(world.store).needs_reconnect(world.connections["quickbooks"], "t", "m",
                                                 datetime.now(UTC))
    assert await deliveries(world.store) == []
    assert await hooks.endpoints() == []


def test_verify_detects_a_bad_signature() -> None:
    secret, body, now = "whsec_test", b'{"id":"evt_1"}', 1_800_000_000
    timestamp = str(now)
    good = by_hand(secret, timestamp, body)
    assert sign(secret, timestamp, body) == good
    assert verify_webhook(secret, timestamp, body, good, now=now)
    assert verify_webhook(secret, timestamp, body.decode(), f"v1=00ff, {good}", now=now)
    assert not verify_webhook(secret, timestamp, body + b" ", good, now=now)
    assert not verify_webhook("whsec_other", timestamp, body, good, now=now)
    assert not verify_webhook(secret, str(now + 1), body, good, now=now)
    assert not verify_webhook(secret, timestamp, body, good.replace("v1=", "v0="), now=now)
    assert not verify_webhook(secret, timestamp, body, good, now=now + 301)
    assert verify_webhook(secret, timestamp, body, good, now=now + 301, tolerance=None)
    assert not verify_webhook(secret, "soon", body, good, now=now)


@pytest.mark.parametrize(("attempts", "wait"), [
    (1, 1.0), (2, 2.0), (3, 4.0), (12, 2048.0), (13, 3600.0), (15, 3600.0), (16, None),
])
def test_policy_doubles_the_wait_caps_it_and_gives_up(attempts: int,
                                                      wait: float | None) -> None:
    retry_in = WebhookPolicy().retry_in(attempts)
    assert (retry_in.total_seconds() if retry_in else None) == wait


async def test_timeouts_and_refusals_are_retried_then_failed_with_the_last_error(
        make_world: MakeWorld, sealer: Sealer) -> None:
    world: World = await make_world(("quickbooks",))
    await Webhooks(world.store).add(URL, sealer)
    await SyncState(world.store).needs_reconnect(world.connections["quickbooks"], "t", "m",
                                                 datetime.now(UTC))
    answers = iter([httpx.ReadTimeout("slow"), httpx.Response(302), httpx.ConnectError("no")])

    def answer(request: httpx.Request) -> httpx.Response:
        given = next(answers)
        if isinstance(given, Exception):
            raise given
        return given

    clock = FakeClock()
    deliverer = Deliverer(world.store, sealer, clock=clock, policy=WebhookPolicy(max_attempts=3),
                          transport=httpx.MockTransport(answer), timeout=1.5)
    await deliverer.deliver_due()
    [row] = await deliveries(world.store)
    assert (row["status"], row["attempts"], row["last_error"]) == (
        "pending", 1, "no answer within 1.5 s")
    assert await deliverer.deliver_due() == 0  # not due before its back-off
    await deliver_everything(deliverer, clock)
    await deliverer.aclose()
    [row] = await deliveries(world.store)
    assert (row["status"], row["attempts"], row["last_status"], row["next_attempt_at"]) == (
        "failed", 3, None, None)
    assert row["last_error"] == "ConnectError: no"
    [shown] = await Webhooks(world.store).deliveries(failed_only=True)
    assert shown.last_error == "ConnectError: no" and shown.event_id == f"evt_{row['id']}"
    command = ("from console.cli import main; raise SystemExit(main(['webhook', "
               f"'deliveries', '--failed', '--db', {str(world.store.path)!r}]))")
    listing = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", command], capture_output=True, text=True,
        check=True, cwd=Path(__file__).resolve().parents[1])
    assert listing.stdout.split("  ")[:3] == [f"evt_{row['id']}", "connection.needs_reconnect",
                                              f"connection {world.connections['quickbooks']}"]
    assert listing.stdout.rstrip().endswith("failed, tries: 3  (ConnectError: no)")


async def wait_for_delivery(store: Store, done: Callable[[dict[str, Any]], bool]) -> None:
    for _ in range(2000):
        rows = await deliveries(store)
        if rows and all(done(r) for r in rows):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"deliveries never got there: {await deliveries(store)}")


async def test_a_stopped_engine_resumes_pending_deliveries(make_world: MakeWorld,
                                                           sealer: Sealer) -> None:
    world: World = await make_world(("quickbooks",))
    clock = FakeClock()
    receiver = Receiver(clock, fail_first=0)
    _, receiver.secret = await Webhooks(world.store).add(URL, sealer)
    await SyncState(world.store).needs_reconnect(world.connections["quickbooks"],
                                                 "QuickBooks needs reconnecting",
                                                 "invalid_grant", datetime.now(UTC))

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    first = world.engine()
    first.deliverer.transport = httpx.MockTransport(refuse)
    first.deliverer.policy = WebhookPolicy(backoff_base=0.01)
    stop = asyncio.Event()
    running = asyncio.create_task(first.run(stop))
    await wait_for_delivery(world.store, lambda d: d["attempts"] >= 1)
    stop.set()
    await running
    [row] = await deliveries(world.store)
    assert row["status"] == "pending" and receiver.accepted == []

    second = world.engine()
    second.deliverer.transport = receiver.transport
    stop = asyncio.Event()
    running = asyncio.create_task(second.run(stop))
    await wait_for_delivery(world.store, lambda d: d["status"] == "delivered")
    stop.set()
    await running
    assert receiver.accepted_kinds() == [("connection.needs_reconnect", None)]
    assert receiver.accepted[0]["message"] == "invalid_grant"


def test_cli_adds_lists_shows_and_removes(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "hooks.db")

    def run(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--db", db])
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = run("webhook", "add", URL)
    assert code == 0 and out.startswith("whsec_") and "shown only now" in err
    secret = out.strip()
    code, out, _ = run("webhook", "list", "--json")
    [listed] = json.loads(out)
    assert listed["url"] == URL and secret not in out and secret.startswith(listed["hint"])
    assert json.loads(run("webhook", "deliveries", "--json", "--failed")[1]) == []
    assert run("webhook", "add", "ftp://nowhere")[0] == 2
    assert run("webhook", "remove", str(listed["id"]))[0] == 0
    assert run("webhook", "list")[1] == ""
    code, _, err = run("webhook", "remove", str(listed["id"]))
    assert code == 2 and "no webhook endpoint" in err
    stored = sqlite3_rows(db, "SELECT secret FROM webhook_endpoints")
    assert secret.encode() not in stored[0][0]


def sqlite3_rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return list(conn.execute(sql))


async def test_the_console_lists_deliveries(make_world: MakeWorld, sealer: Sealer) -> None:
    from console.app import SyncdeskApp
    from console.commands import OperatorCommands
    from console.screens.webhooks import WebhooksScreen
    from console.widgets.table import Table

    world = await failing_world(make_world)
    await Webhooks(world.store).add(URL, sealer)
    await world.ledger.upsert([MARIA])
    await world.sync()
    app = SyncdeskApp(SyncService(world.store, actor="ana"), poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        provider = OperatorCommands(app.screen)
        await provider.startup()
        [command] = [c for c in provider._allowed() if c.name == "Webhook deliveries"]
        command.run()
        for _ in range(3):
            await pilot.pause()
            await app.workers.wait_for_complete()
        assert isinstance(app.screen, WebhooksScreen)
        table = app.screen.query_one(Table)
        [key] = [str(k.value) for k in table.rows]
        assert [table.get_cell(key, c).plain for c in ("event", "subject", "status")] == [
            "record.failed", "customer C-1", "pending"]
