"""A lost response, retried with the same key, leaves exactly one object on QuickBooks."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import httpx
import pytest

from engine import ConnectionSettings, Duplicate, Entity, Transient
from providers.quickbooks import QuickBooksProvider
from tests.providers._support import Ledger, SandboxTokens, state

from .conftest import REALM, Recorder, customer, invoice, item


async def test_dropped_create_then_retry_makes_one_object(
        app: Any, settings: ConnectionSettings, tokens: SandboxTokens, ledger: Ledger,
        control: httpx.AsyncClient) -> None:
    provider = QuickBooksProvider(replace(settings, timeout=0.2), tokens)
    await ledger.push(provider, Entity.CUSTOMER, customer())
    await ledger.push(provider, Entity.ITEM, item())
    app.state.sandbox.faults.hang_seconds = 1.0  # longer than the client's timeout
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "POST",
                                                 "path_contains": "/invoice"})
    request = ledger.request(Entity.INVOICE, invoice())
    with pytest.raises(Transient, match="outcome of a write is unknown"):
        await provider.push(request)
    assert (await state(control))["objects"]["invoice"] == 2  # INV-1042 and ours: committed

    ref = await provider.push(request)
    assert (await state(control))["objects"]["invoice"] == 2
    assert await provider.fetch(Entity.INVOICE, ref.remote_id) == ref
    await provider.aclose()


async def test_every_write_carries_requestid_and_minorversion(
        provider: QuickBooksProvider, ledger: Ledger, recorder: Recorder) -> None:
    await ledger.push(provider, Entity.CUSTOMER, customer(), key="key-123")
    sent = recorder.api_writes()[-1][0]
    assert sent.url.params["requestid"] == "key-123"
    assert sent.url.params["minorversion"] == "75"
    assert sent.headers["accept"] == "application/json"


async def test_replay_answers_the_original_without_a_second_write(
        control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    headers = {"Authorization": f"Bearer {tokens.tokens.access_token}",
               "Accept": "application/json"}
    url = f"/v3/company/{REALM}/customer"
    first = await control.post(url, params={"requestid": "r-1"}, headers=headers,
                               json={"DisplayName": "Juniper Court HOA"})
    again = await control.post(url, params={"requestid": "r-1"}, headers=headers,
                               json={"DisplayName": "Something else entirely"})
    assert again.content == first.content
    assert (await state(control))["objects"]["customer"] == 2

    too_long = await control.post(url, params={"requestid": "x" * 51}, headers=headers,
                                  json={"DisplayName": "Too Long Ltd"})
    assert too_long.status_code == 400
    assert too_long.json()["Fault"]["Error"][0]["code"] == "2050"


async def test_error_answers_replay_too(provider: QuickBooksProvider, ledger: Ledger,
                                        control: httpx.AsyncClient) -> None:
    riverside = customer("c9", "Riverside Property Group LLC")
    with pytest.raises(Duplicate):
        await provider.push(ledger.request(Entity.CUSTOMER, riverside))
    # Someone renames the other customer; the same request id still gets the first answer,
    # as Intuit describes replay. (`replay_errors=False` models the other reading.)
    await control.post("/_sandbox/delete", json={"entity": "customer", "id": "1"})
    with pytest.raises(Duplicate):
        await provider.push(ledger.request(Entity.CUSTOMER, riverside))
