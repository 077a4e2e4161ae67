"""The port every platform implements, and what crosses it.

The engine drives platforms only through these types. A platform folder under `providers/`
supplies a `Platform`: its capability table, an `OAuthClient` for the token endpoint, and a
`Provider` that maps domain records to its wire format. Providers raise only `SyncError`
subclasses (see `_errors`), so the engine never sees HTTP or JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from ._errors import SyncError
from ._models import CreditNote, Customer, Entity, Invoice, Item, Payment

Record = Customer | Item | Invoice | Payment | CreditNote


class Operation(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    VOID = "void"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Limits:
    """A platform's published request limits; the engine's limiter starts from these."""

    per_minute: int
    concurrency: int
    per_day: int | None = None
    per_second: int | None = None
    batch_size: int = 1
    """Largest batch of writes in one request; 1 means the platform has no batch writes."""
    batch_per_minute: int | None = None
    """Batch requests' own per-minute budget, where the platform has one (QBO: 40)."""


@dataclass(frozen=True)
class Capabilities:
    """Which entities and operations a platform supports, and why not where it does not."""

    operations: Mapping[Entity, frozenset[Operation]]
    limits: Limits
    idempotency_keys: bool
    """True when creates carry a key the platform replays (QBO requestid, Xero Idempotency-Key)."""
    unsupported: Mapping[Entity, str] = field(default_factory=dict)
    """Why an entity is not supported, in words a user reads ("not supported by Wave: …")."""
    sub_customers: bool = False
    """True where a customer can be another's sub-customer (QBO jobs: `ParentRef`)."""
    batched: frozenset[Entity] = frozenset()
    """Entities whose creates `push_batch` sends as one request (up to `limits.batch_size`);
    the engine batches only these, so each batch costs one request of the rate budget."""

    def supports(self, entity: Entity, operation: Operation = Operation.CREATE) -> bool:
        return operation in self.operations.get(entity, frozenset())

    @property
    def entities(self) -> frozenset[Entity]:
        return frozenset(entity for entity, ops in self.operations.items() if ops)


@dataclass(frozen=True, slots=True)
class RemoteRef:
    """Where a local record lives on a platform."""

    remote_id: str
    version: str | None = None
    """Optimistic-lock token where the platform has one (QBO SyncToken)."""
    number: str | None = None
    """The platform's document number or name, as it shows it."""
    shown: str | None = field(default=None, compare=False)
    """How the platform shows the object to a person (number, customer, date, total), where
    a read gave it: what an operator checks before adopting it as a record's copy."""


@dataclass(frozen=True, slots=True)
class ConnectionMappings:
    """How one connection names the business's codes on its platform.

    Keys are the ledger's own values (a local item id, tax code, payment method, class or
    location); values are what the platform knows them by (an account code, a tax code or
    id, a payment-method, class or tracking-option id or name). Every value was checked
    against the platform's own list when it was set. A record that needs a key missing here
    is refused with `Unmapped` before anything is sent, never sent without it.
    """

    income_accounts: Mapping[str, str] = field(default_factory=dict)
    """Local item id → income account, for lines that need one."""
    default_income_account: str | None = None
    """For lines with no item, or an item with no account of its own."""
    deposit_account: str | None = None
    """Where payments land (QBO DepositToAccountRef, Xero Account, …)."""
    tax_codes: Mapping[str, str] = field(default_factory=dict)
    """Local tax code → platform tax code (QBO TaxCode id, Xero TaxType, FreshBooks tax
    name, Wave salesTax id)."""
    no_tax_code: str | None = None
    """The platform's code for an untaxed line, where it needs one said (Xero NONE)."""
    payment_methods: Mapping[str, str] = field(default_factory=dict)
    """Local payment method → platform payment method."""
    classes: Mapping[str, str] = field(default_factory=dict)
    """Local class → QBO Class id / Xero tracking option."""
    locations: Mapping[str, str] = field(default_factory=dict)
    """Local location → QBO Department id / Xero tracking option."""


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One write for a provider to perform."""

    entity: Entity
    operation: Operation
    record: Record
    idempotency_key: str
    """Derived from (connection, entity, record, version): identical on every retry."""
    link: RemoteRef | None = None
    """The remote object this record is linked to (required for update and void)."""
    refs: Mapping[tuple[Entity, str], RemoteRef] = field(default_factory=dict)
    """Remote objects of the records it references: its customer, items, invoices."""
    items: Mapping[str, Item] = field(default_factory=dict)
    """The local items its lines name, by local id: a provider that maps each line to an
    income account (Xero) needs them before it sends anything."""
    mappings: ConnectionMappings = field(default_factory=ConnectionMappings)
    """This connection's mappings: accounts, tax codes, payment methods, classes."""


@dataclass(frozen=True, slots=True)
class RemoteCustomer:
    remote_id: str
    display_name: str
    company: str | None = None
    email: str | None = None
    phone: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteItem:
    remote_id: str
    name: str
    sku: str | None = None
    unit_price: Decimal | None = None
    income_account: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteAccount:
    code: str
    name: str
    kind: str


@dataclass(frozen=True, slots=True)
class RemoteTaxCode:
    code: str
    name: str
    rate: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RemoteOption:
    """One entry of a platform's pick list: a payment method, a class, a location or a
    tracking option. `id` is what a push sends; `name` is what the platform shows."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class Quota:
    """What the platform last said about our remaining requests (from response headers)."""

    minute_remaining: int | None = None
    day_remaining: int | None = None
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    access_expires_at: datetime
    refresh_expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    """One organisation the user granted access to (QBO realm, Xero tenant, …)."""

    tenant_id: str
    name: str


@dataclass(frozen=True, slots=True)
class Grant:
    """The result of an authorization-code exchange."""

    tokens: TokenSet
    tenants: Sequence[Tenant]


@dataclass(frozen=True)
class ConnectionSettings:
    """How to reach one tenant of one platform.

    `base_url` None means the real platform's URLs. A sandbox (or a proxy) serves every
    endpoint of its platform under one base URL, with the platform's own paths.
    """

    platform: str
    tenant_id: str = ""
    client_id: str = ""
    client_secret: str = ""
    base_url: str | None = None
    timeout: float = 30.0
    transport: Any = None
    """An `httpx.AsyncBaseTransport` for tests (in-process sandbox); None in production."""
    budget: RequestBudget | None = None
    """The connection's rate budget: every HTTP request the provider sends takes a slot of
    it. The engine hands in one per connection; None sends unbudgeted (tests only)."""
    options: Mapping[str, Any] = field(default_factory=dict)


class RequestBudget(Protocol):
    """One connection's share of its platform's limits, spent one HTTP request at a time."""

    def slot(self, *, batch: bool = False) -> AbstractAsyncContextManager[None]:
        """Wait for room in every window (per second, minute, day, concurrency; a batch
        request also in the batch window), then hold a slot while the request is out.
        Raises `RateLimited` instead of waiting longer than the engine allows."""
        ...

    def observe(self, quota: Quota | None) -> None:
        """What the platform's answer headers said about the remaining quota."""
        ...

    def batch_room(self) -> int | None:
        """Batch requests that could go now without waiting for the batch window (or no
        later than a single could), beyond those promised and not yet sent and beyond the
        full batches the connection's own waiting creates will fill; None: batches have no
        window of their own."""
        ...

    def promise_batch(self) -> Callable[[], None]:
        """Take one batch request's room of the batch window before sending it, so no one
        else is offered it meanwhile: held until the returned callable is called, as that
        request leaves (or when it does not go at all)."""
        ...


@runtime_checkable
class TokenSource(Protocol):
    """Hands a provider a valid access token; refreshes it at most once per expiry."""

    async def access_token(self) -> str: ...

    async def refreshed(self, rejected: str) -> str:
        """Called after the platform rejected `rejected` as expired: a fresh token."""
        ...


class OAuthClient(Protocol):
    """A platform's OAuth2 endpoints (authorization-code flow with rotating refresh tokens)."""

    def authorization_url(self, redirect_uri: str, state: str) -> str: ...

    async def exchange_code(self, redirect_url: str, redirect_uri: str) -> Grant:
        """Trade the redirect (with its code, and realmId on QBO) for tokens and tenants."""
        ...

    async def refresh(self, refresh_token: str, *, after_lost_answer: bool = False) -> TokenSet:
        """Spend a refresh token. Raises `AuthRevoked` on invalid_grant, `Transient` when the
        answer does not come.

        `after_lost_answer`: a refresh with this token already went out and its answer never
        arrived (timeout, kill), so the platform may have spent it. A refusal then says the
        platform's own rule for that case and what to do, in words the user reads.
        """
        ...

    async def revoke(self, token: str) -> None: ...



class ChangeKind(StrEnum):
    """What happened to a platform object since the feed's cursor."""

    UPSERTED = "upserted"
    """Created or edited on the platform; the change carries what it is now."""
    VOIDED = "voided"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class RemoteAllocation:
    """Part of a platform payment (or credit) applied to one platform invoice."""

    invoice_remote_id: str
    amount: Decimal


@dataclass(frozen=True, slots=True)
class RemotePayment:
    """A payment as the platform holds it: what the way back turns into a ledger payment."""

    remote_id: str
    customer_remote_id: str | None
    date: date
    amount: Decimal
    currency: str | None = None
    allocations: tuple[RemoteAllocation, ...] = ()
    method: str | None = None
    """The platform's payment method (id or name), as a mapping's value would say it."""
    reference: str | None = None
    mark: str | None = None
    """The local id syncdesk wrote on the object when it created it; None when a person (or
    another app) recorded the payment on the platform."""


@dataclass(frozen=True, slots=True)
class RemoteContact:
    """A customer as the platform holds it, with what a contact edit can change."""

    remote_id: str
    display_name: str
    email: str | None = None
    phone: str | None = None
    company: str | None = None
    address_lines: tuple[str, ...] = ()
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class RemoteState:
    """What the drift audit compares with the ledger for one document or payment."""

    remote_id: str
    total: Decimal
    balance: Decimal | None = None
    """What is still owed (invoices) or unapplied (payments, credit notes); None where the
    platform does not say."""
    status: str | None = None
    """The platform's own status word (PAID, AUTHORISED, Voided, …), as it shows it."""
    customer_remote_id: str | None = None
    line_count: int | None = None
    number: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """One object that changed on the platform since the feed's cursor.

    `changed_at` is the platform's own last-modified time: the conflict rule for contact
    edits compares it with the local edit's time. Exactly one of `payment`, `contact` and
    `state` is set for an UPSERTED change of a payment, a customer or a document; VOIDED and
    DELETED changes carry none (a voided document may carry its `state`).
    """

    entity: Entity
    remote_id: str
    kind: ChangeKind
    changed_at: datetime
    payment: RemotePayment | None = None
    contact: RemoteContact | None = None
    state: RemoteState | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    """One bounded read of a change feed."""

    changes: Sequence[Change]
    cursor: str
    """Opaque to the engine: stored per connection and entity after the page's changes are
    applied, and handed back to resume after it (a crash re-reads at most one page)."""
    more: bool
    """True when the platform has more changes after this page."""


@dataclass(frozen=True, slots=True)
class PlatformEvent:
    """One object a platform's webhook says changed. Only its names are used: the engine
    reads the object through the feed, never trusting the payload's data."""

    tenant_id: str
    entity: Entity
    remote_id: str


@dataclass(frozen=True, slots=True)
class WebhookReply:
    """What the HTTP service answers a platform's webhook call."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    events: Sequence[PlatformEvent] = ()
    verified: bool = False
    """False when the signature did not verify: the call is refused and logged."""
    confirm: Mapping[str, str] | None = None
    """A registration handshake the platform wants confirmed by a call back (FreshBooks'
    `callback.verify`: `callback_id` and `verifier`): the engine hands it to the connection's
    provider (`confirm_webhook`) and keeps `verifier` as the webhook secret once the platform
    accepted it. Such a call carries no signature (`verified` False) and is not a refusal."""


class WebhookReceiver(Protocol):
    """A platform's incoming webhooks: signature, handshake and envelope.

    `secret` is the connection's webhook key (QBO verifier token, Xero webhook key,
    FreshBooks verifier). The receiver checks the signature over the raw body before it
    parses anything; a bad or missing signature is a refusal (401), never a parse.
    """

    def receive(self, headers: Mapping[str, str], body: bytes, secret: str) -> WebhookReply: ...


class Provider(Protocol):
    """One connection's client for one platform's API."""

    async def push(self, request: PushRequest) -> RemoteRef: ...

    async def push_batch(self, requests: Sequence[PushRequest]) -> Sequence[RemoteRef | SyncError]:
        """Several writes in one request where the platform has batches; results in order.

        One failing item never fails its neighbours: it comes back as its `SyncError`.
        """
        ...

    async def find(self, entity: Entity, record: Record) -> RemoteRef | None:
        """Find the object syncdesk itself created for this record, to reconcile a write
        whose answer was lost (or to re-link a broken link).

        Only a provably-ours object may be returned: one carrying the mark the provider
        writes on every create (the local id in a note, reference or external-id field).
        Someone else's object with the same number or name is not ours — returning it would
        link our record to a stranger's document.
        """
        ...

    async def fetch(self, entity: Entity, remote_id: str) -> RemoteRef | None:
        """Read one object by id; None when it no longer exists on the platform."""
        ...

    def list_remote(self, entity: Entity) -> AsyncIterator[RemoteRef]:
        """Every live object of `entity` on the platform, read in the platform's list pages.

        The weekly check's read: a few requests per thousand links instead of one per link.
        One ref per platform object, even where a link joins several ids with commas (a
        payment split over invoices). It may leave out objects `fetch` would still find
        (archived, inactive, or written while the pages were read): the check confirms what
        is missing by `fetch` before it calls a link broken.
        """
        ...

    def list_customers(self) -> AsyncIterator[RemoteCustomer]: ...

    def list_items(self) -> AsyncIterator[RemoteItem]: ...

    def list_accounts(self) -> AsyncIterator[RemoteAccount]: ...

    def list_tax_codes(self) -> AsyncIterator[RemoteTaxCode]: ...

    def list_payment_methods(self) -> AsyncIterator[RemoteOption]:
        """The platform's payment methods; nothing where it has no such list."""
        ...

    def list_classes(self) -> AsyncIterator[RemoteOption]:
        """QBO classes, Xero tracking options (named "Category: Option"); nothing elsewhere."""
        ...

    def list_locations(self) -> AsyncIterator[RemoteOption]:
        """QBO departments (locations), Xero tracking options; nothing elsewhere."""
        ...

    def read_changes(
        self, entity: Entity, cursor: str | None, since: datetime, *, limit: int = 1000
    ) -> Awaitable[ChangePage]:
        """Objects of `entity` changed on the platform after `cursor` (or, with no cursor
        yet, after `since`), at most `limit` of them, read through the budget in the
        platform's own change feed: QBO CDC, Xero If-Modified-Since, FreshBooks
        `updated_min`, Wave `modifiedAtAfter`. Deletions and voids included where the
        platform reports them."""
        ...

    def list_states(self, entity: Entity) -> AsyncIterator[RemoteState]:
        """Every live document or payment of `entity` with what the drift audit compares,
        read in list pages through the budget."""
        ...

    def quota(self) -> Quota | None:
        """The last rate-limit reading from the platform's headers, if it sends any."""
        ...

    async def aclose(self) -> None: ...


class Platform(Protocol):
    """What a platform folder registers with the composition root."""

    name: str
    """Short name used in config, CLI and the store: quickbooks, xero, wave, freshbooks."""
    title: str
    capabilities: Capabilities

    def oauth(self, settings: ConnectionSettings) -> OAuthClient: ...

    def provider(self, settings: ConnectionSettings, tokens: TokenSource) -> Provider: ...

    def webhooks(self) -> WebhookReceiver | None:
        """The platform's incoming webhooks; None where it sends none (Wave)."""
        ...

