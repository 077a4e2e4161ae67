"""Fixtures shared by the engine, CLI and end-to-end tests.

Every test gets its own store file, key file and config path: nothing touches the user's
real data directory. A test that takes the `store` fixture runs on both backends: the
embedded SQLite file and a database of its own on a throwaway PostgreSQL cluster (`tests._pg`,
one per run, or per worker under `-n`; each database is a copy of a migrated template, made in
milliseconds).
`make_world` wires real platform sandboxes in-process (ASGI) into a real engine through the
same composition-root code the CLI uses.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet

from console._wiring import connect_sandbox, platforms, sandbox_app
from engine import Sealer, Store
from tests import _pg
from tests._world import World

# A worker of its own template: workers given one server (a URL) would drop each other's.
_TEMPLATE = "syncdesk_template_" + os.environ.get("PYTEST_XDIST_WORKER", "main")
_databases = itertools.count(1)


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("SYNCDESK_KEY_FILE", str(tmp_path / "secret.key"))
    monkeypatch.setenv("SYNCDESK_DB", str(tmp_path / "default.db"))
    monkeypatch.setenv("SYNCDESK_CONFIG", str(tmp_path / "config.toml"))
    monkeypatch.delenv("SYNCDESK_SECRET_KEY", raising=False)
    yield


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The URL of a server the tests may make databases on, with a migrated template."""
    wanted = os.environ.get(_pg.ENV, "")
    if wanted == "off":
        pytest.skip(f"{_pg.ENV}=off: PostgreSQL variants not run")
    cluster = None
    if wanted.startswith("postgresql://"):
        url = wanted
    else:
        try:
            cluster = _pg.start()
        except _pg.Unavailable as exc:
            if wanted == "required":
                pytest.fail(f"{_pg.ENV}=required, but {exc}")
            pytest.skip(str(exc))
        url = cluster.url
    _admin(url, f"DROP DATABASE IF EXISTS {_TEMPLATE}", f"CREATE DATABASE {_TEMPLATE}")

    async def migrate() -> None:
        await (await Store.open(_database_url(url, _TEMPLATE))).close()

    asyncio.run(migrate())
    yield url
    if cluster is not None:
        cluster.stop()


def _database_url(server: str, name: str) -> str:
    return server.rsplit("/", 1)[0] + "/" + name


def _admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str:
    """Where a test's store lives: a file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return tmp_path / "syncdesk.db"
    server: str = request.getfixturevalue("postgres")
    name = f"t{os.getpid()}_{next(_databases)}"
    _admin(server, f"CREATE DATABASE {name} TEMPLATE {_TEMPLATE}")
    return _database_url(server, name)


@pytest.fixture
async def store(store_target: Path | str) -> AsyncIterator[Store]:
    opened = await Store.open(store_target)
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


_FIXED_PORTS = {
    "tests/test_audit.py", "tests/test_bench_scripts.py", "tests/test_chaos.py",
    "tests/test_console_tmux.py", "tests/test_directory.py", "tests/test_mappings.py",
    "tests/test_serve.py", "tests/test_tokens.py", "tests/test_wayback_qa.py",
    "tests/test_webhooks.py", "tests/providers/xero/test_xero_webhooks.py",
}
"""Modules whose tests listen on known ports (each module a range of its own, shared by its
tests): under `-n --dist loadgroup` each runs on one worker, one test at a time."""


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Slow end-to-end tests run last, so quick failures show first.
    items.sort(key=lambda item: item.get_closest_marker("e2e") is not None)
    root = config.rootpath
    for item in items:
        module = item.path.relative_to(root).as_posix()
        if module in _FIXED_PORTS:
            item.add_marker(pytest.mark.xdist_group(module))


os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
