//go:build linux

package media

import (
	"net/netip"
	"syscall"
	"unsafe"
)

// pollState is what a udpConn needs to read without blocking: the raw
// socket and the results of the last recvfrom, kept in the conn so that
// a read allocates nothing (a closure passed to RawConn.Read would).
type pollState struct {
	raw   syscall.RawConn
	readF func(fd uintptr) bool // c.recvOnce, bound once
	buf   []byte
	n     int
	from  netip.AddrPort
	errno syscall.Errno
	rsa   syscall.RawSockaddrAny
}

func (c *udpConn) pollable() bool { return c.poll != nil }

func (c *udpConn) initPoll() {
	raw, err := c.UDPConn.SyscallConn()
	if err != nil {
		return
	}
	c.poll = &pollState{raw: raw}
	c.poll.readF = c.recvOnce
}

// tryRead reads one datagram if one is waiting, without blocking: it
// returns errWouldBlock when none is. One goroutine at a time.
func (c *udpConn) tryRead(b []byte) (int, netip.AddrPort, error) {
	p := c.poll
	p.buf, p.n, p.from, p.errno = b, 0, netip.AddrPort{}, 0
	if err := p.raw.Read(p.readF); err != nil {
		return 0, netip.AddrPort{}, err // closed
	}
	p.buf = nil
	switch p.errno {
	case 0:
		return p.n, p.from, nil
	case syscall.EAGAIN:
		return 0, netip.AddrPort{}, errWouldBlock
	}
	return 0, netip.AddrPort{}, p.errno
}

// recvOnce is one recvfrom(MSG_DONTWAIT); it returns true so that
// RawConn.Read never parks on the poller.
func (c *udpConn) recvOnce(fd uintptr) bool {
	p := c.poll
	if len(p.buf) == 0 {
		p.errno = syscall.EINVAL
		return true
	}
	l := uint32(syscall.SizeofSockaddrAny)
	for {
		n, _, e := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&p.buf[0])), uintptr(len(p.buf)),
			syscall.MSG_DONTWAIT, uintptr(unsafe.Pointer(&p.rsa)), uintptr(unsafe.Pointer(&l)))
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			p.errno = e
			return true
		}
		p.n = int(n)
		break
	}
	switch p.rsa.Addr.Family {
	case syscall.AF_INET:
		sa := (*syscall.RawSockaddrInet4)(unsafe.Pointer(&p.rsa))
		p.from = netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), ntohs(sa.Port))
	case syscall.AF_INET6:
		sa := (*syscall.RawSockaddrInet6)(unsafe.Pointer(&p.rsa))
		p.from = netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), ntohs(sa.Port))
	}
	return true
}

// ntohs turns a port as the kernel stores it (network order) into a number.
func ntohs(port uint16) uint16 {
	b := (*[2]byte)(unsafe.Pointer(&port))
	return uint16(b[0])<<8 | uint16(b[1])
}
