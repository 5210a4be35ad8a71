package media

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// Real-socket tests bind UDP ports on loopback only. They run by default
// (every machine that runs our tests has loopback UDP, and the port pool
// can only be proven on real sockets); DENWA_NO_SOCKETS=1 skips them.
func needSockets(t testing.TB) {
	t.Helper()
	if os.Getenv("DENWA_NO_SOCKETS") == "1" {
		t.Skip("DENWA_NO_SOCKETS=1: real-socket test skipped")
	}
}

var loopback4 = netip.MustParseAddr("127.0.0.1")

// testPortBase picks an even base in 20000–27998, below Linux's ephemeral
// range, so that parallel test runs rarely meet.
func testPortBase() int { return 20000 + 2*rand.IntN(4000) }

func TestNewPortPool(t *testing.T) {
	for _, c := range []struct {
		first, last, size int
		ok                bool
	}{
		{30000, 30010, 6, true},
		{30001, 30010, 5, true}, // odd first rounded up
		{30000, 30001, 1, true},
		{30001, 30001, 0, false},
		{80, 100, 0, false},
		{65534, 65535, 1, true},
		{30010, 30000, 0, false},
	} {
		p, err := NewPortPool(loopback4, c.first, c.last)
		if (err == nil) != c.ok {
			t.Errorf("NewPortPool(%d, %d): err = %v", c.first, c.last, err)
			continue
		}
		if err != nil && !errors.Is(err, ErrConfig) {
			t.Errorf("NewPortPool(%d, %d): err = %v, want ErrConfig", c.first, c.last, err)
		}
		if err == nil && p.Size() != c.size {
			t.Errorf("NewPortPool(%d, %d).Size() = %d, want %d", c.first, c.last, p.Size(), c.size)
		}
	}
	if _, err := NewPortPool(netip.Addr{}, 30000, 30010); !errors.Is(err, ErrConfig) {
		t.Errorf("no IP: err = %v", err)
	}
}

func TestPortPoolCycles(t *testing.T) {
	needSockets(t)
	base := testPortBase()
	// Another process holds base+2: the pool must skip it.
	other, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback4, uint16(base+2))))
	if err != nil {
		t.Skipf("port %d busy: %v", base+2, err)
	}
	defer other.Close()
	p, err := NewPortPool(loopback4, base, base+6) // 4 even ports, one taken
	if err != nil {
		t.Fatal(err)
	}
	t.Log(p)
	for cycle := range 20 {
		var conns []PacketConn
		seen := map[uint16]bool{}
		for {
			c, err := p.Acquire()
			if errors.Is(err, ErrNoPorts) {
				want := fmt.Sprintf("media: no free RTP port in %d-%d on 127.0.0.1 (4 calls at once; a port would not bind: ", base, base+6)
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("cycle %d: %q, want it to start %q", cycle, err, want)
				}
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			port := c.LocalAddrPort().Port()
			if port%2 != 0 || int(port) < base || int(port) > base+6 || port == uint16(base+2) || seen[port] {
				t.Fatalf("cycle %d: got port %d (seen %v)", cycle, port, seen)
			}
			if c.LocalAddrPort().Addr() != loopback4 {
				t.Fatalf("bound to %v", c.LocalAddrPort())
			}
			seen[port] = true
			conns = append(conns, c)
			if len(conns) > p.Size() {
				t.Fatal("more conns than ports")
			}
		}
		if len(conns) != 3 {
			t.Fatalf("cycle %d: acquired %d ports, want 3 (one is held elsewhere)", cycle, len(conns))
		}
		if p.InUse() != 3 {
			t.Fatalf("InUse = %d", p.InUse())
		}
		for _, c := range conns {
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
			c.Close() // idempotent: must not free twice
		}
		if p.InUse() != 0 {
			t.Fatalf("cycle %d: InUse = %d after closing all", cycle, p.InUse())
		}
	}
}

// An exhausted pool says which range it is and how many calls it holds.
func TestPortPoolExhausted(t *testing.T) {
	needSockets(t)
	base := testPortBase()
	p, err := NewPortPool(loopback4, base, base+3) // base and base+2
	if err != nil {
		t.Fatal(err)
	}
	var conns []PacketConn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 2 {
		c, err := p.Acquire()
		if err != nil {
			t.Skipf("port busy: %v", err)
		}
		conns = append(conns, c)
	}
	_, err = p.Acquire()
	if !errors.Is(err, ErrNoPorts) {
		t.Fatalf("third Acquire: %v, want ErrNoPorts", err)
	}
	if want := fmt.Sprintf("media: no free RTP port in %d-%d (2 calls at once)", base, base+2); err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

// A pool whose ports are all held by other sockets but one finds that
// one every time: a port that fails to bind is not drawn again within the
// same Acquire, and Acquire tries every free port before giving up.
func TestPortPoolLastBindablePort(t *testing.T) {
	needSockets(t)
	base := testPortBase()
	const n = 4 // even ports base..base+6
	var others []*net.UDPConn
	defer func() {
		for _, o := range others {
			o.Close()
		}
	}()
	for k := 1; k < n; k++ { // hold all but base
		port := base + 2*k
		o, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loopback4, uint16(port))))
		if err != nil {
			t.Skipf("port %d busy: %v", port, err)
		}
		others = append(others, o)
	}
	for try := range 200 {
		p, err := NewPortPool(loopback4, base, base+2*(n-1))
		if err != nil {
			t.Fatal(err)
		}
		c, err := p.Acquire()
		if err != nil {
			t.Fatalf("try %d: %v (port %d is free)", try, err, base)
		}
		if got := c.LocalAddrPort().Port(); got != uint16(base) {
			t.Fatalf("try %d: got port %d, want %d", try, got, base)
		}
		if p.InUse() != 1 {
			t.Fatalf("try %d: InUse = %d, want 1 (ports that would not bind go back)", try, p.InUse())
		}
		c.Close()
		if p.InUse() != 0 {
			t.Fatalf("try %d: InUse = %d after Close", try, p.InUse())
		}
		c, err = p.Acquire() // base is now last in the free ring
		if err != nil {
			t.Fatalf("try %d: second Acquire after Close: %v", try, err)
		}
		c.Close()
	}
}

func TestPortPoolRoundRobin(t *testing.T) {
	needSockets(t)
	base := testPortBase()
	p, err := NewPortPool(loopback4, base, base+8)
	if err != nil {
		t.Fatal(err)
	}
	a, err := p.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	first := a.LocalAddrPort().Port()
	a.Close()
	b, err := p.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.LocalAddrPort().Port() == first {
		t.Errorf("port %d reused at once; the pool should move on", first)
	}
}

// Ports are drawn at random, not in sequence: the port of the next call
// cannot be told from the last one's. The draw takes no socket and no
// allocation, and a port just given back is never the next one out.
func TestPortPoolRandomOrder(t *testing.T) {
	p, err := NewPortPool(loopback4, 30000, 30198) // 100 ports; reserve binds nothing
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	seen := map[int]bool{}
	for range 50 {
		i, ok := p.reserve()
		if !ok || seen[i] {
			t.Fatalf("reserve: %d, %v (seen %v)", i, ok, seen[i])
		}
		seen[i] = true
		got = append(got, i)
	}
	next := 0 // how often the next index follows the last
	for k := 1; k < len(got); k++ {
		if got[k] == got[k-1]+1 {
			next++
		}
	}
	if next > 5 {
		t.Errorf("%d of 49 draws took the next port: %v", next, got)
	}
	firsts := map[int]bool{}
	for range 20 {
		q, _ := NewPortPool(loopback4, 30000, 30198)
		i, _ := q.reserve()
		firsts[i] = true
	}
	if len(firsts) < 8 {
		t.Errorf("20 fresh pools began with only %d different ports: %v", len(firsts), firsts)
	}
	for _, i := range got {
		p.free(i)
	}
	for range 1000 {
		i, _ := p.reserve()
		p.free(i)
		if j, _ := p.reserve(); j == i {
			t.Fatalf("port index %d given back and out again at once", i)
		} else {
			p.free(j)
		}
	}
	if a := testing.AllocsPerRun(100, func() {
		i, _ := p.reserve()
		p.free(i)
	}); a != 0 {
		t.Errorf("%v allocations per draw and return", a)
	}
	if p.InUse() != 0 {
		t.Errorf("InUse = %d", p.InUse())
	}
}

func TestPortPoolConcurrent(t *testing.T) {
	needSockets(t)
	base := testPortBase()
	p, err := NewPortPool(loopback4, base, base+30) // 16 ports
	if err != nil {
		t.Fatal(err)
	}
	// Phase 1: 32 goroutines race for 16 ports.
	var mu sync.Mutex
	var got []PacketConn
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			c, err := p.Acquire()
			if err != nil {
				if !errors.Is(err, ErrNoPorts) {
					t.Error(err)
				}
				return
			}
			mu.Lock()
			got = append(got, c)
			mu.Unlock()
		})
	}
	wg.Wait()
	seen := map[uint16]bool{}
	for _, c := range got {
		port := c.LocalAddrPort().Port()
		if seen[port] {
			t.Errorf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	if len(got) > p.Size() || len(got) < p.Size()-2 { // a foreign process may hold one or two
		t.Errorf("acquired %d of %d ports", len(got), p.Size())
	}
	for _, c := range got {
		c.Close()
	}
	// Phase 2: acquire/release churn.
	for range 8 {
		wg.Go(func() {
			for range 50 {
				c, err := p.Acquire()
				if err != nil {
					t.Error(err)
					return
				}
				c.Close()
			}
		})
	}
	wg.Wait()
	if p.InUse() != 0 {
		t.Errorf("InUse = %d after churn", p.InUse())
	}
}

func TestUDPConnLoopback(t *testing.T) {
	needSockets(t)
	for _, ip := range []string{"127.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			addr := netip.MustParseAddr(ip)
			a, err := ListenUDP(netip.AddrPortFrom(addr, 0))
			if err != nil {
				if addr.Is6() {
					t.Skipf("no IPv6 loopback: %v", err)
				}
				t.Fatal(err)
			}
			defer a.Close()
			b, err := ListenUDP(netip.AddrPortFrom(addr, 0))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if a.LocalAddrPort().Addr() != addr || a.LocalAddrPort().Port() == 0 {
				t.Fatalf("LocalAddrPort = %v", a.LocalAddrPort())
			}
			if _, err := a.WriteToUDPAddrPort([]byte("hello"), b.LocalAddrPort()); err != nil {
				t.Fatal(err)
			}
			b.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64)
			n, from, err := b.ReadFromUDPAddrPort(buf)
			if err != nil || string(buf[:n]) != "hello" || from != a.LocalAddrPort() {
				t.Fatalf("read %q from %v: %v", buf[:n], from, err)
			}
			// A deadline in the past makes a read fail with a timeout.
			b.SetReadDeadline(time.Now().Add(-time.Second))
			if _, _, err := b.ReadFromUDPAddrPort(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read after deadline: %v", err)
			}
		})
	}
}
