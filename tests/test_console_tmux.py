"""The console as a person uses it: `syncdesk demo` in a real terminal (tmux), keys only.

Waits for text on the screen, never a fixed sleep. Skipped where tmux is not installed.
"""

from __future__ import annotations

import shlex
import shutil
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
            time.sleep(0.15)  # a person's pace; correctness waits on the screen below

    def press_until(self, key: str, text: str, timeout: float = 30.0) -> str:
        """Press `key` until `text` shows, as a person does when a screen was still loading."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.keys(key)
            try:
                return self.wait_for(text, timeout=3.0)
            except AssertionError:
                continue
        return self.wait_for(text, timeout=1.0)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", self.session)

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")


@pytest.fixture
def demo_terminal(tmp_path: Path) -> Iterator[Terminal]:
    term = Terminal(f"syncdesk-e2e-{tmp_path.name}"[:60], "demo")
    command = " ".join(shlex.quote(part) for part in [
        sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
        "demo", "--size", "20", "--db", str(tmp_path / "demo.db")])
    # COLUMNS/LINES inherited from the test runner would override the pane's real size.
    env = (f"-u COLUMNS -u LINES SYNCDESK_KEY_FILE={tmp_path / 'key'} "
           f"SYNCDESK_CONFIG={tmp_path / 'none.toml'}")
    term.tmux("new-session", "-d", "-s", term.session, "-x", "120", "-y", "40",
              f"env {env} TERM=xterm-256color {command}")
    try:
        yield term
    finally:
        term.tmux("kill-server", check=False)


@pytest.mark.timeout(300)
def test_triage_a_blocked_invoice_fix_its_cause_and_see_it_sync(
        demo_terminal: Terminal) -> None:
    term = demo_terminal
    term.wait_for("Overview")
    term.wait_for("quickbooks")
    # QuickBooks' invoices: the demo's Labor invoices wait on an item with no income account.
    term.keys("1", "j", "j", "Enter")
    term.wait_for("› invoices")
    term.keys("f", "f", "f")
    term.wait_for("status blocked")
    term.wait_for("USD  blocked")
    screen = term.press_until("Enter", "blocked by item Labor")
    number = next(word for word in screen.split() if word.startswith("INV-"))

    # Fix the cause: give Labor an income account on QuickBooks.
    term.press_until("o", "Connections")
    term.wait_for("Sandbox Company_US_1")
    term.press_until("m", "Items with no income account on quickbooks")
    term.press_until("Enter", "Income account code for LABOR")
    term.keys("80", "Enter")
    term.keys("Escape", "Escape")
    term.wait_for(f"invoice {number}")

    # Retry it and watch it become synced, live.
    term.keys("r")
    term.wait_for("synced", timeout=120)
    assert "status       synced" in term.wait_for("status       synced", timeout=120)
    term.keys("q")
