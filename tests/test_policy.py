"""DESIGN's error table, as `decide()` answers it: every error class × first/last attempt ×
in doubt or not × create/update."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from engine import (
    ERROR_TYPES,
    AuthExpired,
    AuthRevoked,
    Duplicate,
    ErrorClass,
    JobFacts,
    JobStatus,
    NotFound,
    Operation,
    RateLimited,
    RetryPolicy,
    Stale,
    SyncError,
    Transient,
    Unmapped,
    Unsupported,
    Validation,
    decide,
)

POLICY = RetryPolicy(max_attempts=6, backoff_base=1.0, backoff_cap=300.0, long_wait=300.0)
FIRST, LAST = 0, POLICY.max_attempts - 1


def error_of(kind: ErrorClass) -> SyncError:
    if kind is ErrorClass.RATE_LIMITED:
        return RateLimited("slow down", retry_after=30)
    return ERROR_TYPES[kind](f"{kind} happened")


def facts(attempts: int, doubt: bool, operation: Operation, *,
          was: JobStatus = JobStatus.PENDING) -> JobFacts:
    return JobFacts(was=was, attempts=attempts, operation=operation, in_doubt=doubt,
                    linked=operation is not Operation.CREATE)


def expected(kind: ErrorClass, attempts: int, doubt: bool,
             operation: Operation) -> tuple[JobStatus, bool, bool]:
    """(status, in doubt afterwards, counts as an attempt): the table, written out."""
    create = operation is Operation.CREATE
    if kind is ErrorClass.RATE_LIMITED:
        return JobStatus.PENDING, doubt, False
    if kind in (ErrorClass.AUTH_REVOKED, ErrorClass.AUTH_EXPIRED):
        return JobStatus.PENDING, doubt, False
    if kind in (ErrorClass.UNMAPPED, ErrorClass.UNSUPPORTED):
        return JobStatus.SKIPPED, doubt, False
    if kind is ErrorClass.NOT_FOUND:
        return (JobStatus.FAILED, False, True) if create else (JobStatus.BROKEN_LINK, doubt,
                                                                False)
    if kind is ErrorClass.TRANSIENT:
        doubt_after = doubt or create
        if attempts == LAST:
            return JobStatus.FAILED, doubt_after, True
        return (JobStatus.UNCERTAIN if doubt_after else JobStatus.PENDING), doubt_after, True
    return JobStatus.FAILED, False, True


CASES = list(itertools.product(ErrorClass, (FIRST, LAST), (False, True),
                               (Operation.CREATE, Operation.UPDATE)))


@pytest.mark.parametrize(("kind", "attempts", "doubt", "operation"), CASES,
                         ids=[f"{k}-{'last' if a else 'first'}-{'doubt' if d else 'sure'}-{o}"
                              for k, a, d, o in CASES])
def test_the_error_table(kind: ErrorClass, attempts: int, doubt: bool,
                         operation: Operation) -> None:
    decision = decide(error_of(kind), facts(attempts, doubt, operation), POLICY, jitter=0.5)
    assert (decision.status, decision.in_doubt, decision.counts) == expected(
        kind, attempts, doubt, operation)


def test_a_transient_create_is_in_doubt_and_backs_off_within_the_cap() -> None:
    decision = decide(Transient("timeout"), facts(3, False, Operation.CREATE), POLICY,
                      jitter=0.5)
    assert decision.status is JobStatus.UNCERTAIN and decision.in_doubt
    assert decision.retry_in == timedelta(seconds=4)  # half of base * 2**3
    capped = decide(Transient("timeout"), facts(3, False, Operation.CREATE),
                    RetryPolicy(backoff_cap=2.0), jitter=0.999)
    assert capped.retry_in is not None and capped.retry_in <= timedelta(seconds=2)


def test_attempts_running_out_keep_a_create_in_doubt_and_say_so() -> None:
    decision = decide(Transient("timeout"), facts(LAST, True, Operation.CREATE), POLICY)
    assert (decision.status, decision.in_doubt, decision.notify) == (
        JobStatus.FAILED, True, "failed")


def test_a_rate_limit_parks_without_counting_and_returns_to_where_it_was() -> None:
    decision = decide(RateLimited("daily", retry_after=7200, daily=True),
                      facts(2, True, Operation.CREATE, was=JobStatus.UNCERTAIN), POLICY)
    assert decision.status is JobStatus.UNCERTAIN and decision.in_doubt
    assert decision.park and decision.quota_notice and not decision.counts
    assert decision.retry_in == timedelta(seconds=7200)


def test_a_duplicate_on_create_looks_for_ours_before_failing() -> None:
    on_create = decide(Duplicate("name taken"), facts(0, False, Operation.CREATE), POLICY)
    assert on_create.look_for_ours and on_create.status is JobStatus.FAILED
    on_update = decide(Duplicate("name taken"), facts(0, False, Operation.UPDATE), POLICY)
    assert not on_update.look_for_ours


@pytest.mark.parametrize("error", [AuthRevoked("revoked"), AuthExpired("expired")])
def test_auth_failures_stop_the_connection(error: SyncError) -> None:
    assert decide(error, facts(0, False, Operation.CREATE), POLICY).reconnect


@pytest.mark.parametrize(("error", "notify"), [
    (Unmapped("no account"), "skipped"), (Unsupported("not on Wave"), None),
    (Validation("bad"), "failed"), (Stale("old token"), "failed"),
    (NotFound("gone"), "failed"),
])
def test_who_hears_about_it(error: SyncError, notify: str | None) -> None:
    assert decide(error, facts(0, False, Operation.CREATE), POLICY).notify == notify
