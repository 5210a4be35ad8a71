package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"
)

// PacketConn is the network seam under a Session: one UDP socket, named by
// netip values. *net.UDPConn has all of it but LocalAddrPort; wrap one with
// NewUDPConn, open one with ListenUDP or take one from a PortPool. Tests use
// the in-memory network of package media/mediatest, which binds no ports.
//
// ReadFromUDPAddrPort and WriteToUDPAddrPort must be safe to call from two
// goroutines at once (one reading, one writing), as they are on a socket.
// Close must unblock a pending read, which then returns an error.
type PacketConn interface {
	ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error)
	WriteToUDPAddrPort(b []byte, addr netip.AddrPort) (int, error)
	LocalAddrPort() netip.AddrPort
	Close() error
	SetReadDeadline(t time.Time) error
}

// udpConn adapts *net.UDPConn to PacketConn; release, if set, runs once
// after the socket is closed (a PortPool's port goes back to the pool).
type udpConn struct {
	*net.UDPConn
	local   netip.AddrPort
	once    sync.Once
	release func()
	err     error
	poll    *pollState // nil when the socket cannot be read without blocking
}

// pollReader is a PacketConn that its Session's Pacer reads without
// blocking, in the walk that sends (see Session): a UDP socket on Linux.
type pollReader interface {
	pollable() bool
	// tryRead reads one waiting datagram, or returns errWouldBlock. One
	// goroutine at a time.
	tryRead(b []byte) (int, netip.AddrPort, error)
}

// errWouldBlock: no datagram is waiting.
var errWouldBlock = errors.New("media: no datagram waiting")

// NewUDPConn wraps c as a PacketConn. Closing the PacketConn closes c.
func NewUDPConn(c *net.UDPConn) PacketConn {
	return newUDPConn(c, nil)
}

func newUDPConn(c *net.UDPConn, release func()) *udpConn {
	u := &udpConn{UDPConn: c, local: localAddrPort(c), release: release}
	u.initPoll()
	return u
}

// ListenUDP opens a UDP socket on addr (port 0 picks a free one).
func ListenUDP(addr netip.AddrPort) (PacketConn, error) {
	c, err := net.ListenUDP(udpNetwork(addr.Addr()), net.UDPAddrFromAddrPort(addr))
	if err != nil {
		return nil, fmt.Errorf("media: listen on %s: %w", addr, err)
	}
	return NewUDPConn(c), nil
}

func localAddrPort(c *net.UDPConn) netip.AddrPort {
	if a, ok := c.LocalAddr().(*net.UDPAddr); ok {
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// udpNetwork keeps an IPv4 socket IPv4-only, so that the addresses it
// reports are plain IPv4 rather than IPv4-mapped IPv6.
func udpNetwork(a netip.Addr) string {
	switch {
	case a.Is4():
		return "udp4"
	case a.Is6() && !a.Is4In6():
		return "udp6"
	}
	return "udp"
}

func (c *udpConn) LocalAddrPort() netip.AddrPort { return c.local }

// ReadFromUDPAddrPort returns the sender with an IPv4-mapped address
// unmapped, so that it compares equal to the address from the SDP.
func (c *udpConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.UDPConn.ReadFromUDPAddrPort(b)
	if from.Addr().Is4In6() {
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
	}
	return n, from, err
}

// Close closes the socket and then releases its port; it is idempotent.
func (c *udpConn) Close() error {
	c.once.Do(func() {
		c.err = c.UDPConn.Close()
		if c.release != nil {
			c.release()
		}
	})
	return c.err
}

func (c *udpConn) String() string { return "udp " + c.local.String() }
