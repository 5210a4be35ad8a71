package main

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip"
	"denwa/sip/siptest"
)

// scrape returns serve's /metrics text.
func scrape(ts *testServe) string {
	rec := httptest.NewRecorder()
	ts.metrics.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// TestServeRegisters: with sip.register, serve registers with the
// registrar (here a scripted one that grants without a challenge, or
// refuses), /readyz and /metrics tell the state, and the shutdown removes
// the binding.
func TestServeRegisters(t *testing.T) {
	var refuse atomic.Bool
	registrar := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method != "REGISTER" {
			return siptest.Polite(req)
		}
		if refuse.Load() {
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 403, Reason: "Forbidden", ToTag: "r"})}
		}
		return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, ToTag: "r", Headers: []string{"Expires: " + req.Header("Expires")}})}
	})
	phone := siptest.NewPhone(t, sip.PhoneConfig{})
	register := func(c *config.Serve) {
		c.SIP.Register = true
		c.SIP.Registrar = registrar.URI()
		c.SIP.From = "sip:1001@pbx.test"
	}
	wait := func(ts *testServe, cond func(sip.RegistrationState) bool) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if st, err := ts.dialer.Registration().Wait(ctx, cond); err != nil {
			t.Fatalf("%v: %+v\n%s", err, st, ts.log)
		}
	}
	readyz := func(ts *testServe) (int, string) {
		rec := httptest.NewRecorder()
		ts.http.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code, rec.Body.String()
	}

	refuse.Store(true)
	ts := startServe(t, phone, register)
	wait(ts, func(s sip.RegistrationState) bool { return s.Failures > 0 })
	if code, body := readyz(ts); code != 503 || !strings.Contains(body, "registration: sip: register: 403 Forbidden") {
		t.Fatalf("/readyz while refused: %d %s", code, body)
	}
	if m := scrape(ts); !strings.Contains(m, "denwa_sip_registered 0") || !strings.Contains(m, "denwa_sip_register_failures_total 1") {
		t.Fatalf("metrics while refused:\n%s", m)
	}
	ts.stop(t, 10*time.Second)
	if n := registrar.Count("REGISTER"); n != 1 {
		t.Fatalf("%d REGISTERs; want 1 (refused, and nothing to remove)", n)
	}

	refuse.Store(false)
	ts = startServe(t, phone, register)
	wait(ts, func(s sip.RegistrationState) bool { return s.Registered })
	if code, body := readyz(ts); code != 200 {
		t.Fatalf("/readyz while registered: %d %s", code, body)
	}
	if m := scrape(ts); !strings.Contains(m, "denwa_sip_registered 1") || !strings.Contains(m, "denwa_sip_register_failures_total 0") {
		t.Fatalf("metrics while registered:\n%s", m)
	}
	ts.stop(t, 10*time.Second)
	reqs := registrar.Requests()
	if last := reqs[len(reqs)-1]; last.Method != "REGISTER" || last.Header("Expires") != "0" || len(reqs) != 3 {
		t.Fatalf("%d requests, the last %s with Expires %q; want the un-REGISTER last", len(reqs), last, last.Header("Expires"))
	}
}
