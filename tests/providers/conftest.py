"""Fixtures every platform's sandbox tests share; the platform folders add their own."""

from __future__ import annotations

from typing import Any

import pytest

from providers._sandbox import Clock, SandboxContext


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def context(app: Any) -> SandboxContext:
    """The sandbox behind `app` (each platform folder defines `app`), with short hangs."""
    sandbox: SandboxContext = app.state.sandbox
    sandbox.faults.hang_seconds = 0.5
    return sandbox
