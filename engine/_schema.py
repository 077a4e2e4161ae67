"""The store's schema, as an ordered list of migrations.

`PRAGMA user_version` holds how many migrations a file has had; opening a file runs the rest
in one transaction. A file from a newer syncdesk (user_version beyond this list) is refused
rather than guessed at. Never edit a released migration: append a new one.

Why some things are where they are:
- Money is INTEGER minor units, so SUM() is exact. Lines live in each document's JSON `doc`
  (the validated model); what SQL must join or sum on (allocations) has its own table.
- `sync_jobs` holds the current state per (connection, entity, record) — the UNIQUE key is the
  outbox's coalescing. It carries the label, customer and amount shown in record lists, so a
  page of 1,000,000 jobs is one index range on one table.
- `job_counts` is kept by triggers (an operator's requeue adjusts it once per statement):
  dashboard counts never scan `sync_jobs`.
- Every job status change appends to `events` from a trigger, in the same transaction, so a
  console in another process sees every change and none is forgotten by a code path; an
  operator's requeue appends one event for the whole command (`kind = 'requeue'`).
"""

from __future__ import annotations

from ._models import Entity
from ._status import JOB_STATUSES

TABLE_OF: dict[Entity, str] = {
    Entity.CUSTOMER: "customers",
    Entity.ITEM: "items",
    Entity.INVOICE: "invoices",
    Entity.PAYMENT: "payments",
    Entity.CREDIT_NOTE: "credit_notes",
}
"""The ledger table that holds each entity."""

_V1 = """
CREATE TABLE customers (
    id              TEXT PRIMARY KEY,
    display_name    TEXT NOT NULL,
    email           TEXT,
    classification  TEXT NOT NULL,
    doc             TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    updated_at      TEXT NOT NULL
);
CREATE INDEX customers_name ON customers (display_name);

CREATE TABLE items (
    id          TEXT PRIMARY KEY,
    sku         TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    doc         TEXT NOT NULL,
    version     INTEGER NOT NULL DEFAULT 1,
    updated_at  TEXT NOT NULL
);

CREATE TABLE invoices (
    id           TEXT PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    status       TEXT NOT NULL CHECK (status IN ('draft', 'sent', 'void')),
    currency     TEXT NOT NULL,
    total_minor  INTEGER NOT NULL CHECK (total_minor >= 0),
    doc          TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL
);
CREATE INDEX invoices_customer ON invoices (customer_id);

CREATE TABLE payments (
    id            TEXT PRIMARY KEY,
    customer_id   TEXT NOT NULL REFERENCES customers (id),
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    reference     TEXT,
    doc           TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL
);
CREATE INDEX payments_customer ON payments (customer_id);

CREATE TABLE credit_notes (
    id           TEXT PRIMARY KEY,
    number       TEXT NOT NULL UNIQUE,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    currency     TEXT NOT NULL,
    total_minor  INTEGER NOT NULL CHECK (total_minor >= 0),
    doc          TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL
);

-- Which items a document uses: lets a changed item find its documents, and keeps items
-- that are in use from being deleted.
CREATE TABLE document_items (
    entity     TEXT NOT NULL,
    record_id  TEXT NOT NULL,
    item_id    TEXT NOT NULL REFERENCES items (id),
    PRIMARY KEY (entity, record_id, item_id)
) WITHOUT ROWID;

-- Payments and credit notes applied to invoices. An invoice's paid amount and balance are
-- always SUM()s over these, never a stored field that can go stale.
CREATE TABLE allocations (
    source_entity  TEXT NOT NULL CHECK (source_entity IN ('payment', 'credit_note')),
    source_id      TEXT NOT NULL,
    invoice_id     TEXT NOT NULL REFERENCES invoices (id),
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (source_entity, source_id, invoice_id)
) WITHOUT ROWID;
CREATE INDEX allocations_invoice ON allocations (invoice_id, source_entity);

CREATE VIEW invoice_balances AS
SELECT i.id AS invoice_id,
       i.total_minor,
       COALESCE((SELECT SUM(a.amount_minor) FROM allocations a
                 WHERE a.invoice_id = i.id AND a.source_entity = 'payment'), 0) AS paid_minor,
       COALESCE((SELECT SUM(a.amount_minor) FROM allocations a
                 WHERE a.invoice_id = i.id AND a.source_entity = 'credit_note'), 0)
           AS credited_minor
FROM invoices i;

CREATE TABLE connections (
    id                INTEGER PRIMARY KEY,
    platform          TEXT NOT NULL,
    tenant_id         TEXT NOT NULL,
    tenant_name       TEXT NOT NULL,
    base_url          TEXT,
    client_id         TEXT NOT NULL DEFAULT '',
    state             TEXT NOT NULL DEFAULT 'active'
                      CHECK (state IN ('active', 'paused', 'needs_reconnect', 'disconnected')),
    state_reason      TEXT,
    unsupported       TEXT NOT NULL DEFAULT '{}',
    parked_until      TEXT,
    minute_remaining  INTEGER,
    day_remaining     INTEGER,
    quota_at          TEXT,
    last_success_at   TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL,
    UNIQUE (platform, tenant_id)
);

-- Fernet-sealed token bundle; nothing in this table is readable without the key.
CREATE TABLE tokens (
    connection_id       INTEGER PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    sealed              BLOB NOT NULL,
    access_expires_at   TEXT NOT NULL,
    refresh_expires_at  TEXT,
    generation          INTEGER NOT NULL DEFAULT 1,
    updated_at          TEXT NOT NULL
);

CREATE TABLE sync_links (
    connection_id   INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity          TEXT NOT NULL,
    record_id       TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    remote_version  TEXT,
    remote_number   TEXT,
    synced_version  INTEGER NOT NULL,
    synced_at       TEXT NOT NULL,
    PRIMARY KEY (connection_id, entity, record_id)
) WITHOUT ROWID;
CREATE INDEX sync_links_remote ON sync_links (connection_id, entity, remote_id);

CREATE TABLE sync_jobs (
    id               INTEGER PRIMARY KEY,
    connection_id    INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity           TEXT NOT NULL,
    record_id        TEXT NOT NULL,
    stage            INTEGER NOT NULL,
    operation        TEXT NOT NULL CHECK (operation IN ('create', 'update', 'void')),
    status           TEXT NOT NULL CHECK (status IN (
                         'pending', 'in_flight', 'synced', 'failed', 'blocked', 'skipped',
                         'broken_link', 'uncertain')),
    record_version   INTEGER NOT NULL,
    sent_version     INTEGER,
    label            TEXT NOT NULL,
    customer         TEXT,
    amount_minor     INTEGER,
    currency         TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    last_attempt_at  TEXT,
    idempotency_key  TEXT,
    lookup_first     INTEGER NOT NULL DEFAULT 0,
    error_class      TEXT,
    error_code       TEXT,
    error_message    TEXT,
    http_status      INTEGER,
    blocked_entity   TEXT,
    blocked_record   TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    UNIQUE (connection_id, entity, record_id)
);
CREATE INDEX sync_jobs_due ON sync_jobs (connection_id, status, stage, next_attempt_at);
CREATE INDEX sync_jobs_page ON sync_jobs (connection_id, entity, status, updated_at, id);
CREATE INDEX sync_jobs_page_all ON sync_jobs (connection_id, entity, updated_at, id);
CREATE INDEX sync_jobs_error ON sync_jobs (connection_id, entity, error_class, error_code)
    WHERE error_class IS NOT NULL;
CREATE INDEX sync_jobs_blocked ON sync_jobs (connection_id, blocked_entity, blocked_record)
    WHERE blocked_record IS NOT NULL;

CREATE TABLE job_counts (
    connection_id  INTEGER NOT NULL,
    entity         TEXT NOT NULL,
    status         TEXT NOT NULL,
    n              INTEGER NOT NULL,
    PRIMARY KEY (connection_id, entity, status)
) WITHOUT ROWID;

CREATE TABLE sync_attempts (
    id            INTEGER PRIMARY KEY,
    job_id        INTEGER NOT NULL REFERENCES sync_jobs (id) ON DELETE CASCADE,
    started_at    TEXT NOT NULL,
    duration_ms   INTEGER NOT NULL,
    operation     TEXT NOT NULL,
    outcome       TEXT NOT NULL,
    error_class   TEXT,
    error_code    TEXT,
    message       TEXT,
    http_status   INTEGER,
    remote_id     TEXT
);
CREATE INDEX sync_attempts_job ON sync_attempts (job_id, id);

CREATE TABLE notifications (
    id             INTEGER PRIMARY KEY,
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity         TEXT NOT NULL DEFAULT '',
    record_id      TEXT NOT NULL DEFAULT '',
    kind           TEXT NOT NULL,
    title          TEXT NOT NULL,
    message        TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    read_at        TEXT
);
-- At most one unread notification per problem (connection-level ones have entity = '').
CREATE UNIQUE INDEX notifications_one_unread
    ON notifications (connection_id, entity, record_id) WHERE read_at IS NULL;
CREATE INDEX notifications_recent ON notifications (id, read_at);

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             TEXT NOT NULL,
    kind           TEXT NOT NULL,
    connection_id  INTEGER,
    entity         TEXT,
    record_id      TEXT,
    status         TEXT
);

CREATE TABLE audit (
    id        INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    command   TEXT NOT NULL,
    scope     TEXT NOT NULL,
    affected  INTEGER NOT NULL
);

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

-- One engine drives a store at a time; the lease says who, and when it last proved alive.
CREATE TABLE engine_lease (
    id            INTEGER PRIMARY KEY CHECK (id = 1),
    owner         TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    heartbeat_at  TEXT NOT NULL
);

CREATE TRIGGER sync_jobs_counted AFTER INSERT ON sync_jobs BEGIN
    INSERT INTO job_counts (connection_id, entity, status, n)
    VALUES (NEW.connection_id, NEW.entity, NEW.status, 1)
    ON CONFLICT (connection_id, entity, status) DO UPDATE SET n = n + 1;
    INSERT INTO events (at, kind, connection_id, entity, record_id, status)
    VALUES (NEW.updated_at, 'job', NEW.connection_id, NEW.entity, NEW.record_id, NEW.status);
END;

CREATE TRIGGER sync_jobs_recounted AFTER UPDATE OF status ON sync_jobs
WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE connection_id = OLD.connection_id AND entity = OLD.entity AND status = OLD.status;
    INSERT INTO job_counts (connection_id, entity, status, n)
    VALUES (NEW.connection_id, NEW.entity, NEW.status, 1)
    ON CONFLICT (connection_id, entity, status) DO UPDATE SET n = n + 1;
    INSERT INTO events (at, kind, connection_id, entity, record_id, status)
    VALUES (NEW.updated_at, 'job', NEW.connection_id, NEW.entity, NEW.record_id, NEW.status);
END;

CREATE TRIGGER sync_jobs_uncounted AFTER DELETE ON sync_jobs BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE connection_id = OLD.connection_id AND entity = OLD.entity AND status = OLD.status;
END;

CREATE TRIGGER connections_changed AFTER UPDATE OF state, parked_until ON connections BEGIN
    INSERT INTO events (at, kind, connection_id, status)
    VALUES (NEW.updated_at, 'connection', NEW.id, NEW.state);
END;

CREATE TRIGGER notifications_raised AFTER INSERT ON notifications BEGIN
    INSERT INTO events (at, kind, connection_id, entity, record_id, status)
    VALUES (NEW.created_at, 'notification', NEW.connection_id, NEW.entity, NEW.record_id,
            NEW.kind);
END;
"""

# A create whose outcome is unknown stays in doubt across attempts running out and operator
# retries, until syncdesk has looked for its own object on the platform.
_V2 = """
ALTER TABLE sync_jobs ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;
"""

# A bulk requeue (100,000 jobs) counts and logs itself once per statement, not once per row:
# `requeue()` lists the jobs it moves in `requeued_jobs`, adjusts `job_counts` by GROUP BY and
# writes one event, and the per-row trigger stands aside for exactly those rows. The table is
# filled and emptied inside one transaction, so no other connection ever sees a row in it, and
# every other status change (the engine's own writes) is still counted and logged per row.
_V3 = """
CREATE TABLE IF NOT EXISTS requeued_jobs (
    id             INTEGER PRIMARY KEY,
    connection_id  INTEGER NOT NULL,
    entity         TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    old_status     TEXT NOT NULL,
    new_status     TEXT NOT NULL
);

DROP TRIGGER sync_jobs_recounted;
CREATE TRIGGER sync_jobs_recounted AFTER UPDATE OF status ON sync_jobs
WHEN OLD.status IS NOT NEW.status
     AND NOT EXISTS (SELECT 1 FROM requeued_jobs WHERE id = OLD.id) BEGIN
    UPDATE job_counts SET n = n - 1
    WHERE connection_id = OLD.connection_id AND entity = OLD.entity AND status = OLD.status;
    INSERT INTO job_counts (connection_id, entity, status, n)
    VALUES (NEW.connection_id, NEW.entity, NEW.status, 1)
    ON CONFLICT (connection_id, entity, status) DO UPDATE SET n = n + 1;
    INSERT INTO events (at, kind, connection_id, entity, record_id, status)
    VALUES (NEW.updated_at, 'job', NEW.connection_id, NEW.entity, NEW.record_id, NEW.status);
END;
"""

# The console's problems queue groups every job that needs a person by connection, status,
# doubt, class, code and message: this partial index holds exactly those jobs (about one in
# eight) in that order with their age, so the GROUP BY reads it alone, in order, never the table.
_V4 = """
CREATE INDEX sync_jobs_problems ON sync_jobs
    (connection_id, status, in_doubt, error_class, error_code, error_message, updated_at)
    WHERE status IN ('failed', 'blocked', 'skipped', 'broken_link') OR in_doubt = 1;
"""

# The problems queue counted as it changes (a read of its groups, not a GROUP BY over every
# job that needs a person): `problem_groups` holds one row per (connection, status, doubt,
# class, code, exact message) with its count, and each such job carries its group's id, so
# the age of a group's oldest job is one seek along a narrow index of (group, updated_at).
# That index replaces migration 4's, which held every message in full: a bulk retry of
# 100,000 failures deleted 100,000 of its wide entries. Triggers keep the groups for every
# write but an operator's requeue, which (as with `job_counts`) adjusts them once per
# statement from the `requeued_jobs` list. Absent text is '' in a group so that the UNIQUE key
# holds (NULLs are all distinct in SQLite); the service reads '' as none.
_V5_PROBLEM = ("({r}.status IN ('failed', 'blocked', 'skipped', 'broken_link') "
               "OR {r}.in_doubt = 1)")
_V5_KEY = ("{r}.connection_id, {r}.status, {r}.in_doubt, COALESCE({r}.error_class, ''), "
           "COALESCE({r}.error_code, ''), COALESCE({r}.error_message, '')")
_V5_GROUP_OF = ("(SELECT g.id FROM problem_groups g WHERE (g.connection_id, g.status, "
                "g.in_doubt, g.error_class, g.error_code, g.error_message) = ({key}))")
_V5_JOIN = ("INSERT INTO problem_groups (connection_id, status, in_doubt, error_class, "
            "error_code, error_message, n) SELECT {key}, 1 WHERE {problem} "
            "ON CONFLICT (connection_id, status, in_doubt, error_class, error_code, "
            "error_message) DO UPDATE SET n = n + 1;")
_V5_LEAVE = ("UPDATE problem_groups SET n = n - 1 WHERE id = OLD.problem_group;\n"
             "    DELETE FROM problem_groups WHERE id = OLD.problem_group AND n <= 0;")
_V5 = f"""
CREATE TABLE problem_groups (
    id             INTEGER PRIMARY KEY,
    connection_id  INTEGER NOT NULL,
    status         TEXT NOT NULL,
    in_doubt       INTEGER NOT NULL,
    error_class    TEXT NOT NULL,
    error_code     TEXT NOT NULL,
    error_message  TEXT NOT NULL,
    n              INTEGER NOT NULL,
    UNIQUE (connection_id, status, in_doubt, error_class, error_code, error_message)
);
ALTER TABLE sync_jobs ADD COLUMN problem_group INTEGER;
ALTER TABLE requeued_jobs ADD COLUMN problem_group INTEGER;
ALTER TABLE requeued_jobs ADD COLUMN in_doubt INTEGER NOT NULL DEFAULT 0;

INSERT INTO problem_groups (connection_id, status, in_doubt, error_class, error_code,
    error_message, n)
SELECT {_V5_KEY.format(r="j")}, COUNT(*) FROM sync_jobs j WHERE {_V5_PROBLEM.format(r="j")}
GROUP BY 1, 2, 3, 4, 5, 6;
UPDATE sync_jobs SET problem_group = {_V5_GROUP_OF.format(key=_V5_KEY.format(r="sync_jobs"))}
WHERE {_V5_PROBLEM.format(r="sync_jobs")};

DROP INDEX sync_jobs_problems;
CREATE INDEX sync_jobs_problem_age ON sync_jobs (problem_group, updated_at)
    WHERE problem_group IS NOT NULL;

CREATE TRIGGER sync_jobs_problem_added AFTER INSERT ON sync_jobs
WHEN {_V5_PROBLEM.format(r="NEW")} BEGIN
    {_V5_JOIN.format(key=_V5_KEY.format(r="NEW"), problem="1")}
    UPDATE sync_jobs SET problem_group = {_V5_GROUP_OF.format(key=_V5_KEY.format(r="NEW"))}
    WHERE id = NEW.id;
END;

CREATE TRIGGER sync_jobs_problem_moved
AFTER UPDATE OF status, in_doubt, error_class, error_code, error_message ON sync_jobs
WHEN (OLD.problem_group IS NOT NULL OR {_V5_PROBLEM.format(r="NEW")})
     AND (OLD.status IS NOT NEW.status OR OLD.in_doubt IS NOT NEW.in_doubt
          OR OLD.error_class IS NOT NEW.error_class OR OLD.error_code IS NOT NEW.error_code
          OR OLD.error_message IS NOT NEW.error_message)
     AND NOT EXISTS (SELECT 1 FROM requeued_jobs WHERE id = OLD.id) BEGIN
    {_V5_LEAVE}
    {_V5_JOIN.format(key=_V5_KEY.format(r="NEW"), problem=_V5_PROBLEM.format(r="NEW"))}
    UPDATE sync_jobs SET problem_group = CASE WHEN {_V5_PROBLEM.format(r="NEW")}
        THEN {_V5_GROUP_OF.format(key=_V5_KEY.format(r="NEW"))} END
    WHERE id = NEW.id;
END;

CREATE TRIGGER sync_jobs_problem_removed AFTER DELETE ON sync_jobs
WHEN OLD.problem_group IS NOT NULL BEGIN
    {_V5_LEAVE}
END;
"""

# The record table (helper "table"): an index for every sort key a listing offers, and the
# free-text search. Label and amount come from the record and are written only when it
# changes, so their indexes cost a retry nothing; attempts changes with every send and every
# retry, which pays one entry of it per job. None of them holds the status: a status filter
# walks the sort's index and skips the others (with the status in, the planner took these
# indexes for counts that the error-class index answers, and 9 ms became 220 ms). The rowid
# ends every index, so each is already in (key, id) order. The search is FTS5 with the
# trigram tokenizer over one text per job (number/name, record id, customer; `detail=none`
# keeps it small, LIKE checks its candidates against the view), kept by triggers that fire
# only when that text changes, never on the status writes of the engine or a bulk retry.
_V6 = """
CREATE INDEX sync_jobs_label ON sync_jobs (connection_id, entity, label);
CREATE INDEX sync_jobs_amount ON sync_jobs (connection_id, entity, COALESCE(amount_minor, -1));
CREATE INDEX sync_jobs_attempts ON sync_jobs (connection_id, entity, attempts);

CREATE VIEW sync_jobs_text_source AS
SELECT id, label || char(10) || record_id || char(10) || COALESCE(customer, '') AS text
FROM sync_jobs;
CREATE VIRTUAL TABLE sync_jobs_text USING fts5(
    text, content = 'sync_jobs_text_source', content_rowid = 'id', tokenize = 'trigram',
    detail = 'none');
INSERT INTO sync_jobs_text (sync_jobs_text) VALUES ('rebuild');

CREATE TRIGGER sync_jobs_text_added AFTER INSERT ON sync_jobs BEGIN
    INSERT INTO sync_jobs_text (rowid, text) VALUES (NEW.id,
        NEW.label || char(10) || NEW.record_id || char(10) || COALESCE(NEW.customer, ''));
END;
CREATE TRIGGER sync_jobs_text_removed AFTER DELETE ON sync_jobs BEGIN
    INSERT INTO sync_jobs_text (sync_jobs_text, rowid, text) VALUES ('delete', OLD.id,
        OLD.label || char(10) || OLD.record_id || char(10) || COALESCE(OLD.customer, ''));
END;
CREATE TRIGGER sync_jobs_text_changed AFTER UPDATE OF label, record_id, customer ON sync_jobs
WHEN OLD.label IS NOT NEW.label OR OLD.record_id IS NOT NEW.record_id
     OR OLD.customer IS NOT NEW.customer BEGIN
    INSERT INTO sync_jobs_text (sync_jobs_text, rowid, text) VALUES ('delete', OLD.id,
        OLD.label || char(10) || OLD.record_id || char(10) || COALESCE(OLD.customer, ''));
    INSERT INTO sync_jobs_text (rowid, text) VALUES (NEW.id,
        NEW.label || char(10) || NEW.record_id || char(10) || COALESCE(NEW.customer, ''));
END;
"""

# Per-connection mappings (helper "mapping"): how a connection names the business's codes on
# its platform. `key` is '' for a connection-wide value (the default income account, the
# deposit account, the untaxed-line code), so one primary key covers both shapes and reading a
# connection's mappings is one range of it. `label` is the platform's own name of the value,
# as its list showed it when the value was checked. Setup pulls that cannot tell whether a
# platform customer is a local one park it in `directory_doubts` for a person to decide.
_V7 = """
CREATE TABLE connection_mappings (
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL CHECK (kind IN ('income_account', 'default_income_account',
                       'deposit_account', 'tax_code', 'no_tax_code', 'payment_method',
                       'class', 'location')),
    key            TEXT NOT NULL DEFAULT '',
    value          TEXT NOT NULL,
    label          TEXT NOT NULL DEFAULT '',
    updated_at     TEXT NOT NULL,
    updated_by     TEXT NOT NULL,
    PRIMARY KEY (connection_id, kind, key)
) WITHOUT ROWID;

CREATE TABLE directory_doubts (
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity         TEXT NOT NULL,
    remote_id      TEXT NOT NULL,
    remote_name    TEXT NOT NULL,
    candidates     TEXT NOT NULL,
    reason         TEXT NOT NULL,
    seen_at        TEXT NOT NULL,
    PRIMARY KEY (connection_id, entity, remote_id)
);
"""

_V8 = """
-- API keys of `syncdesk serve`: only each key's SHA-256 digest is kept. A rotated key keeps
-- working until its expires_at (the overlap); a revoked one expires at once.
CREATE TABLE api_keys (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    hint        TEXT NOT NULL,
    digest      TEXT NOT NULL UNIQUE,
    read_only   INTEGER NOT NULL DEFAULT 0,
    rotated     INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    expires_at  TEXT
);
CREATE INDEX api_keys_name ON api_keys (name, id);
"""

# Webhooks out to the business's own app (helper "webhooks"). An endpoint's secret is sealed
# as connection tokens are: signing needs the secret itself, so a digest would not do. A
# delivery is one event for one endpoint; UNIQUE (endpoint_id, event_key) is the dedupe, and
# the subject columns (a record, or a connection with empty entity and record) let the raise
# read the subject's latest event at an endpoint from one index seek. A removed endpoint is
# disabled, not deleted, so its delivery log stays readable.
_V9 = """
CREATE TABLE webhook_endpoints (
    id           INTEGER PRIMARY KEY,
    url          TEXT NOT NULL,
    secret       BLOB NOT NULL,
    hint         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    disabled_at  TEXT
);

CREATE TABLE webhook_deliveries (
    id               INTEGER PRIMARY KEY,
    endpoint_id      INTEGER NOT NULL REFERENCES webhook_endpoints (id),
    event_key        TEXT NOT NULL,
    kind             TEXT NOT NULL,
    connection_id    INTEGER NOT NULL,
    entity           TEXT NOT NULL DEFAULT '',
    record_id        TEXT NOT NULL DEFAULT '',
    payload          TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  TEXT,
    status           TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'delivered', 'failed')),
    last_status      INTEGER,
    last_error       TEXT,
    created_at       TEXT NOT NULL,
    delivered_at     TEXT,
    UNIQUE (endpoint_id, event_key)
);
CREATE INDEX webhook_deliveries_subject
    ON webhook_deliveries (endpoint_id, connection_id, entity, record_id, id);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending';
"""

# The way back (helper "feed"). `feed_cursors`: where each connection's change feed of one
# entity stands, written in the transaction that applies the page it came with, so a crash
# re-reads at most that page; `due_at` is a webhook's "read now", set by the `serve` process
# and cleared by the engine once a read started after it. `origins`: records that came from a
# platform (a payment recorded there), so they are never pushed back to it; one per remote
# object and connection. `record_history`: a contact edit's losing values under the conflict
# rule (the later change wins), with the winner's. `webhook_keys`: each connection's key for
# the platform's incoming webhooks, sealed as tokens are (verifying needs the key itself).
# `contacts_seen`: each linked contact as the feed last read it (compared values), so only
# what changed on the platform since counts as an edit, never the platform's own way of
# writing what syncdesk sent (two platforms reformatting a phone would trade it for ever).
_V10 = """
CREATE TABLE feed_cursors (
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity         TEXT NOT NULL,
    cursor         TEXT,
    read_at        TEXT,
    due_at         TEXT,
    error          TEXT,
    PRIMARY KEY (connection_id, entity)
) WITHOUT ROWID;

CREATE TABLE origins (
    entity         TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    remote_id      TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (entity, record_id),
    UNIQUE (connection_id, entity, remote_id)
);

CREATE TABLE record_history (
    id             INTEGER PRIMARY KEY,
    entity         TEXT NOT NULL,
    record_id      TEXT NOT NULL,
    connection_id  INTEGER NOT NULL,
    at             TEXT NOT NULL,
    winner         TEXT NOT NULL CHECK (winner IN ('platform', 'ledger')),
    platform_at    TEXT NOT NULL,
    ledger_at      TEXT NOT NULL,
    changes        TEXT NOT NULL
);
CREATE INDEX record_history_record ON record_history (entity, record_id, id);

CREATE TABLE webhook_keys (
    connection_id  INTEGER PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    sealed         BLOB NOT NULL,
    hint           TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE contacts_seen (
    connection_id  INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    remote_id      TEXT NOT NULL,
    said           TEXT NOT NULL,
    PRIMARY KEY (connection_id, remote_id)
) WITHOUT ROWID;
"""

# The drift audit (helper "audit"): what the last audit of each connection found differing
# between a synced record and its object on the platform, one row per record and field with
# both sides as the text a person reads. A run replaces its connection's rows as one write, so
# a record that agrees again has none; `found_at` is when that field was first seen differing.
# `drift_audits` keeps each connection's last run, so no rows tells a clean run from no run.
_V11 = """
CREATE TABLE drift (
    connection_id   INTEGER NOT NULL REFERENCES connections (id) ON DELETE CASCADE,
    entity          TEXT NOT NULL,
    record_id       TEXT NOT NULL,
    field           TEXT NOT NULL,
    label           TEXT NOT NULL,
    remote_id       TEXT NOT NULL,
    ledger_value    TEXT NOT NULL,
    platform_value  TEXT NOT NULL,
    found_at        TEXT NOT NULL,
    PRIMARY KEY (connection_id, entity, record_id, field)
) WITHOUT ROWID;

CREATE TABLE drift_audits (
    connection_id  INTEGER PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    ran_at         TEXT NOT NULL,
    compared       INTEGER NOT NULL,
    differing      INTEGER NOT NULL,
    unlisted       INTEGER NOT NULL
);
"""

# Many businesses in one store (helper "business", #14). Every business-owned row names its
# business: the ledger's record ids are the business's own, unique within it, so the ledger
# tables are rebuilt with (business_id, id) keys and foreign keys that stay inside one business.
# A store from before holds one business: it becomes business 1, `default`. Each old table is
# renamed aside first, so the references of its children follow it (SQLite rewrites them), the
# new tables are made under the real names, filled, and the old ones dropped children first:
# no foreign key is ever checked against a half-built table. Connections, API keys, webhook
# endpoints and audit rows take a plain business column (ALTER TABLE cannot add one with a
# reference and a default, and rebuilding connections would cascade into every sync table);
# jobs, links, notifications and deliveries follow from their connection or endpoint.
_V13 = """
CREATE TABLE businesses (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  TEXT NOT NULL
);
INSERT INTO businesses (id, name, created_at)
VALUES (1, 'default', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'));

DROP VIEW invoice_balances;
ALTER TABLE allocations RENAME TO allocations_old;
ALTER TABLE document_items RENAME TO document_items_old;
ALTER TABLE credit_notes RENAME TO credit_notes_old;
ALTER TABLE payments RENAME TO payments_old;
ALTER TABLE invoices RENAME TO invoices_old;
ALTER TABLE items RENAME TO items_old;
ALTER TABLE customers RENAME TO customers_old;

CREATE TABLE customers (
    business_id     INTEGER NOT NULL DEFAULT 1 REFERENCES businesses (id),
    id              TEXT NOT NULL,
    display_name    TEXT NOT NULL,
    email           TEXT,
    classification  TEXT NOT NULL,
    doc             TEXT NOT NULL,
    version         INTEGER NOT NULL DEFAULT 1,
    updated_at      TEXT NOT NULL,
    PRIMARY KEY (business_id, id)
);
INSERT INTO customers SELECT 1, id, display_name, email, classification, doc, version,
    updated_at FROM customers_old;

CREATE TABLE items (
    business_id  INTEGER NOT NULL DEFAULT 1 REFERENCES businesses (id),
    id           TEXT NOT NULL,
    sku          TEXT NOT NULL,
    name         TEXT NOT NULL,
    doc          TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (business_id, id),
    UNIQUE (business_id, sku)
);
INSERT INTO items SELECT 1, id, sku, name, doc, version, updated_at FROM items_old;

CREATE TABLE invoices (
    business_id  INTEGER NOT NULL DEFAULT 1,
    id           TEXT NOT NULL,
    number       TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    status       TEXT NOT NULL CHECK (status IN ('draft', 'sent', 'void')),
    currency     TEXT NOT NULL,
    total_minor  INTEGER NOT NULL CHECK (total_minor >= 0),
    doc          TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (business_id, id),
    UNIQUE (business_id, number),
    FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id)
);
INSERT INTO invoices SELECT 1, id, number, customer_id, status, currency, total_minor, doc,
    version, updated_at FROM invoices_old;

CREATE TABLE payments (
    business_id   INTEGER NOT NULL DEFAULT 1,
    id            TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    currency      TEXT NOT NULL,
    amount_minor  INTEGER NOT NULL CHECK (amount_minor > 0),
    reference     TEXT,
    doc           TEXT NOT NULL,
    version       INTEGER NOT NULL DEFAULT 1,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (business_id, id),
    FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id)
);
INSERT INTO payments SELECT 1, id, customer_id, currency, amount_minor, reference, doc,
    version, updated_at FROM payments_old;

CREATE TABLE credit_notes (
    business_id  INTEGER NOT NULL DEFAULT 1,
    id           TEXT NOT NULL,
    number       TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    currency     TEXT NOT NULL,
    total_minor  INTEGER NOT NULL CHECK (total_minor >= 0),
    doc          TEXT NOT NULL,
    version      INTEGER NOT NULL DEFAULT 1,
    updated_at   TEXT NOT NULL,
    PRIMARY KEY (business_id, id),
    UNIQUE (business_id, number),
    FOREIGN KEY (business_id, customer_id) REFERENCES customers (business_id, id)
);
INSERT INTO credit_notes SELECT 1, id, number, customer_id, currency, total_minor, doc,
    version, updated_at FROM credit_notes_old;

CREATE TABLE document_items (
    business_id  INTEGER NOT NULL DEFAULT 1,
    entity       TEXT NOT NULL,
    record_id    TEXT NOT NULL,
    item_id      TEXT NOT NULL,
    PRIMARY KEY (business_id, entity, record_id, item_id),
    FOREIGN KEY (business_id, item_id) REFERENCES items (business_id, id)
) WITHOUT ROWID;
INSERT INTO document_items SELECT 1, entity, record_id, item_id FROM document_items_old;

CREATE TABLE allocations (
    business_id    INTEGER NOT NULL DEFAULT 1,
    source_entity  TEXT NOT NULL CHECK (source_entity IN ('payment', 'credit_note')),
    source_id      TEXT NOT NULL,
    invoice_id     TEXT NOT NULL,
    amount_minor   INTEGER NOT NULL CHECK (amount_minor > 0),
    PRIMARY KEY (business_id, source_entity, source_id, invoice_id),
    FOREIGN KEY (business_id, invoice_id) REFERENCES invoices (business_id, id)
) WITHOUT ROWID;
INSERT INTO allocations SELECT 1, source_entity, source_id, invoice_id, amount_minor
    FROM allocations_old;

DROP TABLE allocations_old;
DROP TABLE document_items_old;
DROP TABLE credit_notes_old;
DROP TABLE payments_old;
DROP TABLE invoices_old;
DROP TABLE items_old;
DROP TABLE customers_old;

CREATE INDEX customers_name ON customers (business_id, display_name);
CREATE INDEX invoices_customer ON invoices (business_id, customer_id);
CREATE INDEX payments_customer ON payments (business_id, customer_id);
CREATE INDEX credit_notes_customer ON credit_notes (business_id, customer_id);
CREATE INDEX document_items_item ON document_items (business_id, item_id);
CREATE INDEX allocations_invoice ON allocations (business_id, invoice_id, source_entity);

CREATE VIEW invoice_balances AS
SELECT i.business_id,
       i.id AS invoice_id,
       i.total_minor,
       COALESCE((SELECT SUM(a.amount_minor) FROM allocations a
                 WHERE a.business_id = i.business_id AND a.invoice_id = i.id
                   AND a.source_entity = 'payment'), 0) AS paid_minor,
       COALESCE((SELECT SUM(a.amount_minor) FROM allocations a
                 WHERE a.business_id = i.business_id AND a.invoice_id = i.id
                   AND a.source_entity = 'credit_note'), 0) AS credited_minor
FROM invoices i;

ALTER TABLE connections ADD COLUMN business_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX connections_business ON connections (business_id, id);
ALTER TABLE api_keys ADD COLUMN business_id INTEGER NOT NULL DEFAULT 1;
DROP INDEX api_keys_name;
CREATE INDEX api_keys_name ON api_keys (business_id, name, id);
ALTER TABLE webhook_endpoints ADD COLUMN business_id INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN business_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX audit_business ON audit (business_id, id);
"""

# Many engines on one store: each engine says it is alive in `engines`, and each connection is
# driven by the one engine holding its lease, renewed on that engine's heartbeat. A lease
# whose heartbeat is older than the taker's lease timeout is free. `engine_lease` stays as the
# store's latest engine beat, which the console reads. A claim keeps the status a job left in
# `claimed_from`, so the claim is one statement that returns it.
_V14 = """
CREATE TABLE engines (
    name          TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    pid           INTEGER NOT NULL,
    started_at    TEXT NOT NULL,
    heartbeat_at  TEXT NOT NULL,
    stopped_at    TEXT
);

CREATE TABLE connection_leases (
    connection_id  INTEGER PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,
    engine         TEXT NOT NULL,
    taken_at       TEXT NOT NULL,
    heartbeat_at   TEXT NOT NULL
);
CREATE INDEX connection_leases_engine ON connection_leases (engine, connection_id);

ALTER TABLE sync_jobs ADD COLUMN claimed_from TEXT;
"""

# PostgreSQL's followers are told when events are written (`_schema_pg.OWN`); SQLite's poll.
_V15 = """
-- PostgreSQL only: NOTIFY syncdesk_events at each commit that wrote events.
"""

MIGRATIONS: tuple[str, ...] = (_V1, _V2, _V3, _V4, _V5, _V6, _V7, _V8, _V9, _V10, _V11,
                               _V13, _V14, _V15)

__all__ = ["JOB_STATUSES", "MIGRATIONS", "TABLE_OF"]
