"""`GET /_sandbox/marks` on Wave: customers, products and invoices carrying `syncdesk:<id>`.

Wave takes no payments or credit notes from syncdesk, so those stay empty; an archived
product (Wave's only way to delete one) and a deleted invoice no longer count.
"""

from __future__ import annotations

from typing import Any

import httpx
from wave_support import Ledger, invoice

from engine import Entity
from providers.wave import WaveProvider


async def marks(control: httpx.AsyncClient) -> dict[str, Any]:
    response = await control.get("/_sandbox/marks")
    assert response.status_code == 200
    return dict(response.json())


async def test_each_record_once_and_gone_when_deleted(provider: WaveProvider, ledger: Ledger,
                                                      control: httpx.AsyncClient,
                                                      app: Any) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    report = await marks(control)
    assert report == {"marks": {"customer": {"c1": 1}, "item": {"i1": 1},
                                "invoice": {"inv1": 1}, "payment": {}, "credit_note": {}},
                      "parts": {}}

    await control.post("/_sandbox/delete", json={"entity": "invoice", "id": ref.remote_id})
    [ours] = [p for p in app.state.books.products.values() if p["description"] == "syncdesk:i1"]
    app.state.books.archive_product(ours["id"])
    report = await marks(control)
    assert report["marks"] == {"customer": {"c1": 1}, "item": {}, "invoice": {},
                               "payment": {}, "credit_note": {}}
