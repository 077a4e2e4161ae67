"""Kill the engine repeatedly under injected faults: nothing duplicated, nothing lost."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
@pytest.mark.timeout(400)
def test_sigkills_and_faults_lose_nothing_and_duplicate_nothing() -> None:
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "chaos.py"), "--quick"],
                            capture_output=True, text=True, timeout=380, check=False)
    figures = {f["name"]: f for f in map(json.loads, result.stdout.splitlines())}
    assert figures["chaos.kills"]["value"] >= 6
    bad = {name: f.get("detail", f["value"]) for name, f in figures.items()
           if name.endswith((".duplicates", ".missing", ".lost")) and f["value"]}
    assert not bad, bad
    assert result.returncode == 0, result.stderr
