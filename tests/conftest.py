"""Fixtures shared by the engine, CLI and end-to-end tests.

Every test gets its own store file, key file and config path: nothing touches the user's
real data directory. `synced_world` wires real platform sandboxes in-process (ASGI) into a
real engine through the same composition-root code the CLI uses.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from console._wiring import connect_sandbox, platforms, sandbox_app
from engine import Sealer, Store
from tests._world import World


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNCDESK_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("SYNCDESK_DB", str(tmp_path / "default.db"))
    monkeypatch.setenv("SYNCDESK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("SYNCDESK_SECRET_KEY", raising=False)
    yield


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "syncdesk.db")
    yield opened
    await opened.close()


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(Fernet.generate_key())


@pytest.fixture
def make_world(store: Store, sealer: Sealer) -> Callable[..., Any]:
    async def make(names: tuple[str, ...] | None = None, **sandbox_options: Any) -> World:
        names = names or tuple(platforms())
        options = {"limits_enabled": False, **sandbox_options}
        world = World(store, sealer, {name: sandbox_app(name, **options) for name in names})
        for name in names:
            ids = await connect_sandbox(store, platforms()[name], f"http://{name}.sandbox",
                                        sealer, transport=world.transport(name))
            world.connections[name] = ids[0]
        return world

    return make


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Slow end-to-end tests run last, so quick failures show first.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)


os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
