"""What the benchmark scripts share: JSON-lines output and a demo world on loopback."""

from __future__ import annotations

import json
import sys
from typing import Any


def emit(name: str, value: float | int, unit: str, reference: str = "", **extra: Any) -> None:
    """One figure as one JSON object per line, so a program can read the results."""
    record = {"name": name, "value": round(value, 4) if isinstance(value, float) else value,
              "unit": unit, "reference": reference, **extra}
    sys.stdout.write(json.dumps(record) + "\n")
    sys.stdout.flush()
