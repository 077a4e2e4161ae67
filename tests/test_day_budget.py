"""A connection's day quota against its waiting work (`SyncService.day_budgets`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.fernet import Fernet

from engine import (
    Capabilities,
    Customer,
    Entity,
    Ledger,
    Limits,
    NewConnection,
    Operation,
    Sealer,
    Store,
    SyncService,
    TokenSet,
    add_connection,
)
from engine._time import to_iso

NOW = datetime(2026, 5, 4, 15, 0, tzinfo=UTC)
DAILY = Capabilities(operations={e: frozenset(Operation) for e in Entity},
                     limits=Limits(per_minute=60, concurrency=5, per_day=1000, batch_size=4),
                     idempotency_keys=True, batched=frozenset({Entity.CUSTOMER}))
NO_DAY = Capabilities(operations={e: frozenset(Operation) for e in Entity},
                      limits=Limits(per_minute=500, concurrency=10), idempotency_keys=True)


async def test_day_budgets_count_batched_creates_by_the_batch(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "s.db")
    try:
        await Ledger(store, lambda: NOW).upsert(
            [Customer(id=f"C-{n}", display_name=f"Customer {n}") for n in range(10)])
        sealer = Sealer(Fernet.generate_key())
        for platform in ("daily", "unlimited"):
            await add_connection(store, NewConnection(
                platform=platform, tenant_id=platform, tenant_name=platform,
                tokens=TokenSet("a", "r", NOW + timedelta(hours=1))), sealer, lambda: NOW)
        service = SyncService(store, actor="t", clock=lambda: NOW)
        capabilities = {"daily": DAILY, "unlimited": NO_DAY}
        [(daily_id, budget)] = (await service.day_budgets(capabilities)).items()
        # Ten customer creates, four a batch: three calls; the whole quota (no reading yet).
        assert (budget.per_day, budget.left, budget.records, budget.calls) == (1000, 1000, 10, 3)

        async with store.write() as db:
            await db.execute("UPDATE connections SET day_remaining = 2, quota_at = ? "
                             "WHERE id = ?", (to_iso(NOW - timedelta(hours=1)), daily_id))
            # Two in doubt (a lookup, then the send), one synced (nothing to send).
            await db.execute("UPDATE sync_jobs SET status = 'uncertain' WHERE connection_id = ? "
                             "AND record_id IN ('C-0', 'C-1')", (daily_id,))
            await db.execute("UPDATE sync_jobs SET status = 'synced' WHERE connection_id = ? "
                             "AND record_id = 'C-2'", (daily_id,))
        budget = (await service.day_budgets(capabilities))[daily_id]
        # Seven creates in two batches, and four calls for the two in doubt.
        assert (budget.left, budget.records, budget.calls, budget.enough) == (2, 9, 6, False)

        # Read yesterday: the day has turned since, the quota is whole again.
        async with store.write() as db:
            await db.execute("UPDATE connections SET quota_at = ? WHERE id = ?",
                             (to_iso(NOW - timedelta(days=1)), daily_id))
        assert (await service.day_budgets(capabilities))[daily_id].left == 1000
        assert await service.day_budgets({"unlimited": NO_DAY}) == {}
    finally:
        await store.close()
