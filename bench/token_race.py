"""Token race: processes x workers force refreshes of one strictly single-use refresh token.

Every refresh goes through `TokenVault.refreshed()`, which holds the store's write lock
(BEGIN IMMEDIATE, shared by all processes) and re-reads the token first. The sandbox counts
`invalid_grant` answers: any at all means a refresh token was spent twice.

    python bench/token_race.py            # 4 processes x 5 workers for 30 s
    python bench/token_race.py --quick    # 4 x 5 for 5 s
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import emit
from console._fleet import SandboxFleet
from console._wiring import connect_sandbox, platforms
from engine import ConnectionSettings, Sealer, Store, TokenVault

PLATFORM = "freshbooks"
"""FreshBooks refresh tokens are strictly single-use and never expire: the hardest case."""


async def _race(db: Path, base_url: str, workers: int, seconds: float) -> tuple[int, int]:
    store = await Store.open(db)
    platform = platforms()[PLATFORM]
    settings = ConnectionSettings(platform=PLATFORM, client_id="syncdesk-demo",
                                  client_secret="demo-secret", base_url=base_url)
    vault = TokenVault(store, 1, platform.oauth(settings).refresh, Sealer.load())
    deadline = time.monotonic() + seconds
    forced = 0

    async def worker() -> None:
        nonlocal forced
        while time.monotonic() < deadline:
            token = await vault.access_token()
            await vault.refreshed(token)  # as if the platform had rejected it
            forced += 1

    try:
        await asyncio.gather(*(worker() for _ in range(workers)))
    finally:
        await store.close()
    return forced, vault.refreshes


def _process(db: str, base_url: str, workers: int, seconds: float,
             results: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    results.put(asyncio.run(_race(Path(db), base_url, workers, seconds)))


async def _connect(db: Path, base_url: str) -> None:
    store = await Store.open(db)
    await connect_sandbox(store, platforms()[PLATFORM], base_url, Sealer.load())
    await store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--workers", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--quick", action="store_true", help="5 seconds")
    args = parser.parse_args(argv)
    seconds = 5.0 if args.quick else args.seconds
    workdir = Path(tempfile.mkdtemp(prefix="token-race-"))
    os.environ.setdefault("SYNCDESK_KEY_FILE", str(workdir / "secret.key"))
    db = workdir / "race.db"
    with SandboxFleet([PLATFORM], limits_enabled=False) as fleet:
        base_url = fleet.urls[PLATFORM]
        asyncio.run(_connect(db, base_url))
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        procs = [context.Process(target=_process,
                                 args=(str(db), base_url, args.workers, seconds, results))
                 for _ in range(args.processes)]
        for proc in procs:
            proc.start()
        outcomes = [results.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
        state = httpx.get(f"{base_url}/_sandbox/state", timeout=10).json()
    forced = sum(f for f, _ in outcomes)
    refreshed = sum(r for _, r in outcomes)
    emit("token_race.forced_refreshes", forced, "calls",
         f"{args.processes} processes x {args.workers} workers, {seconds:g} s")
    emit("token_race.refreshes", refreshed, "refreshes", "token endpoint grants spent")
    emit("token_race.platform_refreshes", state["refreshes"], "refreshes",
         "as counted by the sandbox")
    emit("token_race.invalid_grant", state["invalid_grants"], "responses", "must be 0")
    return 1 if state["invalid_grants"] else 0


if __name__ == "__main__":
    sys.exit(main())
