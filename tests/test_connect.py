"""`syncdesk connect` against each sandbox on loopback, as a person would run it."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx
import pytest

from console import cli
from console._fleet import SandboxFleet, free_port
from console._wiring import platforms


@pytest.mark.parametrize("platform", list(platforms()))
def test_connect_by_pasting_the_redirect(platform: str, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with SandboxFleet([platform]) as fleet:
        def approve(prompt: str = "") -> str:
            """The person opens the printed address and pastes where the browser went."""
            printed = capsys.readouterr().out
            url = re.search(r"(http://127\.0\.0\.1:\d+/\S+)", printed)
            assert url is not None, printed
            consent = httpx.get(url.group(1), follow_redirects=False)
            assert consent.status_code == 302
            return consent.headers["location"]

        monkeypatch.setattr("builtins.input", approve)
        code = cli.main(["connect", platform, "--base-url", fleet.urls[platform],
                         "--client-id", "app", "--client-secret", "secret", "--paste"])
        out = capsys.readouterr().out
        assert code == 0, out
        assert "connected" in out and "every record is queued" in out
        assert cli.main(["status", "--json"]) == 0
        status = json.loads(capsys.readouterr().out)
    assert [c["platform"] for c in status["connections"]] == [platform]
    # Import at setup brought the platform's own customers into the ledger.
    assert status["ledger"]["customers"] >= 1


def test_connect_through_the_local_redirect_listener(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    port = free_port()
    with SandboxFleet(["quickbooks"]) as fleet:
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(cli.main([
            "connect", "quickbooks", "--base-url", fleet.urls["quickbooks"], "--client-id",
            "app", "--client-secret", "secret", "--redirect-port", str(port), "--no-import"])))
        thread.start()
        deadline = time.monotonic() + 20
        url = None
        while url is None and time.monotonic() < deadline:
            time.sleep(0.1)
            found = re.search(r"(http://127\.0\.0\.1:\d+/connect/oauth2\S+)",
                              capsys.readouterr().out)
            url = found.group(1) if found else None
        assert url is not None
        # The browser follows the consent redirect to syncdesk's listener.
        answer = httpx.get(url, follow_redirects=True, timeout=10)
        thread.join(timeout=20)
    assert answer.text == "syncdesk is connected. You can close this tab."
    assert result == [0]
