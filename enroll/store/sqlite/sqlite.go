// Package sqlite is the embedded store of the enrollment service: an
// [enroll.Store] in one SQLite file, through modernc.org/sqlite (pure Go,
// no cgo). It is the default for one node; several nodes share a
// PostgreSQL store instead.
//
// The file runs in WAL mode with foreign keys on. Writes go through one
// connection whose transactions begin IMMEDIATE, so writers of this
// process queue in Go rather than failing with SQLITE_BUSY, and
// busy_timeout covers other processes on the same file; reads go through
// a pool of read-only connections that WAL lets run beside the writer.
//
// The file holds phone numbers and hashes: Open creates it readable and
// writable by its owner only (0600), and SQLite gives its -wal and -shm
// files the same mode.
//
// The schema is versioned: Open applies the migrations the file lacks, in
// order, each in a transaction recorded in the schema_migrations table,
// and refuses a file written by a newer denwa (ErrSchemaTooNew).
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"time"

	"modernc.org/sqlite"

	"denwa/enroll"
	"denwa/enroll/store/internal/storesql"
)

// SchemaVersion is the schema version this package writes.
var SchemaVersion = len(migrations)

// ErrSchemaTooNew: the file's schema is newer than this build knows; a
// newer denwa wrote it. Nothing was changed.
var ErrSchemaTooNew = errors.New("sqlite: database schema is newer than this denwa")

// Options tunes Open. The zero value gives the defaults.
type Options struct {
	// BusyTimeout is how long a statement waits for a lock another
	// process holds before failing. Zero means 5 s.
	BusyTimeout time.Duration
	// Readers is how many read connections may be open at once. Zero
	// means 4.
	Readers int
}

// Store is an enroll.Store in a SQLite file. It is safe for concurrent
// use; several processes may open the same file (they serialize their
// writes through SQLite's lock, waiting up to BusyTimeout).
type Store struct {
	w, r            *sql.DB
	storesql.Lister // the lists of the operators' view
}

var _ enroll.Store = (*Store)(nil)

// Open opens (creating it if needed) the SQLite database at path and
// brings its schema up to SchemaVersion. An empty file is a new database.
// A new file is created with mode 0600; an existing one (and its -wal and
// -shm) that group or others may read loses those permissions, when this
// process may change them. Close the Store when done.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" {
		return nil, fmt.Errorf("sqlite: invalid database path %q (a file path without ? or #)", path)
	}
	if opts.BusyTimeout < 0 || opts.Readers < 0 {
		return nil, fmt.Errorf("sqlite: negative option: %+v", opts)
	}
	if opts.BusyTimeout == 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.Readers == 0 {
		opts.Readers = 4
	}
	if err := privateFiles(path); err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", opts.BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	wq := url.Values{}
	for k, v := range q {
		wq[k] = append([]string(nil), v...)
	}
	wq.Set("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+wq.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	// One writer: this process's writes queue for the connection instead
	// of fighting over the file lock.
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w}
	if err := s.migrateRetrying(ctx, opts.BusyTimeout); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	rq := url.Values{}
	for k, v := range q {
		rq[k] = append([]string(nil), v...)
	}
	rq.Add("_pragma", "query_only(1)")
	r, err := sql.Open("sqlite", "file:"+path+"?"+rq.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(opts.Readers)
	r.SetMaxIdleConns(opts.Readers)
	s.r = r
	s.Lister = s.lister()
	return s, nil
}

// privateFiles creates the database file at path with mode 0600 when
// there is none, so that SQLite, which gives the -wal and -shm files the
// database file's mode, creates those 0600 too. Of an existing file and
// its -wal and -shm, it takes away the permissions of group and others;
// a file this process may not chmod (another user's) is left as it is.
func privateFiles(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&0o700); err != nil && !errors.Is(err, fs.ErrPermission) {
			return err
		}
	}
	return nil
}

// Close closes the database. Calls in progress finish first.
func (s *Store) Close() error {
	return errors.Join(s.r.Close(), s.w.Close())
}

// Version returns the schema version recorded in the file.
func (s *Store) Version(ctx context.Context) (int, error) {
	var v int
	err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v)
	return v, err
}

// migrateRetrying is migrate, tried again while another process holds the
// file for up to wait. Two processes opening a new file at once both switch
// it to WAL on their first connection; SQLite answers the loser SQLITE_BUSY
// there without calling the busy handler, so the wait is done here.
func (s *Store) migrateRetrying(ctx context.Context, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for pause := 5 * time.Millisecond; ; pause = min(2*pause, 200*time.Millisecond) {
		err := s.migrate(ctx)
		var coded interface{ Code() int }
		if err == nil || !errors.As(err, &coded) || coded.Code()&0xff != 5 || time.Now().After(deadline) { // 5: SQLITE_BUSY
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// migrate applies the migrations the database lacks.
func (s *Store) migrate(ctx context.Context) error {
	// In a write transaction (BEGIN IMMEDIATE on the writer), so that a
	// second process creating the table at the same moment waits on the
	// busy timeout: a bare statement that reads the schema and then writes
	// gets SQLITE_BUSY at once, without the busy handler.
	err := s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at INTEGER NOT NULL
		)`)
		return err
	})
	if err != nil {
		return fmt.Errorf("schema_migrations: %w", err)
	}
	for {
		done, err := s.migrateOne(ctx)
		if err != nil || done {
			return err
		}
	}
}

// migrateOne applies the next migration, if any, in its own transaction;
// the version is read inside it, so two processes opening a file at once
// each apply a migration only once.
func (s *Store) migrateOne(ctx context.Context) (done bool, err error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return false, err
	}
	switch {
	case v > len(migrations):
		return false, fmt.Errorf("%w: file has version %d, this build knows up to %d", ErrSchemaTooNew, v, len(migrations))
	case v == len(migrations):
		return true, nil
	}
	if _, err := tx.ExecContext(ctx, migrations[v]); err != nil {
		return false, fmt.Errorf("migration %d: %w", v+1, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`,
		v+1, time.Now().UnixMicro()); err != nil {
		return false, fmt.Errorf("migration %d: %w", v+1, err)
	}
	return false, tx.Commit()
}

// tx runs f in a write transaction, committed when f returns nil.
func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// SQLite result codes that map to domain errors.
const (
	codeConstraint = 19   // SQLITE_CONSTRAINT, the primary code
	codeForeignKey = 787  // SQLITE_CONSTRAINT_FOREIGNKEY
	primaryMask    = 0xff // extended code → primary code
)

// mapErr turns constraint violations into enroll's domain errors.
func mapErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch {
		case se.Code() == codeForeignKey:
			return fmt.Errorf("sqlite: %s: %w (%v)", what, enroll.ErrNotFound, err)
		case se.Code()&primaryMask == codeConstraint:
			return fmt.Errorf("sqlite: %s: %w (%v)", what, enroll.ErrConflict, err)
		}
	}
	return fmt.Errorf("sqlite: %s: %w", what, err)
}

// execer is what *sql.DB and *sql.Tx have in common.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// mustAffect returns ErrNotFound when res changed no row.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return enroll.ErrNotFound
	}
	return nil
}
