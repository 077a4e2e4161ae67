"""A business app's side of the syncdesk HTTP API: push records as they change, then ask
where they stand. Only the standard library, so it runs anywhere Python does.

    syncdesk api-key create "shop app"          # copy the key it prints
    SYNCDESK_KEY=sdk_… python examples/api_client.py [http://127.0.0.1:8470]
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from typing import Any


class Syncdesk:
    def __init__(self, base_url: str, key: str) -> None:
        self.base_url = base_url.rstrip("/") + "/v1"
        self.key = key

    def call(self, method: str, path: str, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.base_url + path, method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self.key}",
                     "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            problem = json.load(error)
            # Every refusal names the record and field; nothing was saved.
            raise SystemExit(f"{method} {path}: {error.code} {problem['detail']}") from None

    def put(self, collection: str, record_id: str, fields: dict[str, Any]) -> Any:
        return self.call("PUT", f"/{collection}/{record_id}", fields)

    def sync_status(self, collection: str, record_id: str) -> list[dict[str, Any]]:
        return list(self.call("GET", f"/{collection}/{record_id}/sync")["connections"])


def main() -> int:
    base_url = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8470"
    api = Syncdesk(base_url, os.environ["SYNCDESK_KEY"])
    api.put("customers", "C-1", {"display_name": "Maria Lopez", "email": "maria@example.com"})
    api.put("items", "TILE", {"sku": "TILE", "name": "Tile", "unit_price": "12.50"})
    api.put("invoices", "INV-1", {
        "number": "INV-1", "customer_id": "C-1", "issue_date": "2026-09-01", "status": "sent",
        "lines": [{"item_id": "TILE", "quantity": 4, "unit_price": "12.50"}]})
    # The engine syncs in the background; the app shows the state per platform, as a green
    # check or a yellow dot on its invoice row.
    for _ in range(30):
        states = api.sync_status("invoices", "INV-1")
        print(", ".join(f"{s['platform']}: {s['status']}" for s in states) or "no connections")
        if states and all(s["status"] == "synced" for s in states):
            return 0
        for state in states:
            if state["error"]:
                print(f"  {state['platform']}: {state['error']['message']} — {state['hint']}")
        time.sleep(2)
    return 1


if __name__ == "__main__":
    sys.exit(main())
