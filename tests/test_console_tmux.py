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
    def __init__(self, session: str) -> None:
        self.session = session

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run(["tmux", "send-keys", "-t", self.session, key], check=True)
            time.sleep(0.15)  # a person's pace; correctness waits on the screen below

    def screen(self) -> str:
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session],
                              capture_output=True, text=True, check=True).stdout

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
    session = f"syncdesk-e2e-{tmp_path.name}"[:60]
    command = " ".join(shlex.quote(part) for part in [
        sys.executable, "-c", "import sys; from console.cli import main; sys.exit(main())",
        "demo", "--size", "20", "--db", str(tmp_path / "demo.db")])
    env = f"SYNCDESK_KEY_FILE={tmp_path / 'key'} SYNCDESK_CONFIG={tmp_path / 'none.toml'}"
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "120", "-y", "40",
                    f"env {env} TERM=xterm-256color {command}"], check=True)
    # Detached sessions may start at tmux's default size whatever -x says.
    subprocess.run(["tmux", "resize-window", "-t", session, "-x", "120", "-y", "40"],
                   check=False)
    try:
        yield Terminal(session)
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


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
    screen = term.wait_for("USD  blocked")
    number = next(word for line in screen.splitlines() if "USD  blocked" in line
                  for word in line.split() if word.startswith("INV-"))
    term.keys("Enter")
    term.wait_for(f"invoice {number}")
    term.wait_for("blocked by item Labor")

    # Fix the cause: give Labor an income account on QuickBooks.
    term.keys("o")
    term.wait_for("Connections")
    term.keys("m")
    term.wait_for("Items with no income account on quickbooks")
    term.keys("Enter")
    term.wait_for("Income account code for LABOR")
    term.keys("80", "Enter")
    term.keys("Escape", "Escape")
    term.wait_for(f"invoice {number}")

    # Retry it and watch it become synced, live.
    term.keys("r")
    term.wait_for("synced", timeout=120)
    assert "status       synced" in term.wait_for("status       synced", timeout=120)
    term.keys("q")
