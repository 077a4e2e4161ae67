"""The GraphQL documents the client sends, built from one field list per object.

Only fields the client reads are selected: Wave rejects a document naming a field it does
not have (GRAPHQL_VALIDATION_FAILED), so a short selection is also a smaller surface.
Lists are page-numbered connections whose `sort` argument is required (PLATFORMS.md §3.1);
newest first, so that a lookup after a lost create meets our own object before older ones.
"""

from __future__ import annotations

from dataclasses import dataclass

CUSTOMER = "id name displayId email phone"
PRODUCT = "id name description unitPrice isArchived incomeAccount { id }"
INVOICE = "id invoiceNumber status lastSentAt footer total { value } amountPaid { value }"
ACCOUNT = "id name isArchived type { value } subtype { value }"
SALES_TAX = "id name abbreviation rate isArchived"
CUSTOMER_CHANGED = ("id name email phone modifiedAt address { addressLine1 addressLine2 city "
                    "postalCode province { code } country { code } }")
PRODUCT_CHANGED = "id isArchived modifiedAt"
INVOICE_STATE = ("id invoiceNumber status modifiedAt total { value } amountDue { value } "
                 "customer { id } items { quantity }")

_INPUT_ERRORS = "didSucceed inputErrors { code message path }"
_PAGE = "pageInfo { currentPage totalPages totalCount }"

BUSINESSES = f"""
query ($page: Int!, $pageSize: Int!) {{
  businesses(page: $page, pageSize: $pageSize) {{
    {_PAGE}
    edges {{ node {{ id name isPersonal isArchived isClassicAccounting isClassicInvoicing }} }}
  }}
}}"""


@dataclass(frozen=True)
class Mutation:
    name: str
    entity: str | None
    """The field of the answer holding the object written; None when it holds none."""
    text: str


def mutation(name: str, input_type: str, entity: str | None = None,
             fields: str = "") -> Mutation:
    """`name(input: $input)` answering didSucceed, inputErrors and the entity's fields."""
    selection = f"{entity} {{ {fields} }}" if entity else ""
    return Mutation(name, entity, f"mutation ($input: {input_type}!) {{ {name}(input: $input) "
                                  f"{{ {_INPUT_ERRORS} {selection} }} }}")


def one(field: str, fields: str) -> str:
    """One object of the business by id: `business { field(id) }`."""
    return (f"query ($businessId: ID!, $id: ID!) {{ business(id: $businessId) "
            f"{{ {field}(id: $id) {{ {fields} }} }} }}")


def page(field: str, fields: str, *, sort: str | None = None,
         filters: dict[str, str] | None = None) -> str:
    """One page of a business's connection, with optional filter variables."""
    filters = filters or {}
    declared = "".join(f", ${name}: {kind}" for name, kind in filters.items())
    arguments = "".join(f", {name}: ${name}" for name in filters)
    if sort:
        arguments += f", sort: [{sort}]"
    return (f"query ($businessId: ID!, $page: Int!, $pageSize: Int!{declared}) "
            f"{{ business(id: $businessId) {{ {field}(page: $page, pageSize: $pageSize"
            f"{arguments}) {{ {_PAGE} edges {{ node {{ {fields} }} }} }} }} }}")


CUSTOMER_CREATE = mutation("customerCreate", "CustomerCreateInput", "customer", CUSTOMER)
CUSTOMER_PATCH = mutation("customerPatch", "CustomerPatchInput", "customer", CUSTOMER)
PRODUCT_CREATE = mutation("productCreate", "ProductCreateInput", "product", PRODUCT)
PRODUCT_PATCH = mutation("productPatch", "ProductPatchInput", "product", PRODUCT)
INVOICE_CREATE = mutation("invoiceCreate", "InvoiceCreateInput", "invoice", INVOICE)
INVOICE_PATCH = mutation("invoicePatch", "InvoicePatchInput", "invoice", INVOICE)
INVOICE_APPROVE = mutation("invoiceApprove", "InvoiceApproveInput", "invoice", INVOICE)
INVOICE_MARK_SENT = mutation("invoiceMarkSent", "InvoiceMarkSentInput", "invoice", INVOICE)
INVOICE_DELETE = mutation("invoiceDelete", "InvoiceDeleteInput")

GET_CUSTOMER = one("customer", CUSTOMER)
GET_PRODUCT = one("product", PRODUCT)
GET_INVOICE = one("invoice", INVOICE)

CUSTOMERS = page("customers", CUSTOMER, sort="CREATED_AT_DESC", filters={"email": "String"})
PRODUCTS = page("products", PRODUCT, sort="CREATED_AT_DESC")
INVOICES_NUMBERED = page("invoices", INVOICE, sort="CREATED_AT_DESC",
                         filters={"invoiceNumber": "String"})
CHANGED = {"modifiedAtAfter": "DateTime"}
CUSTOMERS_CHANGED = page("customers", CUSTOMER_CHANGED, sort="MODIFIED_AT_ASC", filters=CHANGED)
PRODUCTS_CHANGED = page("products", PRODUCT_CHANGED, sort="MODIFIED_AT_ASC", filters=CHANGED)
INVOICES_CHANGED = page("invoices", INVOICE_STATE, sort="MODIFIED_AT_ASC", filters=CHANGED)
INVOICE_STATES = page("invoices", INVOICE_STATE, sort="CREATED_AT_DESC")
ACCOUNTS = page("accounts", ACCOUNT)
SALES_TAXES = page("salesTaxes", SALES_TAX)
