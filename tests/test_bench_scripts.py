"""The benchmark scripts run from a clean checkout and print the figures they promise.

Tiny sizes only, each as a subprocess, the way a person runs them: build_store with 5,000
jobs, overhead with about a hundred records, and the quick variants of throughput and drain
(real limits, sizes that fit one window; their ports are kept clear of the scripts' defaults
so a full run may go on meanwhile). console_scale takes minutes and is not run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str, returncode: int = 0) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    figures = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for figure in figures:
        assert {"name", "value", "unit", "reference"} <= set(figure), figure
        assert isinstance(figure["value"], int | float), figure
    assert done.returncode == returncode, done.stderr[-3000:]
    return figures


def test_build_store_prints_every_timing_and_index_plans(tmp_path: Path) -> None:
    figures = {f["name"]: f for f in _run("build_store.py", "--jobs", "5000",
                                          "--db", str(tmp_path / "s.db"))}
    assert figures["store.build.jobs"]["value"] == 4996  # 1,249 records x 4 connections
    for name in ("store.dashboard.connections", "store.page.first", "store.page.filtered",
                 "store.page.search", "store.count.failed", "store.count.filtered",
                 "store.retry_matching.dry_run", "store.retry_matching.enqueue"):
        assert figures[name]["unit"] == "ms", name
    assert 0 < figures["store.retry_matching.enqueue.rows"]["value"] <= \
        figures["store.retry_matching.dry_run.rows"]["value"]
    for name in ("page.filtered", "count.failed", "count.filtered"):
        plan = figures[f"store.plan.{name}"]
        assert plan["value"] == 0, plan["plan"]
        assert any(step.startswith("SEARCH j USING") for step in plan["plan"]), plan["plan"]
    assert not (tmp_path / "s.db").exists()


def test_overhead_compares_engine_and_plain_loop_in_one_run() -> None:
    figures = {f["name"]: f for f in _run("overhead.py", "--quick", "--first-port", "19860",
                                          "--items", "60", "--invoices", "20",
                                          "--customers", "5")}
    assert figures["overhead.records"]["value"] == 107  # 2 of them credit notes
    assert figures["overhead.engine.records_per_s"]["statuses"] == {"synced": 107}
    for name in ("overhead.plain.records_per_s", "overhead.engine.records_per_s",
                 "overhead.plain.cpu_ms_per_record", "overhead.engine.cpu_ms_per_record",
                 "overhead.ratio.loopback_speedup", "overhead.ratio.cpu_per_record"):
        assert figures[name]["value"] > 0, name
    for name in ("overhead.engine.cpu_ms_per_record", "overhead.ratio.loopback_speedup"):
        assert {"target", "met"} <= set(figures[name]), name
    # The sandbox ran in its own process: its CPU is measured there, not in the engine's.
    assert figures["overhead.engine.cpu_ms_per_record"]["sandbox_cpu_ms"] > 0
    # Measured against a platform's latency, and saying so (see the script's docstring).
    assert figures["overhead.ratio.loopback_speedup"]["latency_s"] == 0.1
    assert "0.1 s" in figures["overhead.ratio.loopback_speedup"]["reference"]


def test_drain_quick_drains_the_demo_without_a_429() -> None:
    figures = {f["name"]: f for f in _run("drain.py", "--quick", "--first-port", "19780")}
    for name in ("quickbooks", "xero", "freshbooks"):
        jobs = figures[f"drain.{name}.jobs"]
        assert jobs["value"] > 80 and not {"pending", "in_flight", "uncertain"} & set(
            jobs["statuses"]), jobs
        assert figures[f"drain.{name}.http_429"]["value"] == 0
        assert figures[f"drain.{name}.requests"]["value"] > 0
        assert figures[f"drain.{name}.floor"]["unit"] == "s"


def test_throughput_quick_syncs_every_run_without_a_429() -> None:
    figures = {f["name"]: f for f in _run("throughput.py", "--quick", "--first-port", "19785",
                                          returncode=0)}
    for label in ("quickbooks", "quickbooks_items", "xero", "freshbooks", "wave"):
        assert figures[f"throughput.{label}.elapsed"]["statuses"] == {
            "synced": figures[f"throughput.{label}.records"]["value"]}, label
        assert figures[f"throughput.{label}.http_429"]["value"] == 0, label
        arithmetic = figures[f"throughput.{label}.floor.best"]["arithmetic"]
        assert arithmetic["stages"] and arithmetic["limits"]["per_minute"] > 0, label
    assert figures["throughput.quickbooks_items.floor.best"]["arithmetic"][
        "single_requests"] > 0


def test_first_paint_process_paints_the_dashboard_without_loading_a_sandbox(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(ROOT))
    from bench.console_scale import measure_first_paint_process

    db = tmp_path / "s.db"
    _run("build_store.py", "--jobs", "2000", "--db", str(db), "--keep")
    capsys.readouterr()
    assert measure_first_paint_process(db, runs=1) > 0
    figure = json.loads(capsys.readouterr().out)
    assert figure["name"] == "console.first_paint_process" and figure["target"] == "<= 1000"
    assert figure["unneeded_modules_loaded"] == []
