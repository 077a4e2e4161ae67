"""FreshBooks (new REST API): the client syncdesk pushes with, and a faithful sandbox of it."""

from ._auth import FreshBooksOAuth
from ._client import FreshBooksProvider
from ._platform import CAPABILITIES, PLATFORM, FreshBooksPlatform
from .sandbox import create_sandbox_app

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "FreshBooksOAuth",
    "FreshBooksPlatform",
    "FreshBooksProvider",
    "create_sandbox_app",
]
