"""Xero's `Idempotency-Key` is remembered for a window on the sandbox clock, then forgotten:
the same request after it is a second write — the duplicate only the mark lookup prevents."""

from __future__ import annotations

import httpx

API = "/api.xro/2.0"


async def test_a_key_is_forgotten_after_its_window(api: httpx.AsyncClient,
                                                   control: httpx.AsyncClient) -> None:
    contact = (await api.put(f"{API}/Contacts", json={"Contacts": [{"Name": "Cedar Works"}]}))
    contact_id = contact.json()["Contacts"][0]["ContactID"]
    draft = {"Invoices": [{"Type": "ACCREC", "Contact": {"ContactID": contact_id},
                           "Status": "DRAFT", "Reference": "syncdesk:inv-1"}]}
    key = {"Idempotency-Key": "k-window"}

    first = await api.put(f"{API}/Invoices", json=draft, headers=key)
    assert (await api.put(f"{API}/Invoices", json=draft, headers=key)).content == first.content
    window = await control.post("/_sandbox/idempotency", json={"window_seconds": 60})
    assert window.json() == {"window_seconds": 60.0, "live_keys": 1}
    await control.post("/_sandbox/clock", json={"advance": 61})
    late = await api.put(f"{API}/Invoices", json=draft, headers=key)
    assert late.json()["Invoices"][0]["InvoiceID"] != first.json()["Invoices"][0]["InvoiceID"]
    assert (await control.get("/_sandbox/marks")).json()["marks"]["invoice"] == {"inv-1": 2}
