package main

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip"
	"denwa/sip/siptest"
)

// serve starts while its trunk's name does not resolve: /readyz answers
// 503 naming the trunk and what DNS said, the metrics say unresolved, and
// a call fails at once as unreachable with that cause (not the SDP's
// 0.0.0.0); once the name resolves, /readyz is 200 without a restart.
func TestServeTrunkUnresolvable(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", RTPPortFirst: 33020, RTPPortLast: 33039})
	const name = "pbx.example.invalid"
	c := config.DefaultServe()
	c.HTTP.Addr, c.HTTP.OpsAddr = "127.0.0.1:0", "127.0.0.1:0"
	c.Store.Path = t.TempDir() + "/denwa.db"
	c.SIP.Trunk = fmt.Sprintf("sip:%s:%d", name, phone.Addr().Port())
	c.SIP.Bind = "0.0.0.0:0" // the local address comes from the trunk's route, once it resolves
	c.SIP.RTPPorts = portRange()
	c.SIP.TrunkRefresh = config.Duration(200 * time.Millisecond)
	p, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	var dns siptest.Resolver
	p.SIP.Resolver = &dns
	ts := startServeParams(t, p)

	readyz := func() (int, string) {
		rec := httptest.NewRecorder()
		ts.http.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}
	metric := func(line string) bool {
		rec := httptest.NewRecorder()
		ts.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		return strings.Contains(rec.Body.String(), line+"\n")
	}
	if code, body := readyz(); code != 503 || !strings.Contains(body, "trunk: sip: trunk "+name+": DNS lookup failed: no such host") {
		t.Fatalf("/readyz %d %s, want 503 naming the trunk", code, body)
	}
	if !metric("denwa_trunk_resolved 0") || metric("denwa_trunk_resolve_errors_total 0") {
		t.Errorf("metrics do not show the trunk unresolved")
	}

	api := newAPIClient(ts, createTestKey(t, ts.store))
	e := api.enrollAndCall(t)
	got := api.follow(t, e.ID, 10*time.Second)
	if got.Outcome != "unreachable" || !strings.Contains(got.Cause, "trunk "+name+": DNS lookup failed") || strings.Contains(got.Cause, "0.0.0.0") {
		t.Errorf("enrollment %+v, want unreachable with the DNS cause", got)
	}

	dns.Set(name, netip.MustParseAddr("127.0.0.1"))
	deadline := time.Now().Add(10 * time.Second)
	for code, body := readyz(); code != 200; code, body = readyz() {
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d %s 10 s after the name resolved", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !metric("denwa_trunk_resolved 1") || !metric("denwa_trunk_up 1") {
		t.Errorf("metrics do not show the trunk resolved")
	}
}
