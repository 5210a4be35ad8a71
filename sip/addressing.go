package sip

import (
	"net"
	"net/netip"
	"strconv"

	sipgo_sip "github.com/emiago/sipgo/sip"
)

// Addressing: which local address a Dialer puts in Via, Contact and SDP.
//
// With an unspecified Bind (the default), the address is the one the
// operating system would send from to reach the first hop: the outbound
// proxy when there is one (every request goes there, and the trunk's name
// may be one only the proxy can resolve), else the trunk. An IPv6 first hop
// ("sip:[2001:db8::1]" or a name that resolves to one) gets an IPv6
// listener ("[::]:0") unless Bind says otherwise, and so Via, Contact and
// "c=IN IP6" in the SDP.

// firstHop is where requests are sent first: the outbound proxy, else the
// trunk.
func (s *dialerSetup) firstHop() sipgo_sip.Uri {
	if s.proxy != nil {
		return *s.proxy
	}
	return s.trunk
}

// localAddr chooses the address to advertise when Bind's is unspecified,
// and turns an IPv4 default bind into an IPv6 one when the first hop is
// reached over IPv6. It leaves s alone when the route cannot be found (the
// first hop does not resolve): the call fails when it is placed.
func (s *dialerSetup) localAddr() (netip.Addr, bool) {
	if !s.bind.Addr().IsUnspecified() {
		return netip.Addr{}, false
	}
	a, err := routeTo(s.firstHop(), s.transport)
	if err != nil {
		return netip.Addr{}, false
	}
	if a.Is6() && s.cfg.Bind == "" {
		s.bind = netip.AddrPortFrom(netip.IPv6Unspecified(), s.bind.Port())
	}
	return a, true
}

// routeTo returns the local address the OS would use to reach u (no
// packet is sent: a UDP socket is only connected).
func routeTo(u sipgo_sip.Uri, transport string) (netip.Addr, error) {
	port := u.Port
	if port == 0 {
		port = 5060
		if transport == "tls" {
			port = 5061
		}
	}
	c, err := net.Dial("udp", net.JoinHostPort(bareHost(u.Host), strconv.Itoa(port)))
	if err != nil {
		return netip.Addr{}, err
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}

// bareHost is a URI's host without the brackets of an IPv6 reference
// ("[::1]" → "::1"), as net.JoinHostPort and netip want it.
func bareHost(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
