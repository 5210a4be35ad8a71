package peers

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// StartTimeout bounds the wait for a peer to become ready. Generous: the
// machine may be busy.
const StartTimeout = 20 * time.Second

// Proc is a peer's process: its own process group, its output kept.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *Output
	done chan struct{} // closed once the process has exited
	err  error         // Wait's error, set before done closes
}

// Output is a process's stdout and stderr as they arrive, safe for
// concurrent use. Waiters are woken on every write.
type Output struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	wake chan struct{} // closed and replaced on every write
}

func newOutput() *Output { return &Output{wake: make(chan struct{})} }

// Write appends p and wakes the waiters.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(p)
	close(o.wake)
	o.wake = make(chan struct{})
	return len(p), nil
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// snapshot returns the output and the channel closed at the next write.
func (o *Output) snapshot() (string, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String(), o.wake
}

// start runs cmd in its own process group, with stdout and stderr into
// one Output; t.Cleanup kills the group and, when the test failed, logs
// the last lines of the output.
func start(t testing.TB, name string, cmd *exec.Cmd) *Proc {
	t.Helper()
	p := &Proc{Name: name, cmd: cmd, out: newOutput(), done: make(chan struct{})}
	if cmd.Stdout == nil {
		cmd.Stdout = p.out
	}
	if cmd.Stderr == nil {
		cmd.Stderr = p.out
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The group is killed even when the test binary dies first.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := cmd.Start(); err != nil {
		t.Fatalf("peers: start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("%s output (last 60 lines):\n%s", name, tail(p.out.String(), 60))
		}
	})
	return p
}

// goUntilCleanup runs f on its own goroutine until the test ends: t.Cleanup
// cancels f's context and waits for f to return.
func goUntilCleanup(t testing.TB, f func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		f(ctx)
	}()
}

// Output returns what the process wrote so far.
func (p *Proc) Output() string { return p.out.String() }

// Stop kills the process group and waits for the process (bounded).
func (p *Proc) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(3 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	// Children that outlived the leader (Kamailio's workers) go too.
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// Exited reports whether the process has ended, and how.
func (p *Proc) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// WaitOutput waits until the output from offset on matches re and
// returns the match and the offset just past it. It fails the test when
// the deadline passes or the process exits first.
func (p *Proc) WaitOutput(t testing.TB, re *regexp.Regexp, from int, timeout time.Duration) (string, int) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s, wake := p.out.snapshot()
		if from > len(s) {
			from = len(s)
		}
		if loc := re.FindStringIndex(s[from:]); loc != nil {
			return s[from+loc[0] : from+loc[1]], from + loc[1]
		}
		select {
		case <-wake:
		case <-p.done:
			s = p.out.String()
			if loc := re.FindStringIndex(s[from:]); loc != nil {
				return s[from+loc[0] : from+loc[1]], from + loc[1]
			}
			t.Fatalf("peers: %s exited (%v) before printing %q", p.Name, p.err, re)
		case <-deadline.C:
			t.Fatalf("peers: %s did not print %q in %v", p.Name, re, timeout)
		}
	}
}

// writeFile writes a configuration file, failing the test on error.
func writeFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatalf("peers: %v", err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
