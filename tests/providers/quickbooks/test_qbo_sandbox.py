"""The sandbox behaves like QBO on the wire: rules, computed fields, limits and tokens."""

from __future__ import annotations

import httpx

from providers._sandbox import Clock
from providers.quickbooks import create_sandbox_app
from tests.providers._support import SandboxTokens

from .conftest import BASE, REALM, Api

LINE = {"DetailType": "SalesItemLineDetail", "Amount": 47.5,
        "SalesItemLineDetail": {"ItemRef": {"value": "1"}, "Qty": 5, "UnitPrice": 9.5}}


def _code(response: httpx.Response) -> str:
    return str(response.json()["Fault"]["Error"][0]["code"])


async def test_full_update_clears_and_sparse_keeps(api: Api) -> None:
    made = (await api.post("customer", {"DisplayName": "Oak Hill Farm", "CompanyName": "OHF",
                                        "Notes": "gate code 4411"})).json()["Customer"]
    sparse = (await api.post("customer", {"Id": made["Id"], "SyncToken": "0", "sparse": True,
                                          "CompanyName": "Oak Hill Farm Co"})).json()["Customer"]
    assert (sparse["SyncToken"], sparse["Notes"], sparse["CompanyName"]) == (
        "1", "gate code 4411", "Oak Hill Farm Co")
    full = (await api.post("customer", {"Id": made["Id"], "SyncToken": "1",
                                        "DisplayName": "Oak Hill Farm"})).json()["Customer"]
    assert full["SyncToken"] == "2" and "Notes" not in full and "CompanyName" not in full
    assert full["MetaData"]["CreateTime"] == made["MetaData"]["CreateTime"]
    stale = await api.post("customer", {"Id": made["Id"], "SyncToken": "1", "sparse": True,
                                        "Notes": "late"})
    assert stale.status_code == 400 and _code(stale) == "5010"
    assert stale.json()["Fault"]["Error"][0]["Detail"].endswith("Entity=Customer")


async def test_invoice_computed_fields_and_line_ids(api: Api) -> None:
    made = (await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [LINE, LINE],
                                       "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}}}))
    invoice = made.json()["Invoice"]
    assert invoice["DocNumber"] == "1002"  # auto-assigned after the seeded one
    assert invoice["CustomerRef"] == {"value": "1", "name": "Riverside Property Group LLC"}
    assert invoice["Line"][0]["SalesItemLineDetail"]["ItemRef"]["name"] == "Services"
    assert (invoice["TotalAmt"], invoice["Balance"], invoice["domain"], invoice["sparse"]) == (
        95.0, 95.0, "QBO", False)
    assert "time" in made.json() and made.headers["intuit_tid"]
    # Keep line 1 (by Id), drop line 2, add a new one: line Ids decide update vs create.
    kept = {**invoice["Line"][0], "Amount": 19, "SalesItemLineDetail": {
        "ItemRef": {"value": "1"}, "Qty": 2, "UnitPrice": 9.5, "TaxCodeRef": {"value": "TAX"}}}
    updated = (await api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True,
                                          "Line": [kept, LINE]})).json()["Invoice"]
    assert [line.get("Id") for line in updated["Line"]] == ["1", "3", None]
    assert updated["TxnTaxDetail"]["TotalTax"] == 1.52  # 8 % of the 19.00 coded TAX
    assert updated["TotalAmt"] == 19 + 47.5 + 1.52


async def test_amount_must_equal_qty_times_price(api: Api) -> None:
    wrong = {**LINE, "Amount": 50}
    response = await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [wrong]})
    assert response.status_code == 400 and _code(response) == "6070"


async def test_missing_references_are_610(api: Api) -> None:
    response = await api.post("invoice", {"CustomerRef": {"value": "999"}, "Line": [LINE]})
    assert _code(response) == "610"
    response = await api.get("invoice/999")
    assert response.status_code == 400 and _code(response) == "610"


async def test_duplicate_doc_number_bypass_and_preference(api: Api) -> None:
    body = {"CustomerRef": {"value": "1"}, "DocNumber": "INV-1042", "Line": [LINE]}
    assert _code(await api.post("invoice", body)) == "6140"
    allowed = await api.post("invoice", body, include="allowduplicatedocnum")
    assert allowed.status_code == 200


async def test_no_6140_when_the_company_numbers_its_own() -> None:
    app = create_sandbox_app(custom_txn_numbers=False, limits_enabled=False)
    company = app.state.company
    from providers.quickbooks.sandbox._rules import BUILDERS

    again = company.create("Invoice", {"CustomerRef": {"value": "1"}, "DocNumber": "INV-1042",
                                       "Line": [LINE]}, BUILDERS["Invoice"])
    assert again["DocNumber"] == "INV-1042"


async def test_void_and_delete(api: Api) -> None:
    made = (await api.post("invoice", {"CustomerRef": {"value": "1"},
                                       "Line": [LINE]})).json()["Invoice"]
    paid = (await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 20,
                                       "Line": [{"Amount": 20, "LinkedTxn": [{
                                           "TxnId": made["Id"], "TxnType": "Invoice"}]}]}))
    payment = paid.json()["Payment"]
    voided = (await api.post("invoice", {"Id": made["Id"], "SyncToken": "1"},
                             operation="void")).json()["Invoice"]
    assert (voided["TotalAmt"], voided["Balance"], voided["SyncToken"]) == (0, 0, "2")
    payment = (await api.get(f"payment/{payment['Id']}")).json()["Payment"]
    assert payment["UnappliedAmt"] == 20  # unlinked from the voided invoice
    gone = (await api.post("payment", {"Id": payment["Id"], "SyncToken": payment["SyncToken"]},
                           operation="delete")).json()["Payment"]
    assert gone["status"] == "Deleted"
    assert _code(await api.post("customer", {"Id": "1", "SyncToken": "0"},
                                operation="delete")) == "500"


async def test_payment_rules(api: Api) -> None:
    made = (await api.post("invoice", {"CustomerRef": {"value": "1"},
                                       "Line": [LINE]})).json()["Invoice"]
    link = [{"TxnId": made["Id"], "TxnType": "Invoice"}]
    no_total = await api.post("payment", {"CustomerRef": {"value": "1"},
                                          "Line": [{"Amount": 10, "LinkedTxn": link}]})
    assert _code(no_total) == "6000"
    too_much = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 100,
                                          "Line": [{"Amount": 100, "LinkedTxn": link}]})
    assert _code(too_much) == "6000"
    other = (await api.post("customer", {"DisplayName": "Elm Row"})).json()["Customer"]
    crossed = await api.post("payment", {"CustomerRef": {"value": other["Id"]}, "TotalAmt": 5,
                                         "Line": [{"Amount": 5, "LinkedTxn": link}]})
    assert _code(crossed) == "620"


async def test_query_language(api: Api) -> None:
    for name in ("Alpha Roofing", "Beta O'Brien Plumbing", "Gamma Roofing"):
        await api.post("customer", {"DisplayName": name})
    found = await api.query("select * from Customer where DisplayName LIKE '%roofing%' "
                            "ORDERBY DisplayName DESC")
    names = [c["DisplayName"] for c in found["QueryResponse"]["Customer"]]
    assert names == ["Gamma Roofing", "Alpha Roofing"]
    quoted = await api.query("SELECT * FROM Customer WHERE DisplayName = 'Beta O\\'Brien Plumbing'")
    assert len(quoted["QueryResponse"]["Customer"]) == 1
    page = await api.query("SELECT * FROM Customer ORDERBY Id STARTPOSITION 2 MAXRESULTS 2")
    assert page["QueryResponse"]["startPosition"] == 2
    assert [c["Id"] for c in page["QueryResponse"]["Customer"]] == ["2", "3"]
    assert (await api.query("select count(*) from Customer"))["QueryResponse"] == {
        "totalCount": 4}
    assert (await api.query("select * from Customer where Id IN ('1', '3')"))[
        "QueryResponse"]["maxResults"] == 2
    assert (await api.query("select * from Invoice where DocNumber = 'nope'"))[
        "QueryResponse"] == {}
    since = await api.query("select * from Customer where Metadata.LastUpdatedTime > "
                            "'2000-01-01T00:00:00-08:00'")
    assert len(since["QueryResponse"]["Customer"]) == 4
    bad = await api.get("query", query="select * from Customer where")
    assert bad.status_code == 400 and _code(bad) == "4000"
    assert _code(await api.get("query", query="select * from Customer maxresults 1001")) == "4001"


async def test_batch_items_are_independent(api: Api) -> None:
    answer = (await api.post("batch", {"BatchItemRequest": [
        {"bId": "b1", "operation": "create", "Customer": {"DisplayName": "Cedar Works"}},
        {"bId": "b2", "operation": "create", "Invoice": {"CustomerRef": {"value": "999"},
                                                          "Line": [LINE]}},
        {"bId": "b3", "Query": "select * from Customer where DisplayName = 'Cedar Works'"},
    ]})).json()
    by_bid = {item["bId"]: item for item in answer["BatchItemResponse"]}
    assert by_bid["b1"]["Customer"]["DisplayName"] == "Cedar Works"
    assert by_bid["b2"]["Fault"]["Error"][0]["code"] == "610"
    assert "QueryResponse" in by_bid["b3"]
    too_many = await api.post("batch", {"BatchItemRequest": [
        {"bId": f"b{n}", "Query": "select * from Item"} for n in range(31)]})
    assert too_many.status_code == 400


async def test_rate_limits_answer_429_in_xml(tokens: SandboxTokens) -> None:
    clock = Clock()
    app = create_sandbox_app(clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        token = app.state.sandbox.authority.grant_direct("t")["access_token"]
        api = Api(raw, str(token))
        answers = [await api.get("customer/1") for _ in range(11)]
        assert [a.status_code for a in answers].count(429) == 1
        throttled = answers[-1]
        assert throttled.headers["content-type"].startswith("application/xml")
        assert 'code="3001"' in throttled.text and "retry-after" not in throttled.headers
        for _ in range(49):  # 10/s for 50 s: 500 in the minute
            clock.advance(1)
            for _ in range(10):
                assert (await api.get("customer/1")).status_code == 200
        clock.advance(1)
        assert (await api.get("customer/1")).status_code == 429  # 500/min per realm


async def test_token_endpoint_rotates_refresh_tokens(
        control: httpx.AsyncClient, tokens: SandboxTokens) -> None:
    spent = tokens.tokens.refresh_token
    form = {"grant_type": "refresh_token", "refresh_token": spent}
    auth = ("syncdesk-test", "secret")
    ok = await control.post("/oauth2/v1/tokens/bearer", data=form, auth=auth)
    assert ok.json()["expires_in"] == 3600
    assert ok.json()["x_refresh_token_expires_in"] == 8_726_400
    assert ok.json()["refresh_token"] != spent
    # The previous token works until the new one is used (the sandbox's docstring says why).
    successor = {"grant_type": "refresh_token", "refresh_token": ok.json()["refresh_token"]}
    assert (await control.post("/oauth2/v1/tokens/bearer", data=successor,
                               auth=auth)).status_code == 200
    replay = await control.post("/oauth2/v1/tokens/bearer", data=form, auth=auth)
    assert replay.json() == {"error": "invalid_grant"}


async def test_expired_token_gets_the_lowercase_gateway_fault(
        api: Api, control: httpx.AsyncClient) -> None:
    await control.post("/_sandbox/expire-tokens")
    response = await api.get("customer/1")
    assert response.status_code == 401
    error = response.json()["fault"]["error"][0]
    assert (error["code"], error["message"]) == (
        "3200", "message=AuthenticationFailed; errorCode=003200; statusCode=401")


async def test_xml_unless_json_is_asked_for(api: Api, control: httpx.AsyncClient) -> None:
    response = await control.get(f"/v3/company/{REALM}/invoice/1",
                                 headers={"Authorization": api.headers["Authorization"]})
    assert response.headers["content-type"].startswith("application/xml")
    assert '<CustomerRef name="Riverside Property Group LLC">1</CustomerRef>' in response.text
    assert "<DocNumber>INV-1042</DocNumber>" in response.text


async def test_an_unknown_field_anywhere_is_2010_and_nothing_is_saved(api: Api) -> None:
    before = (await api.query("select count(*) from Invoice"))["QueryResponse"]["totalCount"]
    typo = {**LINE, "SalesItemLineDetail": {**LINE["SalesItemLineDetail"],
                                            "ClasRef": {"value": "1"}}}
    refused = await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [typo]})
    assert refused.status_code == 400 and _code(refused) == "2010"
    error = refused.json()["Fault"]["Error"][0]
    assert error["Detail"].startswith('Property Name:Unrecognized field "ClasRef" (class '
                                      "com.intuit.schema.finance.v3.SalesItemLineDetail)")
    top = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                                     "PaymentMethod": {"value": "1"}})
    assert _code(top) == "2010" and '"PaymentMethod"' in top.text
    batch = await api.post("batch", {"BatchItemRequest": [{"bId": "b1", "operation": "create",
                                                           "Customer": {"DisplayName": "X",
                                                                        "Nick": "x"}}]})
    assert batch.json()["BatchItemResponse"][0]["Fault"]["Error"][0]["code"] == "2010"
    after = (await api.query("select count(*) from Invoice"))["QueryResponse"]["totalCount"]
    assert after == before
    assert (await api.query("select * from Customer where DisplayName = 'X'"))[
        "QueryResponse"] == {}


async def test_classes_locations_methods_and_deposit_accounts_are_references(api: Api) -> None:
    line = {**LINE, "SalesItemLineDetail": {**LINE["SalesItemLineDetail"],
                                            "ClassRef": {"value": "99"}}}
    for body in ({"CustomerRef": {"value": "1"}, "Line": [line]},
                 {"CustomerRef": {"value": "1"}, "Line": [LINE], "DepartmentRef": {"value": "9"}}):
        refused = await api.post("invoice", body)
        assert _code(refused) == "2500", refused.text
    for field in ({"PaymentMethodRef": {"value": "77"}}, {"DepositToAccountRef": {"value": "7"}}):
        refused = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                                             **field})
        assert _code(refused) == "2500", refused.text
    income = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                                        "DepositToAccountRef": {"value": "79"}})
    assert _code(income) == "6000"  # an income account takes no deposits
    good = await api.post("payment", {"CustomerRef": {"value": "1"}, "TotalAmt": 5,
                                      "PaymentMethodRef": {"value": "2"},
                                      "DepositToAccountRef": {"value": "35"}})
    assert good.status_code == 200


async def test_us_tax_is_one_sales_tax_on_the_lines_coded_tax(api: Api) -> None:
    taxed = {"DetailType": "SalesItemLineDetail", "Amount": 100, "SalesItemLineDetail": {
        "ItemRef": {"value": "1"}, "Qty": 1, "UnitPrice": 100, "TaxCodeRef": {"value": "TAX"}}}
    made = (await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [taxed, LINE],
                                       "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "4"}}}))
    invoice = made.json()["Invoice"]
    assert invoice["TxnTaxDetail"]["TotalTax"] == 6.85  # Nevada 6.85 % of the 100.00
    assert invoice["TxnTaxDetail"]["TaxLine"][0]["TaxLineDetail"]["TaxRateRef"] == {"value": "5"}
    assert invoice["TotalAmt"] == 100 + 47.5 + 6.85
    inclusive = await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": [taxed],
                                           "GlobalTaxCalculation": "TaxInclusive"})
    assert _code(inclusive) == "6000"
    per_line = {**taxed, "SalesItemLineDetail": {**taxed["SalesItemLineDetail"],
                                                 "TaxCodeRef": {"value": "2"}}}
    assert _code(await api.post("invoice", {"CustomerRef": {"value": "1"},
                                            "Line": [per_line]})) == "6100"


async def test_elsewhere_each_line_has_its_rate_and_inclusive_amounts_hold_it() -> None:
    app = create_sandbox_app(clock=Clock(), limits_enabled=False, country="GB")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as raw:
        api = Api(raw, str(app.state.sandbox.authority.grant_direct("t")["access_token"]))
        info = (await api.get(f"companyinfo/{REALM}")).json()["CompanyInfo"]
        assert info["Country"] == "GB"

        def line(amount: str, code: str | None) -> dict[str, object]:
            detail: dict[str, object] = {"ItemRef": {"value": "1"}, "Qty": 1,
                                         "UnitPrice": float(amount)}
            if code:
                detail["TaxCodeRef"] = {"value": code}
            return {"DetailType": "SalesItemLineDetail", "Amount": float(amount),
                    "SalesItemLineDetail": detail}

        lines = [line("120.00", "10"), line("21.00", "12"), line("9.99", "14")]
        for calculation, tax, total in (("TaxExcluded", 25.05, 176.04),
                                        ("TaxInclusive", 21.00, 150.99)):
            made = (await api.post("invoice", {"CustomerRef": {"value": "1"}, "Line": lines,
                                               "GlobalTaxCalculation": calculation})).json()
            assert (made["Invoice"]["TxnTaxDetail"]["TotalTax"],
                    made["Invoice"]["TotalAmt"]) == (tax, total), calculation
        missing = await api.post("invoice", {"CustomerRef": {"value": "1"},
                                             "Line": [line("10.00", None)]})
        assert _code(missing) == "6000" and "tax rate" in missing.text
        untaxed = await api.post("invoice", {"CustomerRef": {"value": "1"},
                                             "Line": [line("10.00", None)],
                                             "GlobalTaxCalculation": "NotApplicable"})
        assert untaxed.json()["Invoice"]["TotalAmt"] == 10
        us_code = await api.post("invoice", {"CustomerRef": {"value": "1"},
                                             "Line": [line("10.00", "TAX")]})
        assert _code(us_code) == "2500"
