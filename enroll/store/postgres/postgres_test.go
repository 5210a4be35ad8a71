package postgres_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"denwa/enroll"
	"denwa/enroll/store/postgres"
	"denwa/enroll/store/postgres/pgtest"
	"denwa/enroll/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *postgres.Store {
	t.Helper()
	st, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeChecked(t, st) })
	return st
}

// closeChecked closes st, failing t if a connection of its pool was never
// given back. A connection the pool destroys (one whose query a context
// cut short) counts as acquired until a goroutine of the pool has closed
// it, so the check waits a little for that.
func closeChecked(t *testing.T, st *postgres.Store) {
	t.Helper()
	start := time.Now()
	for n := postgres.AcquiredConns(st); n != 0; n = postgres.AcquiredConns(st) {
		if time.Since(start) > 5*time.Second {
			t.Errorf("%d connections of the pool still acquired 5 s after the test ended", n)
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	st.Close()
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) enroll.Store {
		t.Parallel() // each subtest has a database of its own
		return open(t, pgtest.URL(t))
	})
}

// Two stores on one database are two nodes.
func TestNodes(t *testing.T) {
	t.Parallel()
	storetest.RunNodes(t, func(t *testing.T, n int) []enroll.Store {
		t.Parallel()
		url := pgtest.URL(t)
		var nodes []enroll.Store
		for range n {
			nodes = append(nodes, open(t, url))
		}
		return nodes
	})
}

func twoNodes(t *testing.T) (a, b *postgres.Store) {
	url := pgtest.URL(t)
	return open(t, url), open(t, url)
}

// Nodes starting together on a new database apply each migration once.
func TestConcurrentMigrations(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	const n = 6
	stores := make([]*postgres.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = postgres.Open(t.Context(), url, postgres.Options{MaxConns: 2}) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { closeChecked(t, stores[i]) })
	}
	if v, err := stores[0].Version(t.Context()); err != nil || v != postgres.SchemaVersion {
		t.Fatalf("Version = %d, %v; want %d", v, err, postgres.SchemaVersion)
	}
	var rows, max int
	conn := connect(t, url)
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&rows, &max); err != nil {
		t.Fatal(err)
	}
	if rows != postgres.SchemaVersion || max != postgres.SchemaVersion {
		t.Fatalf("schema_migrations: %d rows, max %d; want %d", rows, max, postgres.SchemaVersion)
	}
}

// A database a newer denwa migrated is refused, and left as it was.
func TestSchemaTooNew(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	open(t, url)
	conn := connect(t, url)
	if _, err := conn.Exec(t.Context(), `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`,
		postgres.SchemaVersion+1); err != nil {
		t.Fatal(err)
	}
	_, err := postgres.Open(t.Context(), url, postgres.Options{})
	if !errors.Is(err, postgres.ErrSchemaTooNew) {
		t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
	}
	var rows int
	if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM schema_migrations`).Scan(&rows); err != nil || rows != postgres.SchemaVersion+1 {
		t.Fatalf("schema_migrations has %d rows, %v; want %d", rows, err, postgres.SchemaVersion+1)
	}
}

func TestOpenInvalid(t *testing.T) {
	t.Parallel()
	_, err := postgres.Open(t.Context(), "postgres://u:secret@[::1", postgres.Options{})
	if !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("Open with a bad URL = %v, want ErrInvalidInput", err)
	}
	if err != nil && strings.Contains(err.Error(), "secret") {
		t.Fatalf("the error shows the password: %v", err)
	}
	if _, err := postgres.Open(t.Context(), "postgres://localhost/x", postgres.Options{MaxConns: -1}); err == nil {
		t.Fatal("Open with a negative option succeeded")
	}
}

func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// watch starts WatchEnrollments on st and returns the channel of the IDs
// it reports.
func watch(t *testing.T, st *postgres.Store) <-chan string {
	t.Helper()
	ids := make(chan string, 100)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	if err := st.WatchEnrollments(ctx, func(id string) { ids <- id }); err != nil {
		t.Fatalf("WatchEnrollments: %v", err)
	}
	return ids
}

func next(t *testing.T, ids <-chan string) string {
	t.Helper()
	select {
	case id := <-ids:
		return id
	case <-time.After(10 * time.Second):
		t.Fatal("no change reported within 10 s")
		return ""
	}
}

// A watcher on one node hears of each write another node makes, and after
// its connection is killed it reports changed("") and goes on hearing.
func TestWatchEnrollments(t *testing.T) {
	t.Parallel()
	a, b := twoNodes(t)
	ctx := t.Context()
	ids := watch(t, a)

	e := storetest.NewEnrollment("u1", "+81312345678")
	if err := b.CreateEnrollment(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != e.ID {
		t.Fatalf("after create: %q, want %q", id, e.ID)
	}
	e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, "b"
	if err := b.UpdateEnrollment(ctx, e, nil, nil); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != e.ID {
		t.Fatalf("after update: %q, want %q", id, e.ID)
	}
	// A lost compare-and-set notifies nobody: its transaction rolled back.
	if err := b.UpdateEnrollment(ctx, e, nil, nil); !errors.Is(err, enroll.ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := b.RecoverCalling(ctx, "b", storetest.T0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != e.ID {
		t.Fatalf("after recovery: %q, want %q (and nothing for the lost compare-and-set)", id, e.ID)
	}

	// Kill the watcher's connection on the server.
	conn := connect(t, pgtest.URL(t))
	var killed int
	if err := conn.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = $1 AND datname <> current_database()`, postgres.WatchApplicationName).Scan(&killed); err != nil || killed != 1 {
		t.Fatalf("terminated %d watcher connections, %v; want 1", killed, err)
	}
	if id := next(t, ids); id != "" {
		t.Fatalf("after the connection was killed: %q, want \"\"", id)
	}
	e2 := storetest.NewEnrollment("u2", "+81312345679")
	if err := b.CreateEnrollment(ctx, e2, nil); err != nil {
		t.Fatal(err)
	}
	if id := next(t, ids); id != e2.ID {
		t.Fatalf("after reconnecting: %q, want %q", id, e2.ID)
	}
}

// Close ends the watchers, and WatchEnrollments on a closed store fails.
func TestWatchEndsAtClose(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	st, err := postgres.Open(t.Context(), url, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.WatchEnrollments(t.Context(), func(string) {}); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, url)
	listening := func() int {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = $1
			AND datname = current_database()`, postgres.WatchApplicationName).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := listening(); n != 1 {
		t.Fatalf("%d watcher connections, want 1", n)
	}
	st.Close() // returns once the watcher has ended and closed its connection
	deadline := time.Now().Add(5 * time.Second)
	for listening() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the watcher's connection outlived Close")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := st.WatchEnrollments(t.Context(), func(string) {}); err == nil {
		t.Fatal("WatchEnrollments on a closed store succeeded")
	}
}

// Ping fails while the server is down and succeeds again once it is back,
// with no help; so does the watcher, which then reports changed("").
func TestPingServerDown(t *testing.T) {
	t.Parallel()
	c := pgtest.Start(t)
	st, err := postgres.Open(t.Context(), c.URL(t), postgres.Options{ReconnectDelay: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ids := watch(t, st)
	if err := st.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if err := c.StopServer(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := st.Ping(ctx); err == nil {
		t.Fatal("Ping succeeded with the server stopped")
	}
	if err := c.StartServer(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		err := st.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Ping still fails 10 s after the server is back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if id := next(t, ids); id != "" {
		t.Fatalf("watcher after the server came back: %q, want \"\"", id)
	}
}

// A write that waits on a lock another node holds gives up when its
// context ends, with an error wrapping the context's, and leaves the pool
// whole: the store works again once the lock is released.
func TestContextEndsWhileWaiting(t *testing.T) {
	t.Parallel()
	url := pgtest.URL(t)
	st := open(t, url)
	ctx := t.Context()
	e := storetest.NewEnrollment("u1", "+81312345678")
	if err := st.CreateEnrollment(ctx, e, nil); err != nil {
		t.Fatal(err)
	}
	holder := connect(t, url)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, `SELECT 1 FROM enrollments WHERE id = $1 FOR UPDATE`, e.ID); err != nil {
		t.Fatal(err)
	}
	next := e
	next.State, next.Version = enroll.StateCalling, 2
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := st.UpdateEnrollment(short, next, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("UpdateEnrollment on a locked row past its deadline: %v, want context.DeadlineExceeded", err)
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateEnrollment(ctx, next, nil, nil); err != nil {
		t.Fatalf("UpdateEnrollment once the lock is gone: %v", err)
	}
}

// The store names itself without the URL's password.
func TestStringHidesPassword(t *testing.T) {
	t.Parallel()
	url := strings.Replace(pgtest.URL(t), "postgres@", "postgres:s3cret@", 1) // trust: any password
	st := open(t, url)
	if s := st.String(); strings.Contains(s, "s3cret") || !strings.HasPrefix(s, "postgres://postgres@127.0.0.1:") {
		t.Fatalf("String() = %q", s)
	}
}
