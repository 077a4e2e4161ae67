"""Seed a store with (part of) the demo business, or connect it to a sandbox: as a process.

Run by the harness with the engine code under test first on PYTHONPATH, so the store is made
by the same code that then syncs it (`bench/chaos.py --engine-code` points at another tree).

    python _setup.py DB seed SEED SIZE [--only customer] [--without payment,credit_note] [--limit N]
    python _setup.py DB connect PLATFORM URL
"""

from __future__ import annotations

import argparse
import asyncio
import sys


async def seed(db: str, seed: int, size: int, only: set[str], without: set[str],
               limit: int | None) -> None:
    from engine import Ledger, Store, generate_demo

    def kind(record: object) -> str:  # Payment -> payment, CreditNote -> credit_note
        name = type(record).__name__
        return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_")

    records = [r for r in generate_demo(seed=seed, size=size)
               if (not only or kind(r) in only) and kind(r) not in without][:limit]
    store = await Store.open(db)
    try:
        await Ledger(store).upsert(records)
    finally:
        await store.close()


async def connect(db: str, platform: str, url: str) -> None:
    from console._wiring import connect_sandbox, platforms
    from engine import Sealer, Store

    store = await Store.open(db)
    try:
        ids = await connect_sandbox(store, platforms()[platform], url, Sealer.load())
    finally:
        await store.close()
    print(ids[0])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("db", help="store file or postgresql:// URL")
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("seed")
    p.add_argument("seed", type=int)
    p.add_argument("size", type=int)
    p.add_argument("--only", default="")
    p.add_argument("--without", default="")
    p.add_argument("--limit", type=int, default=None, help="only the first N of them")
    p = sub.add_parser("connect")
    p.add_argument("platform")
    p.add_argument("url")
    args = parser.parse_args()
    if args.action == "seed":
        asyncio.run(seed(args.db, args.seed, args.size, set(filter(None, args.only.split(","))),
                         set(filter(None, args.without.split(","))), args.limit))
    else:
        asyncio.run(connect(args.db, args.platform, args.url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
