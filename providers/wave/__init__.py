"""Wave (GraphQL public API): the client syncdesk pushes with, and a faithful sandbox of it."""

from ._auth import WaveOAuth
from ._client import WaveProvider
from ._platform import CAPABILITIES, PLATFORM, WavePlatform
from .sandbox import create_sandbox_app

__all__ = [
    "CAPABILITIES",
    "PLATFORM",
    "WaveOAuth",
    "WavePlatform",
    "WaveProvider",
    "create_sandbox_app",
]
