"""An OAuth2 authorization server of the kind the four platforms run.

Authorization codes are single-use and short-lived; access tokens expire; refresh tokens
rotate on every use and a spent one is rejected with `invalid_grant` (the race syncdesk's
token lock exists to prevent).

What a platform does when the answer to a refresh is lost is its `TokenPolicy.refresh_grace`:
the spent token may be spent again, as long as the token it was exchanged for has never been
used and the grace (counted from the first spend) has not run out. Spending it again issues a
new pair and retires the unused one, so one grant never has two live refresh tokens. Xero
documents 30 minutes; QuickBooks keeps the previous token working until the new one is used
(`math.inf`); FreshBooks has none (0: strictly single-use).
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from ._clock import Clock


class AuthFailure(StrEnum):
    MISSING = "missing"
    UNKNOWN = "unknown"
    EXPIRED = "expired"
    REVOKED = "revoked"
    WRONG_TENANT = "wrong_tenant"


@dataclass
class TokenPolicy:
    access_ttl: float = 3600.0
    refresh_ttl: float | None = 8_726_400.0
    """Seconds a refresh token lives unused; None: never expires (FreshBooks)."""
    refresh_grace: float = 0.0
    """Seconds a spent refresh token may be spent again while its successor is unused
    (0: strictly single-use; `math.inf`: until the successor is used)."""
    code_ttl: float = 300.0


@dataclass
class _Grant:
    client_id: str
    tenants: list[str]
    revoked: bool = False


@dataclass
class _Access:
    grant: _Grant
    expires_at: datetime


@dataclass
class _Refresh:
    grant: _Grant
    expires_at: datetime | None
    spent_at: datetime | None = None
    successor: str | None = None
    retired: bool = False
    """Never used, and replaced when its predecessor was spent again after a lost answer."""


@dataclass
class TokenAuthority:
    clock: Clock
    policy: TokenPolicy = field(default_factory=TokenPolicy)
    clients: dict[str, str] = field(default_factory=dict)
    """client_id -> client_secret; empty means any client is accepted."""
    tenants: list[str] = field(default_factory=list)
    """Tenants a consent grants; the first is the default."""
    refreshes: int = 0
    invalid_grants: int = 0
    regrants: int = 0
    """Refreshes that spent an already-spent token within the grace (a lost answer retried)."""
    _codes: dict[str, tuple[_Grant, datetime, str]] = field(default_factory=dict)
    _access: dict[str, _Access] = field(default_factory=dict)
    _refresh: dict[str, _Refresh] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def client_ok(self, client_id: str, client_secret: str | None) -> bool:
        if not self.clients:
            return bool(client_id)
        return self.clients.get(client_id) == client_secret

    def issue_code(self, client_id: str, redirect_uri: str) -> str:
        code = "code_" + secrets.token_urlsafe(16)
        grant = _Grant(client_id=client_id, tenants=list(self.tenants))
        self._codes[code] = (grant, self.clock.now() + timedelta(seconds=self.policy.code_ttl),
                             redirect_uri)
        return code

    def grant_direct(self, client_id: str = "demo") -> dict[str, object]:
        """Issue tokens without the browser step (demo and tests connect this way)."""
        return self._issue(_Grant(client_id=client_id, tenants=list(self.tenants)))

    async def exchange_code(self, code: str, redirect_uri: str | None) -> dict[str, object] | None:
        async with self._lock:
            entry = self._codes.pop(code, None)
            if entry is None:
                return None
            grant, expires_at, expected_uri = entry
            if self.clock.now() > expires_at:
                return None
            if redirect_uri is not None and redirect_uri != expected_uri:
                return None
            return self._issue(grant)

    async def refresh(self, refresh_token: str) -> dict[str, object] | None:
        """Spend a refresh token; None means `invalid_grant`."""
        async with self._lock:
            now = self.clock.now()
            entry = self._refresh.get(refresh_token)
            ok = entry is not None and not entry.grant.revoked and not entry.retired and (
                entry.expires_at is None or now < entry.expires_at
            )
            successor = self._refresh.get(entry.successor or "") if entry else None
            if ok and entry is not None and entry.spent_at is not None:
                within_grace = (now - entry.spent_at).total_seconds() < self.policy.refresh_grace
                ok = within_grace and successor is not None and successor.spent_at is None
            if not ok or entry is None:
                self.invalid_grants += 1
                return None
            if successor is not None:
                successor.retired = True
                self.regrants += 1
            entry.spent_at = entry.spent_at or now
            issued = self._issue(entry.grant)
            entry.successor = str(issued["refresh_token"])
            self.refreshes += 1
            return issued

    def revoke_token(self, token: str) -> bool:
        holder = self._refresh.get(token) or self._access.get(token)
        if holder is None:
            return False
        holder.grant.revoked = True
        return True

    def revoke_all(self) -> int:
        grants = {id(a.grant): a.grant for a in self._access.values()}
        grants.update({id(r.grant): r.grant for r in self._refresh.values()})
        for grant in grants.values():
            grant.revoked = True
        return len(grants)

    def expire_access_tokens(self) -> None:
        now = self.clock.now()
        for access in self._access.values():
            access.expires_at = min(access.expires_at, now)

    def check(self, authorization: str | None, tenant: str | None) -> AuthFailure | None:
        """Check a request's bearer token (and tenant, when the platform names one)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return AuthFailure.MISSING
        access = self._access.get(authorization[7:].strip())
        if access is None:
            return AuthFailure.UNKNOWN
        if access.grant.revoked:
            return AuthFailure.REVOKED
        if self.clock.now() >= access.expires_at:
            return AuthFailure.EXPIRED
        if tenant is not None and tenant not in access.grant.tenants:
            return AuthFailure.WRONG_TENANT
        return None

    def access_expiry(self, authorization: str) -> datetime | None:
        access = self._access.get(authorization[7:].strip())
        return access.expires_at if access else None

    def _issue(self, grant: _Grant) -> dict[str, object]:
        now = self.clock.now()
        access = "at_" + secrets.token_urlsafe(24)
        refresh = "rt_" + secrets.token_urlsafe(24)
        self._access[access] = _Access(grant, now + timedelta(seconds=self.policy.access_ttl))
        refresh_ttl = self.policy.refresh_ttl
        self._refresh[refresh] = _Refresh(
            grant, None if refresh_ttl is None else now + timedelta(seconds=refresh_ttl)
        )
        issued: dict[str, object] = {
            "access_token": access,
            "refresh_token": refresh,
            "token_type": "bearer",
            "expires_in": int(self.policy.access_ttl),
        }
        if refresh_ttl is not None:
            issued["x_refresh_token_expires_in"] = int(refresh_ttl)
        return issued
