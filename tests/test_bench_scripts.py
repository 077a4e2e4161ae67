"""The benchmark scripts run from a clean checkout and print the figures they promise.

Tiny sizes only: build_store with 5,000 jobs and overhead with a few hundred records, each as
a subprocess, the way a person runs them. throughput and console_scale take minutes (real
rate limits, a million-job store) and are not run here.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _run(script: str, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    for figure in figures:
        assert {"name", "value", "unit", "reference"} <= set(figure), figure
        assert isinstance(figure["value"], int | float), figure
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
    figures = {f["name"]: f for f in _run("overhead.py", "--items", "60", "--invoices", "20",
                                          "--customers", "5")}
    assert figures["overhead.records"]["value"] == 105
    assert figures["overhead.engine.records_per_s"]["statuses"] == {"synced": 105}
    for name in ("overhead.plain.records_per_s", "overhead.engine.records_per_s",
                 "overhead.plain.cpu_ms_per_record", "overhead.engine.cpu_ms_per_record",
                 "overhead.ratio.records_per_s", "overhead.ratio.cpu_per_record"):
        assert figures[name]["value"] > 0, name
