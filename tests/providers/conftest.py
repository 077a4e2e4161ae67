"""Fixtures every platform's sandbox tests share; the platform folders add their own.

A platform's tests are about its wire format, so their store is the SQLite file alone: the
store, engine and service suites (tests/) are the ones run on both backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers._sandbox import Clock, SandboxContext


@pytest.fixture
def store_target(tmp_path: Path) -> Path:
    return tmp_path / "syncdesk.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(app: Any) -> SandboxContext:
    """The sandbox behind `app` (each platform folder defines `app`), with short hangs."""
    sandbox: SandboxContext = app.state.sandbox
    sandbox.faults.hang_seconds = 0.5
    return sandbox
