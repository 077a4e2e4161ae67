"""The states a sync job and a connection can be in: one enum each, used everywhere.

Job statuses a user sees (per connection, entity and record):
- pending: due now or at `next_attempt_at` (after a back-off);
- in_flight: claimed and being sent; after a crash or a stop mid-request it becomes uncertain;
- synced: the platform holds this version (`sync_links` says where);
- failed: the platform refused it, or transient failures used up every attempt;
- blocked: a record it needs failed (`blocked_entity`/`blocked_record` name it); resumes by
  itself when that one syncs;
- skipped: nothing was sent, with a fix-it reason (unmapped account, unsupported entity);
- broken_link: the remote object was deleted on the platform;
- uncertain: sent, outcome unknown; looked up on the platform before anything is sent again.

Apart from the status, a job is *in doubt* (`sync_jobs.in_doubt`) while a create of it may have
landed without syncdesk hearing so. It survives attempts running out and operator retries: the
next action on such a record always looks for syncdesk's own object on the platform first.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    IN_FLIGHT = "in_flight"
    SYNCED = "synced"
    FAILED = "failed"
    BLOCKED = "blocked"
    SKIPPED = "skipped"
    BROKEN_LINK = "broken_link"
    UNCERTAIN = "uncertain"


class ConnectionState(StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    NEEDS_RECONNECT = "needs_reconnect"
    DISCONNECTED = "disconnected"


JOB_STATUSES: tuple[str, ...] = tuple(status.value for status in JobStatus)

RETRYABLE: tuple[JobStatus, ...] = (
    JobStatus.FAILED, JobStatus.BLOCKED, JobStatus.SKIPPED, JobStatus.BROKEN_LINK,
    JobStatus.UNCERTAIN, JobStatus.SYNCED,
)
"""Statuses an operator may send again (pending and in-flight jobs are already going)."""
