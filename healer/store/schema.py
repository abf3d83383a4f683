"""The schema (written for SQLite, translated for PostgreSQL), and the columns added
after the first release."""

from __future__ import annotations

from healer.model import IncidentStatus

SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    container TEXT NOT NULL,
    alertname TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    starts_at REAL NOT NULL,
    status TEXT NOT NULL,
    mode TEXT NOT NULL,
    stage TEXT NOT NULL,
    opened_at REAL NOT NULL,
    closed_at REAL,
    resolved_at REAL,
    alert TEXT NOT NULL,
    evidence TEXT,
    diagnosis TEXT,
    rules_diagnosis TEXT,
    llm_outcome TEXT NOT NULL DEFAULT '',
    decision TEXT,
    verification TEXT,
    related TEXT NOT NULL DEFAULT '[]',
    concluded INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS health (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_by_container ON incidents (container, stage);
CREATE INDEX IF NOT EXISTS incidents_by_alert ON incidents (fingerprint, starts_at);
CREATE INDEX IF NOT EXISTS incidents_by_stage ON incidents (stage, id);
CREATE INDEX IF NOT EXISTS incidents_by_opened ON incidents (opened_at);

CREATE TABLE IF NOT EXISTS alert_keys (
    fingerprint TEXT NOT NULL,
    starts_at REAL NOT NULL,
    status TEXT NOT NULL,
    received_at REAL NOT NULL,
    PRIMARY KEY (fingerprint, starts_at, status)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    container TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    action TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    result TEXT NOT NULL DEFAULT 'pending',
    error TEXT NOT NULL DEFAULT '',
    UNIQUE (incident_id, attempt)
);
CREATE INDEX IF NOT EXISTS actions_by_container ON actions (container, started_at);

CREATE TABLE IF NOT EXISTS steps (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    at REAL NOT NULL,
    step TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    duration REAL
);
CREATE INDEX IF NOT EXISTS steps_by_incident ON steps (incident_id, id);

CREATE TABLE IF NOT EXISTS quarantine (
    container TEXT PRIMARY KEY,
    since REAL NOT NULL,
    reason TEXT NOT NULL,
    incident_id INTEGER
);

-- A person's approvals through signed links. The nonce is the link's: its primary key
-- is what makes a link single-use, across every replica of a shared store.
CREATE TABLE IF NOT EXISTS approvals (
    nonce TEXT PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    action TEXT NOT NULL,
    at REAL NOT NULL,
    requested_by TEXT NOT NULL,
    round_no INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS approvals_by_incident ON approvals (incident_id, at);

-- Values the healer makes for itself once and every replica must share (the secret
-- that signs approval links, unless HEALER_APPROVAL_SECRET is set).
CREATE TABLE IF NOT EXISTS healer_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created_at REAL NOT NULL
);

CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER,
    kind TEXT NOT NULL,
    channel TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    sent_at REAL,
    message_id TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL DEFAULT '{}',
    digest_id INTEGER REFERENCES outbox (id),
    -- when the incident opened: the storm grouping reads it for every pending item
    -- on every pass, so it is a column, not a field inside the rendered payload
    opened_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_by_incident ON outbox (incident_id, id);
CREATE INDEX IF NOT EXISTS outbox_by_digest ON outbox (digest_id);

-- dependents listed in their provider's incident (healer/cascade.py)
CREATE TABLE IF NOT EXISTS incident_members (
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    container TEXT NOT NULL,
    host TEXT NOT NULL DEFAULT '',
    joined_at REAL NOT NULL,
    via TEXT NOT NULL,
    alert TEXT,
    merged_incident INTEGER,
    outcome TEXT NOT NULL DEFAULT 'pending',
    reason TEXT NOT NULL DEFAULT '',
    handled_at REAL,
    PRIMARY KEY (incident_id, container)
);
CREATE INDEX IF NOT EXISTS members_by_container ON incident_members (container, host);

-- restarts of dependents, which the crash-loop breaker counts with `actions`
CREATE TABLE IF NOT EXISTS member_actions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id INTEGER NOT NULL REFERENCES incidents (id),
    container TEXT NOT NULL,
    restart_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    result TEXT NOT NULL DEFAULT 'pending',
    error TEXT NOT NULL DEFAULT '',
    UNIQUE (incident_id, container, attempt)
);
CREATE INDEX IF NOT EXISTS member_actions_by_key ON member_actions (restart_key, started_at);
"""

OPEN = IncidentStatus.OPEN.value
SERVE = ""  # the owner of incidents a running `serve` handles

# Columns added after the first release: created on a fresh database by MIGRATIONS,
# added to an existing one (CREATE TABLE IF NOT EXISTS leaves an old table as it was).
MIGRATIONS = (
    ("incidents", "acting_alert", "TEXT"),
    ("incidents", "rounds", "INTEGER NOT NULL DEFAULT 1"),
    # a restartable alert attached while the incident was being processed: decide again
    ("incidents", "redecide", "INTEGER NOT NULL DEFAULT 0"),
    # who may process it: SERVE, or the one-shot scan that created it
    ("incidents", "owner", "TEXT NOT NULL DEFAULT ''"),
    # processing: the claim holds until then (renewed while work goes on); queued:
    # not before then (a retry after the store failed)
    ("incidents", "lease_until", "REAL NOT NULL DEFAULT 0"),
    # the Docker host the incident is about ("" = the one host, without a host map)
    ("incidents", "host", "TEXT NOT NULL DEFAULT ''"),
    # dependents' alerts and incidents join this (provider's) incident until then
    ("incidents", "members_until", "REAL NOT NULL DEFAULT 0"),
    # a dependent's incident folded into its provider's: that incident's id
    ("incidents", "grouped_into", "INTEGER"),
    # the incident memory: the failure's signature, and what was recalled (JSON)
    ("incidents", "memory_key", "TEXT NOT NULL DEFAULT ''"),
    ("incidents", "memory", "TEXT"),
    # several healers share a PostgreSQL store: a sender holds an item while it sends
    ("outbox", "lease_until", "REAL NOT NULL DEFAULT 0"),
    ("outbox", "lease_owner", "TEXT NOT NULL DEFAULT ''"),
)
POST_MIGRATION = """
CREATE INDEX IF NOT EXISTS incidents_claim ON incidents (stage, owner, lease_until, id);
CREATE INDEX IF NOT EXISTS incidents_by_memory ON incidents (memory_key, opened_at);
CREATE INDEX IF NOT EXISTS incidents_by_host_container ON incidents (container, host, opened_at);
"""


def postgres(ddl: str) -> str:
    """The same DDL in PostgreSQL's types: SQLite's REAL is an 8-byte float (PostgreSQL's
    REAL is 4 bytes), ids are 64-bit, and a table needs no WITHOUT ROWID."""
    return (
        ddl.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY")
        .replace(" REAL", " DOUBLE PRECISION")
        .replace(" INTEGER", " BIGINT")
        .replace(") WITHOUT ROWID;", ");")
    )
