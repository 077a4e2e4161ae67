"""The weekly full sync, on a cron schedule (UTC), remembered in the store across restarts.

A full sync makes every waiting job due now (nothing sits out a long back-off past the
weekly run) and records when it ran. The last run is kept in `settings`, so a restarted
engine neither repeats nor skips a run.
"""

from __future__ import annotations

from datetime import datetime

from croniter import croniter

from ._db import AsyncDB
from ._errors import ConfigError
from ._store import Store
from ._sync_state import make_all_due
from ._time import Clock, from_iso, to_iso

_LAST_RUN = "weekly_sync_last_run"


def next_run(schedule: str, after: datetime) -> datetime:
    if not croniter.is_valid(schedule):
        raise ConfigError(f"schedule {schedule!r} is not a cron expression (e.g. '0 6 * * 0')")
    following: datetime = croniter(schedule, after).get_next(datetime)
    return following


class WeeklySync:
    def __init__(self, store: Store, schedule: str, clock: Clock) -> None:
        next_run(schedule, clock())  # fail at start-up, not at the first tick
        self.store = store
        self.schedule = schedule
        self.clock = clock

    async def last_run(self) -> datetime | None:
        value = await self.store.fetch_value("SELECT value FROM settings WHERE key = ?",
                                             (_LAST_RUN,))
        return from_iso(value) if value else None

    async def due_at(self) -> datetime:
        last = await self.last_run()
        if last is None:
            # A new store is not owed a run for the weeks before it existed: its schedule
            # starts now, and says so in the store so a restart keeps the same anchor.
            last = self.clock()
            await self._remember(to_iso(last))
        return next_run(self.schedule, last)

    async def _remember(self, stamp: str) -> None:
        async with self.store.write() as db:
            await _remember(db, stamp)

    async def run_if_due(self) -> bool:
        now = self.clock()
        if await self.due_at() > now:
            return False
        stamp = to_iso(now)
        # One transaction: a crash can neither run the week twice nor skip its jobs.
        async with self.store.write() as db:
            await make_all_due(db, stamp)
            await _remember(db, stamp)
        return True


async def _remember(db: AsyncDB, stamp: str) -> None:
    await db.execute(
        "INSERT INTO settings (key, value) VALUES (?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (_LAST_RUN, stamp),
    )
