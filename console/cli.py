"""`syncdesk`: the command line, and the composition root that wires providers into the engine.

Every command opens the store named by `--db` (default `$SYNCDESK_DB`, else the per-user data
directory), does one thing, and exits 0; a refusal or bad input prints one clear line on stderr
and exits 2 (1 when some records were rejected, or `audit` found drift).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Coroutine, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ._names import PLATFORM_NAMES

if TYPE_CHECKING:
    from types import ModuleType

Handler = Callable[[argparse.Namespace], Coroutine[None, None, int]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name: str | None = getattr(args, "handler", None)
    if name is None:
        parser.print_help()
        return 2
    # Only now the engine (and, for `console`/`demo`, Textual and the platforms) is loaded.
    import asyncio

    from engine import SyncdeskError

    handler: Handler = getattr(_commands(), name)
    try:
        return asyncio.run(handler(args))
    except SyncdeskError as exc:
        print(f"syncdesk: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _commands() -> ModuleType:
    return importlib.import_module("console._commands")


class EngineNames(Sequence[str]):
    """Choices that are the engine's names (entities, statuses), read from the engine the
    first time an argument is checked against them, not when `--help` builds the parser."""

    def __init__(self, read: Callable[[], Sequence[str]]) -> None:
        self._read = read
        self._names: Sequence[str] | None = None

    @property
    def names(self) -> Sequence[str]:
        if self._names is None:
            self._names = self._read()
        return self._names

    def __getitem__(self, index: int) -> str:  # type: ignore[override]
        return self.names[index]

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __contains__(self, value: object) -> bool:
        return value in self.names


def _entities() -> Sequence[str]:
    from engine import Entity

    return [e.value for e in Entity]


def _statuses() -> Sequence[str]:
    from engine import JOB_STATUSES

    return list(JOB_STATUSES)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="syncdesk",
        description="Sync a business's ledger to QuickBooks, Xero, Wave and FreshBooks, and "
                    "watch and repair it from the terminal.",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, handler: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--db", type=Path, default=None,
                       help="store file (default: $SYNCDESK_DB or the per-user data dir)")
        p.add_argument("--business", default=None, metavar="NAME|ID",
                       help="the business to act on (default: the only one; "
                            "`syncdesk business list` names them)")
        p.set_defaults(handler=handler)
        return p

    p = command("demo", "demo", "Start sandboxes, seed a demo business, connect every "
                "platform, sync, and open the console (or print the status with --headless).")
    p.add_argument("--headless", action="store_true",
                   help="no console: run until nothing is due, print the status as JSON, exit")
    p.add_argument("--size", type=int, default=300, help="customers in the demo business")
    p.add_argument("--seed", type=int, default=7, help="random seed of the demo business")
    p.add_argument("--ports", type=int, default=None, metavar="FIRST",
                   help="serve the sandboxes on FIRST to FIRST+6 (the demo business's four, "
                        "then the other two businesses' three) and, with the console, the HTTP "
                        "API on FIRST+7 (default: any free loopback ports)")
    p.add_argument("--limits", choices=["real", "off"], default=None,
                   help="the platforms' rate limits in the sandboxes and the engine (default: "
                        "real with the console, off with --headless so it ends in seconds)")

    p = command("console", "console", "Open the console on an existing store.")
    p.add_argument("--read-only", action="store_true", help="refuse every change")
    p.add_argument("--serve", action="store_true",
                   help="serve the console to a browser (textual-serve) instead of this "
                        "terminal; every tab gets a console of its own")
    p.add_argument("--host", default="127.0.0.1",
                   help="with --serve: address to listen on (default: loopback only)")
    p.add_argument("--port", type=int, default=8000, help="with --serve: port (default 8000)")
    p.add_argument("--token", default=None,
                   help="with --serve: the token a browser must bring (default: "
                        "$SYNCDESK_SERVE_TOKEN, else a new one, printed once)")

    p = command("seed", "seed", "Write the demo business into a store.")
    p.add_argument("--size", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)

    p = command("import", "import_file", "Import customers, items, invoices, payments "
                "and credit notes from a JSON or CSV file (see docs/IMPORT.md).")
    p.add_argument("file", type=Path)
    p.add_argument("--partial", action="store_true",
                   help="import the good records and report the rest (default: all or nothing)")

    p = command("status", "status", "Counts per connection, entity and status.")
    p.add_argument("--json", action="store_true")

    p = command("records", "records", "List sync records matching filters.")
    _filters(p)
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--json", action="store_true")

    p = command("retry", "retry", "Retry every record matching the filters.")
    _filters(p)
    p.add_argument("--dry-run", action="store_true", help="only say how many would be retried")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    for name, handler, text in (
        ("resync", "resync", "Push a record again (an invoice with its unsynced payments)."),
        ("relink", "relink", "Forget a record's link: syncdesk's own copy on the platform is "
                             "found by its mark and linked, or the record created again."),
    ):
        p = command(name, handler, text)
        p.add_argument("job", type=int, help="sync job id (see `syncdesk records`)")

    p = command("adopt", "adopt", "Link a record to an object already on its platform (the "
                "one a duplicate failure names), after showing it: the next push updates it.")
    p.add_argument("job", type=int, help="sync job id (see `syncdesk records`)")
    p.add_argument("remote_id", help="the platform's id of the object")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    for name, text in (
        ("void", "Void an invoice, payment or credit note, on every platform it reached."),
        ("delete", "Delete a draft invoice (a sent one is voided), a payment or a credit note, "
                   "on every platform it reached."),
    ):
        p = command(name, "end_record", text)
        p.add_argument("entity", choices=["invoice", "payment", "credit_note"])
        p.add_argument("record", help="the record's id in the business's own app")
        p.add_argument("--unapply", action="store_true",
                       help="an invoice with payments or credit notes applied: take them off "
                            "it first (they become unapplied credit), then void it")
        p.add_argument("--json", action="store_true")
        p.set_defaults(delete=name == "delete")

    for name, text in (("pause", "Stop syncing a connection for now."),
                       ("resume", "Resume a paused connection."),
                       ("disconnect", "Stop syncing a connection; links are kept."),
                       ("purge", "Revoke a connection at its platform and delete its links.")):
        p = command(name, "connection_command", text)
        p.add_argument("connection", help="connection id or platform name")
        p.set_defaults(action=name)
        if name == "purge":
            p.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    p = command("connect", "connect", "Connect a platform (OAuth2 authorization code).")
    p.add_argument("platform", choices=PLATFORM_NAMES)
    p.add_argument("--client-id", default=None)
    p.add_argument("--client-secret", default=None)
    p.add_argument("--base-url", default=None,
                   help="serve every endpoint from here (a sandbox); default: the real platform")
    p.add_argument("--redirect-port", type=int, default=8765,
                   help="port of the local redirect listener")
    p.add_argument("--paste", action="store_true",
                   help="no local listener (over SSH): paste the redirect URL instead")
    p.add_argument("--no-import", action="store_true",
                   help="do not pull the platform's customers and items into the ledger")

    p = command("pull", "pull", "Pull a connection's customers and items: link the "
                "ones that match local records (same email, or same name and phone), import "
                "the rest; a customer that may be a local one is held until you decide.")
    p.add_argument("connection", help="connection id or platform name")
    p.add_argument("--link", action="append", default=[], metavar="REMOTE_ID=LOCAL_ID",
                   help="a held customer is this local customer: link it")
    p.add_argument("--new", action="append", default=[], metavar="REMOTE_ID",
                   help="a held customer is not any local one: import it as new")

    p = command("map", "map_command", "List, set or unset a connection's mappings (income "
                "accounts per item and a default, the deposit account, tax codes, the untaxed "
                "code, payment methods, classes, locations); a value is checked against the "
                "platform's own list, which `options` prints.")
    p.add_argument("action", choices=["list", "set", "unset", "options"])
    p.add_argument("words", nargs="*", metavar="KIND [KEY] VALUE",
                   help="set: KIND [KEY] VALUE (KEY: the local item id, tax code, payment "
                        "method, class or location; none for a connection-wide kind); "
                        "unset: KIND [KEY]; options: KIND; list: [KIND]")
    p.add_argument("--connection", required=True, help="connection id or platform name")
    p.add_argument("--json", action="store_true")

    p = command("engine", "engine_run", "Run the sync engine until interrupted.")
    p.add_argument("action", choices=["run"])
    p.add_argument("--until-idle", action="store_true",
                   help="stop once nothing is due instead of running until interrupted")
    p.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for a platform's answer (default 30)")

    p = command("serve", "serve", "Serve the HTTP API the business's own app feeds "
                "records through (docs/API.md).")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default loopback; put TLS in front otherwise)")
    p.add_argument("--port", type=int, default=8470)

    p = command("business", "business", "Add, list, rename or remove the businesses this "
                "store holds; each has its own ledger, connections, keys and audit.")
    p.add_argument("action", choices=["add", "list", "rename", "remove"])
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="add: the new name; rename: the business and its new name; "
                        "remove: the business (only an empty one)")
    p.add_argument("--json", action="store_true")

    p = command("api-key", "api_key", "Make, list, rotate or revoke the HTTP API's keys "
                "(a key opens one business: --business).")
    p.add_argument("action", choices=["create", "list", "rotate", "revoke"])
    p.add_argument("name", nargs="?", help="who uses the key (an app, a script); not for list")
    p.add_argument("--read-only", action="store_true", help="create: a key that only reads")
    p.add_argument("--overlap-hours", type=float, default=24.0,
                   help="rotate: how long the old key keeps working (default 24)")
    p.add_argument("--json", action="store_true")

    p = command("webhook", "webhook", "Add, list or remove the endpoints the business's app "
                "hears of failures, recoveries and reconnects on (signed; docs/API.md), or "
                "show what was delivered to them.")
    p.add_argument("action", choices=["add", "list", "remove", "deliveries"])
    p.add_argument("target", nargs="?", metavar="URL|ID",
                   help="add: the endpoint's URL; remove: its id")
    p.add_argument("--failed", action="store_true",
                   help="deliveries: only those that gave up")
    p.add_argument("--limit", type=int, default=50, help="deliveries: how many, newest first")
    p.add_argument("--json", action="store_true")

    # -- audit --
    p = command("audit", "audit", "Compare every synced invoice, credit note and payment "
                "with its platform (total, balance, status, customer, lines) and list what "
                "differs; exits 1 when something does (as diff does), 2 when a platform "
                "could not be read, 0 when all agree.")
    p.add_argument("--connection", help="connection id or platform name (default: every one)")
    p.add_argument("--json", action="store_true",
                   help="one JSON object: per connection its counts and each difference")

    # -- feed --
    p = command("feed", "feed", "The change feed of each connection (what was changed on the "
                "platforms): where it stands, or read it now (docs/WAYBACK.md).")
    p.add_argument("action", choices=["status", "read"])
    p.add_argument("--connection", help="read: connection id or platform name (default: every "
                   "live one)")
    p.add_argument("--json", action="store_true")

    p = command("hooks", "hooks", "The keys incoming platform webhooks are verified with "
                "(QuickBooks verifier token, Xero webhook key, FreshBooks verifier), one per "
                "connection, sealed as tokens are; they reach `syncdesk serve` at "
                "/v1/hooks/<platform>.")
    p.add_argument("action", choices=["set-key", "list", "register"])
    p.add_argument("connection", nargs="?", help="set-key, register: connection id or "
                   "platform name")
    p.add_argument("key", nargs="?", help="set-key: the key the platform showed; register "
                   "(FreshBooks, which has no webhook screen): the address of `syncdesk "
                   "serve`'s /v1/hooks/freshbooks the platform is to post to")
    p.add_argument("--json", action="store_true")

    p = command("history", "history", "A record's edits on the platforms that met other "
                "ledger values: which won (the later change) and both values.")
    p.add_argument("entity", choices=["customer"])
    p.add_argument("record", help="the record's id in the business's own app")
    p.add_argument("--json", action="store_true")

    # -- db --
    p = sub.add_parser("db", help="The store itself: its schema, migrating it, moving an "
                       "embedded store to PostgreSQL (docs/DEPLOY.md).")
    db = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    for name, text in (
        ("status", "Say which backend and schema the store has, and whether it needs "
                   "`db migrate` (exit 1 when it does)."),
        ("migrate", "Bring the store to this syncdesk's schema (run it before starting "
                    "engines of a new release); says from which version to which."),
    ):
        p = db.add_parser(name, help=text, description=text)
        p.add_argument("--db", default=None, metavar="FILE|URL",
                       help="store file or postgresql:// URL (default: $SYNCDESK_DB or the "
                            "per-user data dir)")
        p.set_defaults(handler=f"db_{name}")
    text = ("Copy an embedded store into an empty PostgreSQL database in one transaction, "
            "then compare every table (rows and checksum); exit 1 if any differs (the copy "
            "is then rolled back). Stop the engine on the file first.")
    p = db.add_parser("copy", help=text, description=text)
    p.add_argument("--from", dest="source", required=True, metavar="FILE",
                   help="the SQLite store to copy (it is only read)")
    p.add_argument("--to", dest="target", required=True, metavar="URL",
                   help="postgresql://user[:password]@host[:port]/database, empty or new")
    p.add_argument("--batch", type=int, default=5000, help="rows read per batch")
    p.set_defaults(handler="db_copy")

    p = sub.add_parser("sandbox", help="Serve a platform sandbox on loopback.")
    p.add_argument("action", choices=["serve"])
    p.add_argument("--platform", required=True, choices=PLATFORM_NAMES)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--no-limits", action="store_true", help="turn the rate limits off")
    p.add_argument("--empty", action="store_true", help="no demo company data")
    p.add_argument("--latency", type=float, default=0.0, metavar="SECONDS",
                   help="how long each API request takes to reach the platform, as a real "
                        "one's ~0.1-0.4 s (default 0: answer at once)")
    p.set_defaults(handler="sandbox_serve")
    return parser


def _filters(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connection", help="connection id or platform name")
    p.add_argument("--entity", choices=EngineNames(_entities), metavar="ENTITY",
                   help="one of: %(choices)s")
    p.add_argument("--status", choices=EngineNames(_statuses), metavar="STATUS",
                   help="one of: %(choices)s")
    p.add_argument("--error-class")
    p.add_argument("--error-code")
    p.add_argument("--match", help="text in the number, name, record id or customer (error "
                   "texts: --error-class, --error-code, or the console's Problems view)")
    p.add_argument("--query", metavar="QUERY",
                   help="the console's filter: 'status:failed,blocked class:duplicate "
                        "code:6240 platform:xero entity:invoice since:2d doubt:yes text'")
