"""QuickBooks Online: the v3 Accounting API client and a faithful local sandbox of it."""

from providers._platform import lazy_sandbox

from ._auth import QuickBooksOAuth
from ._client import QuickBooksProvider
from ._platform import CAPABILITIES, PLATFORM, QuickBooksPlatform

__getattr__ = lazy_sandbox(__name__)

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "QuickBooksOAuth",
    "QuickBooksPlatform",
    "QuickBooksProvider",
    "create_sandbox_app",
]
