"""What each `syncdesk` command does. The parser lives in `cli.py`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import getpass
import json
import secrets
import sys
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from engine import (
    UNMAPPED_ITEM_SKU,
    Business,
    Businesses,
    Choice,
    ConfigError,
    ConnectionRow,
    ConnectionSettings,
    Drift,
    EngineSettings,
    Entity,
    FeedSettings,
    HookInbox,
    InputError,
    JobFilter,
    Ledger,
    MappingKind,
    MappingRefused,
    Platform,
    Provider,
    PullReport,
    Record,
    Sealer,
    Store,
    SyncEngine,
    SyncError,
    SyncService,
    WebhookKeys,
    WorkerSettings,
    check_value,
    connection_settings,
    default_db_path,
    generate_demo,
    is_database_url,
    live_connections,
    open_provider,
    parse_file,
    parse_kind,
    pull_directory,
    read_feed,
    run_audit,
    user_data_path,
)
from engine._demo import MIN_SIZE

from ._wiring import Config, connect_sandbox, platforms, sandbox_app, store_grant

if TYPE_CHECKING:
    from ._fleet import SandboxFleet

# -- shared helpers ----------------------------------------------------------------------


_FLEET_WIDE = frozenset({"console", "demo", "engine_run", "serve", "business",
                         "sandbox_serve"})
"""Commands over every business at once: `--business` narrows them only when given."""


@contextlib.asynccontextmanager
async def open_store(args: argparse.Namespace, *, read_only: bool = False,
                     upgrade: bool = False) -> AsyncIterator[Store]:
    """The store, with `args.business_id` set to the business the command acts on: the one
    `--business` names, else the only one (several and none named: an error listing them);
    for a command over the whole fleet, None unless named."""
    store = await Store.open(args.db or default_db_path(), read_only=read_only, upgrade=upgrade)
    try:
        ref = getattr(args, "business", None)
        args.business_id = None if ref is None and args.handler in _FLEET_WIDE else (
            await Businesses(store).find(ref)).id
        yield store
    finally:
        await store.close()


async def resolve_connection(store: Store, ref: str | None,
                             business: int | None = None) -> int | None:
    """The connection `ref` names (an id or a platform) among the business's."""
    if ref is None:
        return None
    if ref.isdigit():
        if await store.fetch_value("SELECT 1 FROM connections WHERE id = ? AND "
                                   "(? IS NULL OR business_id = ?)",
                                   (int(ref), business, business)):
            return int(ref)
        raise ConfigError(f"no connection {ref}; `syncdesk status` lists them")
    rows = await store.fetch_all("SELECT id FROM connections WHERE platform = ? AND "
                                 "(? IS NULL OR business_id = ?)", (ref, business, business))
    if not rows:
        raise ConfigError(f"no connection to {ref!r}; `syncdesk status` lists them")
    if len(rows) > 1:
        raise ConfigError(f"{len(rows)} connections to {ref!r}; name one by its id")
    return int(rows[0]["id"])


async def job_filter(store: Store, args: argparse.Namespace) -> JobFilter:
    """The options' filter; `--query` (the console's filter-bar grammar) narrows it further
    and wins where both name the same field."""
    where = JobFilter(
        connection_id=await resolve_connection(store, args.connection, args.business_id),
        entity=Entity(args.entity) if args.entity else None,
        statuses=(args.status,) if args.status else (),
        error_class=args.error_class, error_code=args.error_code, text=args.match,
    )
    if not args.query:
        return where
    return JobFilter.parse(args.query, now=datetime.now(UTC)).within(where)


def new_service(store: Store, business: int | None, **options: Any) -> SyncService:
    return SyncService(store, actor=getpass.getuser(), business=business, **options)


def confirm(question: str, assume_yes: bool) -> bool:
    if assume_yes:
        return True
    if not sys.stdin.isatty():
        raise ConfigError(f"{question} Refusing without a terminal to ask: add --yes")
    return input(f"{question} [y/N] ").strip().lower() in ("y", "yes")


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


def _stop_on_signals(stop: asyncio.Event) -> None:
    import signal

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


def _engine(store: Store, sealer: Sealer, *, throttle: bool = True,
            timeout: float = 30.0) -> SyncEngine:
    config = Config.load()
    tunables = config.engine
    worker = WorkerSettings(throttle=throttle)
    for name in ("backoff_base", "backoff_cap"):
        if name in tunables:
            setattr(worker, name, float(tunables[name]))
    if "max_attempts" in tunables:
        worker.max_attempts = int(tunables["max_attempts"])
    settings = EngineSettings(worker=worker, timeout=timeout)
    for name in ("poll_interval", "stop_grace"):
        if name in tunables:
            setattr(settings, name, float(tunables[name]))
    if config.schedule:
        settings.schedule = config.schedule
    settings.weekly_audit = config.weekly_audit
    settings.feed = _feed_settings(config)
    return SyncEngine(store, platforms(), sealer, settings=settings)


def _feed_settings(config: Config) -> FeedSettings:
    settings = FeedSettings(push_payments_to_other_platforms=config.push_payments)
    if "feed_interval" in config.engine:
        settings.interval = float(config.engine["feed_interval"])
    return settings


# -- ledger ------------------------------------------------------------------------------


def demo_business(seed_value: int, size: int) -> list[Record]:
    try:
        return generate_demo(seed=seed_value, size=size)
    except ValueError as exc:
        raise ConfigError(f"--size: {exc}") from None


async def seed(args: argparse.Namespace) -> int:
    records = demo_business(args.seed, args.size)
    async with open_store(args) as store:
        result = await Ledger(store, business=args.business_id).upsert(records)
    print(f"seeded {store.location}: {result.created} created, {result.updated} updated, "
          f"{result.unchanged} unchanged, {result.jobs_queued} sync jobs queued")
    return 0


async def import_file(args: argparse.Namespace) -> int:
    parsed = parse_file(args.file)
    if parsed.problems and not args.partial:
        for problem in parsed.problems:
            print(problem, file=sys.stderr)
        print(f"syncdesk: {len(parsed.problems)} problem(s) in {args.file}; nothing was "
              "imported (use --partial to import the good records)", file=sys.stderr)
        return 1
    async with open_store(args) as store:
        result = await Ledger(store, business=args.business_id).upsert(parsed.records,
                                                                       partial=args.partial)
    for problem in parsed.problems:
        print(problem, file=sys.stderr)
    for rejection in result.rejected:
        print(f"{args.file}: {rejection}", file=sys.stderr)
    print(f"imported {args.file}: {result.created} created, {result.updated} updated, "
          f"{result.unchanged} unchanged, {result.jobs_queued} sync jobs queued"
          + (f"; {len(parsed.problems) + len(result.rejected)} rejected"
             if parsed.problems or result.rejected else ""))
    return 1 if parsed.problems or result.rejected else 0


# -- looking ----------------------------------------------------------------------------


async def status_data(store: Store, business: int | None) -> dict[str, Any]:
    service = new_service(store, business)
    connections = []
    for summary in await service.connections():
        connections.append({
            "id": summary.id, "platform": summary.platform, "tenant": summary.tenant_name,
            "state": summary.state, "reason": summary.state_reason,
            "parked_until": summary.parked_until,
            "counts": {c.entity.value: dict(sorted(c.by_status.items()))
                       for c in summary.counts if c.by_status},
        })
    ledger = {}
    for table in ("customers", "items", "invoices", "payments", "credit_notes"):
        ledger[table] = await store.fetch_value(
            f"SELECT COUNT(*) FROM {table} WHERE ? IS NULL OR business_id = ?",
            (business, business))
    return {"db": store.location, "ledger": ledger, "connections": connections,
            "unread_notifications": await service.unread_count()}


def _looking(args: argparse.Namespace) -> bool:
    """Commands that only look open an existing store read-only: never migrated, never
    changed (a missing one is still created empty, as for every command)."""
    return Path(args.db or default_db_path()).exists()


async def status(args: argparse.Namespace) -> int:
    async with open_store(args, read_only=_looking(args), upgrade=True) as store:
        data = await status_data(store, args.business_id)
    if args.json:
        print_json(data)
        return 0
    print(f"store {data['db']}")
    print("ledger: " + ", ".join(f"{n} {table}" for table, n in data["ledger"].items()))
    if not data["connections"]:
        print("no connections yet: `syncdesk connect <platform>` or `syncdesk demo`")
    for c in data["connections"]:
        print(f"\n[{c['id']}] {c['platform']} — {c['tenant']} ({c['state']})")
        for entity, counts in c["counts"].items():
            print(f"  {entity:<12} " + "  ".join(f"{s} {n}" for s, n in counts.items()))
    print(f"\nunread notifications: {data['unread_notifications']}")
    return 0


async def records(args: argparse.Namespace) -> int:
    async with open_store(args, read_only=_looking(args), upgrade=True) as store:
        where = await job_filter(store, args)
        page = await new_service(store, args.business_id).page(where, limit=args.limit)
    if args.json:
        print_json([vars(row) for row in page.rows])
        return 0
    for row in page.rows:
        amount = f"{row.amount} {row.currency}" if row.amount is not None else ""
        error = f"  {row.error_code or ''} {row.error_message or ''}".rstrip()
        print(f"{row.id:>7} {row.platform:<10} {row.entity.value:<11} {row.label:<28.28} "
              f"{amount:>14} {row.status:<11}{error}")
    return 0


# -- operator commands ------------------------------------------------------------------


async def retry(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        where = await job_filter(store, args)
        service = new_service(store, args.business_id)
        count = await service.retry_matching(where, dry_run=True)
        scope = where.describe()
        if args.dry_run:
            print(f"{count} record(s) would be retried ({scope})")
            return 0
        if count == 0:
            print(f"nothing to retry ({scope})")
            return 0
        if not confirm(f"Retry {count} record(s) ({scope})?", args.yes):
            print("nothing retried")
            return 1
        done = await service.retry_matching(where)
    print(f"{done} record(s) queued again ({scope})")
    return 0


async def resync(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        count = await new_service(store, args.business_id).resync(args.job)
    print(f"{count} record(s) queued to push again")
    return 0


async def relink(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        await new_service(store, args.business_id).relink(args.job)
    print(f"job {args.job}: syncdesk's own copy will be looked for on its platform and "
          "linked, or the record created again")
    return 0


async def adopt(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        service = _mapping_service(store, args.business_id)
        found = await service.adoptable(args.job, args.remote_id)
        print(f"on the platform: {found.shown or found.number or found.remote_id}")
        if not confirm(f"Is this job {args.job}'s record? Link it, and push the ledger's "
                       "version over it", args.yes):
            print("nothing changed")
            return 1
        await service.adopt(args.job, args.remote_id)
    print(f"job {args.job} linked to {found.remote_id}; its next push updates it")
    return 0


async def end_record(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        done = await new_service(store, args.business_id).end_record(
            Entity(args.entity), args.record, unapply=args.unapply, delete=args.delete)
    if args.json:
        print_json({"changed": done.changed, "removed": done.removed,
                    "unapplied": [str(entry) for entry in done.unapplied],
                    "jobs_queued": done.jobs_queued})
    elif done.removed:
        print(f"{args.entity.replace('_', ' ')} {args.record} removed: no platform had it")
    elif not done.changed:
        print(f"{args.entity.replace('_', ' ')} {args.record} was already "
              f"{'deleted' if args.delete else 'void'}: nothing changed")
    else:
        for entry in done.unapplied:
            print(f"unapplied {entry}")
        print(f"changed {', '.join(done.changed)}; {done.jobs_queued} sync job(s) queued")
    return 0


def _api_server(store: Store, host: str, port: int) -> Any:
    """The HTTP API's uvicorn server over `store` (`serve`, and the console demo's)."""
    import uvicorn

    from ._http import build_api

    # Platforms' webhooks are checked with each connection's key and mark feeds due.
    hooks = HookInbox(store, platforms(), Sealer.load())
    return uvicorn.Server(uvicorn.Config(build_api(store, hooks=hooks), host=host, port=port,
                                         log_level="warning", lifespan="off"))


async def serve(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        server = _api_server(store, args.host, args.port)
        print(f"syncdesk API on http://{args.host}:{args.port}/v1 "
              f"(OpenAPI at /v1/openapi.json; store {store.location})", flush=True)
        await server.serve()
    return 0


# -- business --


async def business(args: argparse.Namespace) -> int:
    wanted = {"add": 1, "list": 0, "rename": 2, "remove": 1}[args.action]
    if len(args.names) != wanted:
        raise ConfigError(f"business {args.action} takes {wanted} name(s), got "
                          f"{len(args.names)}")
    actor = getpass.getuser()
    async with open_store(args, read_only=args.action == "list" and _looking(args),
                          upgrade=True) as store:
        businesses = Businesses(store)
        if args.action == "add":
            done = await businesses.add(args.names[0], actor=actor)
            print(f"added business {done}: `--business {done.name!r}` acts on it")
        elif args.action == "rename":
            done = await businesses.rename(args.names[0], args.names[1], actor=actor)
            print(f"renamed business #{done.id} to {done.name!r}")
        elif args.action == "remove":
            done = await businesses.remove(args.names[0], actor=actor)
            print(f"removed business {done}")
        else:
            listed = await businesses.list()
            if args.json:
                print_json([{"id": b.id, "name": b.name,
                             "created_at": b.created_at.isoformat()} for b in listed])
            for b in [] if args.json else listed:
                print(f"{b.id:>4}  {b.name}  since {b.created_at:%Y-%m-%d}")
    return 0


async def api_key(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from engine import ApiKeys

    if args.action != "list" and not args.name:
        raise ConfigError(f"api-key {args.action} needs the key's name")
    async with open_store(args) as store:
        keys = ApiKeys(store, business=args.business_id)
        if args.action == "list":
            listed = await keys.list()
            if args.json:
                print_json([{"name": k.name, "hint": k.hint, "read_only": k.read_only,
                             "created_at": k.created_at.isoformat(),
                             "expires_at": k.expires_at.isoformat() if k.expires_at else None}
                            for k in listed])
            for k in [] if args.json else listed:
                ends = f", until {k.expires_at:%Y-%m-%d %H:%M} UTC" if k.expires_at else ""
                print(f"{k.name}  {k.hint}…  {'read-only' if k.read_only else 'read-write'}"
                      f"{ends}")
            return 0
        if args.action == "revoke":
            await keys.revoke(args.name)
            print(f"API key {args.name!r} revoked: it no longer works")
            return 0
        if args.action == "create":
            key, secret = await keys.create(args.name, read_only=args.read_only)
        else:
            key, secret = await keys.rotate(args.name,
                                            overlap=timedelta(hours=args.overlap_hours))
    if args.json:
        print_json({"name": key.name, "key": secret, "read_only": key.read_only})
    else:
        print(secret)
        print(f"(the key {key.name!r}; shown only now, the store keeps just its hash)",
              file=sys.stderr)
    return 0


async def webhook(args: argparse.Namespace) -> int:
    from engine import Webhooks

    if args.action in ("add", "remove") and not args.target:
        raise ConfigError(f"webhook {args.action} needs the endpoint's "
                          f"{'URL' if args.action == 'add' else 'id'}")
    async with open_store(args) as store:
        hooks = Webhooks(store, business=args.business_id)
        if args.action == "add":
            endpoint, secret = await hooks.add(args.target, Sealer.load())
            if args.json:
                print_json({"id": endpoint.id, "url": endpoint.url, "secret": secret})
            else:
                print(secret)
                print(f"(webhook {endpoint.id} to {endpoint.url}: its signing secret, shown "
                      "only now)", file=sys.stderr)
        elif args.action == "remove":
            try:
                endpoint_id = int(args.target)
            except ValueError:
                raise ConfigError(f"a webhook id is a number, not {args.target!r}") from None
            await hooks.remove(endpoint_id)
            print(f"webhook {endpoint_id} removed: it hears of nothing more")
        elif args.action == "list":
            endpoints = await hooks.endpoints()
            if args.json:
                print_json([{"id": e.id, "url": e.url, "hint": e.hint,
                             "created_at": e.created_at.isoformat()} for e in endpoints])
            for e in [] if args.json else endpoints:
                print(f"{e.id}  {e.url}  {e.hint}…  since {e.created_at:%Y-%m-%d %H:%M} UTC")
        else:
            deliveries = await hooks.deliveries(failed_only=args.failed, limit=args.limit)
            if args.json:
                print_json([{"id": d.event_id, "endpoint": d.endpoint_id, "url": d.url,
                             "kind": d.kind.value, "connection": d.connection_id,
                             "entity": d.entity.value if d.entity else None,
                             "record_id": d.record_id, "status": d.status.value,
                             "attempts": d.attempts, "last_status": d.last_status,
                             "last_error": d.last_error,
                             "created_at": d.created_at.isoformat(),
                             "next_attempt_at": (d.next_attempt_at.isoformat()
                                                 if d.next_attempt_at else None),
                             "delivered_at": (d.delivered_at.isoformat()
                                              if d.delivered_at else None)}
                            for d in deliveries])
            for d in [] if args.json else deliveries:
                subject = (f"{d.entity.value} {d.record_id}" if d.entity
                           else f"connection {d.connection_id}")
                state = (f"delivered {d.delivered_at:%Y-%m-%d %H:%M:%S} UTC" if d.delivered_at
                         else f"pending, next try {d.next_attempt_at:%H:%M:%S} UTC"
                         if d.next_attempt_at else "failed")
                why = f"  ({d.last_error})" if d.last_error else ""
                print(f"{d.event_id}  {d.kind.value}  {subject}  → {d.url}  {state}, "
                      f"tries: {d.attempts}{why}")
    return 0


async def connection_command(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        connection_id = await resolve_connection(store, args.connection, args.business_id)
        assert connection_id is not None
        service = new_service(store, args.business_id, revoker=_revoker(store))
        if args.action == "purge":
            if not confirm(f"Revoke connection {connection_id} and delete all its links and "
                           "sync history?", args.yes):
                print("nothing purged")
                return 1
            purged = await service.purge(connection_id)
            print(f"connection {connection_id} revoked; {purged} sync record(s) purged")
            return 0
        await getattr(service, args.action)(connection_id)
    print(f"connection {connection_id}: {args.action} done")
    return 0


async def _live(store: Store, connection_id: int) -> tuple[ConnectionRow, Platform]:
    rows = [c for c in await live_connections(store) if c.id == connection_id]
    if not rows or rows[0].platform not in platforms():
        raise ConfigError(f"connection {connection_id} is disconnected or its platform is not "
                          "in this build; `syncdesk status` lists connections")
    return rows[0], platforms()[rows[0].platform]


@contextlib.asynccontextmanager
async def _provider_for(store: Store, connection_id: int) -> AsyncIterator[Provider]:
    """A connection's provider, with tokens from the store, as the engine builds it."""
    row, platform = await _live(store, connection_id)
    provider = await open_provider(store, row, platform, Sealer.load())
    try:
        yield provider
    finally:
        await provider.aclose()


def _revoker(store: Store) -> Any:
    async def revoke(connection_id: int) -> None:
        sealed = await store.fetch_value("SELECT sealed FROM tokens WHERE connection_id = ?",
                                         (connection_id,))
        if sealed is None:
            return  # nothing was ever granted, or it was purged already
        row, platform = await _live(store, connection_id)
        sealer = Sealer.load()
        token = sealer.unseal(sealed).get("refresh_token")
        if token:
            settings = await connection_settings(store, row, sealer)
            await platform.oauth(settings).revoke(str(token))

    return revoke


# -- mappings ------------------------------------------------------------------------------


def _mapping_service(store: Store, business: int | None) -> SyncService:
    """A service that reads the platforms (lists, objects) through each connection's
    provider."""
    return new_service(store, business, providers=functools.partial(_provider_for, store))


async def map_command(args: argparse.Namespace) -> int:
    words = list(args.words)
    wanted = {"list": (0, 1), "set": (2, 3), "unset": (1, 2), "options": (1, 1)}[args.action]
    if not wanted[0] <= len(words) <= wanted[1]:
        usage = {"list": "[KIND]", "set": "KIND [KEY] VALUE", "unset": "KIND [KEY]",
                 "options": "KIND"}[args.action]
        raise ConfigError(f"map {args.action} takes {usage}, got {len(words)} word(s)")
    kind = parse_kind(words[0]) if words else None
    async with open_store(args, read_only=args.action == "list" and _looking(args),
                          upgrade=True) as store:
        connection_id = await resolve_connection(store, args.connection, args.business_id)
        assert connection_id is not None
        service = _mapping_service(store, args.business_id)
        if args.action == "list":
            entries = [e for e in await service.mappings(connection_id)
                       if kind is None or e.kind is kind]
            if args.json:
                print_json([{"kind": e.kind.value, "key": e.key or None, "name": e.key_name,
                             "value": e.value, "label": e.label, "waiting": e.waiting}
                            for e in entries])
                return 0
            for e in entries:
                value = f"{e.value} ({e.label})" if e.value and e.label not in ("", e.value) \
                    else e.value or "— not mapped"
                waiting = f"  {e.waiting} record(s) held back" if e.waiting else ""
                print(f"{e.kind.value:<23} {e.key:<20.20} {e.key_name:<24.24} {value}{waiting}")
            return 0
        assert kind is not None
        if args.action == "options":
            choices = await service.mapping_choices(connection_id, kind)
            if args.json:
                print_json([_choice_json(choice) for choice in choices])
            for choice in [] if args.json else choices:
                print(choice)
            return 0
        key = words[1] if len(words) == (3 if args.action == "set" else 2) else None
        try:
            if args.action == "set":
                change = await service.set_mapping(connection_id, kind, key, words[-1])
            else:
                change = await service.unset_mapping(connection_id, kind, key)
        except MappingRefused as refused:
            if not args.json:
                raise
            print_json({"error": str(refused),
                        "choices": [_choice_json(choice) for choice in refused.choices]})
            return 2
    if args.json:
        print_json({"connection": connection_id, "kind": change.kind.value,
                    "key": change.key or None, "value": change.value,
                    "previous": change.previous, "requeued": change.requeued})
        return 0
    slot = change.kind.label + (f" of {change.key}" if change.key else "")
    done = f"→ {change.value}" if change.value else "unset"
    was = f" (was {change.previous})" if change.previous else ""
    print(f"connection {connection_id}: {slot} {done}{was}; "
          f"{change.requeued} record(s) re-queued")
    return 0


def _choice_json(choice: Choice) -> dict[str, str]:
    return {"value": choice.value, "name": choice.name, "detail": choice.detail}


async def apply_config_mappings(store: Store, config: Config) -> int:
    """Set config.toml's `[mappings.<connection>]`, each checked against the platform's list
    as `map set` checks it (on every start: a value since deleted on the platform stops the
    start, naming it); values already set are left alone. Returns how many changed."""
    changed = 0
    service = _mapping_service(store, None)
    for ref, entries in config.mappings.items():
        try:
            connection_id = await resolve_connection(store, ref)
        except ConfigError as exc:
            raise ConfigError(f"config.toml [mappings.{ref}]: {exc}") from None
        assert connection_id is not None
        current = {(e.kind, e.key): e.value for e in await service.mappings(connection_id)}
        lists: dict[MappingKind, list[Choice]] = {}
        for kind, key, value in entries:
            if kind not in lists:
                lists[kind] = await service.mapping_choices(connection_id, kind)
            where = f"config.toml [mappings.{ref}] {kind.value}" + (f" {key}" if key else "")
            try:
                title = f"{ref} (connection {connection_id})"
                if check_value(kind, value, lists[kind], title).value == current.get(
                        (kind, key or "")):
                    continue
                await service.set_mapping(connection_id, kind, key, value,
                                          choices=lists[kind])
            except ConfigError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            changed += 1
    return changed


async def pull(args: argparse.Namespace) -> int:
    confirm: dict[str, str | None] = {remote: None for remote in args.new}
    for pair in args.link:
        remote, _, local = pair.partition("=")
        if not remote or not local:
            raise ConfigError(f"--link {pair!r}: give REMOTE_ID=LOCAL_ID")
        confirm[remote] = local
    async with open_store(args) as store:
        connection_id = await resolve_connection(store, args.connection, args.business_id)
        assert connection_id is not None
        report = await _pull(store, connection_id, confirm)
    return 1 if report.doubts or report.rejected else 0


async def _pull(store: Store, connection_id: int,
                confirm: dict[str, str | None] | None = None) -> PullReport:
    platform = await store.fetch_value("SELECT platform FROM connections WHERE id = ?",
                                       (connection_id,))
    async with _provider_for(store, connection_id) as provider:
        report = await pull_directory(store, connection_id, str(platform), provider,
                                      confirm=confirm)
    print(f"from {platform}: {report.customers_linked} customers matched and linked, "
          f"{report.customers_imported} imported; {report.items_linked} items matched and "
          f"linked, {report.items_imported} imported")
    for rejected in report.rejected:
        print(f"  not imported: {rejected}", file=sys.stderr)
    for doubt in report.doubts:
        print(f"  uncertain, neither linked nor imported: {doubt}", file=sys.stderr)
    if report.doubts:
        print(f"  decide with `syncdesk pull {connection_id} --link REMOTE_ID=LOCAL_ID` "
              "(the same customer) or `--new REMOTE_ID` (a different one)", file=sys.stderr)
    return report


# -- audit --


async def audit(args: argparse.Namespace) -> int:
    """The drift audit of one connection or every live one, opened as `pull` opens them.
    Exits 1 when any record differs (as `diff` does), 2 when a platform could not be read
    to the end, 0 when everything agrees."""
    found: list[dict[str, Any]] = []
    async with open_store(args) as store:
        chosen = await resolve_connection(store, args.connection, args.business_id)
        for row in await live_connections(store):
            if chosen is not None and row.id != chosen:
                continue
            entry: dict[str, Any] = {"id": row.id, "platform": row.platform,
                                     "tenant": row.tenant_name, "error": None}
            try:
                async with _provider_for(store, row.id) as provider:
                    report = await run_audit(store, row.id, provider,
                                             platforms()[row.platform].title)
            except SyncError as error:
                entry["error"] = error.message
            else:
                entry |= {"compared": report.compared, "differing": report.differing,
                          "unlisted": report.unlisted, "unsupported": report.unsupported,
                          "differences": [_drift_json(d) for d in report.differences]}
            found.append(entry)
        if chosen is not None and not found:
            await _live(store, chosen)  # says why a disconnected connection is not audited
    failed = any(entry["error"] for entry in found)
    drift = any(entry.get("differing") for entry in found)
    if args.json:
        print_json({"drift": drift, "connections": found})
    else:
        _print_audit(found)
    return 2 if failed else 1 if drift else 0


def _drift_json(drift: Drift) -> dict[str, str]:
    return {"entity": drift.entity.value, "record_id": drift.record_id, "label": drift.label,
            "remote_id": drift.remote_id, "field": drift.field.value, "ledger": drift.ledger,
            "platform": drift.platform}


def _print_audit(found: list[dict[str, Any]]) -> None:
    if not found:
        print("no connections to audit: `syncdesk status` lists them")
    for entry in found:
        name = f"[{entry['id']}] {entry['platform']} — {entry['tenant']}"
        if entry["error"]:
            print(f"syncdesk: {name}: the audit did not finish: {entry['error']}",
                  file=sys.stderr)
            continue
        verdict = (f"{entry['differing']} differ" if entry["differing"]
                   else "all agree with the ledger")
        unlisted = (f"; {entry['unlisted']} not in the platform's lists but found by id, "
                    "not compared" if entry["unlisted"] else "")
        print(f"{name}: {entry['compared']} records compared, {verdict}{unlisted}")
        for why in entry["unsupported"]:
            print(f"  not compared: {why}")
        for d in entry["differences"]:
            record = f"{d['entity'].replace('_', ' ')} {d['label']} ({d['record_id']})"
            print(f"  {record:<36} {d['field']:<9} ledger {d['ledger']:<14} "
                  f"platform {d['platform']}")


# -- connecting ---------------------------------------------------------------------------


async def connect(args: argparse.Namespace) -> int:
    available = platforms()
    if args.platform not in available:
        raise ConfigError(f"{args.platform} is not available in this build")
    platform = available[args.platform]
    configured = Config.load().platforms.get(args.platform, {})
    client_id = args.client_id or configured.get("client_id")
    client_secret = args.client_secret or configured.get("client_secret")
    if not client_id or not client_secret:
        raise ConfigError(f"{platform.title} needs your app's client id and secret: pass "
                          f"--client-id/--client-secret or set them in [platforms.{args.platform}] "
                          "of config.toml")
    settings = ConnectionSettings(platform=platform.name, client_id=client_id,
                                  client_secret=client_secret,
                                  base_url=args.base_url or configured.get("base_url"))
    oauth = platform.oauth(settings)
    redirect_uri = f"http://127.0.0.1:{args.redirect_port}/callback"
    state = secrets.token_urlsafe(16)
    url = oauth.authorization_url(redirect_uri, state)
    print(f"Open this address in a browser and approve syncdesk:\n\n  {url}\n", flush=True)
    if args.paste:
        redirect_url = await asyncio.to_thread(
            input, "Paste the address the browser was sent to after approving: ")
    else:
        print(f"Waiting for the redirect on {redirect_uri} (or press Ctrl+C and rerun with "
              "--paste over SSH)...", flush=True)
        redirect_url = await _wait_for_redirect(args.redirect_port)
    if f"state={state}" not in redirect_url:
        raise ConfigError("the redirect does not carry this request's state: it came from "
                          "another attempt; run `syncdesk connect` again")
    grant = await oauth.exchange_code(redirect_url.strip(), redirect_uri)
    async with open_store(args) as store:
        ids = await store_grant(store, platform, grant, settings, Sealer.load(),
                                business_id=args.business_id)
        names = ", ".join(t.name for t in grant.tenants)
        print(f"connected {platform.title}: {names} (connection {', '.join(map(str, ids))}); "
              "every record is queued for its first sync")
        if not args.no_import:
            for connection_id in ids:
                await _pull(store, connection_id)
    return 0


async def _wait_for_redirect(port: int, wait_seconds: float = 600) -> str:
    received: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request_line = (await reader.readline()).decode("latin-1")
        target = request_line.split(" ")[1] if request_line.count(" ") >= 2 else "/"
        body = b"syncdesk is connected. You can close this tab."
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()
        if urlparse(target).path == "/callback" and not received.done():
            received.set_result(f"http://127.0.0.1:{port}{target}")

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        return await asyncio.wait_for(received, wait_seconds)


# -- running ------------------------------------------------------------------------------


async def engine_run(args: argparse.Namespace) -> int:
    import logging

    # A busy store, a restarted worker: said on stderr, where a service manager keeps it.
    logging.basicConfig(level=logging.WARNING, format="syncdesk: %(message)s")
    stop = asyncio.Event()
    _stop_on_signals(stop)
    async with open_store(args) as store:
        if mapped := await apply_config_mappings(store, Config.load()):
            print(f"{mapped} mapping(s) set from config.toml", flush=True)
        print(f"engine running on {store.location}; Ctrl+C or SIGTERM stops it", flush=True)
        report = await _engine(store, Sealer.load(), timeout=args.timeout).run(
            stop, until_idle=args.until_idle)
    print(f"engine stopped: {report.pushed} pushed, {report.failed} failed, "
          f"{report.requests} requests")
    return 0


async def sandbox_serve(args: argparse.Namespace) -> int:
    import uvicorn

    app = sandbox_app(args.platform, limits_enabled=not args.no_limits,
                      seed_demo_company=not args.empty)
    app.state.sandbox.latency = args.latency
    print(f"{args.platform} sandbox on http://127.0.0.1:{args.port}", flush=True)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=args.port,
                                           log_level="warning", lifespan="off"))
    await server.serve()
    return 0


def demo_db_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    default = default_db_path()
    # The demo is a file of its own even where the real store is a database server.
    return (default if isinstance(default, Path) else user_data_path()).with_name("demo.db")


_MORE_BUSINESSES: tuple[tuple[str, int, dict[str, dict[str, str]]], ...] = (
    ("Harbour Plumbing & Heating", 11,
     {"xero": {"tenant_id": "4b0d6a8e-2f3c-4e51-9a7d-1c8e5f2b6a90"},
      "wave": {"business_uuid": "9c2e7b14-5d8a-4f36-b1e0-7a3d6c9f2e85"}}),
    ("Northside Handyman", 23, {"quickbooks": {"realm_id": "9341452907654321"}}),
)
"""Beside the demo business, two small ones: name, seed of its ledger, and per platform the
sandbox's tenant id (a platform tenant belongs to one business, so each has its own
sandboxes, told apart by id). The first is fed live."""


@dataclass
class DemoSetup:
    store: Store
    fleets: list[SandboxFleet]
    fed: Business
    """The business the console demo's simulated app feeds over the HTTP API."""
    fed_ledger: list[Record]
    next_port: int | None
    """With `--ports`: the first port after the sandboxes'."""

    def stop(self) -> None:
        for fleet in self.fleets:
            fleet.stop()


async def prepare_demo(db: Path, size: int, seed_value: int, *, limits: bool,
                       first_port: int | None = None) -> DemoSetup:
    """Fresh store, sandboxes on loopback, the demo business seeded and connected to every
    platform, and two small businesses connected to sandboxes of their own."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    from ._fleet import SandboxFleet  # uvicorn and the sandboxes: only the demo needs them

    port = first_port
    fleets: list[SandboxFleet] = []

    async def sandboxes(names: tuple[str, ...], **each: dict[str, str]) -> dict[str, str]:
        nonlocal port
        fleet = SandboxFleet(names, first_port=port, limits_enabled=limits, each=each)
        fleets.append(fleet)
        port = None if port is None else port + len(names)
        return await asyncio.to_thread(fleet.start)

    store = await Store.open(db)
    sealer = Sealer.load()
    try:
        urls = await sandboxes(tuple(platforms()))
        await Ledger(store).upsert(demo_business(seed_value, size))
        for name, platform in platforms().items():
            await connect_sandbox(store, platform, urls[name], sealer)
        added = []
        for title, seed_of_it, tenants in _MORE_BUSINESSES:
            other = await Businesses(store).add(title, actor="demo")
            ledger = demo_business(seed_of_it, MIN_SIZE)
            await Ledger(store, business=other.id).upsert(ledger)
            urls = await sandboxes(tuple(tenants), **tenants)
            for name in tenants:
                await connect_sandbox(store, platforms()[name], urls[name], sealer,
                                      business_id=other.id)
            added.append((other, ledger))
    except BaseException:
        await store.close()
        for fleet in fleets:
            fleet.stop()
        raise
    return DemoSetup(store, fleets, *added[0], next_port=port)


async def demo(args: argparse.Namespace) -> int:
    db = demo_db_path(args)
    limits = (args.limits or ("off" if args.headless else "real")) == "real"
    setup = await prepare_demo(db, args.size, args.seed, limits=limits, first_port=args.ports)
    store = setup.store
    try:
        await apply_config_mappings(store, Config.load())
        if args.headless:
            stop = asyncio.Event()
            _stop_on_signals(stop)
            await _engine(store, Sealer.load(), throttle=limits).run(stop, until_idle=True)
            print_json(await _demo_status(store))
            return 0
        async with _fed_live(setup):
            await _run_console_with_engine(store, throttle=limits)
        return 0
    finally:
        await store.close()
        setup.stop()


async def _demo_status(store: Store) -> dict[str, Any]:
    """The whole store's status, and each business's."""
    data = await status_data(store, None)
    data["businesses"] = [{"id": b.id, "name": b.name, **await status_data(store, b.id)}
                          for b in await Businesses(store).list()]
    return data


@contextlib.asynccontextmanager
async def _fed_live(setup: DemoSetup) -> AsyncIterator[None]:
    """The HTTP API on loopback, and a simulated app of the fed business PUTting invoices
    through it, while the console runs."""
    from engine import ApiKeys, Customer, Item

    from ._demo_app import DemoApp
    from ._fleet import free_port

    store, fed = setup.store, setup.fed
    port = free_port() if setup.next_port is None else setup.next_port
    server = _api_server(store, "127.0.0.1", port)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            await serving
            raise ConfigError(f"the demo's HTTP API could not listen on 127.0.0.1:{port}")
        await asyncio.sleep(0.02)
    _, secret = await ApiKeys(store, business=fed.id).create("demo app")
    url = f"http://127.0.0.1:{port}/v1"
    item = next(r for r in setup.fed_ledger
                if isinstance(r, Item) and r.sku != UNMAPPED_ITEM_SKU)
    app = DemoApp(url, secret, [r.id for r in setup.fed_ledger if isinstance(r, Customer)],
                  item)
    print(f"syncdesk API on {url}: {fed.name}'s app PUTs a sent invoice every "
          f"{app.interval:g} s", flush=True)
    stop = asyncio.Event()
    feeding = asyncio.create_task(app.run(stop))
    try:
        yield
    finally:
        stop.set()
        server.should_exit = True
        try:
            await feeding
        finally:
            await serving


class _EngineThread(threading.Thread):
    """The engine on a loop and store connections of its own, beside the console's loop."""

    def __init__(self, path: Path | str, *, throttle: bool,
                 on_failure: Callable[[BaseException], object] | None = None) -> None:
        """`on_failure` is called (in this thread) when the engine dies before its stop."""
        super().__init__(name="engine", daemon=True)
        self.path = path
        self.throttle = throttle
        self.on_failure = on_failure
        self.failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._halt: asyncio.Event | None = None
        self._started = threading.Event()

    def run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # handed to the console's thread by stop()
            self.failure = exc
            if self.on_failure is not None:
                self.on_failure(exc)
        finally:
            self._started.set()

    async def _main(self) -> None:
        self._loop, self._halt = asyncio.get_running_loop(), asyncio.Event()
        self._started.set()
        store = await Store.open(self.path)
        try:
            await _engine(store, Sealer.load(), throttle=self.throttle).run(self._halt)
        finally:
            await store.close()

    def stop(self) -> None:
        self._started.wait(10)
        if self._loop is not None and self._halt is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._halt.set)
        self.join(15)
        if self.failure is not None:
            raise self.failure


async def _run_console_with_engine(store: Store, *, throttle: bool) -> None:
    app = _console_app(store, read_only=False)

    def tell(failure: BaseException) -> None:
        # The header already says "engine not running"; this says why, while it matters.
        with contextlib.suppress(RuntimeError):  # the console is not (or no longer) running
            app.call_from_thread(app.report, failure)

    engine = _EngineThread(store.path, throttle=throttle, on_failure=tell)
    engine.start()
    try:
        await app.run_async()
    finally:
        await asyncio.to_thread(engine.stop)


def _console_app(store: Store, *, read_only: bool, business: Business | None = None) -> Any:
    """The console over every business, or scoped to `business` from the start."""
    from .app import SyncdeskApp

    config = Config.load()
    app = SyncdeskApp(new_service(store, business.id if business else None,
                                  read_only=read_only, revoker=_revoker(store),
                                  providers=functools.partial(_provider_for, store)),
                      read_only=read_only, keymap=config.keymap)
    app.business_name = business.name if business else None
    return app


async def console(args: argparse.Namespace) -> int:
    target = args.db or default_db_path()
    path = Path(target)
    if not is_database_url(target) and not path.exists():
        raise ConfigError(f"no store at {path}: run `syncdesk demo`, or `syncdesk import` "
                          "and `syncdesk connect` first")
    if args.serve:
        import os

        from ._serve import TOKEN_ENV, serve_console

        stop = asyncio.Event()
        _stop_on_signals(stop)
        return await serve_console(path, read_only=args.read_only, host=args.host,
                                   port=args.port, token=args.token or os.environ.get(TOKEN_ENV),
                                   stop=stop)
    async with open_store(args, read_only=args.read_only) as store:
        chosen = None if args.business_id is None else await Businesses(store).find(
            str(args.business_id))
        await _console_app(store, read_only=args.read_only, business=chosen).run_async()
    return 0


# -- feed --


async def feed(args: argparse.Namespace) -> int:
    """`status`: where each feed stands; `read`: one cycle of every entity now, through each
    connection's provider as `pull` opens it (a budget of its own beside a running engine's,
    as a pull has)."""
    async with open_store(args, read_only=args.action == "status", upgrade=True) as store:
        if args.action == "status":
            states = await new_service(store, args.business_id).feed_states()
            if args.json:
                print_json([{"connection": s.connection_id, "platform": s.platform,
                             "entity": s.entity.value, "read_at": s.read_at, "due": s.due,
                             "error": s.error} for s in states])
            for s in [] if args.json else states:
                when = f"{s.read_at:%Y-%m-%d %H:%M:%S}" if s.read_at else "never"
                print(f"{s.connection_id:>3} {s.platform:<11} {s.entity.label:<12} read {when}"
                      f"{'  due' if s.due else ''}{'  ' + s.error if s.error else ''}")
            return 0
        chosen = await resolve_connection(store, args.connection, args.business_id)
        reports: dict[str, Any] = {}
        for row in await live_connections(store):
            if chosen is not None and row.id != chosen:
                continue
            platform = platforms().get(row.platform)
            if platform is None:
                continue
            async with _provider_for(store, row.id) as provider:
                report = await read_feed(store, row.id, provider, platform=row.platform,
                                         title=platform.title,
                                         entities=platform.capabilities.entities,
                                         settings=_feed_settings(Config.load()))
            reports[str(row.id)] = {"platform": row.platform, "pages": report.pages,
                                    "changes": report.changes, **vars(report.applied),
                                    "failures": report.failures,
                                    "unsupported": report.unsupported}
    if args.json:
        print_json(reports)
    for connection, done in [] if args.json else reports.items():
        counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in done.items()
                           if k not in ("pages", "changes") and isinstance(v, int) and v)
        print(f"{connection} {done['platform']}: {counts or 'nothing new'} "
              f"({done['pages']} pages read)")
        for line in done["failures"] + done["rejected"]:
            print(f"  {line}", file=sys.stderr)
    return 2 if any(done["failures"] for done in reports.values()) else 0


async def hooks(args: argparse.Namespace) -> int:
    async with open_store(args) as store:
        keys = WebhookKeys(store, Sealer.load())
        if args.action == "set-key":
            connection = await resolve_connection(store, args.connection, args.business_id)
            if connection is None or not args.key:
                raise ConfigError("hooks set-key CONNECTION KEY")
            hint = await keys.set(connection, args.key, getpass.getuser())
            print(f"connection {connection}: webhook key {hint} set")
            return 0
        if args.action == "register":
            return await _register_hooks(store, keys, args)
        listed = await keys.listed()
    if args.json:
        print_json([{"connection": k.connection_id, "platform": k.platform,
                     "tenant": k.tenant_name, "hint": k.hint, "updated_at": k.updated_at}
                    for k in listed])
    for k in [] if args.json else listed:
        print(f"{k.connection_id:>3} {k.platform:<11} {k.tenant_name}  key {k.hint}  "
              f"set {k.updated_at:%Y-%m-%d %H:%M}")
    return 0


async def _register_hooks(store: Store, keys: WebhookKeys, args: argparse.Namespace) -> int:
    """Callbacks registered through the platform's API, one per event its receiver names
    (FreshBooks'); each is active once `syncdesk serve`, at the address given, has answered
    its verification, which this waits for in the store. Other platforms' webhooks are set
    up in their developer portals."""
    connection = await resolve_connection(store, args.connection, args.business_id)
    if connection is None or not args.key:
        raise ConfigError("hooks register CONNECTION URL (`syncdesk serve`'s "
                          "/v1/hooks/<platform> as the platform reaches it)")
    row, platform = await _live(store, connection)
    receiver = platform.webhooks()
    events: tuple[str, ...] = getattr(receiver, "callback_events", ())
    if not events:
        where = ("sends no webhooks" if receiver is None else
                 "has its webhooks set up in its developer portal: point them at "
                 f"/v1/hooks/{platform.name} and give the key it shows to `syncdesk hooks "
                 "set-key`")
        raise ConfigError(f"{platform.title} {where}")
    before = await _hook_keys(keys, row.platform, connection)
    async with _provider_for(store, connection) as provider:
        for event in events:
            await provider.register_webhook(event, args.key)  # type: ignore[attr-defined]
    wanted = before + len(events)
    for _ in range(_VERIFY_LOOKS):
        if await _hook_keys(keys, row.platform, connection) >= wanted:
            print(f"connection {connection}: {platform.title} posts {', '.join(events)} "
                  f"events to {args.key}; each callback verified")
            return 0
        await asyncio.sleep(_VERIFY_LOOK_S)
    print(f"connection {connection}: {platform.title} registered the callbacks, but their "
          f"verification did not come back through {args.key} within "
          f"{_VERIFY_LOOKS * _VERIFY_LOOK_S:.0f} s: is `syncdesk serve` running there, and "
          f"can {platform.title} reach it? `syncdesk hooks list` shows the keys kept",
          file=sys.stderr)
    return 1


_VERIFY_LOOKS, _VERIFY_LOOK_S = 300, 0.1
"""How long `hooks register` looks for the verifications to come back: FreshBooks sends
each within seconds of its registration."""


async def _hook_keys(keys: WebhookKeys, platform: str, connection: int) -> int:
    return sum(own == connection for own, _, _ in await keys.of_platform(platform))


async def history(args: argparse.Namespace) -> int:
    async with open_store(args, read_only=True, upgrade=True) as store:
        entries = await new_service(store, args.business_id).record_history(
            Entity(args.entity), args.record)
        if not entries and await Ledger(store, business=args.business_id).get(
                Entity(args.entity), args.record) is None:
            raise InputError(f"no {args.entity} {args.record} in the ledger")
    if args.json:
        print_json([{"at": e.at, "connection": e.connection_id, "platform": e.platform,
                     "winner": e.winner, "platform_at": e.platform_at,
                     "ledger_at": e.ledger_at, "changes": e.changes} for e in entries])
        return 0
    if not entries:
        print(f"{args.entity} {args.record}: no platform edit met other ledger values")
    for e in entries:
        kept = "the platform's (later)" if e.winner == "platform" else "the ledger's (later)"
        print(f"{e.at:%Y-%m-%d %H:%M:%S} {e.platform} (connection {e.connection_id}): "
              f"kept {kept}; platform edit {e.platform_at:%Y-%m-%d %H:%M:%S}, ledger "
              f"{e.ledger_at:%Y-%m-%d %H:%M:%S}")
        for name, values in e.changes.items():
            print(f"  {name}: platform {values['platform']!r}, ledger {values['ledger']!r}")
    return 0


# -- db: the store's schema, and moving an embedded store to PostgreSQL ------------------


async def db_status(args: argparse.Namespace) -> int:
    from engine import StoreError, store_schema

    found = await store_schema(args.db or default_db_path())
    if found.foreign:
        raise StoreError(f"{found.location} is not a syncdesk store (it holds tables of "
                         "something else)")
    if found.version > found.current:
        raise StoreError(f"{found.location} has schema {found.version}, newer than this "
                         f"syncdesk's {found.current}: upgrade syncdesk")
    print(f"backend   {found.dialect}\nlocation  {found.location}")
    if found.version == found.current:
        print(f"schema    {found.version} (current)")
        return 0
    print(f"schema    {found.version or 'none (a new store)'}; this syncdesk needs "
          f"{found.current}: run `syncdesk db migrate`")
    return 1


async def db_migrate(args: argparse.Namespace) -> int:
    from engine import StoreError, store_schema

    target = args.db or default_db_path()
    before = await store_schema(target)
    if before.foreign:
        raise StoreError(f"{before.location} is not a syncdesk store (it holds tables of "
                         "something else): nothing was changed")
    await (await Store.open(target)).close()  # refuses a newer schema, saying so
    after = await store_schema(target)
    if before.version == after.version:
        print(f"{after.location}: schema {after.version}, already current")
    else:
        print(f"{after.location}: migrated from schema {before.version or 'none'} to "
              f"{after.version}")
    return 0


async def db_copy(args: argparse.Namespace) -> int:
    from engine import copy_store

    def progress(table: str, rows: int) -> None:
        print(f"  {table}: {rows} rows", file=sys.stderr, flush=True)

    print(f"copying {args.source} to the database; nothing is kept unless every table "
          "matches", file=sys.stderr, flush=True)
    report = await copy_store(Path(args.source), args.target, batch=args.batch,
                              progress=progress)
    width = max(len(table.name) for table in report.tables)
    print(f"{'table':<{width}}  {'source':>9}  {'target':>9}  checksum")
    for table in report.tables:
        verdict = "ok" if table.equal else "DIFFERS"
        print(f"{table.name:<{width}}  {table.source_rows:>9}  {table.target_rows:>9}  "
              f"{table.checksum}  {verdict}")
    print(f"{report.rows} rows in {report.seconds:.1f} s ({report.rows_per_second:.0f} rows/s)"
          f" from {report.source} to {report.target}")
    if not report.committed:
        print("the tables differ: the copy was rolled back, the target is as it was",
              file=sys.stderr)
        return 1
    print("verified: every table has the same rows; the copy is committed")
    return 0
