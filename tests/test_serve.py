"""`syncdesk console --serve` as a process on loopback: the token or nothing.

Ports 19880-19889 are this file's.
"""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
import httpx
import pytest

from engine import Store

pytestmark = pytest.mark.e2e

SYNCDESK = [sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())"]


@contextmanager
def served(db: Path, port: int, *extra: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """The server's first line of output (where to point a browser) once it listens."""
    process = subprocess.Popen([*SYNCDESK, "console", "--serve", "--db", str(db),
                                "--port", str(port), *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the socket listens
        assert line, process.stderr.read() if process.stderr else "the server exited"
        yield line, process
    finally:
        process.terminate()
        process.wait(timeout=15)


@pytest.fixture
async def db(tmp_path: Path) -> Path:
    path = tmp_path / "served.db"
    await (await Store.open(path)).close()
    return path


async def test_only_a_request_with_the_token_gets_the_console(db: Path) -> None:
    with served(db, 19880) as (line, _):
        found = re.fullmatch(r"syncdesk console on (http://127\.0\.0\.1:19880/)\?token=(\S+)\n",
                             line)
        assert found, line  # loopback unless told otherwise
        base, token = found.groups()
        async with httpx.AsyncClient(base_url=base) as client:
            for refused in ("/", "/?token=", f"/?token={token}x", "/ws", "/static/js/textual.js"):
                answer = await client.get(refused)
                assert answer.status_code == 403, refused
                assert "needs its token" in answer.text
            page = await client.get(f"/?token={token}")
            assert page.status_code == 200 and "syncdesk console" in page.text
            assert "httponly" in page.headers["set-cookie"].lower()
            # The cookie the page set is what its websocket and scripts carry.
            assert (await client.get("/static/js/textual.js")).status_code == 200

        # The page's websocket starts a console of its own, which paints the dashboard.
        async with aiohttp.ClientSession(cookies={"syncdesk_console": token}) as session, \
                session.ws_connect(f"{base}ws?width=100&height=30") as socket:
            screen = b""
            async with asyncio.timeout(60):  # a bound on a failure, not a wait for success
                while b"Overview" not in screen:
                    message = await socket.receive()
                    assert message.type is aiohttp.WSMsgType.BINARY, message
                    screen += message.data


async def test_a_token_given_is_not_printed_and_is_the_one_asked_for(
        db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCDESK_SERVE_TOKEN", "from-the-environment")
    with served(db, 19881) as (line, _):
        assert "from-the-environment" not in line
        async with httpx.AsyncClient(base_url="http://127.0.0.1:19881") as client:
            assert (await client.get("/?token=from-the-environment")).status_code == 200
    with served(db, 19881, "--token", "s3cret-given") as (line, _):
        assert "s3cret" not in line
        async with httpx.AsyncClient(base_url="http://127.0.0.1:19881") as client:
            assert (await client.get("/?token=from-the-environment")).status_code == 403
            assert (await client.get("/?token=s3cret-given")).status_code == 200


def test_a_port_in_use_is_one_line_not_a_traceback(db: Path) -> None:
    with served(db, 19882):
        second = subprocess.run([*SYNCDESK, "console", "--serve", "--db", str(db),
                                 "--port", "19882"], capture_output=True, text=True,
                                timeout=60, check=False)
    assert second.returncode == 2
    assert second.stderr.startswith("syncdesk: cannot serve the console on 127.0.0.1:19882")
    assert "Traceback" not in second.stderr
