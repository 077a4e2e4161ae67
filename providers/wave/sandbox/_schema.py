"""The subset of Wave's public GraphQL schema (gql.waveapps.com/graphql/public) the sandbox
serves. Names, nullability and argument defaults follow Wave's API reference
(developer.waveapps.com/hc/en-us/articles/360019968212) as far as its public copies show;
anything not listed here is rejected with GRAPHQL_VALIDATION_FAILED, as Wave does.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from graphql import GraphQLError, GraphQLScalarType, GraphQLSchema, build_schema
from graphql.language import FloatValueNode, IntValueNode, StringValueNode, ValueNode

SDL = """
scalar Date
scalar DateTime
scalar Decimal

type Query {
  user: User
  businesses(page: Int = 1, pageSize: Int = 10): BusinessConnection
  business(id: ID): Business
}

type Mutation {
  customerCreate(input: CustomerCreateInput!): CustomerCreateOutput
  customerPatch(input: CustomerPatchInput!): CustomerPatchOutput
  customerDelete(input: CustomerDeleteInput!): CustomerDeleteOutput
  productCreate(input: ProductCreateInput!): ProductCreateOutput
  productPatch(input: ProductPatchInput!): ProductPatchOutput
  productArchive(input: ProductArchiveInput!): ProductArchiveOutput
  invoiceCreate(input: InvoiceCreateInput!): InvoiceCreateOutput
  invoicePatch(input: InvoicePatchInput!): InvoicePatchOutput
  invoiceDelete(input: InvoiceDeleteInput!): InvoiceDeleteOutput
  invoiceApprove(input: InvoiceApproveInput!): InvoiceApproveOutput
  invoiceMarkSent(input: InvoiceMarkSentInput!): InvoiceMarkSentOutput
  moneyTransactionCreate(input: MoneyTransactionCreateInput!): MoneyTransactionCreateOutput
}

type User {
  id: ID!
  firstName: String
  lastName: String
  defaultEmail: String
}

type PageInfo {
  currentPage: Int!
  totalPages: Int!
  totalCount: Int!
}

type Currency {
  code: CurrencyCode!
  symbol: String!
  name: String!
}

type Money {
  raw: Int!
  value: String!
  currency: Currency!
}

type Country {
  code: CountryCode!
  name: String!
}

type Province {
  code: String!
  name: String!
}

type Address {
  addressLine1: String
  addressLine2: String
  city: String
  province: Province
  country: Country
  postalCode: String
}

type InputError {
  message: String
  code: String
  path: [String!]
}

type Business {
  id: ID!
  name: String!
  isPersonal: Boolean!
  isClassicAccounting: Boolean!
  isClassicInvoicing: Boolean!
  isArchived: Boolean!
  currency: Currency!
  createdAt: DateTime!
  modifiedAt: DateTime!
  customer(id: ID!): Customer
  customers(page: Int = 1, pageSize: Int = 20, sort: [CustomerSort!]! = [NAME_ASC],
            email: String, modifiedAtAfter: DateTime,
            modifiedAtBefore: DateTime): CustomerConnection
  product(id: ID!): Product
  products(page: Int = 1, pageSize: Int = 20, sort: [ProductSort!]! = [NAME_ASC],
           isSold: Boolean, isBought: Boolean, isArchived: Boolean,
           modifiedAtAfter: DateTime, modifiedAtBefore: DateTime): ProductConnection
  invoice(id: ID!): Invoice
  invoices(page: Int = 1, pageSize: Int = 10, sort: [InvoiceSort!]! = [CREATED_AT_DESC],
           status: InvoiceStatus, customerId: ID, currency: CurrencyCode,
           invoiceDateStart: Date, invoiceDateEnd: Date, invoiceNumber: String,
           modifiedAtAfter: DateTime, modifiedAtBefore: DateTime): InvoiceConnection
  account(id: ID!): Account
  accounts(page: Int = 1, pageSize: Int = 20, types: [AccountTypeValue!],
           subtypes: [AccountSubtypeValue!], isArchived: Boolean): AccountConnection
  salesTax(id: ID!): SalesTax
  salesTaxes(page: Int = 1, pageSize: Int = 20, isArchived: Boolean): SalesTaxConnection
}

type BusinessConnection { pageInfo: PageInfo!  edges: [BusinessEdge!]! }
type BusinessEdge { node: Business }
type CustomerConnection { pageInfo: PageInfo!  edges: [CustomerEdge!]! }
type CustomerEdge { node: Customer }
type ProductConnection { pageInfo: PageInfo!  edges: [ProductEdge!]! }
type ProductEdge { node: Product }
type InvoiceConnection { pageInfo: PageInfo!  edges: [InvoiceEdge!]! }
type InvoiceEdge { node: Invoice }
type AccountConnection { pageInfo: PageInfo!  edges: [AccountEdge!]! }
type AccountEdge { node: Account }
type SalesTaxConnection { pageInfo: PageInfo!  edges: [SalesTaxEdge!]! }
type SalesTaxEdge { node: SalesTax }

type Customer {
  id: ID!
  name: String!
  firstName: String
  lastName: String
  displayId: String
  email: String
  mobile: String
  phone: String
  fax: String
  tollFree: String
  website: String
  internalNotes: String
  address: Address
  currency: Currency
  isArchived: Boolean
  createdAt: DateTime!
  modifiedAt: DateTime!
}

type Product {
  id: ID!
  name: String!
  description: String
  unitPrice: Decimal!
  isSold: Boolean!
  isBought: Boolean!
  isArchived: Boolean!
  incomeAccount: Account
  expenseAccount: Account
  defaultSalesTaxes: [SalesTax!]!
  createdAt: DateTime!
  modifiedAt: DateTime!
}

enum AccountTypeValue { ASSET LIABILITY EQUITY INCOME EXPENSE }
enum AccountNormalBalanceType { CREDIT DEBIT }
enum AccountSubtypeValue {
  CASH_AND_BANK MONEY_IN_TRANSIT EXPECTED_PAYMENTS_FROM_CUSTOMERS INVENTORY
  PROPERTY_PLANT_EQUIPMENT DEPRECIATION_AND_AMORTIZATION VENDOR_PREPAYMENTS
  OTHER_SHORT_TERM_ASSET OTHER_LONG_TERM_ASSET CREDIT_CARD LOANS EXPECTED_PAYMENTS_TO_VENDORS
  SALES_TAX DUE_FOR_PAYROLL DUE_TO_YOU_AND_OTHER_OWNERS CUSTOMER_PREPAYMENTS_AND_CREDITS
  OTHER_SHORT_TERM_LIABILITY OTHER_LONG_TERM_LIABILITY BUSINESS_OWNER_CONTRIBUTION
  RETAINED_EARNINGS INCOME DISCOUNTS OTHER_INCOME UNCATEGORIZED_INCOME
  GAIN_ON_FOREIGN_EXCHANGE COST_OF_GOODS_SOLD OPERATING_EXPENSE PAYMENT_PROCESSING_FEES
  PAYROLL_EXPENSES UNCATEGORIZED_EXPENSE LOSS_ON_FOREIGN_EXCHANGE
}

type AccountType {
  name: String!
  normalBalanceType: AccountNormalBalanceType!
  value: AccountTypeValue!
}

type AccountSubtype {
  name: String!
  value: AccountSubtypeValue!
  type: AccountType!
}

type Account {
  id: ID!
  name: String!
  description: String
  displayId: String
  currency: Currency!
  type: AccountType!
  subtype: AccountSubtype!
  normalBalanceType: AccountNormalBalanceType!
  isArchived: Boolean!
}

type SalesTax {
  id: ID!
  name: String!
  abbreviation: String!
  description: String
  rate: Decimal!
  isArchived: Boolean!
}

enum InvoiceStatus { DRAFT OVERDUE PAID PARTIAL SAVED SENT UNPAID VIEWED }
enum InvoiceCreateStatus { DRAFT SAVED }
enum InvoiceSendMethod {
  EXPORT_PDF GMAIL MARKED_SENT NOT_SENT OUTLOOK SHARED_LINK SKIPPED WAVE YAHOO
}
enum CustomerSort {
  CREATED_AT_ASC CREATED_AT_DESC MODIFIED_AT_ASC MODIFIED_AT_DESC NAME_ASC NAME_DESC
}
enum ProductSort {
  CREATED_AT_ASC CREATED_AT_DESC MODIFIED_AT_ASC MODIFIED_AT_DESC NAME_ASC NAME_DESC
}
enum InvoiceSort {
  AMOUNT_DUE_ASC AMOUNT_DUE_DESC CREATED_AT_ASC CREATED_AT_DESC CUSTOMER_NAME_ASC
  CUSTOMER_NAME_DESC DUE_AT_ASC DUE_AT_DESC INVOICE_DATE_ASC INVOICE_DATE_DESC
  INVOICE_NUMBER_ASC INVOICE_NUMBER_DESC MODIFIED_AT_ASC MODIFIED_AT_DESC STATUS_ASC
  STATUS_DESC
}

type InvoiceItemTax {
  amount: Money!
  salesTax: SalesTax!
}

type InvoiceItem {
  product: Product!
  description: String
  quantity: Decimal!
  unitPrice: Decimal!
  subtotal: Money!
  total: Money!
  account: Account
  taxes: [InvoiceItemTax!]!
}

type Invoice {
  id: ID!
  createdAt: DateTime!
  modifiedAt: DateTime!
  pdfUrl: String!
  viewUrl: String!
  status: InvoiceStatus!
  title: String
  subhead: String
  invoiceNumber: String!
  poNumber: String
  invoiceDate: Date!
  dueDate: Date!
  amountDue: Money!
  amountPaid: Money!
  taxTotal: Money!
  subtotal: Money!
  total: Money!
  currency: Currency!
  exchangeRate: Decimal!
  customer: Customer!
  items: [InvoiceItem!]!
  memo: String
  footer: String
  lastSentAt: DateTime
  lastSentVia: InvoiceSendMethod
}

type Transaction { id: ID! }

input AddressInput {
  addressLine1: String
  addressLine2: String
  city: String
  provinceCode: String
  countryCode: CountryCode
  postalCode: String
}

input CustomerCreateInput {
  businessId: ID!
  name: String!
  firstName: String
  lastName: String
  displayId: String
  email: String
  mobile: String
  phone: String
  fax: String
  tollFree: String
  website: String
  internalNotes: String
  currency: CurrencyCode
  address: AddressInput
}

input CustomerPatchInput {
  id: ID!
  name: String
  firstName: String
  lastName: String
  displayId: String
  email: String
  mobile: String
  phone: String
  fax: String
  tollFree: String
  website: String
  internalNotes: String
  currency: CurrencyCode
  address: AddressInput
}

input CustomerDeleteInput { id: ID! }

input ProductCreateInput {
  businessId: ID!
  name: String!
  unitPrice: Decimal!
  description: String
  defaultSalesTaxIds: [ID!]
  incomeAccountId: ID
  expenseAccountId: ID
}

input ProductPatchInput {
  id: ID!
  name: String
  unitPrice: Decimal
  description: String
  defaultSalesTaxIds: [ID!]
  incomeAccountId: ID
  expenseAccountId: ID
}

input ProductArchiveInput { id: ID! }

input InvoiceCreateItemTaxInput { salesTaxId: ID!  amount: Decimal }

input InvoiceCreateItemInput {
  productId: ID!
  description: String
  quantity: Decimal
  unitPrice: Decimal
  taxes: [InvoiceCreateItemTaxInput!]
}

input InvoiceCreateInput {
  businessId: ID!
  customerId: ID!
  status: InvoiceCreateStatus = SAVED
  currency: CurrencyCode
  title: String
  subhead: String
  invoiceNumber: String
  poNumber: String
  invoiceDate: Date
  exchangeRate: Decimal
  dueDate: Date
  items: [InvoiceCreateItemInput!]
  memo: String
  footer: String
}

input InvoicePatchItemTaxInput { salesTaxId: ID!  amount: Decimal }

input InvoicePatchItemInput {
  productId: ID!
  description: String
  quantity: Decimal
  unitPrice: Decimal
  taxes: [InvoicePatchItemTaxInput!]
}

input InvoicePatchInput {
  id: ID!
  customerId: ID
  currency: CurrencyCode
  title: String
  subhead: String
  invoiceNumber: String
  poNumber: String
  invoiceDate: Date
  exchangeRate: Decimal
  dueDate: Date
  items: [InvoicePatchItemInput!]
  memo: String
  footer: String
}

input InvoiceDeleteInput { invoiceId: ID! }
input InvoiceApproveInput { invoiceId: ID! }
input InvoiceMarkSentInput { invoiceId: ID!  sendMethod: InvoiceSendMethod!  sentAt: DateTime }

enum TransactionDirection { DEPOSIT WITHDRAWAL }
enum BalanceType { DEBIT CREDIT INCREASE DECREASE }

input MoneyTransactionCreateAnchorInput {
  accountId: ID!
  amount: Decimal!
  direction: TransactionDirection!
}

input MoneyTransactionCreateLineItemInput {
  accountId: ID!
  amount: Decimal!
  balance: BalanceType!
  customerId: ID
  description: String
}

input MoneyTransactionCreateInput {
  businessId: ID!
  externalId: String!
  date: Date!
  description: String
  notes: String
  anchor: MoneyTransactionCreateAnchorInput!
  lineItems: [MoneyTransactionCreateLineItemInput!]!
}

type CustomerCreateOutput { didSucceed: Boolean!  inputErrors: [InputError!]  customer: Customer }
type CustomerPatchOutput { didSucceed: Boolean!  inputErrors: [InputError!]  customer: Customer }
type CustomerDeleteOutput { didSucceed: Boolean!  inputErrors: [InputError!] }
type ProductCreateOutput { didSucceed: Boolean!  inputErrors: [InputError!]  product: Product }
type ProductPatchOutput { didSucceed: Boolean!  inputErrors: [InputError!]  product: Product }
type ProductArchiveOutput { didSucceed: Boolean!  inputErrors: [InputError!]  product: Product }
type InvoiceCreateOutput { didSucceed: Boolean!  inputErrors: [InputError!]  invoice: Invoice }
type InvoicePatchOutput { didSucceed: Boolean!  inputErrors: [InputError!]  invoice: Invoice }
type InvoiceDeleteOutput { didSucceed: Boolean!  inputErrors: [InputError!] }
type InvoiceApproveOutput { didSucceed: Boolean!  inputErrors: [InputError!]  invoice: Invoice }
type InvoiceMarkSentOutput { didSucceed: Boolean!  inputErrors: [InputError!]  invoice: Invoice }
type MoneyTransactionCreateOutput {
  didSucceed: Boolean!
  inputErrors: [InputError!]
  transaction: Transaction
}

enum CurrencyCode {
  AED ARS AUD BDT BGN BHD BRL CAD CHF CLP CNY COP CZK DKK EGP EUR GBP GHS HKD HUF IDR ILS
  INR ISK JMD JOD JPY KES KRW KWD LKR MAD MXN MYR NGN NOK NZD OMR PEN PHP PKR PLN QAR RON
  RUB SAR SEK SGD THB TND TRY TTD TWD UAH USD UYU VND XAF XCD XOF ZAR
}

enum CountryCode {
  AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
  BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
  DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
  GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
  KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
  MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
  PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
  SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
  VN VU WF WS YE YT ZA ZM ZW
}
"""


def build() -> GraphQLSchema:
    """The executable schema: Wave's custom scalars parse and print as Wave's do."""
    schema = build_schema(SDL)
    _scalar(schema, "Decimal", _parse_decimal, _print_decimal)
    _scalar(schema, "Date", _parse_date, lambda value: value.isoformat())
    _scalar(schema, "DateTime", _parse_datetime, _print_datetime)
    return schema


def _scalar(schema: GraphQLSchema, name: str, parse: Any, serialize: Any) -> None:
    scalar = schema.type_map[name]
    assert isinstance(scalar, GraphQLScalarType)
    # build_schema makes pass-through scalars; graphql-core 3.3 reads these hooks.
    scalar.coerce_input_value = parse
    scalar.coerce_output_value = serialize
    scalar.coerce_input_literal = lambda node: parse(_literal(node, name))


def _literal(node: ValueNode, name: str) -> Any:
    if isinstance(node, StringValueNode | IntValueNode | FloatValueNode):
        return node.value
    raise GraphQLError(f"{name} cannot represent a non-scalar value.")


def _parse_decimal(value: Any) -> Decimal:
    # Wave takes money as strings ("49.99") or numbers; floats would lose cents.
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise GraphQLError(f"Decimal cannot represent value: {value!r}")
    try:
        parsed = Decimal(str(value).strip())
    except InvalidOperation:
        raise GraphQLError(f"Decimal cannot represent value: {value!r}") from None
    if not parsed.is_finite():
        raise GraphQLError(f"Decimal cannot represent value: {value!r}")
    return parsed


def _print_decimal(value: Any) -> str:
    return str(value)


def _parse_date(value: Any) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise GraphQLError(f"Date cannot represent value: {value!r}") from None


def _parse_datetime(value: Any) -> datetime:
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"DateTime cannot represent value: {value!r}") from None
    if parsed.tzinfo is None:
        raise GraphQLError(f"DateTime needs a time zone: {value!r}")
    return parsed


def _print_datetime(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
