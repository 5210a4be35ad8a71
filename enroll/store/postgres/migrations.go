package postgres

// migrations are the schema, version by version: migrations[i] takes the
// database from version i to i+1. Each runs in its own transaction and is
// recorded in schema_migrations. Never edit one that has shipped; add the
// next.
//
// Times are bigint microseconds since the Unix epoch, UTC, 0 meaning "not
// set"; states and outcomes are their String forms. Text is collated "C"
// (byte-wise), as SQLite's BINARY, so that orders and comparisons do not
// depend on the database's locale. The tables are those of the SQLite
// store at its version 5, column for column.
var migrations = []string{
	// 1: the first schema.
	`
CREATE TABLE enrollments (
	id           text COLLATE "C" PRIMARY KEY,
	user_id      text COLLATE "C" NOT NULL,
	phone        text COLLATE "C" NOT NULL,
	country      text COLLATE "C" NOT NULL DEFAULT '',
	client_ip    text COLLATE "C" NOT NULL DEFAULT '',
	state        text COLLATE "C" NOT NULL,
	version      bigint  NOT NULL,
	attempts     integer NOT NULL DEFAULT 0,
	outcome      text COLLATE "C" NOT NULL DEFAULT 'unknown',
	cause        text COLLATE "C" NOT NULL DEFAULT '',
	key_source   text COLLATE "C" NOT NULL DEFAULT '',
	node         text COLLATE "C" NOT NULL DEFAULT '',
	created_at   bigint  NOT NULL,
	updated_at   bigint  NOT NULL,
	expires_at   bigint  NOT NULL DEFAULT 0,
	verified_at  bigint  NOT NULL DEFAULT 0,
	completed_at bigint  NOT NULL DEFAULT 0
);
CREATE INDEX enrollments_state_node ON enrollments (state, node);
CREATE INDEX enrollments_user ON enrollments (user_id);
CREATE INDEX enrollments_created ON enrollments (created_at, id);

CREATE TABLE audit_events (
	seq           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id            text COLLATE "C" NOT NULL UNIQUE,
	enrollment_id text COLLATE "C" NOT NULL REFERENCES enrollments (id),
	at            bigint  NOT NULL,
	actor         text COLLATE "C" NOT NULL,
	action        text COLLATE "C" NOT NULL,
	from_state    text COLLATE "C" NOT NULL,
	to_state      text COLLATE "C" NOT NULL,
	outcome       text COLLATE "C" NOT NULL,
	cause         text COLLATE "C" NOT NULL DEFAULT '',
	key_source    text COLLATE "C" NOT NULL DEFAULT '',
	keys          text COLLATE "C" NOT NULL DEFAULT '',
	request_id    text COLLATE "C" NOT NULL DEFAULT '',
	attempt       integer NOT NULL DEFAULT 0,
	node          text COLLATE "C" NOT NULL DEFAULT '',
	answered_at   bigint  NOT NULL DEFAULT 0,
	key_at        bigint  NOT NULL DEFAULT 0
);
CREATE INDEX audit_events_enrollment ON audit_events (enrollment_id, seq);
CREATE INDEX audit_events_at ON audit_events (at, id);

CREATE TABLE app_passwords (
	id           text COLLATE "C" PRIMARY KEY,
	user_id      text COLLATE "C" NOT NULL,
	name         text COLLATE "C" NOT NULL,
	hash         text COLLATE "C" NOT NULL,
	created_at   bigint NOT NULL,
	last_used_at bigint NOT NULL DEFAULT 0,
	revoked_at   bigint NOT NULL DEFAULT 0
);
CREATE INDEX app_passwords_user ON app_passwords (user_id, created_at);

CREATE TABLE api_keys (
	name       text COLLATE "C" PRIMARY KEY,
	hash       text COLLATE "C" NOT NULL UNIQUE,
	scopes     text COLLATE "C" NOT NULL,
	created_at bigint NOT NULL,
	revoked_at bigint NOT NULL DEFAULT 0
);

CREATE TABLE blocked_numbers (
	phone         text COLLATE "C" PRIMARY KEY,
	reason        text COLLATE "C" NOT NULL,
	enrollment_id text COLLATE "C" NOT NULL DEFAULT '',
	blocked_at    bigint NOT NULL
);
CREATE INDEX blocked_numbers_at ON blocked_numbers (blocked_at, phone);

CREATE TABLE rate_counters (
	bucket       text COLLATE "C" NOT NULL,
	window_start bigint NOT NULL,
	count        bigint NOT NULL,
	PRIMARY KEY (bucket, window_start)
);
CREATE INDEX rate_counters_window ON rate_counters (window_start);

CREATE TABLE outbox (
	id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	event           text COLLATE "C" NOT NULL,
	enrollment_id   text COLLATE "C" NOT NULL DEFAULT '',
	payload         bytea   NOT NULL,
	created_at      bigint  NOT NULL,
	attempts        integer NOT NULL DEFAULT 0,
	next_attempt_at bigint  NOT NULL,
	delivered_at    bigint  NOT NULL DEFAULT 0,
	dead_at         bigint  NOT NULL DEFAULT 0,
	last_error      text COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at, id) WHERE delivered_at = 0 AND dead_at = 0;
CREATE INDEX outbox_dead ON outbox (id) WHERE delivered_at = 0 AND dead_at <> 0;

CREATE TABLE used_tokens (
	token_id   text COLLATE "C" PRIMARY KEY,
	used_at    bigint NOT NULL,
	expires_at bigint NOT NULL
);

CREATE TABLE operator_events (
	id            text COLLATE "C" PRIMARY KEY,
	at            bigint NOT NULL,
	actor         text COLLATE "C" NOT NULL,
	action        text COLLATE "C" NOT NULL,
	target        text COLLATE "C" NOT NULL DEFAULT '',
	reason        text COLLATE "C" NOT NULL DEFAULT '',
	enrollment_id text COLLATE "C" NOT NULL DEFAULT '',
	request_id    text COLLATE "C" NOT NULL DEFAULT ''
);
CREATE INDEX operator_events_at ON operator_events (at, id);

CREATE TABLE nodes (
	name        text COLLATE "C" PRIMARY KEY,
	lease_until bigint NOT NULL
);
`,
}
