"""What the engine does with a failed attempt: DESIGN.md's error table as one pure function.

`decide(error, job, policy)` looks only at its arguments, so the whole table is tested as a
table (every error class × first/last attempt × in doubt or not). The worker applies the
decision through the sync-state writer and decides nothing itself.

The rule for writes in doubt: a create whose outcome is unknown (no answer, a timeout, a 5xx
after the request left, attempts used up) stays in doubt until syncdesk has seen the platform's
answer or looked for its own object there. A failed lookup is itself transient: it keeps the
record in doubt and never reads as "not ours".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from ._errors import (
    AuthExpired,
    AuthRevoked,
    Duplicate,
    NotFound,
    RateLimited,
    SyncError,
    Transient,
    Unmapped,
    Unsupported,
)
from ._port import Operation
from ._status import JobStatus


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    """Counted attempts (rate limits and skips do not count) before a job fails."""
    backoff_base: float = 1.0
    backoff_cap: float = 300.0
    long_wait: float = 300.0
    """A rate-limit wait longer than this (seconds) is also a notification."""

    def backoff(self, attempts: int, jitter: float) -> timedelta:
        """Exponential back-off with full jitter: `jitter` in [0, 1) scales the ceiling."""
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** min(attempts, 32))
        return timedelta(seconds=ceiling * jitter)


@dataclass(frozen=True)
class JobFacts:
    """What the policy needs to know about the job whose attempt failed."""

    was: JobStatus
    """Its status before the claim (pending or uncertain): where a release puts it back."""
    attempts: int
    """Counted attempts before this one."""
    operation: Operation
    in_doubt: bool
    """A create of it may already have landed."""
    linked: bool
    """The request went to an existing remote object."""


@dataclass(frozen=True)
class Decision:
    status: JobStatus
    in_doubt: bool
    counts: bool
    """Whether this attempt uses up one of `max_attempts`."""
    retry_in: timedelta | None = None
    notify: str | None = None
    """The notification's wording ("failed", "broken link", "skipped"), if one is raised."""
    park: bool = False
    """Hold the whole connection for `retry_in` (the platform throttled it)."""
    quota_notice: bool = False
    """The wait is long (a spent daily quota): say so in a notification too."""
    reconnect: bool = False
    """The grant is gone: stop the connection until someone reconnects it."""
    look_for_ours: bool = False
    """The platform says the name or number exists: perhaps our own earlier write. Look it up
    by syncdesk's mark first; `status` applies only if it is not ours."""


def decide(error: SyncError, job: JobFacts, policy: RetryPolicy, *,
           jitter: float = 1.0) -> Decision:
    doubt = job.in_doubt
    if isinstance(error, RateLimited):
        wait = timedelta(seconds=max(error.retry_after, 1.0))
        return Decision(job.was, doubt, counts=False, retry_in=wait, park=True,
                        quota_notice=error.daily or error.retry_after > policy.long_wait)
    if isinstance(error, (AuthRevoked, AuthExpired)):
        return Decision(job.was, doubt, counts=False, reconnect=True)
    if isinstance(error, Unmapped):
        return Decision(JobStatus.SKIPPED, doubt, counts=False, notify="skipped")
    if isinstance(error, Unsupported):
        return Decision(JobStatus.SKIPPED, doubt, counts=False)
    if isinstance(error, NotFound) and job.linked:
        return Decision(JobStatus.BROKEN_LINK, doubt, counts=False, notify="broken link")
    if isinstance(error, Transient):
        # No answer to a create: it may have landed. Anything in doubt stays so.
        doubt = doubt or job.operation is Operation.CREATE
        if job.attempts + 1 >= policy.max_attempts:
            return Decision(JobStatus.FAILED, doubt, counts=True, notify="failed")
        status = JobStatus.UNCERTAIN if doubt else JobStatus.PENDING
        return Decision(status, doubt, counts=True,
                        retry_in=policy.backoff(job.attempts, jitter))
    if isinstance(error, Duplicate) and job.operation is Operation.CREATE:
        return Decision(JobStatus.FAILED, False, counts=True, notify="failed",
                        look_for_ours=True)
    # The platform answered and refused: nothing of this request landed, and whatever was in
    # doubt was looked up before it was sent.
    return Decision(JobStatus.FAILED, False, counts=True, notify="failed")
