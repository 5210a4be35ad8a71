package media

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
)

// PortPool hands out RTP sockets on even ports (RFC 3550 §11: RTP on an
// even port, RTCP on the next odd one) within a configured range of one IP
// address. The odd ports are not bound: denwa sends no RTCP and ignores
// what arrives there.
//
// Acquire draws the port at random among the free ports that have been
// free longest (the older half of them), so that the port of a call cannot
// be guessed from the previous one, and a port just given back waits for
// others to be reused first (late packets of the previous call find a
// closed port rather than a new call). A port that another process holds
// fails to bind and goes to the back of the line. Closing the returned
// PacketConn gives its port back. A PortPool is safe for concurrent use;
// binding happens outside its lock, and neither Acquire's choice nor a
// port's return allocates.
type PortPool struct {
	ip          netip.Addr
	first, last int // even, inclusive

	mu sync.Mutex
	// used is by index, (port-first)/2. ring holds the nfree free
	// indices from head on, in the order they were given back: the
	// oldest at head, the last one given back at head+nfree-1.
	used  []bool
	ring  []int32
	head  int
	nfree int
	inUse int
}

// NewPortPool returns a pool of the even ports in [first, last] on ip (an
// unspecified ip, 0.0.0.0 or ::, binds every interface). An odd first is
// rounded up; the range must hold at least one even port within
// 1024–65534.
func NewPortPool(ip netip.Addr, first, last int) (*PortPool, error) {
	if !ip.IsValid() {
		return nil, fmt.Errorf("%w: port pool needs an IP address", ErrConfig)
	}
	first += first & 1
	last -= last & 1
	if first < 1024 || last > 65534 || first > last {
		return nil, fmt.Errorf("%w: port range %d–%d holds no even port in 1024–65534", ErrConfig, first, last)
	}
	n := (last-first)/2 + 1
	p := &PortPool{ip: ip.Unmap(), first: first, last: last, used: make([]bool, n), ring: make([]int32, n), nfree: n}
	for i, j := range rand.Perm(n) {
		p.ring[i] = int32(j)
	}
	return p, nil
}

// Size returns the number of even ports in the range.
func (p *PortPool) Size() int { return len(p.used) }

// InUse returns the number of ports handed out and not yet closed.
func (p *PortPool) InUse() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.inUse
}

// String describes the pool, e.g. "media.PortPool(127.0.0.1:30000-30998, 3 in use)".
func (p *PortPool) String() string {
	return fmt.Sprintf("media.PortPool(%s:%d-%d, %d in use)", p.ip, p.first, p.last, p.InUse())
}

// Acquire binds a free even port drawn at random (see PortPool) and
// returns its socket; Close gives the port back. When every port is
// handed out or held by another process it returns an error wrapping
// ErrNoPorts that names the range and how many calls it holds, e.g. "media: no free RTP port in 30000-39998
// (5000 calls at once)".
//
// A port that fails to bind stays reserved until Acquire returns, so
// that each try draws a port not tried yet: Acquire fails only when
// every free port has been tried.
func (p *PortPool) Acquire() (PacketConn, error) {
	var lastErr error
	var failed []int // ports that would not bind; allocated only on failure
	for {
		i, ok := p.reserve()
		if !ok {
			break
		}
		port := p.first + 2*i
		addr := netip.AddrPortFrom(p.ip, uint16(port))
		c, err := net.ListenUDP(udpNetwork(p.ip), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			lastErr = err
			failed = append(failed, i)
			continue
		}
		p.freeAll(failed)
		return newUDPConn(c, func() { p.free(i) }), nil
	}
	p.freeAll(failed)
	if lastErr != nil {
		return nil, fmt.Errorf("%w in %d-%d on %s (%d calls at once; a port would not bind: %v)",
			ErrNoPorts, p.first, p.last, p.ip, len(p.used), lastErr)
	}
	return nil, fmt.Errorf("%w in %d-%d (%d calls at once)", ErrNoPorts, p.first, p.last, len(p.used))
}

// reserve takes a free index at random from the older half of the free
// ring (see PortPool) and marks it used.
func (p *PortPool) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.nfree == 0 {
		return 0, false
	}
	n := len(p.ring)
	// The older half, rounded up: a pool with one free port takes it.
	j := (p.head + rand.IntN((p.nfree+1)/2)) % n
	i := int(p.ring[j])
	// Fill the hole with the head and move the head on: the rest of the
	// ring keeps its order.
	p.ring[j] = p.ring[p.head]
	p.head = (p.head + 1) % n
	p.nfree--
	p.used[i] = true
	p.inUse++
	return i, true
}

// freeAll gives back the indices in is, in order.
func (p *PortPool) freeAll(is []int) {
	for _, i := range is {
		p.free(i)
	}
}

// free gives index i back, at the end of the free ring.
func (p *PortPool) free(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[i] {
		p.used[i] = false
		p.inUse--
		p.ring[(p.head+p.nfree)%len(p.ring)] = int32(i)
		p.nfree++
	}
}
