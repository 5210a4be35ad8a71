package peers

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// waitPorts polls until every address is bound by someone (a UDP port
// that cannot be bound, a TCP port that accepts), failing the test when
// the process exits or the deadline passes.
func (p *Proc) waitPorts(t testing.TB, udp, tcp []netip.AddrPort) {
	t.Helper()
	deadline := time.Now().Add(StartTimeout)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if allBound(udp, tcp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers: %s did not bind udp %v tcp %v in %v", p.Name, udp, tcp, StartTimeout)
		}
		select {
		case <-p.done:
			t.Fatalf("peers: %s exited at start: %v", p.Name, p.err)
		case <-tick.C:
		}
	}
}

func allBound(udp, tcp []netip.AddrPort) bool {
	for _, a := range udp {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
		if err == nil {
			c.Close()
			return false
		}
	}
	for _, a := range tcp {
		c, err := net.DialTimeout("tcp", a.String(), time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

// FreePort returns a port on addr free for both UDP and TCP (a SIP
// listener takes both), with the next span ports free over UDP as well
// (RTP ranges). Another process may take it before the caller binds it;
// tests on loopback accept that small chance.
func FreePort(t testing.TB, addr netip.Addr, span int) int {
	t.Helper()
	for range 100 {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, 0)))
		if err != nil {
			t.Fatalf("peers: %v", err)
		}
		port := c.LocalAddr().(*net.UDPAddr).AddrPort().Port()
		c.Close()
		if port%2 != 0 || int(port)+span > 65535 {
			continue
		}
		if portsFree(addr, int(port), span) {
			return int(port)
		}
	}
	t.Fatalf("peers: no free port on %v", addr)
	return 0
}

func portsFree(addr netip.Addr, port, span int) bool {
	l, err := net.ListenTCP("tcp", net.TCPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(port))))
	if err != nil {
		return false
	}
	defer l.Close()
	var held []io.Closer
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for p := port; p <= port+span; p++ {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addr, uint16(p))))
		if err != nil {
			return false
		}
		held = append(held, c)
	}
	return true
}

// Loopback6 reports whether ::1 can be bound here (a container may have
// IPv6 turned off).
func Loopback6() error {
	c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	if err != nil {
		return fmt.Errorf("peers: ::1 is not available: %w", err)
	}
	c.Close()
	return nil
}
