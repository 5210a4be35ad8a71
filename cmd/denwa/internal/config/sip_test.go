package config

import (
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest/peers"
)

func TestDialPlan(t *testing.T) {
	plan, err := parseDialPlan([]string{"+81>0", "+>010"})
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{"+81312345678": "0312345678", "+14155550100": "01014155550100"} {
		got, err := plan.Rewrite(in)
		if err != nil || got != want {
			t.Errorf("Rewrite(%s) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := parseDialPlan([]string{">0"}); err == nil {
		t.Error("an empty prefix is accepted")
	}
}

func TestPortRange(t *testing.T) {
	for _, c := range []struct {
		in    string
		calls int // 0: refused
	}{
		{"30000-39999", 5000}, {"30000-30999", 500}, {"30001-30004", 2}, {"1024-1025", 1},
		{"5-3", 0}, {"30001-30001", 0}, {"1000-2000", 0}, {"60000-70000", 0}, {"30000", 0}, {"a-b", 0},
	} {
		var r PortRange
		err := r.UnmarshalText([]byte(c.in))
		if (err == nil) != (c.calls > 0) || (err == nil && (r.Calls() != c.calls || r.String() != c.in)) {
			t.Errorf("%q: %v, %d calls; want %d", c.in, err, r.Calls(), c.calls)
		}
	}
}

// One struct, its defaults sip's own, becomes the dialer's config; errors
// name the flags.
func TestSIPDialerConfig(t *testing.T) {
	s := DefaultSIP()
	fs := pflag.NewFlagSet("call", pflag.ContinueOnError)
	BindSIPFlags(fs, &s)
	if err := fs.Parse([]string{"--trunk", "sip:pbx.example.com", "--codec", "pcma", "--rtp-ports", "40000-40099", "--dial-plan", "+81>0", "--ring-timeout", "5s", "--user", "1001",
		"--rtp-learn", "5", "--media-networks", "192.0.2.0/24", "--media-networks", "2001:db8::7", "--srtp", "required",
		"--jitter-buffer", "40ms-100ms"}); err != nil {
		t.Fatal(err)
	}
	s.Password = NewSecret([]byte("pw"), "test")
	c, err := s.DialerConfig()
	if err != nil {
		t.Fatal(err)
	}
	if c.Trunk != "sip:pbx.example.com" || len(c.Codecs) != 1 || c.Codecs[0] != media.KindPCMA || c.RTPPortFirst != 40000 || c.RTPPortLast != 40099 ||
		len(c.DialPlan) != 1 || c.RingTimeout != 5*time.Second || c.MaxDuration != sip.DefaultMaxDuration || c.EventPT != sip.DefaultEventPT ||
		c.AuthUser != "1001" || c.Password != "pw" || c.RTPLearn != 5 || len(c.MediaNetworks) != 2 ||
		c.MediaNetworks[0].String() != "192.0.2.0/24" || c.MediaNetworks[1].String() != "2001:db8::7/128" || c.SRTP != media.SRTPRequired ||
		c.Jitter != (media.JitterConfig{Min: 40 * time.Millisecond, Max: 100 * time.Millisecond}) {
		t.Fatalf("%+v", c)
	}
	if d := DefaultSIP(); d.RTPLearn != 0 || len(d.MediaNetworks) != 0 || d.SRTP != "off" || DefaultPhoneRTP().SRTP != "off" || d.JitterBuffer != "40ms-60ms" {
		t.Errorf("learning, a media network or SRTP by default, or not the default jitter buffer: %+v", d)
	}
	for in, want := range map[string]media.JitterConfig{
		"60ms": {Min: 60 * time.Millisecond, Max: 60 * time.Millisecond}, "off": {Off: true}, " 20ms - 80ms ": {Min: 20 * time.Millisecond, Max: 80 * time.Millisecond},
	} {
		if got, err := parseJitter(in); err != nil || got != want {
			t.Errorf("jitter buffer %q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "60", "80ms-40ms", "1s", "-5ms", "40ms-"} {
		if _, err := parseJitter(in); err == nil {
			t.Errorf("jitter buffer %q accepted", in)
		}
	}

	bad := DefaultSIP()
	bad.Codecs, bad.DialPlan, bad.EventPT, bad.Transport = "opus", []string{"x"}, 8, "sctp"
	bad.RTPLearn, bad.MediaNetworks, bad.SRTP, bad.JitterBuffer = -1, []string{"10.0.0.0/33"}, "sdes", "lots"
	_, err = bad.DialerConfig()
	for _, want := range []string{"--trunk: required", `--codec: "opus"`, `--dial-plan: "x"`, "--event-pt: 8", `--transport: "sctp"`,
		"--rtp-learn: -1", `--media-networks: "10.0.0.0/33"`, `--srtp: "sdes": want off, optional or required`, `--jitter-buffer: "lots"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
}

// ExplainTLS names the setting for each kind of handshake failure and
// leaves other errors alone.
func TestExplainTLS(t *testing.T) {
	for _, c := range []struct {
		cause error
		want  string
	}{
		{tls.AlertError(116), "set --tls-cert and --tls-key"},
		{tls.AlertError(70), "--tls-min-version"},
	} {
		err := explain(&sip.TLSError{Hop: "trunk", Name: "pbx.example.com", Addr: "192.0.2.1:5061", Err: c.cause})
		if !strings.Contains(err.Error(), c.want) || !errors.Is(err, sip.ErrTLS) {
			t.Errorf("%v: %v, want %q", c.cause, err, c.want)
		}
	}
	plain := errors.New("sip: call busy")
	if err := ExplainTLS(plain); err != plain {
		t.Errorf("a non-TLS error changed: %v", err)
	}
	// Unknown authority and a name mismatch are checked against Kamailio
	// in cmd/denwa's TestInteropKamailioTLS.
}

// The TLS flags become the dialer's tls.Config: the CA file replaces the
// roots, the server name, the client key pair and the minimum version.
func TestSIPTLSConfig(t *testing.T) {
	ca := peers.NewCA(t, "config test CA")
	client := ca.Client(t, "denwa")
	s := DefaultSIP()
	fs := pflag.NewFlagSet("call", pflag.ContinueOnError)
	BindSIPFlags(fs, &s)
	if err := fs.Parse([]string{"--trunk", "sip:pbx.example.com;transport=tls", "--tls-ca", ca.CertFile, "--tls-server-name", "sip.example.com",
		"--tls-cert", client.CertFile, "--tls-key", client.KeyFile, "--tls-min-version", "1.3"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.DialerConfig()
	if err != nil {
		t.Fatal(err)
	}
	tc := c.TLS
	if tc == nil || tc.ServerName != "sip.example.com" || tc.MinVersion != tls.VersionTLS13 || len(tc.Certificates) != 1 || !tc.RootCAs.Equal(ca.Pool) {
		t.Fatalf("TLS config %+v", tc)
	}
	if string(tc.Certificates[0].Certificate[0]) != string(client.TLS.Certificate[0]) {
		t.Error("the client certificate is not the one in --tls-cert")
	}
	// Nothing set: sip's defaults (nil).
	s = DefaultSIP()
	s.Trunk = "sip:pbx.example.com"
	if c, err := s.DialerConfig(); err != nil || c.TLS != nil {
		t.Errorf("no TLS settings: %v, %+v", err, c.TLS)
	}
}

// Each bad TLS setting is named in the error, by flag.
func TestSIPTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	ca := peers.NewCA(t, "config test CA")
	client := ca.Client(t, "denwa")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-ca", filepath.Join(dir, "missing.pem")}, "--tls-ca: open"},
		{[]string{"--tls-ca", notPEM}, "--tls-ca: " + notPEM + " holds no PEM certificate"},
		{[]string{"--tls-cert", client.CertFile}, "--tls-key: required with --tls-cert"},
		{[]string{"--tls-key", client.KeyFile}, "--tls-cert: required with --tls-key"},
		{[]string{"--tls-cert", client.CertFile, "--tls-key", notPEM}, "--tls-cert: with --tls-key:"},
		{[]string{"--tls-min-version", "1.1"}, `--tls-min-version: "1.1": want 1.2 or 1.3`},
	} {
		s := DefaultSIP()
		fs := pflag.NewFlagSet("call", pflag.ContinueOnError)
		BindSIPFlags(fs, &s)
		if err := fs.Parse(append([]string{"--trunk", "sip:pbx.example.com;transport=tls"}, c.args...)); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DialerConfig(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
}

var explain = ExplainTLS

// The guard's flags become sip.Guard; --sip-allow takes lists and
// repeats; bad values name their flags.
func TestSIPGuard(t *testing.T) {
	s := DefaultSIP()
	fs := pflag.NewFlagSet("call", pflag.ContinueOnError)
	BindSIPFlags(fs, &s)
	if err := fs.Parse([]string{"--trunk", "sip:pbx.example.com", "--sip-allow", "10.0.0.0/8,192.0.2.7", "--sip-allow", "2001:db8::/32",
		"--sip-rate", "50", "--sip-ceiling", "400", "--sip-max-transactions", "100"}); err != nil {
		t.Fatal(err)
	}
	c, err := s.DialerConfig()
	if err != nil {
		t.Fatal(err)
	}
	g := c.Guard
	if fmt.Sprint(g.Allow) != "[10.0.0.0/8 192.0.2.7/32 2001:db8::/32]" || g.Rate != 50 || g.Burst != 0 || g.Ceiling != 400 || g.MaxTransactions != 100 {
		t.Errorf("%+v", g)
	}
	def := DefaultSIP()
	def.Trunk = "sip:pbx.example.com"
	if d, _ := def.DialerConfig(); d.Guard.Allow != nil || d.Guard.Rate != sip.DefaultGuardRate {
		t.Errorf("default guard %+v: want sip's (Allow nil: the trunk's addresses)", d.Guard)
	}

	bad := DefaultSIPGuard()
	bad.Allow, bad.Rate, bad.Ceiling, bad.MaxTransactions = []string{"10.0.0.0/8,nope"}, 0, 0, 0
	_, err = bad.PhoneGuard()
	for _, want := range []string{`--sip-allow: "nope"`, "--sip-rate: 0", "--sip-max-transactions: 0"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
	bad = DefaultSIPGuard()
	bad.Ceiling = bad.Rate
	if _, err := bad.PhoneGuard(); err == nil || !strings.Contains(err.Error(), "--sip-ceiling") {
		t.Errorf("a ceiling at the rate: %v", err)
	}
}
