"""Tokens: sealed at rest, refreshed once under the store lock across processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Sealer, Store
from tests._world import World

ROOT = Path(__file__).resolve().parents[1]


async def test_no_plaintext_token_in_the_database_file(make_world: object, store: Store,
                                                       sealer: Sealer) -> None:
    world: World = await make_world(("quickbooks", "xero"))  # type: ignore[operator]
    sealed = await store.fetch_all("SELECT sealed FROM tokens")
    secrets = [sealer.unseal(row["sealed"]) for row in sealed]
    await store.close()
    raw = b"".join(p.read_bytes() for p in store.path.parent.glob(store.path.name + "*"))
    assert secrets and world.connections
    for bundle in secrets:
        for value in (bundle["access_token"], bundle["refresh_token"], bundle["client_secret"]):
            assert value and value.encode() not in raw


def test_key_file_is_created_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key_file = tmp_path / "keys" / "secret.key"
    monkeypatch.setenv("SYNCDESK_KEY_FILE", str(key_file))
    Sealer.load()
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert Sealer.load().unseal(Sealer.load().seal({"a": 1})) == {"a": 1}


@pytest.mark.e2e
def test_twenty_refreshers_in_four_processes_spend_each_token_once() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "token_race.py"), "--processes", "4",
         "--workers", "5", "--seconds", "3"],
        capture_output=True, text=True, timeout=180, check=False)
    figures = {f["name"]: f["value"] for f in map(json.loads, result.stdout.splitlines())}
    assert result.returncode == 0, result.stderr
    assert figures["token_race.invalid_grant"] == 0
    assert figures["token_race.refreshes"] > 0
    assert figures["token_race.platform_refreshes"] == figures["token_race.refreshes"]
