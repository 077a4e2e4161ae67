"""Xero Accounting API 2.0: the client syncdesk pushes with, and a faithful sandbox of it."""

from providers._platform import lazy_sandbox

from ._auth import XeroOAuth
from ._client import XeroProvider
from ._platform import PLATFORM, XeroPlatform

__getattr__ = lazy_sandbox(__name__)

__all__ = ["PLATFORM", "XeroOAuth", "XeroPlatform", "XeroProvider", "create_sandbox_app"]
