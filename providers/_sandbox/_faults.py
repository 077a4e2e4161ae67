"""Fault injection: the next N matching requests misbehave in a chosen way.

Kinds:
- `error`: answer with a 5xx (status configurable) before touching state;
- `timeout`: hang before touching state, so the client times out and nothing was written;
- `drop`: perform the request (commit), then hang instead of answering — a lost response;
- `rate_limit`: answer 429 as the platform does (a burst of N);
- `garbage`: answer 200 with an HTML page instead of the platform's JSON.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from enum import StrEnum


class FaultKind(StrEnum):
    ERROR = "error"
    TIMEOUT = "timeout"
    DROP = "drop"
    RATE_LIMIT = "rate_limit"
    GARBAGE = "garbage"


@dataclass
class Fault:
    kind: FaultKind
    count: int = 1
    status: int = 503
    method: str | None = None
    """Only requests with this HTTP method (e.g. POST, PUT); None matches all."""
    path_contains: str | None = None
    probability: float = 1.0
    """Chance that a matching request is hit; with count -1 this gives a steady fault rate."""
    retry_after: int = 60
    """Seconds a `rate_limit` fault tells the client to wait."""


@dataclass
class FaultPlan:
    faults: list[Fault] = field(default_factory=list)
    hang_seconds: float = 60.0
    """How long `timeout` and `drop` hang: longer than any client timeout."""
    injected: dict[str, int] = field(default_factory=dict)
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def add(self, fault: Fault) -> None:
        self.faults.append(fault)

    def clear(self) -> None:
        self.faults.clear()

    def take(self, method: str, path: str, *, aimed: bool = False) -> Fault | None:
        """The fault this request suffers, if any; `aimed`: only one naming its path."""
        for fault in self.faults:
            if fault.method and fault.method.upper() != method.upper():
                continue
            if fault.path_contains and fault.path_contains not in path:
                continue
            if aimed and not fault.path_contains:
                continue
            if fault.probability < 1.0 and self.rng.random() >= fault.probability:
                continue
            if fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self.faults.remove(fault)
            self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
            return fault
        return None
