"""Batches, lost responses, bad bodies, auth and limits — through the client and sandbox."""

from __future__ import annotations

import warnings

import httpx
import pytest
from openapi_core import OpenAPI
from openapi_core.exceptions import OpenAPIError
from xero_support import SpecRequest, api_requests

from engine import (
    AuthRevoked,
    ConnectionSettings,
    Customer,
    Entity,
    Item,
    Operation,
    PushRequest,
    RateLimited,
    RemoteRef,
    SyncError,
    Transient,
    Unmapped,
    Validation,
)
from providers._sandbox import SandboxContext
from providers.xero import PLATFORM, XeroProvider
from tests.providers._support import Recording, SandboxTokens


def create(entity: Entity, record: Customer | Item, key: str) -> PushRequest:
    return PushRequest(entity=entity, operation=Operation.CREATE, record=record,
                       idempotency_key=key)


def customer(n: int, email: str | None = None) -> Customer:
    return Customer(id=f"c{n}", display_name=f"Customer {n}", email=email)


async def test_batch_with_one_bad_element(provider: XeroProvider, app,
                                          recording: Recording) -> None:
    bad = Customer.model_construct(id="c2", display_name="Customer 2", email="not-an-email",
                                   company=None, phone=None, billing_address=None)
    results = await provider.push_batch([create(Entity.CUSTOMER, customer(1), "k1"),
                                         create(Entity.CUSTOMER, bad, "k2"),
                                         create(Entity.CUSTOMER, customer(3), "k3")])
    assert isinstance(results[0], RemoteRef) and isinstance(results[2], RemoteRef)
    assert isinstance(results[1], Validation)
    assert results[1].message == "Email address must be valid."
    writes = [r for r in api_requests(recording) if r.method != "GET"]
    assert len(writes) == 1 and writes[0].url.params["summarizeErrors"] == "false"
    assert app.state.dialect.counts()["customer"] == 3  # Riverside + 1 + 3


async def test_batch_keeps_unmapped_elements_out_of_the_request(provider: XeroProvider,
                                                                recording: Recording) -> None:
    mapped = Item(id="i1", sku="A", name="A", income_account="200")
    bare = Item(id="i2", sku="B", name="Labor")
    results = await provider.push_batch([create(Entity.ITEM, mapped, "k1"),
                                         create(Entity.ITEM, bare, "k2")])
    assert isinstance(results[0], RemoteRef) and isinstance(results[1], Unmapped)
    [write] = api_requests(recording)
    assert b'"B"' not in write.content


async def test_batch_of_120_is_sent_in_chunks_of_50(provider: XeroProvider,
                                                    recording: Recording) -> None:
    results = await provider.push_batch(
        [create(Entity.CUSTOMER, customer(n), f"k{n}") for n in range(120)])
    assert all(isinstance(r, RemoteRef) for r in results)
    assert len(api_requests(recording)) == 3


async def test_dropped_response_then_retry_with_same_key_makes_one_object(
        provider: XeroProvider, context: SandboxContext, control: httpx.AsyncClient,
        app) -> None:
    await control.post("/_sandbox/faults", json={"kind": "drop", "method": "PUT"})
    request = create(Entity.CUSTOMER, customer(1), "key-1")
    with pytest.raises(Transient, match="no answer"):
        await provider.push(request)
    ref = await provider.push(request)
    assert app.state.dialect.counts()["customer"] == 2  # Riverside and this one, once
    assert await provider.find(Entity.CUSTOMER, customer(1)) == ref


async def test_same_key_with_different_body_is_refused(provider: XeroProvider) -> None:
    await provider.push(create(Entity.CUSTOMER, customer(1), "key-1"))
    with pytest.raises(Validation, match="used with a different request"):
        await provider.push(create(Entity.CUSTOMER, customer(2), "key-1"))


async def test_replayed_error_is_the_same_error(provider: XeroProvider, app) -> None:
    twin = Customer(id="c9", display_name="Riverside Property Group LLC")
    with pytest.raises(SyncError) as first:
        await provider.push(create(Entity.CUSTOMER, twin, "key-9"))
    app.state.company.contacts.clear()  # even with the name free now, the key replays
    with pytest.raises(SyncError) as second:
        await provider.push(create(Entity.CUSTOMER, twin, "key-9"))
    assert first.value.message == second.value.message


@pytest.mark.parametrize("kind", ["garbage", "error"])
async def test_bad_answers_are_transient(provider: XeroProvider, control: httpx.AsyncClient,
                                         kind: str) -> None:
    await control.post("/_sandbox/faults", json={"kind": kind})
    with pytest.raises(Transient):
        await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")


async def test_truncated_json_is_transient(settings: ConnectionSettings,
                                           tokens: SandboxTokens) -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b'{"Contacts":[{"ContactID":"1"',
                              headers={"content-type": "application/json"})

    client = PLATFORM.provider(
        ConnectionSettings(platform="xero", tenant_id="t", base_url="http://x",
                           transport=httpx.MockTransport(cut)), tokens)
    with pytest.raises(Transient, match="not valid JSON"):
        await client.fetch(Entity.CUSTOMER, "1")
    await client.aclose()


async def test_expired_token_is_refreshed_once(provider: XeroProvider, tokens: SandboxTokens,
                                               control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/expire-tokens")
    await provider.push(create(Entity.CUSTOMER, customer(1), "k1"))
    assert tokens.refreshes == 1


async def test_token_expires_after_1800_seconds(provider: XeroProvider, tokens: SandboxTokens,
                                                control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/clock", json={"advance": 1799})
    await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert tokens.refreshes == 0
    await control.post("/_sandbox/clock", json={"advance": 2})
    await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert tokens.refreshes == 1


async def test_revoked_grant_and_wrong_tenant(provider: XeroProvider, settings, tokens,
                                              control: httpx.AsyncClient) -> None:
    stranger = PLATFORM.provider(
        ConnectionSettings(platform="xero", tenant_id="someone-else", base_url=settings.base_url,
                           transport=settings.transport), tokens)
    with pytest.raises(AuthRevoked, match="AuthenticationUnsuccessful") as caught:
        await stranger.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert caught.value.http_status == 403
    await stranger.aclose()
    await control.post("/_sandbox/revoke")
    with pytest.raises(AuthRevoked) as revoked:
        await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert revoked.value.http_status == 401


async def test_minute_and_day_limits(provider: XeroProvider,
                                     control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/limits", json={"per_minute": 2})
    for _ in range(2):
        await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    with pytest.raises(RateLimited) as minute:
        await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert not minute.value.daily and 0 < minute.value.retry_after <= 60
    await control.post("/_sandbox/limits", json={"per_minute": 60, "per_day": 2})
    with pytest.raises(RateLimited) as day:
        await provider.fetch(Entity.CUSTOMER, "00000000-0000-0000-0000-000000000000")
    assert day.value.daily


async def test_spec_check_catches_a_request_xero_would_not_accept(openapi: OpenAPI) -> None:
    wrong = httpx.Request("PUT", "http://xero.sandbox/api.xro/2.0/Items",
                          json={"Items": [{"Name": "no code"}]},
                          headers={"xero-tenant-id": "t"})
    with pytest.raises(OpenAPIError), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Unsupported scheme type")
        openapi.validate_request(SpecRequest(wrong))  # type: ignore[arg-type]
