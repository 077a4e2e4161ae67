"""The business's app feeding syncdesk live, as it runs: `syncdesk serve` and `syncdesk engine
run` as processes beside a platform sandbox; records PUT over HTTP are read back as synced."""

from __future__ import annotations

import asyncio
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from console._fleet import free_port
from tests.test_api import CUSTOMER, INVOICE, ITEM, PAYMENT
from tests.test_engine_run import CLI, connected_store, sandbox, wait_for

__all__ = ["sandbox"]  # the fixture, used by name below


@pytest.fixture
def served(tmp_path: Path, sandbox: str) -> Iterator[tuple[str, str, Path]]:
    db = tmp_path / "syncdesk.db"
    asyncio.run(connected_store(db, sandbox))
    made = subprocess.run([*CLI, "api-key", "create", "shop app", "--json", "--db", str(db)],
                          capture_output=True, text=True, check=True)
    secret = json.loads(made.stdout)["key"]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = subprocess.Popen([*CLI, "serve", "--port", str(port), "--db", str(db)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    engine = subprocess.Popen([*CLI, "engine", "run", "--db", str(db)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def up() -> bool:
        try:
            return httpx.get(f"{url}/v1/openapi.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_for(lambda: up() or api.poll() is not None, 20, "syncdesk serve to listen")
        assert api.poll() is None, api.stderr.read() if api.stderr else "serve exited"
        yield url, secret, db
    finally:
        for process in (engine, api):
            process.terminate()
        for process in (engine, api):
            process.wait(15)


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_records_put_over_http_reach_the_platform_and_read_back_as_synced(
        served: tuple[str, str, Path]) -> None:
    url, secret, _ = served
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"},
                      timeout=10) as api:
        for path, body in (("customers/C-1", CUSTOMER), ("items/TILE", ITEM),
                           ("invoices/INV-1", INVOICE), ("payments/P-1", PAYMENT)):
            response = api.put(f"/v1/{path}", json=body)
            assert response.status_code == 201, response.text

        def synced() -> bool:
            return all(
                [c["status"] for c in api.get(f"/v1/{path}/sync").json()["connections"]]
                == ["synced"]
                for path in ("customers/C-1", "items/TILE", "invoices/INV-1", "payments/P-1"))

        wait_for(synced, 60, "all four records synced to Xero")
        status = api.get("/v1/payments/P-1/sync").json()["connections"][0]
        assert status["platform"] == "xero" and status["remote_id"]
        assert status["error"] is None

        bad = api.put("/v1/invoices/INV-2", json={**INVOICE, "number": "INV-2",
                                                  "issue_date": "2026-13-01"})
        assert bad.status_code == 422
        assert bad.json()["errors"][0]["field"] == "issue_date"
        assert api.get("/v1/invoices/INV-2").status_code == 404
        assert httpx.get(f"{url}/v1/invoices/INV-1", timeout=5).status_code == 401


    # A second business's key sees none of it, and its own ids are its own.
    _, _, db = served
    subprocess.run([*CLI, "business", "add", "Harbour Plumbing", "--db", str(db)], check=True,
                   capture_output=True)
    made = subprocess.run([*CLI, "api-key", "create", "harbour app", "--business",
                           "Harbour Plumbing", "--json", "--db", str(db)],
                          capture_output=True, text=True, check=True)
    other = json.loads(made.stdout)["key"]
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {other}"},
                      timeout=10) as api:
        for path in ("invoices/INV-1", "invoices/INV-1/sync", "payments/P-1/sync",
                     "customers/C-1"):
            assert api.get(f"/v1/{path}").status_code == 404, path
        assert api.post("/v1/invoices/INV-1/void").status_code == 404
        assert api.get("/v1/problems").json()["problems"] == []
        renamed = {**CUSTOMER, "display_name": "Harbour's own C-1"}
        assert api.put("/v1/customers/C-1", json=renamed).status_code == 201
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {secret}"},
                      timeout=10) as api:
        assert api.get("/v1/customers/C-1").json()["display_name"] == CUSTOMER["display_name"]
