package sip

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip/siptest/peers"
)

// testPKI is a throwaway CA with a server certificate for 127.0.0.1 (and
// "localhost") and a client certificate, all ECDSA P-256, made once per
// test binary.
type testPKI struct {
	roots  *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

var testCerts = sync.OnceValues(func() (*testPKI, error) {
	ca, err := peers.MakeCA("denwa test CA")
	if err != nil {
		return nil, err
	}
	p := &testPKI{roots: ca.Pool}
	if p.server, err = ca.IssueServer("127.0.0.1", "localhost"); err != nil {
		return nil, err
	}
	if p.client, err = ca.IssueClient("denwa dialer"); err != nil {
		return nil, err
	}
	return p, nil
})

func pki(t *testing.T) *testPKI {
	t.Helper()
	p, err := testCerts()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newTLSPhone starts a Phone over TLS with the test server certificate.
// handshakes counts the TLS handshakes it completed.
func newTLSPhone(t *testing.T, cfg PhoneConfig) (p *Phone, calls chan PhoneCall, handshakes *atomic.Int32) {
	t.Helper()
	handshakes = new(atomic.Int32)
	if cfg.TLS == nil {
		cfg.TLS = &tls.Config{}
	}
	cfg.TLS.Certificates = []tls.Certificate{pki(t).server}
	cfg.TLS.VerifyConnection = func(tls.ConnectionState) error { handshakes.Add(1); return nil }
	cfg.Network = "tls"
	p, calls = newTestPhone(t, cfg)
	return p, calls, handshakes
}

// trusting returns a client config that trusts the test CA.
func trusting(t *testing.T) *tls.Config { return &tls.Config{RootCAs: pki(t).roots} }

// TestTLSCallDialerHangsUp: INVITE over TLS to a Phone, answered, "#" as
// RFC 4733 arrives, the dialer hangs up (BYE over the same connection),
// and the whole call used one TLS connection.
func TestTLSCallDialerHangsUp(t *testing.T) {
	phone, calls, hs := newTLSPhone(t, PhoneConfig{Keys: "#", KeyDelay: 150 * time.Millisecond, RingFor: 100 * time.Millisecond})
	if !strings.HasSuffix(phone.URI(), ";transport=tls") {
		t.Fatalf("phone URI %s", phone.URI())
	}
	d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var progress []ProgressKind
	keys := newKeys()
	call, err := d.Dial(ctx, "+81312345678", func(p Progress) { progress = append(progress, p.Kind) }, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := collectKeys(call, keys, 1, 3*time.Second); got != "#" {
		t.Errorf("keys %q, want #", got)
	}
	ct := call.invite.Contact()
	if ct == nil || ct.Address.Port == 0 || ct.Address.Port == int(phone.Addr().Port()) {
		t.Errorf("INVITE Contact %v: want the TLS connection's local address", ct)
	}
	if tp, _ := ct.Address.UriParams.Get("transport"); tp != "tls" {
		t.Errorf("INVITE Contact %v: want transport=tls", ct)
	}
	if via := call.invite.Via(); via == nil || via.Transport != "TLS" || via.Port != ct.Address.Port {
		t.Errorf("INVITE Via %v, Contact %v: want TLS and the same port", via, ct)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	<-call.Done()
	if !errors.Is(call.Err(), ErrLocalHangup) {
		t.Errorf("Err %v, want ErrLocalHangup", call.Err())
	}
	pc := waitPhone(t, calls)
	if pc.Outcome != PhoneCallerHungUp || pc.KeysSent != "#" || pc.Status != 200 {
		t.Errorf("phone saw %+v", pc)
	}
	if !equalKinds(progress, []ProgressKind{Ringing, Answered}) && !equalKinds(progress, []ProgressKind{Trying, Ringing, Answered}) {
		t.Errorf("progress %v", progress)
	}
	if n := hs.Load(); n != 1 {
		t.Errorf("%d TLS handshakes at the phone, want 1 (INVITE, ACK and BYE on one connection)", n)
	}
	if n := d.pool.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
}

// TestTLSCallPhoneHangsUp: the Phone sends BYE after 700 ms; it reaches
// the dialer (which does not listen) over the connection the INVITE
// opened.
func TestTLSCallPhoneHangsUp(t *testing.T) {
	phone, calls, hs := newTLSPhone(t, PhoneConfig{Keys: "#", KeyDelay: 150 * time.Millisecond, HangupAfter: 700 * time.Millisecond})
	d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	keys := newKeys()
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := collectKeys(call, keys, 1, 3*time.Second); got != "#" {
		t.Errorf("keys %q, want #", got)
	}
	select {
	case <-call.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("the phone's BYE did not end the call")
	}
	if !errors.Is(call.Err(), ErrRemoteHangup) {
		t.Errorf("Err %v, want ErrRemoteHangup", call.Err())
	}
	pc := waitPhone(t, calls)
	if pc.Outcome != PhoneHungUp || pc.KeysSent != "#" || pc.Err != nil {
		t.Errorf("phone saw %+v", pc)
	}
	if n := hs.Load(); n != 1 {
		t.Errorf("%d TLS handshakes at the phone, want 1", n)
	}
	if n := d.pool.InUse(); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
	t.Logf("call lasted %v", time.Since(start).Round(time.Millisecond))
}

// TestTLSSipsTrunk: a sips: Trunk means TLS without a transport
// parameter, and the Contact is a sips URI.
func TestTLSSipsTrunk(t *testing.T) {
	phone, calls, _ := newTLSPhone(t, PhoneConfig{})
	d := newTestDialer(t, Config{Trunk: "sips:" + phone.Addr().String(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ct := call.invite.Contact(); ct.Address.Scheme != "sips" {
		t.Errorf("Contact %v, want a sips URI", ct)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneCallerHungUp {
		t.Errorf("phone saw %+v", pc)
	}
}

// TestTLSMutual: a Phone that requires a client certificate signed by the
// test CA answers a dialer that offers one.
func TestTLSMutual(t *testing.T) {
	phone, calls, _ := newTLSPhone(t, PhoneConfig{TLS: &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pki(t).roots}})
	conf := trusting(t)
	conf.Certificates = []tls.Certificate{pki(t).client}
	d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: conf, InviteTimeout: 2 * time.Second})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneCallerHungUp {
		t.Errorf("phone saw %+v", pc)
	}
}

// TestTLSFailures: TLS that cannot be set up fails Dial at once with a
// CallError that says why, never a hang.
func TestTLSFailures(t *testing.T) {
	phone, calls, _ := newTLSPhone(t, PhoneConfig{})
	// A listener that accepts and never says a word.
	mute, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var held []net.Conn
	var heldMu sync.Mutex
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			heldMu.Lock()
			held = append(held, c)
			heldMu.Unlock()
		}
	}()
	t.Cleanup(func() {
		mute.Close()
		<-acceptDone
		heldMu.Lock()
		for _, c := range held {
			c.Close()
		}
		heldMu.Unlock()
	})
	// A port with nothing on it.
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	wrongName := trusting(t)
	wrongName.ServerName = "pbx.example.com"
	cases := []struct {
		name   string
		cfg    Config
		kind   FailureKind
		tlsErr bool
		as     func(error) bool
	}{
		{"untrusted-ca", Config{Trunk: phone.URI()}, Unreachable, true,
			func(err error) bool { var e *tls.CertificateVerificationError; return errors.As(err, &e) }},
		{"wrong-server-name", Config{Trunk: phone.URI(), TLS: wrongName}, Unreachable, true,
			func(err error) bool { var e x509.HostnameError; return errors.As(err, &e) }},
		{"refused", Config{Trunk: "sip:" + closed + ";transport=tls", TLS: trusting(t)}, Unreachable, false, nil},
		{"silent-server", Config{Trunk: "sip:" + mute.Addr().String() + ";transport=tls", TLS: trusting(t)}, Unreachable, false,
			func(err error) bool { return errors.Is(err, ErrNoResponse) }},
		{"tls-to-plain-tcp-phone", Config{Trunk: "sip:" + mustPhone(t, "tcp").Addr().String() + ";transport=tls", TLS: trusting(t)}, Unreachable, true, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.InviteTimeout = 800 * time.Millisecond
			d := newTestDialer(t, tc.cfg)
			start := time.Now()
			_, err := d.Dial(context.Background(), "+81312345678", nil, nil)
			took := time.Since(start)
			var ce *CallError
			if !errors.As(err, &ce) || ce.Kind != tc.kind {
				t.Fatalf("err %v, want a CallError of kind %v", err, tc.kind)
			}
			if errors.Is(err, ErrTLS) != tc.tlsErr {
				t.Errorf("errors.Is(err, ErrTLS) = %v, want %v: %v", !tc.tlsErr, tc.tlsErr, err)
			}
			if tc.as != nil && !tc.as(err) {
				t.Errorf("err %v does not carry the expected cause", err)
			}
			if took > tc.cfg.InviteTimeout+time.Second {
				t.Errorf("Dial took %v (InviteTimeout %v)", took, tc.cfg.InviteTimeout)
			}
			if n := d.pool.InUse(); n != 0 {
				t.Errorf("%d RTP ports in use", n)
			}
			t.Logf("%v after %v", err, took.Round(time.Millisecond))
		})
	}
	select {
	case pc := <-calls:
		t.Errorf("the phone saw a call: %+v", pc)
	default:
	}
}

func mustPhone(t *testing.T, network string) *Phone {
	t.Helper()
	p, _ := newTestPhone(t, PhoneConfig{Network: network})
	return p
}

// TestTLSNoLeak: answered calls both ways and failed handshakes, then
// Close: no goroutine of the dialer, the phone or their TLS connections
// is left.
func TestTLSNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		byPhone, byCalls, _ := newTLSPhone(t, PhoneConfig{HangupAfter: 300 * time.Millisecond})
		phone, calls, _ := newTLSPhone(t, PhoneConfig{})
		d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
		d2 := newTestDialer(t, Config{Trunk: byPhone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
		bad := newTestDialer(t, Config{Trunk: phone.URI(), InviteTimeout: 2 * time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		silence := make([]byte, media.FrameSamples)
		for range 2 {
			call, err := d.Dial(ctx, "+81312345678", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_ = call.Play(ctx, [][]byte{silence, silence})
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			waitPhone(t, calls)
			call, err = d2.Dial(ctx, "+81312345678", nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			<-call.Done()
			waitPhone(t, byCalls)
			if _, err := bad.Dial(ctx, "+81312345678", nil, nil); !errors.Is(err, ErrTLS) {
				t.Errorf("untrusted: %v", err)
			}
		}
		for _, d := range []*Dialer{d, d2, bad} {
			if err := d.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if n := d.pool.InUse(); n != 0 {
				t.Errorf("%d RTP ports in use after Close", n)
			}
		}
		phone.Close()
		byPhone.Close()
	}()
	waitGoroutines(t, base)
}

func TestTLSConfig(t *testing.T) {
	for _, c := range []Config{
		{Trunk: "sips:pbx.example.com", Transport: "udp"},
		{Trunk: "sips:pbx.example.com;transport=tcp"},
	} {
		if _, err := c.setup(); !errors.Is(err, ErrConfig) {
			t.Errorf("%v: err %v, want ErrConfig", c, err)
		}
	}
	s, err := Config{Trunk: "sips:pbx.example.com"}.setup()
	if err != nil || s.transport != "tls" {
		t.Errorf("sips trunk: transport %v, err %v; want tls", s, err)
	}
	conf := &tls.Config{ServerName: "pbx.example.com"}
	s, err = Config{Trunk: "sip:pbx.example.com", Transport: "TLS", TLS: conf}.setup()
	if err != nil || s.transport != "tls" || s.tls == conf || s.tls.ServerName != "pbx.example.com" {
		t.Errorf("TLS config not cloned: %v %v", s, err)
	}
	str := Config{Trunk: "sip:pbx", TLS: &tls.Config{Certificates: []tls.Certificate{pki(t).client}}}.String()
	if !strings.Contains(str, "TLS:client-certificate") {
		t.Errorf("String %s", str)
	}
	for _, pc := range []PhoneConfig{{Network: "tls"}, {Network: "tls", TLS: &tls.Config{}}, {Network: "sctp"}} {
		if _, err := NewPhone(pc); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: err %v, want ErrConfig", pc, err)
		}
	}
}

// TestPhoneImmediateHangup: a caller that sends BYE right after its ACK
// (over every network, TLS included) is reported as caller-hung-up. The
// BYE used to overtake sipgo's wait for the ACK, and the Phone reported
// "failed: No ACK received".
func TestPhoneImmediateHangup(t *testing.T) {
	for _, network := range []string{"udp", "tcp", "tls"} {
		t.Run(network, func(t *testing.T) {
			var phone *Phone
			var calls chan PhoneCall
			if network == "tls" {
				phone, calls, _ = newTLSPhone(t, PhoneConfig{})
			} else {
				phone, calls = newTestPhone(t, PhoneConfig{Network: network})
			}
			d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := range 10 {
				call, err := d.Dial(ctx, "+81312345678", nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := call.Hangup(ctx); err != nil {
					t.Errorf("%d: Hangup: %v", i, err)
				}
				if pc := waitPhone(t, calls); pc.Outcome != PhoneCallerHungUp || pc.Err != nil {
					t.Errorf("%d: phone saw %v (%v)", i, pc.Outcome, pc.Err)
				}
			}
		})
	}
}
