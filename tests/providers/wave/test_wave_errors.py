"""Wave's answers → the taxonomy: each envelope on its own, then each from the sandbox."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from wave_support import Ledger, customer, invoice, item

from engine import (
    AuthExpired,
    AuthRevoked,
    ConnectionSettings,
    Duplicate,
    Entity,
    NotFound,
    Operation,
    RateLimited,
    SyncError,
    Transient,
    Validation,
)
from providers.wave import WaveProvider
from providers.wave._errors import data_of, mutation_result
from tests.providers._support import SandboxTokens


def answer(body: Any = None, status: int = 200, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    return httpx.Response(status, **kwargs)


def error(code: str, message: str) -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code, "id": "e1"}}],
            "data": None}


@pytest.mark.parametrize(("code", "message", "kind"), [
    ("UNAUTHENTICATED", "The access token has expired.", AuthExpired),
    ("UNAUTHENTICATED", "The access token has been revoked.", AuthRevoked),
    ("NOT_FOUND", "Business 'BAD_ID' could not be found.", NotFound),
    ("GRAPHQL_VALIDATION_FAILED", "Cannot query field 'nope' on type 'Business'.", Validation),
    ("INTERNAL_SERVER_ERROR", "Internal server error", Transient),
    ("SOMETHING_NEW", "A code nobody has seen", Transient),
])
def test_error_codes(code: str, message: str, kind: type[SyncError]) -> None:
    with pytest.raises(kind) as caught:
        data_of(answer(error(code, message)))
    assert (caught.value.code, caught.value.message) == (code, message)


def test_every_error_message_is_kept() -> None:
    body = {"errors": [{"message": "first", "extensions": {"code": "NOT_FOUND"}},
                       {"message": "second"}]}
    with pytest.raises(NotFound, match=r"^first; second$"):
        data_of(answer(body))


def test_input_errors_are_validation_with_the_field_path() -> None:
    data = {"invoiceCreate": {"didSucceed": False, "invoice": None, "inputErrors": [
        {"code": "INVALID", "message": "Product does not exist.",
         "path": ["input", "items", "0", "productId"]}]}}
    with pytest.raises(Validation) as caught:
        mutation_result(data, "invoiceCreate", "invoice")
    assert caught.value.field == "input.items.0.productId"
    assert (caught.value.code, caught.value.message) == ("INVALID", "Product does not exist.")


@pytest.mark.parametrize("problem", [
    {"code": "NOT_UNIQUE", "message": "Invoice number 7 is already in use.", "path": []},
    {"code": "INVALID", "message": "This invoice number has already been used.", "path": []},
])
def test_uniqueness_is_duplicate(problem: dict[str, Any]) -> None:
    data = {"invoiceCreate": {"didSucceed": False, "inputErrors": [problem]}}
    with pytest.raises(Duplicate):
        mutation_result(data, "invoiceCreate", "invoice")


def test_rate_limit_waits_as_told_or_a_minute() -> None:
    with pytest.raises(RateLimited) as told:
        data_of(answer(error("TOO_MANY_REQUESTS", "slow down"), 429,
                       headers={"Retry-After": "7"}))
    assert told.value.retry_after == 7
    with pytest.raises(RateLimited) as untold:
        data_of(answer(status=429, text="Too Many Requests"))
    assert untold.value.retry_after == 60


@pytest.mark.parametrize("response", [
    answer(status=502, text="<html>Bad Gateway</html>"),
    answer(status=500, json=error("INTERNAL_SERVER_ERROR", "boom")),
    answer(status=200, text="<html><body>maintenance</body></html>"),
    answer(status=200, text='{"data": {"business": '),
    answer([1, 2, 3]),
    answer({"data": None}),
    answer({"errors": "not a list"}),
    answer({"data": {}}, 400),
])
def test_malformed_or_failed_answers_are_transient(response: httpx.Response) -> None:
    with pytest.raises(Transient):
        data_of(response)


@pytest.mark.parametrize("data", [
    {},
    {"customerCreate": None},
    {"customerCreate": {"didSucceed": True, "customer": None}},
    {"customerCreate": {"customer": {"id": "1"}}},
])
def test_malformed_mutation_results_are_transient(data: dict[str, Any]) -> None:
    with pytest.raises(Transient):
        mutation_result(data, "customerCreate", "customer")


# -- from the sandbox ----------------------------------------------------------------------


async def test_duplicate_invoice_number_from_the_sandbox(provider: WaveProvider,
                                                         ledger: Ledger) -> None:
    await ledger.basics(provider)
    with pytest.raises(Duplicate) as caught:
        await ledger.push(provider, Entity.INVOICE, invoice(number="INV-1042"))
    assert caught.value.message == "Invoice number INV-1042 is already in use."
    assert caught.value.field == "input.invoiceNumber"


async def test_due_date_before_issue_from_the_sandbox(provider: WaveProvider,
                                                      ledger: Ledger) -> None:
    await ledger.basics(provider)
    ref = await ledger.push(provider, Entity.INVOICE, invoice())
    # model_copy skips the ledger's own check, as a record edited elsewhere might.
    backwards = invoice().model_copy(update={"due_date": date(2025, 1, 1)})
    with pytest.raises(Validation, match="Due date cannot be before the invoice date"):
        await ledger.push(provider, Entity.INVOICE, backwards, operation=Operation.UPDATE,
                          link=ref)


async def test_deleted_behind_our_back_is_not_found(provider: WaveProvider, ledger: Ledger,
                                                    control: httpx.AsyncClient) -> None:
    ref = await ledger.push(provider, Entity.CUSTOMER, customer())
    deleted = await control.post("/_sandbox/delete", json={"entity": "customer",
                                                           "id": ref.remote_id})
    assert deleted.json() == {"deleted": True}
    with pytest.raises(NotFound, match=r"Customer '.*' could not be found\."):
        await ledger.push(provider, Entity.CUSTOMER, customer(), operation=Operation.UPDATE,
                          link=ref)
    assert await provider.fetch(Entity.CUSTOMER, ref.remote_id) is None


async def test_expired_token_is_refreshed_once(provider: WaveProvider, tokens: SandboxTokens,
                                               control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/expire-tokens")
    await provider.push(Ledger().request(Entity.CUSTOMER, customer()))
    assert tokens.refreshes == 1


async def test_revoked_grant_is_auth_revoked(provider: WaveProvider,
                                             control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/revoke")
    with pytest.raises(AuthRevoked, match="invalid_grant"):
        await provider.push(Ledger().request(Entity.CUSTOMER, customer()))


async def test_unknown_business_is_not_found(provider: WaveProvider, settings: Any,
                                             tokens: SandboxTokens) -> None:
    from dataclasses import replace

    from providers.wave import PLATFORM

    stranger = PLATFORM.provider(replace(settings, tenant_id="QnVzaW5lc3M6bm9wZQ=="), tokens)
    with pytest.raises(NotFound, match=r"Business 'QnVzaW5lc3M6bm9wZQ==' could not be found\."):
        await stranger.push(Ledger().request(Entity.CUSTOMER, customer()))
    await stranger.aclose()


class FixedToken:
    async def access_token(self) -> str:
        return "t"

    async def refreshed(self, rejected: str) -> str:
        return "t"


@pytest.mark.parametrize("data", [
    {"business": {"products": {"pageInfo": {"totalPages": 1}, "edges": [{"node": {"id": "1"}}]}}},
    {"business": {"products": {"edges": []}}},
    {"business": None},
])
async def test_misshapen_reads_are_transient(data: dict[str, Any]) -> None:
    from providers.wave import PLATFORM

    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"data": data}))
    settings = ConnectionSettings(platform="wave", tenant_id="b", transport=transport)
    provider = PLATFORM.provider(settings, FixedToken())
    with pytest.raises(Transient, match="not shaped as expected"):
        await provider.find(Entity.ITEM, item())
    await provider.aclose()
