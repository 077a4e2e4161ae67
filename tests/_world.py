"""A store wired to in-process sandboxes through the composition root's own code."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import httpx

from console._wiring import platforms
from engine import ConnectionSettings, Ledger, Sealer, Store
from engine._connections import ConnectionRow
from engine._engine import EngineSettings, SyncEngine
from engine._worker import WorkerSettings


@dataclass
class World:
    """A store connected to in-process sandboxes of every platform present."""

    store: Store
    sealer: Sealer
    apps: dict[str, Any]
    connections: dict[str, int] = field(default_factory=dict)
    worker: WorkerSettings = field(default_factory=lambda: WorkerSettings(
        throttle=False, backoff_base=0.01, backoff_cap=0.05, dependency_wait=0.0, seed=1))

    @property
    def ledger(self) -> Ledger:
        return Ledger(self.store)

    def transport(self, platform: str) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.apps[platform])

    def engine(self, **settings: Any) -> SyncEngine:
        def hook(row: ConnectionRow, s: ConnectionSettings) -> ConnectionSettings:
            return replace(s, transport=self.transport(row.platform), timeout=2.0)

        return SyncEngine(self.store, platforms(), self.sealer, settings_hook=hook,
                          settings=EngineSettings(worker=self.worker, poll_interval=0.01,
                                                  **settings))

    async def sync(self, **settings: Any) -> None:
        await self.engine(**settings).run(until_idle=True)

    async def sandbox(self, platform: str, method: str, path: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(transport=self.transport(platform),
                                     base_url=f"http://{platform}.sandbox") as client:
            response = await client.request(method, path, **kwargs)
            response.raise_for_status()
            return response.json()

    async def remote_counts(self, platform: str) -> dict[str, int]:
        state = await self.sandbox(platform, "GET", "/_sandbox/state")
        return dict(state["objects"])

    async def job(self, platform: str, entity: str, record_id: str) -> dict[str, Any]:
        row = await self.store.fetch_one(
            "SELECT * FROM sync_jobs WHERE connection_id = ? AND entity = ? AND record_id = ?",
            (self.connections[platform], entity, record_id))
        assert row is not None, f"no {entity} job for {record_id} on {platform}"
        return dict(row)
