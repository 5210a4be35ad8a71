package sip

import (
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"
)

// TestTLSClientCertMissing: a TLS 1.3 phone that requires a client
// certificate refuses the dialer that has none only after the handshake,
// by closing the connection; the call fails at once (not at the 32 s
// InviteTimeout), as a TLSError that says the certificate was asked for.
// A phone that only asks, and answers without one, is not an error.
func TestTLSClientCertMissing(t *testing.T) {
	phone, calls, _ := newTLSPhone(t, PhoneConfig{TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki(t).roots, MinVersion: tls.VersionTLS13}})
	d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t)})
	start := time.Now()
	_, err := d.Dial(t.Context(), "+81312345678", nil, nil)
	var te *TLSError
	var ce *CallError
	if !errors.As(err, &te) || !errors.As(err, &ce) || ce.Kind != Unreachable || !errors.Is(err, ErrTLS) ||
		!strings.Contains(err.Error(), "asked for a client certificate") {
		t.Fatalf("err %v, want an unreachable TLSError about the client certificate", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("took %v", took)
	}

	asks, asksCalls, _ := newTLSPhone(t, PhoneConfig{TLS: &tls.Config{ClientAuth: tls.RequestClientCert}, HangupAfter: 200 * time.Millisecond})
	d2 := newTestDialer(t, Config{Trunk: asks.URI(), TLS: trusting(t)})
	call, err := d2.Dial(t.Context(), "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := waitEnded(t, call, 5*time.Second); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("call ended %v", err)
	}
	waitPhone(t, asksCalls)
	select {
	case pc := <-calls:
		t.Errorf("the requiring phone saw a call: %+v", pc)
	default:
	}
}
