"""The fields Xero knows on what it accepts: the writable properties of its OpenAPI spec.

Real Xero ignores a field it does not know (issue #12: it drops a misspelt `TaxTyp` and
applies the account's default tax), so the sandbox drops every other field before it saves
anything: a mapping typo comes back missing, never echoed as saved. Read-only and answer-only
properties (ValidationErrors, StatusAttributeString, …) are left out too; what the sandbox
computes itself (Total, TaxAmount, …) it overwrites anyway.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Json = dict[str, Any]

_ADDRESS = frozenset({"AddressType", "AddressLine1", "AddressLine2", "AddressLine3",
                      "AddressLine4", "City", "Region", "PostalCode", "Country", "AttentionTo"})
_PHONE = frozenset({"PhoneType", "PhoneNumber", "PhoneAreaCode", "PhoneCountryCode"})
_CONTACT = frozenset({
    "ContactID", "MergedToContactID", "ContactNumber", "AccountNumber", "ContactStatus", "Name",
    "FirstName", "LastName", "CompanyNumber", "EmailAddress", "ContactPersons",
    "BankAccountDetails", "TaxNumber", "TaxNumberType", "AccountsReceivableTaxType",
    "AccountsPayableTaxType", "Addresses", "Phones", "IsSupplier", "IsCustomer",
    "SalesDefaultLineAmountType", "PurchasesDefaultLineAmountType", "DefaultCurrency",
    "XeroNetworkKey", "SalesDefaultAccountCode", "PurchasesDefaultAccountCode",
    "SalesTrackingCategories", "PurchasesTrackingCategories", "TrackingCategoryName",
    "TrackingCategoryOption", "PaymentTerms", "ContactGroups", "BrandingTheme",
})
_ITEM = frozenset({"ItemID", "Code", "InventoryAssetAccountCode", "Name", "IsSold",
                   "IsPurchased", "Description", "PurchaseDescription", "PurchaseDetails",
                   "SalesDetails", "IsTrackedAsInventory"})
_PURCHASE = frozenset({"UnitPrice", "AccountCode", "COGSAccountCode", "TaxType"})
_LINE = frozenset({"LineItemID", "Description", "Quantity", "UnitAmount", "ItemCode",
                   "AccountCode", "AccountID", "TaxType", "TaxAmount", "Item", "LineAmount",
                   "Tracking", "DiscountRate", "DiscountAmount", "Taxability"})
_TRACKING = frozenset({"TrackingCategoryID", "TrackingOptionID", "Name", "Option"})
_REFERENCE = frozenset({"ContactID", "Name", "ContactNumber", "InvoiceID", "InvoiceNumber",
                        "CreditNoteID", "CreditNoteNumber", "AccountID", "Code",
                        "OverpaymentID"})
_INVOICE = frozenset({"InvoiceID", "Type", "Contact", "LineItems", "Date", "DueDate",
                      "LineAmountTypes", "InvoiceNumber", "Reference", "BrandingThemeID", "Url",
                      "CurrencyCode", "CurrencyRate", "Status", "SentToContact",
                      "ExpectedPaymentDate", "PlannedPaymentDate"})
_CREDIT_NOTE = frozenset({"CreditNoteID", "Type", "Contact", "Date", "DueDate", "Status",
                          "LineAmountTypes", "LineItems", "CurrencyCode", "CreditNoteNumber",
                          "Reference", "CurrencyRate", "BrandingThemeID"})
_PAYMENT = frozenset({"PaymentID", "Invoice", "CreditNote", "Prepayment", "Overpayment",
                      "InvoiceNumber", "CreditNoteNumber", "Account", "Code", "Date",
                      "CurrencyRate", "Amount", "BankAmount", "Reference", "IsReconciled",
                      "Status", "Details"})
_BANK_TRANSACTION = frozenset({"BankTransactionID", "Type", "Contact", "LineItems",
                               "BankAccount", "IsReconciled", "Date", "Reference",
                               "CurrencyCode", "CurrencyRate", "Url", "Status",
                               "LineAmountTypes"})
_BATCH_PAYMENT = frozenset({"BatchPaymentID", "Account", "Reference", "Particulars", "Code",
                            "Details", "Narrative", "Date", "Payments", "Status",
                            "IsReconciled"})
_ALLOCATION = frozenset({"AllocationID", "Invoice", "Overpayment", "Prepayment", "CreditNote",
                         "Amount", "Date"})

_SCHEMAS: dict[str, tuple[frozenset[str], Mapping[str, str]]] = {
    "Contact": (_CONTACT, {"Addresses": "Address", "Phones": "Phone"}),
    "Address": (_ADDRESS, {}),
    "Phone": (_PHONE, {}),
    "Item": (_ITEM, {"SalesDetails": "Purchase", "PurchaseDetails": "Purchase"}),
    "Purchase": (_PURCHASE, {}),
    "Invoice": (_INVOICE, {"Contact": "Reference", "LineItems": "LineItem"}),
    "CreditNote": (_CREDIT_NOTE, {"Contact": "Reference", "LineItems": "LineItem"}),
    "LineItem": (_LINE, {"Tracking": "LineItemTracking"}),
    "LineItemTracking": (_TRACKING, {}),
    "Payment": (_PAYMENT, {"Invoice": "Reference", "CreditNote": "Reference",
                           "Overpayment": "Reference", "Account": "Reference"}),
    "BankTransaction": (_BANK_TRANSACTION, {"Contact": "Reference", "BankAccount": "Reference",
                                            "LineItems": "LineItem"}),
    "BatchPayment": (_BATCH_PAYMENT, {"Account": "Reference", "Payments": "Payment"}),
    "Allocation": (_ALLOCATION, {"Invoice": "Reference", "CreditNote": "Reference",
                                 "Overpayment": "Reference"}),
    "Reference": (_REFERENCE, {}),
}


def known(schema: str, value: Mapping[str, Any]) -> Json:
    """`value` with only the fields Xero knows on a `schema` object, nested objects too."""
    fields, nested = _SCHEMAS[schema]
    kept: Json = {}
    for name, field in value.items():
        if name not in fields:
            continue
        inner = nested.get(name)
        if inner is not None and isinstance(field, Mapping):
            field = known(inner, field)
        elif inner is not None and isinstance(field, list):
            field = [known(inner, e) if isinstance(e, Mapping) else e for e in field]
        kept[name] = field
    return kept


_ANSWERED: dict[str, frozenset[str]] = {
    "Contact": frozenset({"UpdatedDateUTC", "HasAttachments", "HasValidationErrors",
                          "Balances", "Website", "Discount"}),
    "Item": frozenset({"UpdatedDateUTC", "TotalCostPool", "QuantityOnHand"}),
    "Invoice": frozenset({"UpdatedDateUTC", "SubTotal", "TotalTax", "Total", "AmountDue",
                          "AmountPaid", "AmountCredited", "FullyPaidOnDate", "Payments",
                          "CreditNotes", "Overpayments", "Prepayments", "HasAttachments",
                          "IsDiscounted", "HasErrors", "TotalDiscount"}),
    "CreditNote": frozenset({"UpdatedDateUTC", "SubTotal", "TotalTax", "Total",
                             "RemainingCredit", "FullyPaidOnDate", "Allocations", "Payments",
                             "AppliedAmount", "HasAttachments", "HasErrors"}),
    "Payment": frozenset({"UpdatedDateUTC", "PaymentType", "BatchPaymentID", "BatchPayment",
                          "HasAccount", "HasValidationErrors"}),
    "BankTransaction": frozenset({"UpdatedDateUTC", "SubTotal", "TotalTax", "Total",
                                  "OverpaymentID", "PrepaymentID", "HasAttachments"}),
    "BatchPayment": frozenset({"UpdatedDateUTC", "Type", "TotalAmount"}),
    "Overpayment": frozenset({"OverpaymentID", "Type", "Contact", "Date", "Status",
                              "LineAmountTypes", "LineItems", "SubTotal", "TotalTax", "Total",
                              "UpdatedDateUTC", "CurrencyCode", "RemainingCredit",
                              "Allocations", "Payments", "HasAttachments", "Reference"}),
    "Reference": frozenset({"ContactStatus", "Type"}),
}
"""What Xero answers beyond what it accepts: the read-only properties `where` and `order` may
name too (spec schemas, `readOnly` properties)."""
_ANSWER_NESTED = {"Overpayment": {"Contact": "Reference", "LineItems": "LineItem"}}


def properties(schema: str, prefix: str = "") -> dict[str, frozenset[str]]:
    """Every property a `where` may name on a `schema` object, by parent path ('' for the
    object itself, 'Contact' for its contact, …), as `_query.Schema` wants them."""
    fields, nested = _SCHEMAS.get(schema, (frozenset(), _ANSWER_NESTED.get(schema, {})))
    found = {prefix: fields | _ANSWERED.get(schema, frozenset())}
    for name, inner in nested.items():
        if prefix.count(".") < 2:
            found.update(properties(inner, f"{prefix}.{name}" if prefix else name))
    return found
