package sip

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"testing"
)

// dnsTable is a Resolver for the lookup rules: A/AAAA by name, SRV by
// "_service._proto.name", and err, when set, for every A/AAAA lookup.
type dnsTable struct {
	ips map[string][]netip.Addr
	srv map[string][]*net.SRV
	err error
}

func (d *dnsTable) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if d.err != nil {
		return nil, d.err
	}
	if a, ok := d.ips[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func (d *dnsTable) LookupSRV(_ context.Context, service, proto, name string) (string, []*net.SRV, error) {
	if s, ok := d.srv["_"+service+"._"+proto+"."+name]; ok {
		return "", s, nil
	}
	return "", nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func testTrunk(t *testing.T, uri, bind string, dns Resolver) *trunk {
	t.Helper()
	s, err := Config{Trunk: uri, Bind: bind, Resolver: dns, Logger: testLogger(t)}.setup()
	if err != nil {
		t.Fatal(err)
	}
	return newTrunk(s)
}

// TestTrunkLookup: what the trunk's name resolves to, and what a failed
// refresh keeps.
func TestTrunkLookup(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	dns := &dnsTable{
		ips: map[string][]netip.Addr{"pbx.example.test": {v6, v4}, "srv-target.example.test": {v4}},
		srv: map[string][]*net.SRV{
			"_sip._udp.srv.example.test":  {{Target: "gone.example.test", Port: 5080}, {Target: "srv-target.example.test", Port: 5070}},
			"_sips._tcp.srv.example.test": {{Target: "srv-target.example.test", Port: 5071}},
		},
	}
	cases := []struct {
		uri, bind string
		want      []netip.AddrPort
	}{
		{"sip:pbx.example.test", "127.0.0.1:0", []netip.AddrPort{netip.AddrPortFrom(v4, 5060), netip.AddrPortFrom(v6, 5060)}},
		{"sip:pbx.example.test:5090", "[::1]:0", []netip.AddrPort{netip.AddrPortFrom(v6, 5090), netip.AddrPortFrom(v4, 5090)}},
		{"sip:srv.example.test", "127.0.0.1:0", []netip.AddrPort{netip.AddrPortFrom(v4, 5070)}},
		{"sips:srv.example.test", "127.0.0.1:0", []netip.AddrPort{netip.AddrPortFrom(v4, 5071)}},
		{"sip:192.0.2.99:5062", "127.0.0.1:0", []netip.AddrPort{netip.MustParseAddrPort("192.0.2.99:5062")}},
	}
	for _, tc := range cases {
		tr := testTrunk(t, tc.uri, tc.bind, dns)
		if err := tr.resolve(t.Context()); err != nil {
			t.Errorf("%s: %v", tc.uri, err)
			continue
		}
		if h := tr.health(false); !slices.Equal(h.Addrs, tc.want) || h.Err() != nil {
			t.Errorf("%s from %s: %v (%v), want %v", tc.uri, tc.bind, h.Addrs, h.Err(), tc.want)
		}
	}
	// A port in the URI means no SRV (RFC 3263 §4.2).
	if err := testTrunk(t, "sip:srv.example.test:5060", "127.0.0.1:0", dns).resolve(t.Context()); !errors.Is(err, ErrTrunkDNS) {
		t.Errorf("SRV with a port: %v", err)
	}

	// A DNS timeout keeps the last addresses; "no such host" drops them.
	tr := testTrunk(t, "sip:pbx.example.test", "127.0.0.1:0", dns)
	if err := tr.resolve(t.Context()); err != nil {
		t.Fatal(err)
	}
	dns.err = &net.DNSError{Err: "i/o timeout", Name: "pbx.example.test", IsTimeout: true}
	if err := tr.resolve(t.Context()); err == nil || err.Error() != "sip: trunk pbx.example.test: DNS lookup failed: i/o timeout" {
		t.Errorf("timeout: %v", err)
	}
	if h := tr.health(false); len(h.Addrs) != 2 || h.Err() != nil || h.ResolveErr == nil || h.ResolveFailures != 1 {
		t.Errorf("after a timeout: %+v", h)
	}
	dns.err = &net.DNSError{Err: "no such host", Name: "pbx.example.test", IsNotFound: true}
	tr.resolve(t.Context())
	if h := tr.health(false); len(h.Addrs) != 0 || !errors.Is(h.Err(), ErrTrunkDNS) || len(tr.Addrs()) != 0 {
		t.Errorf("after no such host: %+v", h)
	}
}

// The Dialer's guard allows what the trunk's name resolves to, follows it
// when it moves, and allows nothing of it while it does not resolve;
// literals in the trunk URI stay allowed throughout.
func TestGuardFollowsTrunk(t *testing.T) {
	a1, a2 := netip.MustParseAddr("127.0.0.21"), netip.MustParseAddr("127.0.0.22")
	proxy := netip.MustParseAddr("127.0.0.23")
	dns := &dnsTable{ips: map[string][]netip.Addr{"pbx.test": {a1}}}
	d, err := NewDialer(Config{Trunk: "sip:pbx.test:5060", OutboundProxy: "sip:127.0.0.23:5060", Bind: "127.0.0.1:0",
		Resolver: dns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	check := func(when string, want map[netip.Addr]bool) {
		t.Helper()
		for a, ok := range want {
			if got := d.guard.allowed(a); got != ok {
				t.Errorf("%s: %s allowed %v, want %v", when, a, got, ok)
			}
		}
	}
	// The outbound proxy is the next hop the trunk resolves: a literal.
	check("at start", map[netip.Addr]bool{proxy: true, a1: false, a2: false})

	// Without a proxy the name is the next hop, resolved and followed.
	d2, err := NewDialer(Config{Trunk: "sip:pbx.test:5060", Bind: "127.0.0.1:0", Resolver: dns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	d = d2
	check("resolved", map[netip.Addr]bool{a1: true, a2: false})
	dns.ips["pbx.test"] = []netip.Addr{a2}
	if err := d2.trunk.resolve(context.Background()); err != nil {
		t.Fatal(err)
	}
	check("moved", map[netip.Addr]bool{a1: false, a2: true})
	delete(dns.ips, "pbx.test")
	if err := d2.trunk.resolve(context.Background()); err == nil {
		t.Fatal("a name gone from DNS resolved")
	}
	check("gone", map[netip.Addr]bool{a1: false, a2: false})
}
