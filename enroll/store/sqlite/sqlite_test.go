package sqlite_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"denwa/enroll"
	"denwa/enroll/store/sqlite"
	"denwa/enroll/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) enroll.Store {
		st := open(t, filepath.Join(t.TempDir(), "denwa.db"))
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// 100 goroutines try to move the same enrollment from pending to calling:
// exactly one compare-and-set wins.
func TestConcurrentStart(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "denwa.db"))
	defer st.Close()
	ctx := t.Context()
	e := storetest.NewEnrollment("user-1", "+81312345678")
	if err := st.CreateEnrollment(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 100 {
		wg.Go(func() {
			<-start
			cur, err := st.GetEnrollment(ctx, e.ID)
			if err != nil {
				t.Error(err)
				return
			}
			if cur.State != enroll.StatePending {
				conflicts.Add(1)
				return
			}
			next := cur
			next.State, next.Version, next.Attempts = enroll.StateCalling, cur.Version+1, cur.Attempts+1
			switch err := st.UpdateEnrollment(ctx, next, nil, nil); {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, enroll.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		})
	}
	close(start)
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 99 {
		t.Fatalf("%d wins, %d conflicts; want 1 and 99", wins.Load(), conflicts.Load())
	}
	got, _ := st.GetEnrollment(ctx, e.ID)
	if got.Attempts != 1 || got.Version != 2 {
		t.Fatalf("stored %+v, want attempts 1, version 2", got)
	}
}

// Everything survives closing and reopening the file; a call left in
// calling is recovered as failed; rate-limit counters keep counting.
func TestRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	ctx := t.Context()
	st := open(t, path)
	e := storetest.NewEnrollment("user-1", "+81312345678")
	if err := st.CreateEnrollment(ctx, e, []enroll.AuditEvent{{ID: enroll.NewID(), EnrollmentID: e.ID, At: e.CreatedAt,
		Actor: enroll.ActorAPIKey("crm"), Action: enroll.ActionCreate, To: enroll.StatePending}}); err != nil {
		t.Fatal(err)
	}
	calling := e
	calling.State, calling.Version, calling.Attempts = enroll.StateCalling, 2, 1
	if err := st.UpdateEnrollment(ctx, calling, nil, nil); err != nil {
		t.Fatal(err)
	}
	w := storetest.T0.Truncate(time.Hour)
	for range 2 {
		if _, err := st.AddCounter(ctx, "calls:number:+81312345678", w, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.BlockNumber(ctx, enroll.BlockedNumber{Phone: "+81300000000", Reason: "fraud-reported", At: storetest.T0}); err != nil {
		t.Fatal(err)
	}
	if err := st.UseToken(ctx, "tok", storetest.T0.Add(time.Hour), storetest.T0); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateAppPassword(ctx, enroll.AppPassword{ID: "p1", UserID: "user-1", Name: "mail", Hash: "$argon2id$x", CreatedAt: storetest.T0}, 40); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	st = open(t, path)
	defer st.Close()
	got, err := st.GetEnrollment(ctx, e.ID)
	if err != nil || got != calling {
		t.Fatalf("after reopening: %+v, %v; want %+v", got, err, calling)
	}
	rec, err := st.RecoverCalling(ctx, "", storetest.T0.Add(time.Hour))
	if err != nil || len(rec) != 1 || rec[0].State != enroll.StateFailed || rec[0].Outcome != enroll.OutcomeFailed ||
		rec[0].Cause != enroll.CauseInterrupted {
		t.Fatalf("RecoverCalling = %+v, %v", rec, err)
	}
	if n, err := st.AddCounter(ctx, "calls:number:+81312345678", w, 1); err != nil || n != 3 {
		t.Fatalf("counter after restart = %d, %v; want 3", n, err)
	}
	if _, err := st.BlockedNumber(ctx, "+81300000000"); err != nil {
		t.Fatalf("block lost: %v", err)
	}
	if err := st.UseToken(ctx, "tok", storetest.T0.Add(time.Hour), storetest.T0); !errors.Is(err, enroll.ErrTokenUsed) {
		t.Fatalf("token reuse after restart: %v", err)
	}
	if n, _ := st.CountAppPasswords(ctx, "user-1"); n != 1 {
		t.Fatalf("app passwords after restart: %d", n)
	}
	evs, _ := st.ListAudit(ctx, e.ID)
	if len(evs) != 2 || evs[0].Action != enroll.ActionCreate || evs[1].Action != enroll.ActionRecover {
		t.Fatalf("audit after restart: %+v", evs)
	}
}

func TestMigrations(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "denwa.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st := open(t, path)
	if v, err := st.Version(ctx); err != nil || v != sqlite.SchemaVersion {
		t.Fatalf("Version = %d, %v; want %d", v, err, sqlite.SchemaVersion)
	}
	st.Close()
	// Idempotent: reopening applies nothing and records nothing new.
	for range 2 {
		st = open(t, path)
		st.Close()
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, max int
	if err := db.QueryRow(`SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
		t.Fatal(err)
	}
	if n != sqlite.SchemaVersion || max != sqlite.SchemaVersion {
		t.Fatalf("schema_migrations: %d rows, max %d; want %d", n, max, sqlite.SchemaVersion)
	}
	var mode string
	if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}

	// A file from a newer denwa is refused, and left as it was.
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, 0)`, sqlite.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err = sqlite.Open(ctx, path, sqlite.Options{})
	if !errors.Is(err, sqlite.ErrSchemaTooNew) {
		t.Fatalf("Open of a newer schema: %v, want ErrSchemaTooNew", err)
	}
	if err := db.QueryRow(`SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != sqlite.SchemaVersion+1 {
		t.Fatalf("refused open changed schema_migrations: %d rows", n)
	}
}

// Two processes' worth of Stores opening a new file at the same time
// apply each migration once.
func TestConcurrentOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			st, err := sqlite.Open(context.Background(), path, sqlite.Options{})
			if err != nil {
				t.Error(err)
				return
			}
			st.Close()
		})
	}
	wg.Wait()
	st := open(t, path)
	defer st.Close()
	if v, err := st.Version(t.Context()); err != nil || v != sqlite.SchemaVersion {
		t.Fatalf("Version = %d, %v", v, err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, p := range []string{"", ":memory:", "a?b"} {
		if _, err := sqlite.Open(t.Context(), p, sqlite.Options{}); err == nil {
			t.Errorf("Open(%q) succeeded", p)
		}
	}
	if _, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), sqlite.Options{}); err == nil {
		t.Error("Open in a missing directory succeeded")
	}
}

// Two Stores on one file (two processes, as far as SQLite can tell)
// writing at once: busy_timeout and IMMEDIATE transactions mean no write
// fails with SQLITE_BUSY and none is lost, and a limit taken with
// AddCounters holds across them.
func TestTwoWritersOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	a, b := open(t, path), open(t, path)
	defer a.Close()
	defer b.Close()
	w := storetest.T0.Truncate(time.Hour)
	var taken atomic.Int32
	var wg sync.WaitGroup
	for i := range 100 {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			if _, err := st.AddCounter(context.Background(), "calls:global:all", w, 1); err != nil {
				t.Errorf("AddCounter: %v", err)
			}
			_, ok, err := st.AddCounters(context.Background(), []enroll.CounterChange{{Bucket: "limited", Window: w, Delta: 1, Max: 10}})
			if err != nil {
				t.Errorf("AddCounters: %v", err)
			}
			if ok {
				taken.Add(1)
			}
		})
	}
	wg.Wait()
	if n, err := a.AddCounter(t.Context(), "calls:global:all", w, 0); err != nil || n != 100 {
		t.Fatalf("count %d, %v; want 100", n, err)
	}
	if taken.Load() != 10 {
		t.Fatalf("%d takes of a counter limited to 10 succeeded", taken.Load())
	}
}

// The store file and its -wal and -shm are the owner's only (0600): when
// Open creates the file, and when an older denwa left it readable by all.
func TestFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix file modes")
	}
	path := filepath.Join(t.TempDir(), "denwa.db")
	st := open(t, path)
	// A write and a read make SQLite create the -wal and -shm.
	if _, err := st.AddCounter(t.Context(), "b", storetest.T0, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetEnrollment(t.Context(), "none"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		wantMode(t, p, 0o600)
	}
	st.Close()

	old := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(old, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(old, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	st = open(t, old)
	defer st.Close()
	if _, err := st.AddCounter(t.Context(), "b", storetest.T0, 1); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, old + "-wal", old + "-shm"} {
		wantMode(t, p, 0o600)
	}
}

func wantMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %v, want %v", filepath.Base(path), got, want)
	}
}

// A store made before API keys had scopes: its keys keep every scope, so
// an upgrade locks no system out.
func TestMigrateAPIKeyScopes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		sqlite.Migrations[0],
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0)`,
		`INSERT INTO api_keys (name, hash, created_at, revoked_at) VALUES ('crm', 'h1', 1, 0)`,
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st := open(t, path)
	defer st.Close()
	k, err := st.APIKeyByHash(t.Context(), "h1")
	if err != nil || k.Scopes != enroll.AllScopes {
		t.Fatalf("old key after migration: %+v, %v; want every scope", k, err)
	}
}

// A store of schema 2, where a webhook given up was parked undelivered
// with its next attempt a century after its last: after migration it is
// dead, having died at that last attempt, with its attempts and error;
// pending and delivered messages keep their state, and a dead message can
// be redelivered.
func TestMigrateParkedWebhookToDead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	last := time.Date(2025, 6, 1, 12, 0, 0, 123456000, time.UTC)
	parked := last.AddDate(100, 0, 0) // what the deliverer of schema 2 wrote
	soon := last.Add(10 * time.Minute)
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		sqlite.Migrations[0], sqlite.Migrations[1],
		`INSERT INTO schema_migrations (version, applied_at) VALUES (1, 0), (2, 0)`,
		fmt.Sprintf(`INSERT INTO outbox (id, event, enrollment_id, payload, created_at, attempts, next_attempt_at, delivered_at, last_error)
			VALUES (1, 'enrollment.failed', 'e1', X'7B7D', 1, 12, %d, 0, 'enroll: webhook delivery given up after 12 attempts: enroll: webhook answered 500'),
			       (2, 'enrollment.verified', 'e2', X'7B7D', 1, 3, %d, 0, 'enroll: webhook answered 503'),
			       (3, 'enrollment.verified', 'e3', X'7B7D', 1, 0, %d, %d, '')`,
			parked.UnixMicro(), soon.UnixMicro(), last.UnixMicro(), last.UnixMicro()),
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	st := open(t, path)
	defer st.Close()
	ms, err := st.ListOutbox(t.Context(), enroll.OutboxAny, 0)
	if err != nil || len(ms) != 3 {
		t.Fatalf("ListOutbox = %+v, %v", ms, err)
	}
	if m := ms[0]; m.State() != enroll.OutboxDead || !m.DeadAt.Equal(last) || !m.NextAttemptAt.IsZero() || m.Attempts != 12 ||
		!strings.Contains(m.LastError, "answered 500") {
		t.Errorf("the parked message after migration: %+v; want dead at %v", m, last)
	}
	if m := ms[1]; m.State() != enroll.OutboxPending || !m.NextAttemptAt.Equal(soon) || m.Attempts != 3 {
		t.Errorf("the pending message after migration: %+v", m)
	}
	if m := ms[2]; m.State() != enroll.OutboxDelivered || !m.DeliveredAt.Equal(last) {
		t.Errorf("the delivered message after migration: %+v", m)
	}
	if p, d, err := st.CountOutbox(t.Context()); err != nil || p != 1 || d != 1 {
		t.Errorf("CountOutbox = %d, %d, %v; want 1 pending, 1 dead", p, d, err)
	}
	if err := st.RedeliverOutbox(t.Context(), 1, last); err != nil {
		t.Fatal(err)
	}
	if ms, err := st.ClaimOutbox(t.Context(), soon, time.Minute, 10); err != nil || len(ms) != 2 || ms[0].ID != 1 || ms[0].Attempts != 0 {
		t.Errorf("ClaimOutbox after redelivering the migrated message = %+v, %v", ms, err)
	}
}

// Two Stores on one file are two nodes (two processes, as far as SQLite
// can tell).
func TestNodes(t *testing.T) {
	storetest.RunNodes(t, func(t *testing.T, n int) []enroll.Store {
		path := filepath.Join(t.TempDir(), "denwa.db")
		var nodes []enroll.Store
		for range n {
			st := open(t, path)
			t.Cleanup(func() { st.Close() })
			nodes = append(nodes, st)
		}
		return nodes
	})
}
