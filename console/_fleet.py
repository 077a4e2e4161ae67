"""Sandboxes served over loopback with uvicorn, in a background thread of their own.

The demo and the end-to-end tests talk to them exactly as to the real platforms: over HTTP,
at a base URL. Their own thread keeps emulator work off the console's event loop.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterable, Mapping
from typing import Any

import uvicorn

from ._wiring import sandbox_app


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SandboxFleet:
    def __init__(self, names: Iterable[str], *, first_port: int | None = None,
                 each: Mapping[str, Mapping[str, Any]] | None = None, **options: Any) -> None:
        """`first_port`: serve on it and the ports after it, one per sandbox (where only a
        known range may be used); by default each sandbox gets any free port. `each`: more
        options for the named sandbox alone (a tenant id of its own)."""
        each = each or {}
        self.apps = {name: sandbox_app(name, **options, **each.get(name, {})) for name in names}
        self.first_port = first_port
        self.urls: dict[str, str] = {}
        self._servers: list[uvicorn.Server] = []
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> dict[str, str]:
        self._thread = threading.Thread(target=self._serve, name="sandboxes", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=20):
            raise RuntimeError("the sandboxes did not start within 20 s")
        if self._error is not None:
            raise RuntimeError(f"a sandbox failed to start: {self._error}") from self._error
        return self.urls

    def stop(self) -> None:
        for server in self._servers:
            server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> SandboxFleet:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        try:
            asyncio.run(self._serve_all())
        except BaseException as exc:  # reported to start(), which raises it in the caller
            self._error = exc
            self._ready.set()

    async def _serve_all(self) -> None:
        tasks = []
        for offset, (name, app) in enumerate(self.apps.items()):
            port = free_port() if self.first_port is None else self.first_port + offset
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                   log_level="warning", lifespan="off"))
            self._servers.append(server)
            self.urls[name] = f"http://127.0.0.1:{port}"
            tasks.append(asyncio.create_task(server.serve()))
        while not all(server.started for server in self._servers):
            if any(task.done() for task in tasks):
                for task in tasks:
                    if task.done() and task.exception():
                        raise task.exception()  # type: ignore[misc]
                raise RuntimeError("a sandbox server stopped while starting")
            await asyncio.sleep(0.02)
        self._ready.set()
        await asyncio.gather(*tasks)
