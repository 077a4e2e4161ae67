"""The validation messages the sandbox answers with, in Xero's words where they are known.

Observed in real traffic (PLATFORMS.md §2, issue threads cited there): the invoice-number,
contact-name, empty-name, account-code, tax-type, "Account code must be specified" and
"Price List Item …" messages, and "Invoice not of valid status for modification".
The others are UNCERTAIN: Xero's exact wording was not found, so they say plainly what Xero
refuses; the client must never match on them (it classifies on the uniqueness ones only).
"""

from __future__ import annotations

INVOICE_NUMBER_UNIQUE = "Invoice # must be unique."
CONTACT_NAME_EMPTY = "Contact Name cannot be empty."
EMAIL_INVALID = "Email address must be valid."
ACCOUNT_REQUIRED = "Account code must be specified"
NOT_MODIFIABLE = "Invoice not of valid status for modification"


def contact_name_taken(name: str) -> str:
    return (f"The contact name {name} is already assigned to another contact. "
            "The contact name must be unique across all active contacts.")


def item_code_taken(code: str) -> str:
    return f"Price List Item with Code '{code}' already exists"


ITEM_CODE_REQUIRED = "Price List Item Code must be supplied"


def account_invalid(code: str) -> str:
    return f"Account code '{code}' is not a valid code for this document."


def tax_type_invalid(tax_type: str) -> str:
    return (f"The TaxType code {tax_type} does not exist or cannot be used for this type of "
            "transaction.")


# -- UNCERTAIN wording below ---------------------------------------------------------------

def item_code_invalid(code: str) -> str:
    return f"Item code '{code}' is not valid"


def contact_missing(contact_id: str) -> str:
    return f"The Contact with ContactID '{contact_id}' could not be found."


def document_missing(kind: str, document_id: str) -> str:
    return f"The {kind} '{document_id}' could not be found."


def name_too_long(field: str, limit: int) -> str:
    return f"{field} must not be more than {limit} characters long."


PUT_WITH_ID = "PUT only creates: use POST to update an existing object."
TYPE_REQUIRED = "Type must be ACCREC or ACCPAY."
CREDIT_TYPE_REQUIRED = "Type must be ACCRECCREDIT or ACCPAYCREDIT."
LINES_REQUIRED = "At least one line item is required to approve this document."
PAYMENT_NOT_AUTHORISED = "Payments can only be made against approved (AUTHORISED) documents."
BATCH_PAYMENT_NOT_MODIFIABLE = "A batch payment can only be deleted: send Status DELETED."
PAYMENT_IN_BATCH = ("This payment is part of a batch payment: remove the batch payment to "
                    "change it.")
BATCH_PAYMENT_EMPTY = "A batch payment needs at least one payment."
PAYMENT_EXCEEDS_DUE = "Payment amount exceeds the amount outstanding on this document."
AMOUNT_POSITIVE = "Amount must be greater than zero."
ALLOCATION_EXCEEDS_CREDIT = "Allocation amount exceeds the remaining credit on this credit note."
CREDIT_NOT_AUTHORISED = "Only an approved (AUTHORISED) credit note can be allocated."
VOID_WITH_PAYMENTS = "This document cannot be voided because payments are allocated to it."
CONTACT_MISMATCH = "The invoice and the credit note must belong to the same contact."


def status_change_refused(old: str, new: str) -> str:
    return f"The status of a document cannot be changed from {old} to {new}."
TRACKING_TWO_AT_MOST = "A line item can have at most two tracking categories, one option each."
BANK_TRANSACTION_NOT_MODIFIABLE = "This bank transaction can only be deleted: send Status DELETED."
OVERPAYMENT_ALLOCATED = ("This overpayment cannot be voided because it has allocations: remove "
                         "the allocations first.")
OVERPAYMENT_NOT_AUTHORISED = "Only an AUTHORISED overpayment can be allocated."
ALLOCATION_EXCEEDS_OVERPAYMENT = ("Allocation amount exceeds the remaining credit on this "
                                  "overpayment.")


def tracking_category_invalid(name: str) -> str:
    return f"The tracking category {name} does not exist or is not active."


def tracking_option_invalid(category: str, option: str) -> str:
    return f"The tracking option {option} does not exist in the tracking category {category}."


def bank_transaction_type_unsupported(kind: str) -> str:
    return (f"The sandbox models only RECEIVE-OVERPAYMENT bank transactions, not {kind}.")
