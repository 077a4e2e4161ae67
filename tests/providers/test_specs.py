"""The published specs live in the repository, intact, and a missing one fails loudly."""

from __future__ import annotations

import hashlib
import re

import pytest

from tests.providers._support import SPECS, spec

ROW = re.compile(r"^\| (\S+) \| .+ \| (\d+) \| ([0-9a-f]{40}) \|$", re.MULTILINE)


def _git_blob(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_every_stored_spec_is_the_upstream_blob() -> None:
    rows = ROW.findall((SPECS / "SOURCES.md").read_text())
    assert {name for name, _, _ in rows} >= {"xero/xero_accounting.yaml", "xero/LICENSE",
                                             "quickbooks/IntuitRestServiceDef.xsd",
                                             "quickbooks/LICENSE.txt"}
    for name, size, blob in rows:
        data = spec(name).read_bytes()
        assert (name, len(data), _git_blob(data)) == (name, int(size), blob)


def test_a_missing_spec_fails_the_test_naming_it() -> None:
    with pytest.raises(pytest.fail.Exception, match=r"xero/nope\.yaml is missing"):
        spec("xero/nope.yaml")
