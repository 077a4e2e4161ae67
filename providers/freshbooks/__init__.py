"""FreshBooks (new REST API): the client syncdesk pushes with, and a faithful sandbox of it."""

from providers._platform import lazy_sandbox

from ._auth import FreshBooksOAuth
from ._client import FreshBooksProvider
from ._platform import CAPABILITIES, PLATFORM, FreshBooksPlatform

__getattr__ = lazy_sandbox(__name__)

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "FreshBooksOAuth",
    "FreshBooksPlatform",
    "FreshBooksProvider",
    "create_sandbox_app",
]
