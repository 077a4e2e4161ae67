"""The dashboard's day-quota forecast: "4,120 of 5,000 calls left today; 11 records need ~4"."""

from __future__ import annotations

from console._wiring import platforms
from console.app import SyncdeskApp
from console.widgets.connection_panel import ConnectionPanel
from engine import Store, SyncService

from .conftest import ago
from .test_flows import SIZE, settle


async def test_the_xero_panel_forecasts_todays_quota(app: SyncdeskApp, store: Store,
                                                     service: SyncService) -> None:
    async with store.write() as db:
        await db.execute("UPDATE connections SET day_remaining = 4120, quota_at = ? "
                         "WHERE platform = 'xero'", (ago(minutes=2),))
    capabilities = {name: p.capabilities for name, p in platforms().items()}
    calls = next(iter((await service.day_budgets(capabilities)).values())).calls
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        qbo, xero = (str(p.query_one(".health").render())
                     for p in app.screen.query(ConnectionPanel))
        assert f"4,120 of 5,000 calls left today; 11 records need ~{calls}" in xero
        assert "calls left today" not in qbo  # QuickBooks has no daily quota
        assert "9,800/day" in qbo  # what its headers said stays shown as before

