package media

import (
	"fmt"
	"net"
	"net/netip"
	"sync"
)

// PortPool hands out RTP sockets on even ports (RFC 3550 §11: RTP on an
// even port, RTCP on the next odd one) within a configured range of one IP
// address. The odd ports are not bound: denwa sends no RTCP and ignores
// what arrives there.
//
// Acquire walks the range round-robin from where the last acquisition
// stopped, so a port just given back is the last to be reused (late
// packets of the previous call find a closed port rather than a new call).
// A port that another process holds fails to bind and is skipped. Closing
// the returned PacketConn gives its port back. A PortPool is safe for
// concurrent use; binding happens outside its lock.
type PortPool struct {
	ip          netip.Addr
	first, last int // even, inclusive

	mu    sync.Mutex
	used  []bool // by (port-first)/2
	next  int    // index to try first
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
	return &PortPool{ip: ip.Unmap(), first: first, last: last, used: make([]bool, (last-first)/2+1)}, nil
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

// Acquire binds the next free even port and returns its socket; Close
// gives the port back. When every port is handed out or held by another
// process it returns an error wrapping ErrNoPorts that names the range and
// how many calls it holds, e.g. "media: no free RTP port in 30000-39999
// (5000 calls at once)".
func (p *PortPool) Acquire() (PacketConn, error) {
	var lastErr error
	for range len(p.used) {
		i, ok := p.reserve()
		if !ok {
			break
		}
		port := p.first + 2*i
		addr := netip.AddrPortFrom(p.ip, uint16(port))
		c, err := net.ListenUDP(udpNetwork(p.ip), net.UDPAddrFromAddrPort(addr))
		if err != nil {
			lastErr = err
			p.free(i)
			continue
		}
		return newUDPConn(c, func() { p.free(i) }), nil
	}
	if lastErr != nil {
		return nil, fmt.Errorf("%w in %d-%d on %s (%d calls at once; a port would not bind: %v)",
			ErrNoPorts, p.first, p.last+1, p.ip, len(p.used), lastErr)
	}
	return nil, fmt.Errorf("%w in %d-%d (%d calls at once)", ErrNoPorts, p.first, p.last+1, len(p.used))
}

// reserve marks the next unused index as used.
func (p *PortPool) reserve() (int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.used)
	for k := range n {
		i := (p.next + k) % n
		if !p.used[i] {
			p.used[i] = true
			p.inUse++
			p.next = (i + 1) % n
			return i, true
		}
	}
	return 0, false
}

func (p *PortPool) free(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.used[i] {
		p.used[i] = false
		p.inUse--
	}
}
