"""`syncdesk console --serve`: the console in a browser, through textual-serve.

Each browser tab gets a console process of its own (textual-serve's model) on the same store,
so a bookkeeper without a terminal sees exactly what an operator over SSH sees. The server
listens on loopback unless told otherwise, and answers only requests that carry its token:
the first page is opened as `/?token=…`, which sets a same-site, HTTP-only cookie that the
page's websocket and static files then carry. Anything else is refused with 403 before
textual-serve sees it, so no console process starts for a stranger. There is no TLS: past
loopback, put it behind a proxy that has it.

The access log is off: it would write every token-bearing URL to the terminal.
"""

from __future__ import annotations

import asyncio
import secrets
import shlex
import sys
from pathlib import Path

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from textual_serve.server import Server

from engine import ConfigError

COOKIE = "syncdesk_console"
TOKEN_ENV = "SYNCDESK_SERVE_TOKEN"


def console_command(db: Path, *, read_only: bool) -> str:
    """The shell command textual-serve runs for each browser tab: this console, in a process
    of its own, on the same store."""
    argv = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
            "console", "--db", str(db)]
    if read_only:
        argv.append("--read-only")
    return shlex.join(argv)


def token_guard(token: str) -> Middleware:
    """aiohttp middleware: the token in the query (which sets the cookie) or in the cookie."""
    expected = token.encode()

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        offered = request.query.get("token")
        given = offered if offered is not None else request.cookies.get(COOKIE, "")
        if not secrets.compare_digest(given.encode(), expected):
            raise web.HTTPForbidden(text="syncdesk console: this address needs its token; "
                                         "open the URL `syncdesk console --serve` printed\n")
        response = await handler(request)
        if offered is not None and not response.prepared:
            response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
        return response

    return guard


class ConsoleServer(Server):
    """textual-serve's server with the token guard in front of every route."""

    def __init__(self, command: str, *, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="syncdesk console")
        self.token = token

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(token_guard(self.token))
        return app

    async def on_startup(self, app: web.Application) -> None:
        """Quiet: `serve_console` says where to point the browser, once."""


async def serve_console(db: Path, *, read_only: bool, host: str, port: int,
                        token: str | None, stop: asyncio.Event) -> int:
    """Serve the console until `stop`; prints the address to open (with the token when it
    was generated here, once)."""
    generated = token is None
    token = token or secrets.token_urlsafe(24)
    server = ConsoleServer(console_command(db, read_only=read_only), host=host, port=port,
                           token=token)
    runner = web.AppRunner(await server._make_app(), access_log=None)
    await runner.setup()
    try:
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            raise ConfigError(f"cannot serve the console on {host}:{port}: "
                              f"{exc.strerror or exc}") from None
        address = f"{server.public_url}/"
        if generated:
            print(f"syncdesk console on {address}?token={token}", flush=True)
        else:
            print(f"syncdesk console on {address}?token=<the token you gave>", flush=True)
        print("open that address in a browser; Ctrl+C stops it", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()
    return 0
