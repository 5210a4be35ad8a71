// Package postgres is the store of the enrollment service for several
// nodes: an [enroll.Store] and [enroll.Watcher] in one PostgreSQL
// database, through github.com/jackc/pgx/v5 (a pgxpool of connections).
// Every node of a deployment opens the same database; the database, not a
// node, keeps every rule that must hold across nodes:
//
//   - UpdateEnrollment is a compare-and-set on the stored version, one
//     UPDATE … WHERE version = …, so of two nodes starting the same call
//     exactly one wins;
//   - AddCounters takes its counters with INSERT … ON CONFLICT DO UPDATE …
//     RETURNING in one transaction, whose row locks make a concurrent
//     taker wait for the outcome: two nodes together admit exactly Max;
//   - ClaimOutbox locks the messages it claims with FOR UPDATE SKIP LOCKED,
//     so two deliverers never take one message;
//   - UseToken inserts the token's record once (ON CONFLICT DO NOTHING);
//   - CreateAppPassword counts and inserts under a transaction-scoped
//     advisory lock on the user.
//
// Each write of an enrollment (CreateEnrollment, UpdateEnrollment,
// RecoverCalling) sends pg_notify('denwa_enrollments', id) in its
// transaction, so a notification goes out only when the change is
// committed; WatchEnrollments listens on a dedicated connection, outside
// the pool.
//
// Times are stored as bigint microseconds since the Unix epoch, UTC, 0
// meaning "not set", as in the SQLite store: what goes in as enroll.Now
// gives comes out equal.
//
// The schema is versioned: Open applies the migrations the database lacks,
// in order, each in a transaction recorded in the schema_migrations table,
// all under a session advisory lock so that nodes starting together apply
// each migration once; it refuses a database written by a newer denwa
// (ErrSchemaTooNew).
package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// ErrSchemaTooNew: the database's schema is newer than this build knows; a
// newer denwa wrote it. Nothing was changed.
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this denwa")

// migrationLock is the key of the session advisory lock that Open holds
// while it migrates ("denwa" in ASCII).
const migrationLock int64 = 0x64656e7761

// notifyChannel is the channel of the enrollment notifications.
const notifyChannel = "denwa_enrollments"

// Options tunes Open. The zero value gives the defaults.
type Options struct {
	// MaxConns is how many connections the pool may open for queries (the
	// watchers' connections come on top). Zero means the URL's
	// pool_max_conns, or pgxpool's default (4, or the number of CPUs when
	// more).
	MaxConns int
	// ReconnectDelay is the longest wait between two attempts of a watcher
	// to connect again after losing its connection; the first attempts
	// come sooner. Zero means 5 s.
	ReconnectDelay time.Duration
}

// Store is an enroll.Store and enroll.Watcher in a PostgreSQL database. It
// is safe for concurrent use, by any number of processes sharing the
// database.
type Store struct {
	pool      *pgxpool.Pool
	conn      *pgx.ConnConfig // what a watcher connects with
	reconnect time.Duration

	// closing ends the watchers; watchers counts them, for Close; closed,
	// guarded by mu, refuses new ones once Close began.
	closing  context.Context
	close    context.CancelFunc
	watchers sync.WaitGroup
	mu       sync.Mutex
	closed   bool

	storesql.Lister // the lists of the operators' view
}

var (
	_ enroll.Store   = (*Store)(nil)
	_ enroll.Watcher = (*Store)(nil)
)

// Open connects to the database at url (a postgres:// URL or a libpq
// keyword/value string) and brings its schema up to SchemaVersion. Close
// the Store when done.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.MaxConns < 0 || opts.ReconnectDelay < 0 {
		return nil, fmt.Errorf("postgres: negative option: %+v", opts)
	}
	if opts.ReconnectDelay == 0 {
		opts.ReconnectDelay = 5 * time.Second
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The error may quote the URL, password included: leave it out.
		return nil, fmt.Errorf("postgres: invalid database URL: %w", enroll.ErrInvalidInput)
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = int32(opts.MaxConns)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	closing, cancel := context.WithCancel(context.Background())
	s := &Store{pool: pool, conn: cfg.ConnConfig.Copy(), reconnect: opts.ReconnectDelay, closing: closing, close: cancel}
	s.Lister = s.lister()
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, mapErr(ctx, err, "migrate")
	}
	return s, nil
}

// Close ends the watchers, waits for them, and closes the pool once the
// queries in progress have given their connections back.
func (s *Store) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.close()
	s.watchers.Wait()
	s.pool.Close()
	return nil
}

// String names the store for logs, without the URL's password.
func (s *Store) String() string {
	return fmt.Sprintf("postgres://%s@%s:%d/%s", s.conn.User, s.conn.Host, s.conn.Port, s.conn.Database)
}

// Version returns the schema version recorded in the database.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.pool.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, mapErr(ctx, err, "schema version")
}

// migrate applies the migrations the database lacks, holding the
// migration lock on one connection of the pool.
func (s *Store) migrate(ctx context.Context) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer c.Release()
	if _, err := c.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	err = s.migrateLocked(ctx, c.Conn())
	if _, uerr := c.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock); uerr != nil {
		// A session lock lives as long as its connection: end it, so the
		// lock goes with it rather than back into the pool.
		c.Conn().Close(context.WithoutCancel(ctx))
		err = errors.Join(err, uerr)
	}
	return err
}

func (s *Store) migrateLocked(ctx context.Context, c *pgx.Conn) error {
	if _, err := c.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer PRIMARY KEY,
		applied_at bigint  NOT NULL
	)`); err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	var v int
	if err := c.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("%w: database has version %d, this build knows up to %d", ErrSchemaTooNew, v, len(migrations))
	}
	for ; v < len(migrations); v++ {
		err := pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, migrations[v]); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`,
				v+1, time.Now().UnixMicro())
			return err
		})
		if err != nil {
			return fmt.Errorf("migration %d: %w", v+1, err)
		}
	}
	return nil
}

// tx runs f in a transaction, committed when f returns nil. A transaction
// that PostgreSQL aborted for a deadlock or a serialization failure (two
// nodes taking the same counters in another order) is run again, a few
// times.
func (s *Store) tx(ctx context.Context, f func(pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginFunc(ctx, s.pool, f)
		var pe *pgconn.PgError
		if err == nil || attempt == 5 || !errors.As(err, &pe) || (pe.Code != codeDeadlock && pe.Code != codeSerialization) {
			return err
		}
	}
}

// ts converts a time to the stored microseconds.
var ts = storesql.Micros

// PostgreSQL error codes (SQLSTATE) that map to domain errors or retries.
const (
	codeUniqueViolation = "23505"
	codeForeignKey      = "23503"
	codeSerialization   = "40001"
	codeDeadlock        = "40P01"
)

// mapErr turns constraint violations into enroll's domain errors, and makes
// an error that ctx's end caused wrap ctx.Err().
func mapErr(ctx context.Context, err error, what string) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case codeForeignKey:
			err = fmt.Errorf("%w (%v)", enroll.ErrNotFound, err)
		case codeUniqueViolation:
			err = fmt.Errorf("%w (%v)", enroll.ErrConflict, err)
		}
	}
	// A statement cut short by ctx fails with pgx's own error (or the
	// server's "canceling statement"), which may not wrap ctx.Err().
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		err = fmt.Errorf("%w: %w", cerr, err)
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// mustAffect returns ErrNotFound when the command changed no row.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return enroll.ErrNotFound
	}
	return nil
}
