"""Wave (GraphQL public API): the client syncdesk pushes with, and a faithful sandbox of it."""

from providers._platform import lazy_sandbox

from ._auth import WaveOAuth
from ._client import WaveProvider
from ._platform import CAPABILITIES, PLATFORM, WavePlatform

__getattr__ = lazy_sandbox(__name__)

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "WaveOAuth",
    "WavePlatform",
    "WaveProvider",
    "create_sandbox_app",
]
