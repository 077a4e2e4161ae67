"""The audit: per local record, how many objects on the platform carry syncdesk's mark for it.

Never totals: a duplicate and a loss would cancel out. A record expected on a platform with no
marked object is missing; any record with two or more is duplicated, expected or not; an
expected record whose job is not synced is reported too (a failed record that is in fact there
invites a retry that duplicates it). A payment
split over invoices is one object per invoice on some platforms, so where the sandbox reports
what a record applies to (`parts`), a duplicate is an invoice it applies to twice. A job
still pending, in flight or uncertain after the final drain, or flagged in doubt, is stuck.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ._world import UNFINISHED, World

Key = tuple[str, str]
"""(entity, local record id)"""


@dataclass
class Audit:
    duplicates: dict[str, int] = field(default_factory=dict)
    """"entity id" -> objects carrying its mark (2 or more)."""
    missing: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)
    not_synced: list[str] = field(default_factory=list)
    """Expected records whose job did not end synced: the console would show a false state."""
    expected: int = 0
    excused: int = 0
    """Jobs left out of `expected` as legitimate refusals (see `refused`)."""

    @property
    def clean(self) -> bool:
        return not (self.duplicates or self.missing or self.stuck or self.not_synced)

    def merge(self, other: Audit) -> None:
        self.duplicates.update(other.duplicates)
        self.missing.extend(other.missing)
        self.stuck.extend(other.stuck)
        self.not_synced.extend(other.not_synced)
        self.expected += other.expected
        self.excused += other.excused


REFUSALS = ("validation", "duplicate", "unmapped", "unsupported")
"""Error classes of a platform's (or the engine's pre-flight) no: not retried, not transient."""


def refused(job: Any, marks: dict[str, dict[str, int]]) -> bool:
    """A record the platform legitimately does not hold: skipped, blocked or refused, or
    voided before it ever reached the platform (the engine's `nothing_to_send`), with no
    object of ours there. Faults are all transient, so they cannot cause a refusal; a refusal
    with our object present (the engine tripped over its own write) is not excused."""
    ours = marks.get(job["entity"], {}).get(job["record_id"], 0)
    never_sent = job["status"] == "synced" and job["last_outcome"] == "nothing_to_send"
    return not ours and (never_sent or job["status"] in ("skipped", "blocked") or (
        job["status"] == "failed" and job["error_class"] in REFUSALS and not job["in_doubt"]))


def audit(world: World, platform: str, expected: Iterable[Key] | None = None) -> Audit:
    """`expected` None: every job of the platform's connection, less the legitimate refusals."""
    answer = world.sandboxes[platform].marks()
    marks, parts = answer["marks"], answer.get("parts", {})
    report = Audit()
    jobs = world.jobs(platform)
    if expected is None:
        expected = [(job["entity"], job["record_id"]) for job in jobs
                    if not refused(job, marks)]
        report.excused = len(jobs) - len(expected)
    for entity, counts in marks.items():
        for record_id, n in counts.items():
            applied = parts.get(entity, {}).get(record_id)
            copies = max(applied.values()) if applied else n
            if copies >= 2:
                report.duplicates[f"{platform} {entity} {record_id}"] = copies
    for entity, record_id in sorted(set(expected)):
        report.expected += 1
        if marks.get(entity, {}).get(record_id, 0) == 0:
            report.missing.append(f"{platform} {entity} {record_id}")
    status = {(job["entity"], job["record_id"]): job for job in jobs}
    for key in sorted(set(expected)):
        job = status.get(key)
        if job is None or job["status"] != "synced":
            report.not_synced.append(f"{platform} {key[0]} {key[1]} " + (
                f"{job['status']} ({job['error_class']}: {job['error_message']})"[:200]
                if job is not None else "has no job"))
    for job in jobs:
        if job["status"] in UNFINISHED or job["in_doubt"]:
            report.stuck.append(f"{platform} {job['entity']} {job['record_id']} "
                                f"{job['status']}{' in doubt' if job['in_doubt'] else ''}")
    return report
