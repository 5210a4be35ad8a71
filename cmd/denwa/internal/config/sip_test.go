package config

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"denwa/media"
	"denwa/sip"
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
		"--rtp-learn", "5", "--media-networks", "192.0.2.0/24", "--media-networks", "2001:db8::7"}); err != nil {
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
		c.MediaNetworks[0].String() != "192.0.2.0/24" || c.MediaNetworks[1].String() != "2001:db8::7/128" {
		t.Fatalf("%+v", c)
	}
	if d := DefaultSIP(); d.RTPLearn != 0 || len(d.MediaNetworks) != 0 {
		t.Errorf("learning or a media network by default: %+v", d)
	}

	bad := DefaultSIP()
	bad.Codecs, bad.DialPlan, bad.EventPT, bad.Transport = "opus", []string{"x"}, 8, "sctp"
	bad.RTPLearn, bad.MediaNetworks = -1, []string{"10.0.0.0/33"}
	_, err = bad.DialerConfig()
	for _, want := range []string{"--trunk: required", `--codec: "opus"`, `--dial-plan: "x"`, "--event-pt: 8", `--transport: "sctp"`,
		"--rtp-learn: -1", `--media-networks: "10.0.0.0/33"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
}

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
