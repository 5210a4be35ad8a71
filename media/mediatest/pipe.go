package mediatest

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// MemNet is an in-memory UDP network for unit tests of media's sessions:
// no port is bound and nothing leaves the process. MemConns on it satisfy
// media.PacketConn (structurally: this package does not import media).
//
// Datagrams are delivered by destination address, into a bounded queue per
// MemConn; like UDP, a datagram to an address nobody listens on, or to a MemConn
// whose queue is full, is dropped silently (and counted in Dropped).
// Delivery is in order per sender and does not allocate once a MemConn's
// queue slots have been used once. A MemNet works inside a
// testing/synctest bubble when created there.
type MemNet struct {
	// QueueLen is the number of datagrams a MemConn holds unread; zero means
	// 256. Set it before the first Listen.
	QueueLen int

	mu      sync.RWMutex
	conns   map[netip.AddrPort]*MemConn
	dropped atomic.Int64
}

// NewMemNet returns an empty in-memory network.
func NewMemNet() *MemNet {
	return &MemNet{conns: make(map[netip.AddrPort]*MemConn)}
}

// Pipe returns two MemConns on a new MemNet, at 127.0.0.1:40000 and
// 127.0.0.1:40002, for tests that need just one pair.
func Pipe() (a, b *MemConn) {
	n := NewMemNet()
	a, _ = n.Listen(netip.MustParseAddrPort("127.0.0.1:40000"))
	b, _ = n.Listen(netip.MustParseAddrPort("127.0.0.1:40002"))
	return a, b
}

// Listen opens a MemConn at addr, which must be a valid address with a
// non-zero port not already in use on this network.
func (n *MemNet) Listen(addr netip.AddrPort) (*MemConn, error) {
	if !addr.IsValid() || addr.Port() == 0 {
		return nil, fmt.Errorf("mediatest: listen on %v: need an address and a port", addr)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.conns[addr]; ok {
		return nil, fmt.Errorf("mediatest: listen on %v: address in use", addr)
	}
	ql := n.QueueLen
	if ql <= 0 {
		ql = 256
	}
	c := &MemConn{
		net:    n,
		local:  addr,
		slots:  make([]datagram, ql),
		notify: make(chan struct{}, 1),
		closed: make(chan struct{}),
		dlCh:   make(chan struct{}),
	}
	n.conns[addr] = c
	return c, nil
}

// Dropped returns the number of datagrams dropped on this network: to no
// listener, or to a full queue.
func (n *MemNet) Dropped() int64 { return n.dropped.Load() }

func (n *MemNet) deliver(b []byte, from, to netip.AddrPort) {
	n.mu.RLock()
	c := n.conns[to]
	n.mu.RUnlock()
	if c == nil || !c.enqueue(b, from) {
		n.dropped.Add(1)
	}
}

type datagram struct {
	buf  []byte
	n    int
	from netip.AddrPort
}

// MemConn is one end on a MemNet. Its methods are safe for concurrent use.
type MemConn struct {
	net   *MemNet
	local netip.AddrPort

	mu         sync.Mutex
	slots      []datagram // ring
	head, size int
	isClosed   bool
	deadline   time.Time
	dlCh       chan struct{} // closed and replaced when the deadline changes

	notify    chan struct{} // cap 1: a datagram was queued
	closed    chan struct{}
	closeOnce sync.Once

	sent, received atomic.Int64
}

// LocalAddrPort returns the MemConn's address.
func (c *MemConn) LocalAddrPort() netip.AddrPort { return c.local }

// String returns "mediatest.MemConn(addr)".
func (c *MemConn) String() string { return "mediatest.MemConn(" + c.local.String() + ")" }

// WriteToUDPAddrPort sends b to addr. It fails only on a closed Conn.
func (c *MemConn) WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error) {
	select {
	case <-c.closed:
		return 0, fmt.Errorf("mediatest: write to %v: %w", addr, net.ErrClosed)
	default:
	}
	c.sent.Add(1)
	c.net.deliver(b, c.local, addr)
	return len(b), nil
}

func (c *MemConn) enqueue(b []byte, from netip.AddrPort) bool {
	c.mu.Lock()
	if c.isClosed || c.size == len(c.slots) {
		c.mu.Unlock()
		return false
	}
	d := &c.slots[(c.head+c.size)%len(c.slots)]
	if cap(d.buf) < len(b) {
		d.buf = make([]byte, max(len(b), 256))
	}
	d.n = copy(d.buf[:cap(d.buf)], b)
	d.from = from
	c.size++
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
	return true
}

// ReadFromUDPAddrPort waits for a datagram and copies it into b (cutting
// it to len(b), as UDP does). It returns an error wrapping net.ErrClosed
// once the MemConn is closed and os.ErrDeadlineExceeded when the read
// deadline passes.
func (c *MemConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		c.mu.Lock()
		if c.isClosed {
			c.mu.Unlock()
			return 0, netip.AddrPort{}, fmt.Errorf("mediatest: read on %v: %w", c.local, net.ErrClosed)
		}
		if c.size > 0 {
			d := &c.slots[c.head]
			n := copy(b, d.buf[:d.n])
			from := d.from
			c.head = (c.head + 1) % len(c.slots)
			c.size--
			c.mu.Unlock()
			c.received.Add(1)
			return n, from, nil
		}
		dl, dlCh := c.deadline, c.dlCh
		c.mu.Unlock()
		var timeout <-chan time.Time
		var timer *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, netip.AddrPort{}, fmt.Errorf("mediatest: read on %v: %w", c.local, os.ErrDeadlineExceeded)
			}
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		select {
		case <-c.notify:
		case <-c.closed:
		case <-dlCh:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// SetReadDeadline sets the time after which a read fails with
// os.ErrDeadlineExceeded; the zero time means none. It affects a read
// already waiting.
func (c *MemConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.deadline = t
	close(c.dlCh)
	c.dlCh = make(chan struct{})
	return nil
}

// Close closes the MemConn: a waiting read returns, queued datagrams are
// discarded and its address is free again. It is idempotent.
func (c *MemConn) Close() error {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.isClosed = true
		c.size = 0
		c.mu.Unlock()
		close(c.closed)
		c.net.mu.Lock()
		if c.net.conns[c.local] == c {
			delete(c.net.conns, c.local)
		}
		c.net.mu.Unlock()
	})
	return nil
}

// Sent and Received count the datagrams written to and read from c.
func (c *MemConn) Sent() int64     { return c.sent.Load() }
func (c *MemConn) Received() int64 { return c.received.Load() }
