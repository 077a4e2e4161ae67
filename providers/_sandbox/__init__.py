"""What every platform sandbox shares: clock, OAuth2 token authority, rate limiter, faults,
idempotency-key memory.

A platform sandbox is a Starlette app built by `build_sandbox_app()` from its own routes and
a `PlatformDialect` that renders errors the way that platform does. The shared pieces here
know nothing of any platform's wire format.
"""

from ._app import Mark, PlatformDialect, SandboxContext, build_sandbox_app
from ._clock import Clock
from ._faults import Fault, FaultKind, FaultPlan
from ._keys import DEFAULT_WINDOW as DEFAULT_KEY_WINDOW
from ._keys import KeyMemory
from ._oauth import AuthFailure, TokenAuthority, TokenPolicy
from ._ratelimit import RateLimiter, RateLimitPolicy, RateVerdict
from ._serve import serve

__all__ = [
    "DEFAULT_KEY_WINDOW",
    "AuthFailure",
    "Clock",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "KeyMemory",
    "Mark",
    "PlatformDialect",
    "RateLimitPolicy",
    "RateLimiter",
    "RateVerdict",
    "SandboxContext",
    "TokenAuthority",
    "TokenPolicy",
    "build_sandbox_app",
    "serve",
]
