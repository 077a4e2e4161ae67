"""The console as a person uses it: `syncdesk demo` in a real terminal (tmux), keys only.

Waits for text on the screen, never a fixed sleep. Skipped where tmux is not installed.
The sandboxes listen on ports of the range `PORTS` only.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def _ports(spec: str) -> range:
    first, _, last = spec.partition("-")
    return range(int(first), int(last) + 1)


PORTS = _ports(os.environ.get("SYNCDESK_E2E_PORTS", "19500-19549"))
"""The demo's seven sandboxes and its API listen on eight ports of this known range (a machine
shared by several runs gives each its own: `SYNCDESK_E2E_PORTS=20600-20649`)."""


def free_ports(count: int = 4) -> int:
    """The first of `count` consecutive free ports in `PORTS` (another run may hold some)."""
    for first in range(PORTS.start, PORTS.stop - count + 1, count):
        with contextlib.ExitStack() as held:
            try:
                for port in range(first, first + count):
                    sock = held.enter_context(socket.socket())
                    # As uvicorn binds: a port of a finished run (TIME_WAIT) is free.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return first
    raise AssertionError(f"no {count} free ports in {PORTS}")


class Terminal:
    """A tmux session on a server of its own (`-L`), away from any other tmux in use."""

    def __init__(self, socket: str, session: str) -> None:
        self.socket = socket
        self.session = session

    def tmux(self, *args: str, check: bool = True) -> str:
        return subprocess.run(["tmux", "-L", self.socket, "-f", "/dev/null", *args],
                              capture_output=True, text=True, check=check).stdout

    def keys(self, *keys: str) -> None:
        for key in keys:
            self.tmux("send-keys", "-t", self.session, key)

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", self.session, "-l", text)

    def until(self, keys: tuple[str, ...], text: str, timeout: float = 60.0) -> str:
        """Send `keys` (a sequence that ends in the same place however often it is sent)
        until `text` shows: a screen that was still loading may have dropped them."""
        deadline = time.monotonic() + timeout
        while True:
            self.keys(*keys)
            try:
                return self.wait_for(text, timeout=min(5.0, max(deadline - time.monotonic(),
                                                                0.1)))
            except AssertionError:
                if time.monotonic() >= deadline:
                    raise

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.1)  # polling the pane, not pacing the test
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def wait_gone(self, text: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text not in screen:
                return screen
            time.sleep(0.1)
        raise AssertionError(f"{text!r} stayed; the screen shows:\n{self.screen()}")


@pytest.fixture
def demo_terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"syncdesk-e2e-{tmp_path.name}"[:60], "demo")
    command = " ".join(shlex.quote(part) for part in [
        sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
        "demo", "--size", "20", "--ports", str(free_ports(8)), "--db", str(tmp_path / "demo.db")])
    # COLUMNS/LINES inherited from the test runner would override the pane's real size.
    env = (f"-u COLUMNS -u LINES SYNCDESK_KEY_FILE={tmp_path / 'key'} "
           f"SYNCDESK_CONFIG={tmp_path / 'none.toml'} ESCDELAY=25")
    term.tmux("new-session", "-d", "-s", term.session, "-x", "120", "-y", "40",
              f"env {env} TERM=xterm-256color {command}")
    try:
        yield term
    finally:
        term.tmux("kill-server", check=False)


@pytest.mark.timeout(300)
def test_triage_a_blocked_invoice_fix_its_cause_and_see_it_sync(
        demo_terminal: Terminal) -> None:
    """Every step waits for what its key brings; a step that may meet a screen still
    loading is a sequence that lands in the same place when sent again."""
    term = demo_terminal
    term.wait_for("engine running")
    term.wait_for("1 · quickbooks")
    # QuickBooks' invoices: the demo's Labor invoices wait on an item with no income account.
    term.until(("1", "g", "j", "j", "Enter"), "› invoices")
    term.wait_for("row 1 of")
    term.keys("f", "f", "f")
    term.wait_for("status blocked")
    term.wait_for("USD ⊘ blocked")
    screen = term.until(("Enter",), "blocked by item Labor")
    number = next(word for word in screen.split() if word.startswith("INV-"))

    # Fix the cause: give Labor an income account on QuickBooks.
    # The footer's own key, not the tenant's name: a notification toast can name the tenant
    # on any screen, and 'o' sent while the detail was still loading is dropped.
    term.until(("o",), "Pause/resume")
    term.wait_for("Sandbox Company_US_1")
    # The mapping that holds records back is the first row; the picker lists QuickBooks'
    # own accounts, and what is typed only filters them.
    term.until(("m",), "How quickbooks names")
    term.wait_for("LABOR")
    term.keys("Enter")
    term.wait_for("income account of item LABOR")
    term.type("80 services")
    term.keys("Enter")
    term.wait_for("income account of item LABOR → 80")
    term.keys("Escape")
    term.wait_gone("How quickbooks names")
    term.keys("Escape")
    term.wait_for(f"invoice {number}")

    # Retry it and watch it become synced, live.
    term.keys("r")
    assert "status       ✔ synced" in term.wait_for("status       ✔ synced", timeout=120)
    term.keys("q")
