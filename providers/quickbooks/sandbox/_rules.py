"""The business rules of each QuickBooks entity, and the fields the server computes.

A builder takes the body as written (after sparse merging), validates it the way QBO does and
returns the object to store: Customer and Item (unique names, 6240), Invoice and CreditMemo
(lines, 6070 amounts, 6140 document numbers, totals and balances), Payment (LinkedTxn to
invoices and credit memos, `UnappliedAmt`, balances and LinkedTxn on both sides).
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ._fields import TYPES
from ._state import (
    PEOPLE,
    Application,
    Builder,
    Company,
    Obj,
    not_found,
    required,
)
from ._wire import QboFault

CENT = Decimal("0.01")

_NAME_TAKEN = {
    "Customer": "The name supplied already exists. : Another customer, vendor or employee is "
                "already using this name. Please use a different name.",
    "Item": "The name supplied already exists. : Another product or service is already using "
            "this name. Please use a different name.",
}


def _duplicate_name(entity: str, element: str) -> QboFault:
    return QboFault("6240", "Duplicate Name Exists Error", _NAME_TAKEN[entity], element=element)


def _business(detail: str, element: str = "") -> QboFault:
    return QboFault("6000", "A business validation error has occurred while processing your "
                    "request", f"Business Validation Error: {detail}", element=element)


def _decimal(value: Any, element: str) -> Decimal:
    if value is None:
        raise required(element)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise QboFault("2010", "Request has invalid or unsupported property",
                       f"Property Name:{element} specified is unsupported or invalid",
                       element=element) from None


def _named(ref: Obj, target: Obj, name_field: str) -> Obj:
    return {**ref, "value": target["Id"], "name": target[name_field]}


# -- name lists ---------------------------------------------------------------------------


def build_customer(company: Company, body: Obj, current: Obj | None, allow_dup: bool) -> Obj:
    parts = [body.get(k) for k in ("Title", "GivenName", "MiddleName", "FamilyName", "Suffix")]
    display = body.get("DisplayName") or " ".join(p for p in parts if p)
    if not display:
        raise required("DisplayName")
    if any(ch in display for ch in ":\t\n"):
        raise QboFault("6000", "A business validation error has occurred while processing your "
                       "request", "Business Validation Error: The name cannot contain a colon "
                       "(:), tab or newline.", element="DisplayName")
    folded = display.casefold()
    own_id = current["Id"] if current else None
    for entity in PEOPLE:
        for other in company.rows(entity):
            if other["DisplayName"].casefold() == folded and (entity, other["Id"]) != (
                    "Customer", own_id):
                raise _duplicate_name("Customer", "DisplayName")
    # A sub-customer ("job") names its parent; QBO shows it as "Parent:Child", five deep.
    parent = company.reference("Customer", body["ParentRef"], "ParentRef") \
        if "ParentRef" in body else None
    level = int(parent.get("Level", 0)) + 1 if parent else 0
    if level > 5:
        raise QboFault("6000", "A business validation error has occurred while processing your "
                       "request", "Business Validation Error: Sub-customers can be nested only "
                       "5 levels deep.", element="ParentRef")
    return {
        **body,
        "DisplayName": display,
        "FullyQualifiedName": f"{parent['FullyQualifiedName']}:{display}" if parent else display,
        "PrintOnCheckName": body.get("PrintOnCheckName") or display,
        "Active": body.get("Active", True),
        "Taxable": body.get("Taxable", True),
        "Job": parent is not None,
        "Level": level,
        "BillWithParent": bool(body.get("BillWithParent", False)) and parent is not None,
        "Balance": current.get("Balance", 0) if current else Decimal(0),
        "BalanceWithJobs": current.get("Balance", 0) if current else Decimal(0),
        "CurrencyRef": body.get("CurrencyRef") or {"value": company.prefs.home_currency},
        "PreferredDeliveryMethod": body.get("PreferredDeliveryMethod", "Print"),
    }


def build_item(company: Company, body: Obj, current: Obj | None, allow_dup: bool) -> Obj:
    name = body.get("Name")
    if not name:
        raise required("Name")
    own_id = current["Id"] if current else None
    for other in company.rows("Item"):
        if other["Name"].casefold() == name.casefold() and other["Id"] != own_id:
            raise _duplicate_name("Item", "Name")
    item_type = body.get("Type", "Service")
    if item_type not in ("Service", "NonInventory", "Inventory", "Category", "Bundle"):
        raise QboFault("2170", "Invalid Enumeration",
                       f"Invalid Enumeration : {item_type}", element="Type")
    built = {**body, "Type": item_type, "FullyQualifiedName": name,
             "Active": body.get("Active", True), "Taxable": body.get("Taxable", False),
             "UnitPrice": _decimal(body.get("UnitPrice", 0), "UnitPrice")}
    if item_type in ("Service", "NonInventory"):
        account = company.resolve("Account", body.get("IncomeAccountRef"), "IncomeAccountRef")
        built["IncomeAccountRef"] = _named(body["IncomeAccountRef"], account, "Name")
    return built


# -- invoices and credit memos --------------------------------------------------------------


def _sales_txn(entity: str) -> Builder:
    def build(company: Company, body: Obj, current: Obj | None, allow_dup: bool) -> Obj:
        customer = company.resolve("Customer", body.get("CustomerRef"), "CustomerRef")
        lines = _sales_lines(company, body.get("Line"), current)
        subtotal = sum((line["Amount"] for line in lines), Decimal(0))
        calculation = _tax_calculation(company, body.get("GlobalTaxCalculation"))
        tax_detail = _tax_detail(company, body.get("TxnTaxDetail"), lines, calculation)
        # Tax-inclusive line amounts already hold their tax.
        total = subtotal + (tax_detail["TotalTax"] if calculation != "TaxInclusive"
                            else Decimal(0))
        _references(company, body)
        built = {
            **body,
            "DocNumber": _doc_number(company, entity, body.get("DocNumber"), current, allow_dup),
            "TxnDate": body.get("TxnDate") or company.clock.now().date().isoformat(),
            "CustomerRef": _named(body["CustomerRef"], customer, "DisplayName"),
            "CurrencyRef": body.get("CurrencyRef") or {"value": company.prefs.home_currency},
            "Line": [*lines, {"Amount": subtotal, "DetailType": "SubTotalLineDetail",
                              "SubTotalLineDetail": {}}],
            "TxnTaxDetail": tax_detail,
            "TotalAmt": total,
            "PrintStatus": body.get("PrintStatus", "NeedToPrint"),
            "EmailStatus": body.get("EmailStatus", "NotSet"),
        }
        if company.prefs.country != "US":
            built["GlobalTaxCalculation"] = calculation  # US companies have none
        if entity == "Invoice":
            built["Deposit"] = body.get("Deposit", Decimal(0))
        if current is not None:
            built["LinkedTxn"] = current.get("LinkedTxn", [])
        applied = sum((amount for _, amount in company.applications_to(
            entity, current["Id"])), Decimal(0)) if current else Decimal(0)
        built["Balance"] = total - applied
        if entity == "CreditMemo":
            built["RemainingCredit"] = built["Balance"]
        return built

    return build


def _sales_lines(company: Company, lines_in: Any, current: Obj | None) -> list[Obj]:
    given = [line for line in (lines_in or []) if isinstance(line, dict)
             and line.get("DetailType") != "SubTotalLineDetail"]
    if not given:
        raise required("Line")
    known_ids = {line.get("Id") for line in (current or {}).get("Line", []) if line.get("Id")}
    next_id = max((int(i) for i in known_ids if str(i).isdigit()), default=0) + 1
    lines: list[Obj] = []
    for number, line in enumerate(given, start=1):
        if line.get("DetailType") != "SalesItemLineDetail":
            raise required("Line.DetailType") if not line.get("DetailType") else QboFault(
                "2170", "Invalid Enumeration",
                f"Invalid Enumeration : {line['DetailType']}", element="Line.DetailType")
        detail = dict(line.get("SalesItemLineDetail") or {})
        amount = _decimal(line.get("Amount"), "Line.Amount")
        if "Qty" in detail and "UnitPrice" in detail:
            expected = (_decimal(detail["Qty"], "Qty") * _decimal(detail["UnitPrice"],
                                                                   "UnitPrice")).quantize(CENT)
            if expected != amount.quantize(CENT):
                raise QboFault("6070", "Amount calculation incorrect in the request",
                               f"Amount calculation incorrect in the request : Amount={amount} "
                               f"is not equal to Qty * UnitPrice={expected}",
                               element="Line.Amount")
        if "ItemRef" in detail:
            item = company.resolve("Item", detail["ItemRef"], "Line.SalesItemLineDetail.ItemRef")
            detail["ItemRef"] = _named(detail["ItemRef"], item, "Name")
        tax_code = _line_tax_code(company, detail.get("TaxCodeRef"))
        if tax_code is not None:
            detail["TaxCodeRef"] = tax_code
        if "ClassRef" in detail:
            company.reference("Class", detail["ClassRef"], "Line.SalesItemLineDetail.ClassRef")
        line_id = str(line["Id"]) if line.get("Id") in known_ids else None
        if line_id is None:
            line_id, next_id = str(next_id), next_id + 1
        lines.append({**line, "Id": line_id, "LineNum": number, "Amount": amount,
                      "SalesItemLineDetail": detail})
    return lines


def _line_tax_code(company: Company, ref: Any) -> Obj | None:
    """US lines say TAX or NON (6100 otherwise); elsewhere each names a TaxCode, and QBO
    will not save a line without one."""
    if company.prefs.country == "US":
        ref = ref or {"value": "NON"}
        if not isinstance(ref, dict) or ref.get("value") not in ("TAX", "NON"):
            raise QboFault("6100", "Invalid line TaxCode",
                           "Valid Line TaxCodes for US should be TAX or NON",
                           element="Line.SalesItemLineDetail.TaxCodeRef")
        return dict(ref)
    if not ref:
        return None  # refused by `_tax_detail` unless tax does not apply at all
    company.reference("TaxCode", ref, "Line.SalesItemLineDetail.TaxCodeRef")
    return dict(ref)


def _tax_calculation(company: Company, given: Any) -> str:
    if given is None:
        return "NotApplicable" if company.prefs.country == "US" else "TaxExcluded"
    if given not in ("TaxInclusive", "TaxExcluded", "NotApplicable"):
        raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {given}",
                       element="GlobalTaxCalculation")
    if company.prefs.country == "US" and given == "TaxInclusive":
        # US sales tax is always added on top (UNCERTAIN: QBO's exact refusal text).
        raise _business("Tax-inclusive amounts are not supported for US companies.",
                        "GlobalTaxCalculation")
    return str(given)


def _tax_detail(company: Company, given: Any, lines: list[Obj], calculation: str) -> Obj:
    """The tax QBO charges, one TaxLine per rate, each rounded to the cent.

    US: the transaction's one sales-tax code (`TxnTaxCodeRef`), on the lines coded TAX.
    Elsewhere: each line's own TaxCode; tax-inclusive amounts have theirs backed out."""
    bases: dict[str, Decimal] = {}
    if company.prefs.country == "US":
        code_ref = given.get("TxnTaxCodeRef") if isinstance(given, dict) else None
        if not code_ref:
            return {"TotalTax": Decimal(0)}
        code = company.reference("TaxCode", code_ref, "TxnTaxDetail.TxnTaxCodeRef")
        taxable = sum((line["Amount"] for line in lines
                       if line["SalesItemLineDetail"]["TaxCodeRef"]["value"] == "TAX"),
                      Decimal(0))
        for rate_id in _rate_ids(code):
            bases[rate_id] = bases.get(rate_id, Decimal(0)) + taxable
        detail: Obj = {"TxnTaxCodeRef": code_ref}
    else:
        if calculation == "NotApplicable":
            return {"TotalTax": Decimal(0)}
        for line in lines:
            ref = line["SalesItemLineDetail"].get("TaxCodeRef")
            if ref is None:
                raise _business("Make sure all your transactions have a tax rate before you "
                                "save.", "Line.SalesItemLineDetail.TaxCodeRef")
            for rate_id in _rate_ids(company.objects["TaxCode"][str(ref["value"])]):
                bases[rate_id] = bases.get(rate_id, Decimal(0)) + line["Amount"]
        detail = {}
    tax_lines: list[Obj] = []
    for rate_id, base in bases.items():
        percent = Decimal(str(company.objects["TaxRate"][rate_id]["RateValue"]))
        share = percent / (100 + percent) if calculation == "TaxInclusive" else percent / 100
        tax = (base * share).quantize(CENT, rounding=ROUND_HALF_UP)
        tax_lines.append({"Amount": tax, "DetailType": "TaxLineDetail", "TaxLineDetail": {
            "TaxRateRef": {"value": rate_id}, "PercentBased": True, "TaxPercent": percent,
            "NetAmountTaxable": base - tax if calculation == "TaxInclusive" else base}})
    return {**detail, "TotalTax": sum((t["Amount"] for t in tax_lines), Decimal(0)),
            "TaxLine": tax_lines}


def _rate_ids(code: Obj) -> list[str]:
    rates = (code.get("SalesTaxRateList") or {}).get("TaxRateDetail") or []
    return [str(rate["TaxRateRef"]["value"]) for rate in rates]


def _references(company: Company, body: Obj) -> None:
    """The references a transaction may carry to the company's other lists."""
    for field, entity in (("DepartmentRef", "Department"), ("ClassRef", "Class"),
                          ("PaymentMethodRef", "PaymentMethod"),
                          ("DepositToAccountRef", "Account")):
        if field in body:
            company.reference(entity, body[field], field)


def _doc_number(company: Company, entity: str, number: Any, current: Obj | None,
                allow_dup: bool) -> str:
    if not number:
        return str(current["DocNumber"]) if current else company.next_doc_number(entity)
    if company.prefs.custom_txn_numbers and not allow_dup:
        own_id = current["Id"] if current else None
        for other in company.rows(entity):
            if other.get("DocNumber") == number and other["Id"] != own_id:
                raise QboFault(
                    "6140", "Duplicate Document Number Error",
                    "Duplicate Document Number Error : You must specify a different number. "
                    f"This number has already been used. DocNumber={number} is assigned to "
                    f"TxnType={entity} with TxnId={other['Id']}")
    return str(number)


# -- payments --------------------------------------------------------------------------------


def build_payment(company: Company, body: Obj, current: Obj | None, allow_dup: bool) -> Obj:
    customer = company.resolve("Customer", body.get("CustomerRef"), "CustomerRef")
    if body.get("TotalAmt") is None:
        raise _business("You must set a transaction amount.", "TotalAmt")
    total = _decimal(body["TotalAmt"], "TotalAmt")
    own_id = current["Id"] if current else None
    lines: list[Obj] = []
    applications: list[Application] = []
    for line in body.get("Line") or []:
        amount = _decimal(line.get("Amount"), "Line.Amount")
        for linked in line.get("LinkedTxn") or []:
            txn_type, txn_id = linked.get("TxnType"), str(linked.get("TxnId"))
            if txn_type not in ("Invoice", "CreditMemo"):
                raise QboFault("2170", "Invalid Enumeration", f"Invalid Enumeration : {txn_type}",
                               element="Line.LinkedTxn.TxnType")
            target = company.visible(txn_type, txn_id)
            if target is None:
                raise not_found(element="Line.LinkedTxn")
            if target["CustomerRef"]["value"] != customer["Id"]:
                raise QboFault("620", "TxnID Cannot Be Linked",
                               f"TxnID Cannot Be Linked : {txn_type} {txn_id} belongs to another "
                               "customer", element="Line.LinkedTxn")
            open_amount = target["Balance"] + sum(
                (a for pid, a in company.applications_to(txn_type, txn_id) if pid == own_id),
                Decimal(0))
            if amount > open_amount:
                raise _business(f"The amount applied to {txn_type} {target['DocNumber']} "
                                f"({amount}) is more than its open balance ({open_amount}).",
                                "Line.Amount")
            applications.append(Application(txn_type, txn_id, amount))
        lines.append({**line, "Amount": amount})
    applied = sum((a.amount if a.txn_type == "Invoice" else -a.amount for a in applications),
                  Decimal(0))
    if applied > total:
        raise _business(f"The payment amount ({total}) is less than the amount applied "
                        f"({applied}).", "TotalAmt")
    _references(company, body)
    deposit = body.get("DepositToAccountRef")
    if deposit is not None and company.objects["Account"][str(deposit["value"])][
            "AccountType"] not in ("Bank", "Other Current Asset"):
        raise _business("Deposit to account must be a bank or other current asset account.",
                        "DepositToAccountRef")
    built = {
        **body,
        "CustomerRef": _named(body["CustomerRef"], customer, "DisplayName"),
        "TxnDate": body.get("TxnDate") or company.clock.now().date().isoformat(),
        "CurrencyRef": body.get("CurrencyRef") or {"value": company.prefs.home_currency},
        "DepositToAccountRef": body.get("DepositToAccountRef")
        or {"value": "4", "name": "Undeposited Funds"},
        "ProcessPayment": False,
        "TotalAmt": total,
        "UnappliedAmt": total - applied,
        "Line": lines,
    }
    # Balances move only once the whole payment is valid: a fault leaves nothing half-applied.
    built["_applications"] = applications
    return built


def apply_payment(company: Company, payment: Obj) -> None:
    """Record what a stored payment applies and refresh both sides' balances and links."""
    applications: list[Application] = payment.pop("_applications", [])
    touched = {(a.txn_type, a.txn_id) for a in company.applications.get(payment["Id"], [])}
    company.applications[payment["Id"]] = applications
    touched |= {(a.txn_type, a.txn_id) for a in applications}
    for txn_type, txn_id in sorted(touched):
        refresh_balance(company, txn_type, txn_id)


def unapply_payment(company: Company, payment_id: str) -> None:
    touched = {(a.txn_type, a.txn_id) for a in company.applications.pop(payment_id, [])}
    for txn_type, txn_id in sorted(touched):
        refresh_balance(company, txn_type, txn_id)


def refresh_balance(company: Company, txn_type: str, txn_id: str) -> None:
    target = company.objects[txn_type].get(txn_id)
    if target is None:
        return
    payments = list(company.applications_to(txn_type, txn_id))
    target["Balance"] = target["TotalAmt"] - sum((a for _, a in payments), Decimal(0))
    if txn_type == "CreditMemo":
        target["RemainingCredit"] = target["Balance"]
    target["LinkedTxn"] = [{"TxnId": pid, "TxnType": "Payment"} for pid, _ in payments]
    company.touch(txn_type, target)


def detach_payments(company: Company, txn_type: str, txn_id: str) -> None:
    """Unlink a voided or deleted invoice/credit memo: its payments become unapplied credit."""
    for payment_id, applied in company.applications.items():
        kept = [a for a in applied if (a.txn_type, a.txn_id) != (txn_type, txn_id)]
        if len(kept) == len(applied):
            continue
        company.applications[payment_id] = kept
        payment = company.objects["Payment"][payment_id]
        payment["Line"] = [line for line in payment["Line"] if not any(
            (linked.get("TxnType"), str(linked.get("TxnId"))) == (txn_type, txn_id)
            for linked in line.get("LinkedTxn") or [])]
        applied_now = sum((a.amount if a.txn_type == "Invoice" else -a.amount for a in kept),
                          Decimal(0))
        payment["UnappliedAmt"] = payment["TotalAmt"] - applied_now
        company.touch("Payment", payment)
        for other in kept:
            refresh_balance(company, other.txn_type, other.txn_id)


BUILDERS: dict[str, Builder] = {
    "Customer": build_customer,
    "Item": build_item,
    "Invoice": _sales_txn("Invoice"),
    "CreditMemo": _sales_txn("CreditMemo"),
    "Payment": build_payment,
}


# -- void and delete -------------------------------------------------------------------------


def void(company: Company, entity: str, body: Obj) -> Obj:
    """`?operation=void` (invoice) or `?operation=update&include=void` (payment).

    As QBO does, an invoice with payments applied is voided and its payments stay, unapplied
    (issue 12 observed it; syncdesk refuses before it sends such a void)."""
    current = company.current(entity, body)
    if entity == "Invoice":
        detach_payments(company, entity, current["Id"])
        lines = [{**line, "Amount": Decimal(0)} for line in current["Line"]]
        voided = {**current, "Line": lines, "TotalAmt": Decimal(0), "Balance": Decimal(0),
                  "TxnTaxDetail": {"TotalTax": Decimal(0)}, "LinkedTxn": []}
    elif entity == "Payment":
        unapply_payment(company, current["Id"])
        voided = {**current, "Line": [], "TotalAmt": Decimal(0), "UnappliedAmt": Decimal(0)}
    else:
        raise unsupported_operation("void", entity)
    company.notes_before_void.setdefault((entity, current["Id"]), current.get("PrivateNote"))
    voided["PrivateNote"] = "Voided"
    return company.store(entity, voided, current, operation="Void")


def delete(company: Company, entity: str, body: Obj) -> Obj:
    current = company.current(entity, body)
    discard(company, entity, current["Id"])
    return {"Id": current["Id"], "status": "Deleted", "domain": "QBO"}


def discard(company: Company, entity: str, object_id: str) -> bool:
    """Remove an object and whatever it applied; False if there is none."""
    if company.remove(entity, object_id) is None:
        return False
    if entity == "Payment":
        unapply_payment(company, object_id)
    elif entity in ("Invoice", "CreditMemo"):
        detach_payments(company, entity, object_id)
    return True


def unrecognized_fields(entity: str, body: Obj) -> None:
    """2010 for the first field Intuit's schema does not have, as QBO answers a typo: it
    never drops a field it does not know, nor saves it."""
    for type_name, key in _unknown(body, entity):
        raise QboFault("2010", "Request has invalid or unsupported property",
                       f'Property Name:Unrecognized field "{key}" (class '
                       f"com.intuit.schema.finance.v3.{type_name}), not marked as ignorable "
                       "specified is unsupported or invalid", element=key)


def _unknown(value: Any, type_name: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, list):
        for entry in value:
            yield from _unknown(entry, type_name)
        return
    if not isinstance(value, dict):
        return
    known = TYPES.get(type_name, {})
    for key, child in value.items():
        if key not in known:
            yield type_name, key
        elif (child_type := known[key]) is not None:
            yield from _unknown(child, child_type)


def request_id_too_long(element: str, limit: int) -> QboFault:
    """A `requestid` (or a batch's `bId`) longer than Intuit allows: 50 on a single request, 36
    on a batch, 10 for a `bId` beside a requestid (Intuit blog "Request ID update for QuickBooks
    Online integration", PLATFORMS.md §1.5). Code 2050 and this wording are Intuit's for an
    over-long string; that it is what these limits answer is UNCERTAIN (not documented)."""
    return QboFault("2050", "Invalid String Length",
                    "String length is either shorter or longer than supported by specification. "
                    f"{element}:Max={limit}", element=element)


def unsupported_operation(operation: str, entity: str) -> QboFault:
    return QboFault("500", "Unsupported Operation",
                    f"Operation {operation} is not supported for {entity}.")
