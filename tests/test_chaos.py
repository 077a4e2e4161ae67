"""The chaos harness, run as CI runs it: real processes, SIGKILLs mid-work, faults on every
platform, every named scenario; and proof that the harness fails when a record is doubled or
lost behind its back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import _pg

ROOT = Path(__file__).resolve().parents[1]
CHAOS = ROOT / "bench" / "chaos.py"
PORT_BASE = "19450"
"""The upper half of the harness's port range, so a run by hand on the lower half can coexist."""
PG_PORT_BASE = "20750"
"""The PostgreSQL run's own range (its cluster and sandboxes), apart from the SQLite run's."""
PLATFORMS = ("quickbooks", "xero", "wave", "freshbooks")
SCENARIOS = ("qbo-batch-drop", "qbo-batch-kill", "xero-after-window", "retry-after-exhausted",
             "lookup-fails-during-reconcile", "lock-60s", "refresh-lost", "reconnect")


def _chaos(*args: str, timeout: float, port_base: str = PORT_BASE
           ) -> tuple[int, dict[str, dict[str, Any]], str]:
    result = subprocess.run([sys.executable, str(CHAOS), "--port-base", port_base, *args],
                            capture_output=True, text=True, timeout=timeout, check=False,
                            cwd=ROOT)
    figures = {f["name"]: f for f in map(json.loads, result.stdout.splitlines())}
    return result.returncode, figures, result.stderr


@pytest.mark.e2e
@pytest.mark.timeout(420)
def test_quick_chaos_run_kills_mid_work_faults_everywhere_and_loses_or_doubles_nothing() -> None:
    code, figures, stderr = _chaos("--quick", timeout=400)
    log = stderr[-4000:]
    assert figures["chaos.kills_mid_work"]["value"] >= 5, log
    for platform in PLATFORMS:
        assert figures[f"chaos.{platform}.faults_injected"]["value"] > 0, (platform, log)
        for check in ("duplicates", "missing", "stuck"):
            assert f"chaos.{platform}.{check}" in figures, log
    for scenario in SCENARIOS:
        assert f"chaos.scenario.{scenario}.duplicates" in figures, scenario
        assert f"chaos.scenario.{scenario}.missing" in figures, scenario
    bad = {name: f.get("detail", f["value"]) for name, f in figures.items()
           if name.endswith((".duplicates", ".missing", ".stuck", ".not_synced",
                             ".failed_checks")) and f["value"]}
    assert not bad, (bad, log)
    assert figures["chaos.elapsed"]["value"] <= 180, log
    assert code == 0, log


@pytest.mark.e2e
@pytest.mark.timeout(200)
@pytest.mark.parametrize(("scenario", "sabotage", "check"), [
    ("qbo-batch-kill", "duplicate", "duplicates"),
    ("xero-after-window", "delete", "missing"),
])
def test_the_audit_fails_on_an_object_doubled_or_lost_behind_its_back(
        scenario: str, sabotage: str, check: str) -> None:
    code, figures, _ = _chaos("--scenario", scenario, "--sabotage", sabotage, timeout=180)
    verdict = figures[f"chaos.scenario.{scenario}.failed_checks"]
    planted = verdict["sabotaged"]
    found = figures[f"chaos.scenario.{scenario}.{check}"]
    assert planted in (found["detail"] if isinstance(found["detail"], list)
                       else list(found["detail"])), (planted, found)
    assert code != 0


@pytest.mark.e2e
@pytest.mark.postgresql
@pytest.mark.timeout(720)
def test_quick_chaos_run_on_postgresql_kills_each_of_two_engines_and_loses_or_doubles_nothing(
        ) -> None:
    """The same quick run with every store a PostgreSQL database and two engines in the
    storm, each SIGKILLed mid-work at moments of its own while the other runs on."""
    _postgres_or_skip()
    code, figures, stderr = _chaos("--quick", "--db", "postgresql", "--port-count", "50",
                                   timeout=700, port_base=PG_PORT_BASE)
    log = stderr[-4000:]
    kills = figures["chaos.kills_mid_work"]
    assert kills["value"] >= 5, log
    assert kills["by_engine"].get("a") and kills["by_engine"].get("b"), (kills, log)
    assert kills["engine_restarts"] == 0, log
    for platform in PLATFORMS:
        assert figures[f"chaos.{platform}.faults_injected"]["value"] > 0, (platform, log)
        for check in ("duplicates", "missing", "stuck"):
            assert f"chaos.{platform}.{check}" in figures, log
    for scenario in SCENARIOS:
        if scenario != "lock-60s":  # SQLite's file lock
            assert f"chaos.scenario.{scenario}.missing" in figures, scenario
    bad = {name: f.get("detail", f["value"]) for name, f in figures.items()
           if name.endswith((".duplicates", ".missing", ".stuck", ".not_synced",
                             ".failed_checks")) and f["value"]}
    assert not bad, (bad, log)
    assert code == 0, log


def _postgres_or_skip() -> None:
    """As the `postgres` fixture decides, but the harness starts a cluster of its own."""
    wanted = os.environ.get(_pg.ENV, "")
    if wanted == "off":
        pytest.skip(f"{_pg.ENV}=off: PostgreSQL variants not run")
    try:
        _pg.binaries()
    except _pg.Unavailable as exc:
        if wanted == "required":
            pytest.fail(f"{_pg.ENV}=required, but {exc}")
        pytest.skip(str(exc))
