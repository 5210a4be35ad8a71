//go:build linux

package media

import (
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// threadsAt counts the process's threads that run SCHED_FIFO (fifo) or
// at niceness nice under the normal scheduler.
func threadsAt(t *testing.T, nice int) (fifo, niced int) {
	t.Helper()
	dirs, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // the thread exited
		}
		// The fields after the command name, which is in parentheses:
		// niceness is field 19 of stat, the scheduling policy field 41.
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		policy, _ := strconv.Atoi(f[38])
		n, _ := strconv.Atoi(f[16])
		switch {
		case policy == schedFIFO:
			fifo++
		case n == nice:
			niced++
		}
	}
	return fifo, niced
}

// mayRaise reports what this process may ask for a thread: a real-time
// policy, a lower niceness, or neither.
func mayRaise() threadPriority {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	old, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil {
		return priorityNormal
	}
	got, _ := raisePriority(pacerNice)
	// Back as it was: Getpriority's raw syscall returns 20 − nice.
	setScheduler(schedOther, 0)
	syscall.Setpriority(syscall.PRIO_PROCESS, tid, 20-old)
	return got
}

// pacerWith starts a pacer with n MemNet sessions sending through conn
// wrappers made by wrap, and waits until each has sent twice.
func pacerWith(t *testing.T, cfg PacerConfig, n int, wrap func(PacketConn) PacketConn) (*Pacer, []*Session) {
	t.Helper()
	p := NewPacer(cfg)
	net := mediatest.NewMemNet()
	var ss []*Session
	for i := range n {
		c, _ := net.Listen(netip.AddrPortFrom(loopback4, uint16(20000+2*i)))
		s, err := NewSession(SessionConfig{Conn: wrap(c), Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range ss {
		for s.Stats().PacketsSent < 2 {
			if time.Now().After(deadline) {
				t.Fatal("sessions did not send in 5 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return p, ss
}

// A pacer's shards run on threads of their own at real-time priority
// when the process may ask for it (else at nice −10), and at the
// process's priority with NormalPriority.
func TestPacerThreadPriority(t *testing.T) {
	can := mayRaise()
	if can == priorityNormal {
		t.Skip("this process may not raise a thread's priority (needs CAP_SYS_NICE)")
	}
	for _, normal := range []bool{false, true} {
		fifo0, nice0 := threadsAt(t, pacerNice)
		p, ss := pacerWith(t, PacerConfig{Shards: 2, NormalPriority: normal}, 2, func(c PacketConn) PacketConn { return c })
		fifo, niced := threadsAt(t, pacerNice)
		fifo, niced = fifo-fifo0, niced-nice0
		for _, s := range ss {
			s.Close()
		}
		p.Close()
		// The counts are the whole process's: a thread an earlier test's
		// pacer left may end meanwhile (a count one lower), so this pacer
		// must add its two where it may and none where it may not.
		raised, other := fifo, niced
		if can == priorityNice {
			raised, other = niced, fifo
		}
		ok := raised >= 2 && other <= 0
		if normal {
			ok = raised <= 0 && other <= 0
		}
		if !ok {
			t.Errorf("NormalPriority %v (may raise to %v): %+d SCHED_FIFO threads and %+d at nice %d",
				normal, can, fifo, niced, pacerNice)
		}
	}
}

// A real-time shard rides out one stall of the process (a few skipped
// ticks) and goes back to nice −10 when it keeps falling behind.
func TestPacerRealtimeStepsDown(t *testing.T) {
	if mayRaise() != priorityRealtime {
		t.Skip("this process may not use SCHED_FIFO")
	}
	fifo0, nice0 := threadsAt(t, pacerNice)
	var sc *stallConn
	p, ss := pacerWith(t, PacerConfig{Shards: 1}, 1, func(c PacketConn) PacketConn {
		sc = &stallConn{PacketConn: c}
		return sc
	})
	defer p.Close()
	defer ss[0].Close()
	stall := func(d time.Duration, more int64) {
		t.Helper()
		skipped := p.Stats().Skipped + more
		sc.mu.Lock()
		sc.stall = d // the next walk takes this long
		sc.mu.Unlock()
		deadline := time.Now().Add(5 * time.Second)
		for p.Stats().Skipped < skipped {
			if time.Now().After(deadline) {
				t.Fatalf("%d ticks skipped 5 s after a %v stall, want %d", p.Stats().Skipped, d, skipped)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if fifo, _ := threadsAt(t, pacerNice); fifo-fifo0 != 1 {
		t.Fatalf("%d SCHED_FIFO threads, want 1", fifo-fifo0)
	}
	stall(65*time.Millisecond, 2) // three intervals and more: two or three ticks skipped
	time.Sleep(50 * time.Millisecond)
	if fifo, _ := threadsAt(t, pacerNice); fifo-fifo0 != 1 {
		t.Fatalf("after one 65 ms stall: %d SCHED_FIFO threads, want 1", fifo-fifo0)
	}
	stall(250*time.Millisecond, 11) // eleven or twelve more within the second
	deadline := time.Now().Add(5 * time.Second)
	for {
		fifo, niced := threadsAt(t, pacerNice)
		if fifo-fifo0 == 0 && niced-nice0 == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a 250 ms stall: %d SCHED_FIFO threads and %d at nice %d, want 0 and 1", fifo-fifo0, niced-nice0, pacerNice)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
