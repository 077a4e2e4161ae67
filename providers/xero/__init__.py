"""Xero Accounting API 2.0: the client syncdesk pushes with, and a faithful sandbox of it."""

from ._auth import XeroOAuth
from ._client import XeroProvider
from ._platform import PLATFORM, XeroPlatform
from .sandbox import create_sandbox_app

__all__ = ["PLATFORM", "XeroOAuth", "XeroPlatform", "XeroProvider", "create_sandbox_app"]
