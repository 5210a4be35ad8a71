package sqlite

// migrations are the schema, version by version: migrations[i] takes the
// database from version i to i+1. Each runs in its own transaction and is
// recorded in schema_migrations. Never edit one that has shipped; add the
// next.
//
// Times are INTEGER microseconds since the Unix epoch, UTC, 0 meaning
// "not set"; states and outcomes are their String forms.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE enrollments (
	id           TEXT PRIMARY KEY,
	user_id      TEXT    NOT NULL,
	phone        TEXT    NOT NULL,
	country      TEXT    NOT NULL DEFAULT '',
	client_ip    TEXT    NOT NULL DEFAULT '',
	state        TEXT    NOT NULL,
	version      INTEGER NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	outcome      TEXT    NOT NULL DEFAULT 'unknown',
	cause        TEXT    NOT NULL DEFAULT '',
	key_source   TEXT    NOT NULL DEFAULT '',
	node         TEXT    NOT NULL DEFAULT '',
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL DEFAULT 0,
	verified_at  INTEGER NOT NULL DEFAULT 0,
	completed_at INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX enrollments_state_node ON enrollments (state, node);
CREATE INDEX enrollments_user ON enrollments (user_id);

CREATE TABLE audit_events (
	seq           INTEGER PRIMARY KEY AUTOINCREMENT,
	id            TEXT    NOT NULL UNIQUE,
	enrollment_id TEXT    NOT NULL REFERENCES enrollments (id),
	at            INTEGER NOT NULL,
	actor         TEXT    NOT NULL,
	action        TEXT    NOT NULL,
	from_state    TEXT    NOT NULL,
	to_state      TEXT    NOT NULL,
	outcome       TEXT    NOT NULL,
	cause         TEXT    NOT NULL DEFAULT '',
	key_source    TEXT    NOT NULL DEFAULT '',
	keys          TEXT    NOT NULL DEFAULT '',
	request_id    TEXT    NOT NULL DEFAULT '',
	attempt       INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX audit_events_enrollment ON audit_events (enrollment_id, seq);

CREATE TABLE app_passwords (
	id           TEXT PRIMARY KEY,
	user_id      TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	hash         TEXT    NOT NULL,
	created_at   INTEGER NOT NULL,
	last_used_at INTEGER NOT NULL DEFAULT 0,
	revoked_at   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE INDEX app_passwords_user ON app_passwords (user_id, created_at);

CREATE TABLE api_keys (
	name       TEXT PRIMARY KEY,
	hash       TEXT    NOT NULL UNIQUE,
	created_at INTEGER NOT NULL,
	revoked_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE blocked_numbers (
	phone         TEXT PRIMARY KEY,
	reason        TEXT    NOT NULL,
	enrollment_id TEXT    NOT NULL DEFAULT '',
	blocked_at    INTEGER NOT NULL
) STRICT;

CREATE TABLE rate_counters (
	bucket       TEXT    NOT NULL,
	window_start INTEGER NOT NULL,
	count        INTEGER NOT NULL,
	PRIMARY KEY (bucket, window_start)
) STRICT;
CREATE INDEX rate_counters_window ON rate_counters (window_start);

CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	event           TEXT    NOT NULL,
	enrollment_id   TEXT    NOT NULL DEFAULT '',
	payload         BLOB    NOT NULL,
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	delivered_at    INTEGER NOT NULL DEFAULT 0,
	last_error      TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);

CREATE TABLE used_tokens (
	token_id   TEXT PRIMARY KEY,
	used_at    INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) STRICT;
`,
	// 2: API keys get scopes. Keys made before keep every scope, so that
	// an upgrade breaks no installation; new keys always name theirs.
	`
ALTER TABLE api_keys ADD COLUMN scopes TEXT NOT NULL DEFAULT 'admin,check,enroll';
`,
	// 3: a webhook given up is dead (dead_at), no longer parked. Earlier
	// versions parked it undelivered with its next attempt a century
	// after its last: those (any next attempt over 50 years away) die
	// at that last attempt. Pending messages get an index of their own,
	// which dead and delivered ones stay out of.
	`
ALTER TABLE outbox ADD COLUMN dead_at INTEGER NOT NULL DEFAULT 0;
UPDATE outbox
	SET dead_at = MAX(1, CAST(strftime('%s', next_attempt_at / 1000000, 'unixepoch', '-100 years') AS INTEGER) * 1000000
	                     + next_attempt_at % 1000000),
	    next_attempt_at = 0
	WHERE delivered_at = 0
	  AND next_attempt_at > (CAST(strftime('%s', 'now', '+50 years') AS INTEGER) * 1000000);
DROP INDEX outbox_due;
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE delivered_at = 0 AND dead_at = 0;
CREATE INDEX outbox_dead ON outbox (id) WHERE delivered_at = 0 AND dead_at <> 0;
`,
	// 4: nodes hold leases; a node whose lease lapsed with calls in
	// calling is lost, and another node ends its calls.
	`
CREATE TABLE nodes (
	name        TEXT PRIMARY KEY,
	lease_until INTEGER NOT NULL
) STRICT;
`,
	// 5: the operators' view. Audit events name the call's node and when
	// it was answered and its deciding key pressed; what operators do is
	// recorded in operator_events; the lists the admin API pages through
	// (newest first) get their indexes.
	`
ALTER TABLE audit_events ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN answered_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE audit_events ADD COLUMN key_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX audit_events_at ON audit_events (at, id);
CREATE INDEX enrollments_created ON enrollments (created_at, id);
CREATE INDEX blocked_numbers_at ON blocked_numbers (blocked_at, phone);

CREATE TABLE operator_events (
	id            TEXT PRIMARY KEY,
	at            INTEGER NOT NULL,
	actor         TEXT    NOT NULL,
	action        TEXT    NOT NULL,
	target        TEXT    NOT NULL DEFAULT '',
	reason        TEXT    NOT NULL DEFAULT '',
	enrollment_id TEXT    NOT NULL DEFAULT '',
	request_id    TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX operator_events_at ON operator_events (at, id);
`,
}
