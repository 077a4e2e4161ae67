"""`engine` loads a module only when one of its names is used (the console's start)."""

from __future__ import annotations

import json
import subprocess
import sys

import engine


def _loaded_after(code: str) -> set[str]:
    # A fresh interpreter: this one has loaded every module the other tests used.
    out = subprocess.run([sys.executable, "-c", f"import sys, json\n{code}\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    return set(json.loads(out.splitlines()[-1]))


def test_importing_engine_loads_none_of_its_modules() -> None:
    loaded = _loaded_after("import engine")
    assert not {m for m in loaded if m.startswith("engine.")}
    assert "pydantic" not in loaded and "cryptography" not in loaded


def test_a_name_loads_its_own_module_only() -> None:
    loaded = _loaded_after("from engine import SyncdeskError")
    assert {m for m in loaded if m.startswith("engine.")} == {"engine._errors"}


def test_every_exported_name_resolves_and_is_listed() -> None:
    for name in engine.__all__:
        assert getattr(engine, name) is not None
    assert set(engine.__all__) <= set(dir(engine))
    try:
        engine.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as error:
        assert "NoSuchThing" in str(error)
    else:
        raise AssertionError("an unknown name resolved")
