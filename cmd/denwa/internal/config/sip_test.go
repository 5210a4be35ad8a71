package config

import (
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
		"--rtp-learn", "5", "--media-networks", "192.0.2.0/24", "--media-networks", "2001:db8::7", "--jitter-buffer", "40ms-100ms"}); err != nil {
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
		c.MediaNetworks[0].String() != "192.0.2.0/24" || c.MediaNetworks[1].String() != "2001:db8::7/128" ||
		c.Jitter != (media.JitterConfig{Min: 40 * time.Millisecond, Max: 100 * time.Millisecond}) {
		t.Fatalf("%+v", c)
	}
	if d := DefaultSIP(); d.RTPLearn != 0 || len(d.MediaNetworks) != 0 || d.JitterBuffer != "40ms-60ms" {
		t.Errorf("learning or a media network by default, or not the default jitter buffer: %+v", d)
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
	bad.RTPLearn, bad.MediaNetworks, bad.JitterBuffer = -1, []string{"10.0.0.0/33"}, "lots"
	_, err = bad.DialerConfig()
	for _, want := range []string{"--trunk: required", `--codec: "opus"`, `--dial-plan: "x"`, "--event-pt: 8", `--transport: "sctp"`,
		"--rtp-learn: -1", `--media-networks: "10.0.0.0/33"`, `--jitter-buffer: "lots"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v\nwant it to say %q", err, want)
		}
	}
}
