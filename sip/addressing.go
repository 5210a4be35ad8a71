package sip

import "net/netip"

// Addressing: which local address a Dialer puts in Via, Contact and SDP.
//
// With an unspecified Bind (the default), the address is the one the
// operating system would send from to reach the first hop (trunk.go): the
// outbound proxy when there is one (every request goes there, and the
// trunk's name may be one only the proxy can resolve), else the trunk. An
// IPv6 first hop ("sip:[2001:db8::1]" or a name that resolves only to
// IPv6) gets an IPv6 listener ("[::]:0") unless Bind says otherwise, and
// so Via, Contact and "c=IN IP6" in the SDP.

// bindFor turns the default bind ("0.0.0.0:0", Bind not given) into an
// IPv6 one ("[::]:0") when local, the address that routes to the first
// hop, is IPv6: an IPv4 socket cannot reach it. It reports whether it did.
func (s *dialerSetup) bindFor(local netip.Addr) bool {
	if s.cfg.Bind != "" || !local.Is6() {
		return false
	}
	s.bind = netip.AddrPortFrom(netip.IPv6Unspecified(), s.bind.Port())
	return true
}

// bareHost is a URI's host without the brackets of an IPv6 reference
// ("[::1]" → "::1"), as net.JoinHostPort and netip want it.
func bareHost(h string) string {
	if len(h) > 1 && h[0] == '[' && h[len(h)-1] == ']' {
		return h[1 : len(h)-1]
	}
	return h
}
