package main

import (
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"denwa/sip"
)

// /metrics shows what the SIP port refused: an OPTIONS from outside the
// trunk's address is dropped and counted as a stranger's.
func TestMetricsSIPRefused(t *testing.T) {
	d, err := sip.NewDialer(sip.Config{Trunk: "sip:127.0.0.2:5060", Bind: "127.0.0.1:0", RTPPortFirst: 41000, RTPPortLast: 41010,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	m := newMetrics()
	m.sip(d)
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 3)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	req := fmt.Sprintf("OPTIONS sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-m1\r\nFrom: <sip:x@127.0.0.3>;tag=1\r\n"+
		"To: <sip:%s>\r\nCall-ID: m1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n", d.Addr(), c.LocalAddr(), d.Addr())
	if _, err := c.WriteToUDP([]byte(req), net.UDPAddrFromAddrPort(d.Addr())); err != nil {
		t.Fatal(err)
	}
	want := `denwa_sip_refused_total{reason="stranger"} 1`
	var body string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		rec := httptest.NewRecorder()
		m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		if body = rec.Body.String(); strings.Contains(body, want) {
			break
		}
	}
	for _, w := range []string{want, `denwa_sip_refused_total{reason="limited"} 0`, "denwa_sip_options_total 0"} {
		if !strings.Contains(body, w) {
			t.Errorf("metrics lack %s", w)
		}
	}
}
