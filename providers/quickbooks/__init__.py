"""QuickBooks Online: the v3 Accounting API client and a faithful local sandbox of it."""

from ._auth import QuickBooksOAuth
from ._client import QuickBooksProvider
from ._platform import CAPABILITIES, PLATFORM, QuickBooksPlatform
from .sandbox import create_sandbox_app

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "QuickBooksOAuth",
    "QuickBooksPlatform",
    "QuickBooksProvider",
    "create_sandbox_app",
]
