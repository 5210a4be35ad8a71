// Package pgtest gives tests a PostgreSQL database of their own, on a
// throwaway cluster in a temporary directory: initdb with trust
// authentication, a free port on 127.0.0.1, the socket in the cluster's
// directory, fsync off (the data is thrown away).
//
// URL starts one cluster per test process, the first time a test asks, and
// creates a new database for each test, so tests can run in parallel:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
//	func TestX(t *testing.T) {
//		st, err := postgres.Open(t.Context(), pgtest.URL(t), postgres.Options{})
//		…
//	}
//
// The URL is an ordinary postgres:// URL that any process on the machine can
// use (a `denwa serve` the test starts, for example). Main stops the
// cluster and removes its directory when the tests end; should the test
// process die first, a watchdog process it started does the same.
//
// The PostgreSQL server programs are looked for in
// /usr/lib/postgresql/*/bin (the newest version; Debian's layout) and then
// on PATH. Without them the tests that need them are skipped, with a
// message saying so, or fail when DENWA_REQUIRE_INTEROP=1. initdb refuses
// to run as root: under root the cluster runs as the "postgres" user
// (which Debian's postgresql package creates).
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// InteropEnv is the environment variable that turns the skip for missing
// PostgreSQL programs into a failure.
const InteropEnv = "DENWA_REQUIRE_INTEROP"

// Cluster is a running throwaway PostgreSQL server.
type Cluster struct {
	dir  string              // the cluster's directory: data/, log, the socket
	bin  string              // the directory of initdb, pg_ctl, postgres
	cred *syscall.Credential // whom the server runs as; nil: this process's user
	port int                 // on 127.0.0.1
	dbs  atomic.Int64        // databases created, for their names
	stop *os.File            // closing it tells the watchdog to stop the server
	dog  *exec.Cmd           // the watchdog
	mu   sync.Mutex          // serializes StopServer, StartServer, Close
	done bool
}

var shared struct {
	once sync.Once
	c    *Cluster
	skip string // why there is no cluster, when PostgreSQL is missing
	err  error
}

// URL returns the URL of a new, empty database on the test process's
// cluster, starting the cluster the first time. The database is dropped
// when t ends (close what uses it in a Cleanup registered after URL, or
// before t ends). Without PostgreSQL it skips t (or fails it, see
// InteropEnv).
func URL(t testing.TB) string {
	t.Helper()
	return Shared(t).URL(t)
}

// Shared returns the test process's cluster, starting it the first time.
// Without PostgreSQL it skips t (or fails it, see InteropEnv).
func Shared(t testing.TB) *Cluster {
	t.Helper()
	shared.once.Do(func() {
		bin, cred, skip := find()
		if skip != "" {
			shared.skip = skip
			return
		}
		shared.c, shared.err = start(bin, cred)
	})
	if shared.skip != "" {
		requireInterop(t, "%s", shared.skip)
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.c
}

// Main runs the tests and then stops the test process's cluster, if one
// was started: call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	Stop()
	os.Exit(code)
}

// Stop stops the test process's cluster, if one was started, and removes
// its directory; for a TestMain that does more than Main.
func Stop() {
	if shared.c != nil {
		shared.c.Close()
	}
}

// Start starts a cluster of the test's own, closed when t ends: for a test
// that stops and starts the server. Without PostgreSQL it skips t (or
// fails it, see InteropEnv).
func Start(t testing.TB) *Cluster {
	t.Helper()
	bin, cred, skip := find()
	if skip != "" {
		requireInterop(t, "%s", skip)
	}
	c, err := start(bin, cred)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// URL returns the URL of a new, empty database on c, dropped when t ends.
func (c *Cluster) URL(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("denwa_%d", c.dbs.Add(1))
	if err := c.admin(t.Context(), `CREATE DATABASE `+name); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		// FORCE ends the connections a test left open.
		if err := c.admin(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil && !c.stopped() {
			t.Logf("pgtest: %v", err)
		}
	})
	return c.DatabaseURL(name)
}

// DatabaseURL returns the URL of the named database on c.
func (c *Cluster) DatabaseURL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, name)
}

// Port returns the TCP port c listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// admin runs a statement on c's postgres database.
func (c *Cluster) admin(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, c.DatabaseURL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	_, err = conn.Exec(ctx, sql)
	return err
}

// StopServer stops the server (pg_ctl -m fast: connections are cut, what
// was committed is kept, as a real server's outage keeps it; the cluster
// commits asynchronously, so an immediate stop would lose the last
// commits): connections fail until StartServer.
func (c *Cluster) StopServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pgctl("-m", "fast", "stop")
}

// StartServer starts the server StopServer stopped, on the same port.
func (c *Cluster) StartServer() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.startServer()
}

// Close stops the server and removes its directory.
func (c *Cluster) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done {
		return
	}
	c.done = true
	c.stop.Close()
	c.dog.Wait()
}

func (c *Cluster) stopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// find locates the server programs and whom to run them as; skip says why
// it cannot.
func find() (bin string, cred *syscall.Credential, skip string) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if isFile(filepath.Join(d, "initdb")) && isFile(filepath.Join(d, "pg_ctl")) {
			bin = d
			break
		}
	}
	if bin == "" {
		initdb, err1 := exec.LookPath("initdb")
		_, err2 := exec.LookPath("pg_ctl")
		if err1 != nil || err2 != nil {
			return "", nil, "PostgreSQL server programs (initdb, pg_ctl) not found in /usr/lib/postgresql/*/bin or on PATH (Debian: apt-get install postgresql)"
		}
		bin = filepath.Dir(initdb)
	}
	if os.Geteuid() != 0 {
		return bin, nil, ""
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return "", nil, "running as root, and there is no postgres user to run initdb as (initdb refuses root)"
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return "", nil, fmt.Sprintf("the postgres user has ids %q, %q", u.Uid, u.Gid)
	}
	return bin, &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, ""
}

// version is the major version in a /usr/lib/postgresql/N/bin path.
func version(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

func isFile(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// start creates and starts a cluster, with its watchdog.
func start(bin string, cred *syscall.Credential) (*Cluster, error) {
	dir, err := os.MkdirTemp("", "denwa-pgtest-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	c := &Cluster{dir: dir, bin: bin, cred: cred}
	if err := c.run("initdb", "-D", c.data(), "-A", "trust", "-U", "postgres", "-E", "UTF8",
		"--locale=C", "--no-sync", "--no-instructions"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	// The watchdog stops the server and removes the directory when the
	// pipe's write end closes: at Close, or when this process dies.
	r, w, err := os.Pipe()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	c.stop = w
	c.dog = c.command("sh", "-c", `read _; "$0" -D "$1" -m immediate -w stop >/dev/null 2>&1; rm -rf "$2"`,
		filepath.Join(bin, "pg_ctl"), c.data(), dir)
	c.dog.Stdin = r
	c.dog.SysProcAttr.Setsid = true // not killed with the test's process group
	if err := c.dog.Start(); err != nil {
		r.Close()
		w.Close()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("watchdog: %w", err)
	}
	r.Close()
	// A free port may be taken by another process between choosing it and
	// the server binding it: try a few.
	for range 5 {
		if c.port, err = freePort(); err != nil {
			break
		}
		if err = c.startServer(); err == nil {
			return c, nil
		}
	}
	c.Close()
	return nil, err
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// startServer starts postgres on c.port and waits until it accepts
// connections.
func (c *Cluster) startServer() error {
	opts := strings.Join([]string{
		"-p", strconv.Itoa(c.port), "-k", c.dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300",
	}, " ")
	return c.pgctl("-l", filepath.Join(c.dir, "log"), "-o", opts, "-w", "-t", "60", "start")
}

func (c *Cluster) pgctl(args ...string) error {
	return c.run("pg_ctl", append([]string{"-D", c.data()}, args...)...)
}

// run runs one of the server programs, as the cluster's user.
func (c *Cluster) run(prog string, args ...string) error {
	cmd := c.command(filepath.Join(c.bin, prog), args...)
	// pg_ctl start leaves the server running with its own output in the
	// log file; a file here (not a pipe) keeps Wait from waiting for it.
	out, err := os.CreateTemp("", "denwa-pgtest-out-")
	if err != nil {
		return err
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		text, _ := os.ReadFile(out.Name())
		logText, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		return fmt.Errorf("%s %s: %w\n%s%s", prog, strings.Join(args, " "), err, text, tail(logText))
	}
	return nil
}

func (c *Cluster) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = c.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "PGTZ=UTC")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	return cmd
}

func tail(b []byte) string {
	const max = 2000
	if len(b) > max {
		b = b[len(b)-max:]
	}
	if len(b) == 0 {
		return ""
	}
	return "server log:\n" + string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// requireInterop skips t, or fails it when InteropEnv is 1.
func requireInterop(t testing.TB, format string, args ...any) {
	t.Helper()
	reason := "pgtest: " + fmt.Sprintf(format, args...)
	if os.Getenv(InteropEnv) == "1" {
		t.Fatalf("%s (required because %s=1)", reason, InteropEnv)
	}
	t.Skipf("%s (set %s=1 to fail instead of skipping)", reason, InteropEnv)
}
