"""The console's start is left out of the cycle collector's full passes, which run from the
clock's tick when due instead of inside whichever key allocation starts one in; a console
that is gone leaves the collector as it found it."""

from __future__ import annotations

import gc

from console.app import FULL_PASS_AFTER, NEVER, SyncdeskApp
from console.screens.dashboard import DashboardScreen

from .test_flows import SIZE, settle


async def test_the_start_is_frozen_and_full_passes_wait_for_the_tick(app: SyncdeskApp) -> None:
    threshold = gc.get_threshold()
    assert gc.get_freeze_count() == 0
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        dashboard = app.screen
        assert isinstance(dashboard, DashboardScreen) and dashboard.capabilities is not None
        assert gc.get_freeze_count() > 10_000  # Textual, the kept screens, the platforms
        assert gc.get_threshold()[2] == NEVER  # allocation never starts a full pass
        gc.collect()
        for _ in range(FULL_PASS_AFTER - 1):
            gc.collect(1)  # each middle pass counts towards a full one
        app._collect()  # as the tick calls it
        assert gc.get_count()[2] == FULL_PASS_AFTER - 1  # not due: no full pass
        gc.collect(1)
        app._collect()
        assert gc.get_count()[2] == 0  # due: made
    assert gc.get_freeze_count() == 0 and gc.get_threshold() == threshold
