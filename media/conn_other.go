//go:build !linux

package media

import "net/netip"

type pollState struct{}

func (c *udpConn) initPoll() {}

func (c *udpConn) pollable() bool { return false }

func (c *udpConn) tryRead(b []byte) (int, netip.AddrPort, error) {
	return 0, netip.AddrPort{}, errWouldBlock
}
