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

// niceThreads counts the process's threads at niceness nice.
func niceThreads(t *testing.T, nice int) int {
	t.Helper()
	dirs, err := filepath.Glob("/proc/self/task/*/stat")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue // the thread exited
		}
		// Fields after the command name, which is in parentheses: the
		// niceness is field 19 of stat, the 17th after ")".
		f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
		if v, err := strconv.Atoi(f[16]); err == nil && v == nice {
			n++
		}
	}
	return n
}

// canRaise reports whether this process may lower a thread's niceness.
func canRaise() bool {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := syscall.Gettid()
	old, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if err != nil || syscall.Setpriority(syscall.PRIO_PROCESS, tid, pacerNice) != nil {
		return false
	}
	// Getpriority's raw syscall returns 20 − nice.
	syscall.Setpriority(syscall.PRIO_PROCESS, tid, 20-old)
	return true
}

// A pacer's shards run on threads of their own at nice −10 when the
// process may ask for it, and at the process's niceness with
// NormalPriority.
func TestPacerThreadPriority(t *testing.T) {
	if !canRaise() {
		t.Skip("this process may not raise a thread's priority (needs CAP_SYS_NICE)")
	}
	for _, normal := range []bool{false, true} {
		base := niceThreads(t, pacerNice)
		p := NewPacer(PacerConfig{Shards: 2, NormalPriority: normal})
		net := mediatest.NewMemNet()
		var ss []*Session
		for i := range 2 {
			c, _ := net.Listen(netip.AddrPortFrom(loopback4, uint16(20000+2*i)))
			s, err := NewSession(SessionConfig{Conn: c, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		deadline := time.Now().Add(5 * time.Second)
		for _, s := range ss {
			for s.Stats().PacketsSent < 2 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
		got := niceThreads(t, pacerNice) - base
		for _, s := range ss {
			s.Close()
		}
		p.Close()
		want := 2
		if normal {
			want = 0
		}
		if got != want {
			t.Errorf("NormalPriority %v: %d threads at nice %d, want %d", normal, got, pacerNice, want)
		}
	}
}
