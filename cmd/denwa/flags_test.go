package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip"
)

// Through the command: exit 2 and the messages, no secret printed.
func TestServeConfigErrorsCLI(t *testing.T) {
	t.Setenv("DENWA_SIP_PASSWORD", "hunter2-cli")
	t.Setenv("DENWA_LINK_KEY", "hunter2-cli")
	stdout, stderr, code := runCLI(t, "serve", "--codec", "opus", "--http", "nope")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "sip.trunk: required") || !strings.Contains(stderr, "sip.codecs") ||
		!strings.Contains(stderr, "link.key: 11 bytes") || strings.Contains(stderr, "hunter2") {
		t.Fatalf("exit %d\nstdout %q\nstderr %s", code, stdout, stderr)
	}
	stdout, stderr, code = runCLI(t, "serve", "--print-config", "--trunk", "sip:pbx")
	if code != 0 || !strings.Contains(stdout, `"trunk": "sip:pbx"`) || strings.Contains(stdout+stderr, "hunter2") || !strings.Contains(stderr, "link.key") {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	if _, stderr, code := runCLI(t, "serve", "--password", "x"); code != 2 || !strings.Contains(stderr, "unknown flag") {
		t.Fatalf("exit %d, %s", code, stderr)
	}
}

// call and serve take the same SIP flags, phone the same RTP flags, each
// with the same default and help; the RTP range's help says how many calls
// it holds.
func TestSharedSIPFlags(t *testing.T) {
	flags := func(name string) *pflag.FlagSet {
		for _, c := range newRootCmd().Commands() {
			if c.Name() == name {
				return c.Flags()
			}
		}
		t.Fatalf("no command %s", name)
		return nil
	}
	call, serve, phone := flags("call"), flags("serve"), flags("phone")
	sipFlags := pflag.NewFlagSet("sip", pflag.ContinueOnError)
	s := config.DefaultSIP()
	config.BindSIPFlags(sipFlags, &s)
	n := 0
	sipFlags.VisitAll(func(want *pflag.Flag) {
		n++
		for cmd, fs := range map[string]*pflag.FlagSet{"call": call, "serve": serve} {
			got := fs.Lookup(want.Name)
			if got == nil || got.DefValue != want.DefValue || !strings.HasPrefix(got.Usage, want.Usage) {
				t.Errorf("%s --%s = %+v, want %+v", cmd, want.Name, got, want)
			}
		}
	})
	if n < 14 {
		t.Errorf("only %d SIP flags", n)
	}
	// The phone binds the same media flags, with its own port range so that
	// a phone and a caller on one machine never compete for ports.
	if got, want := phone.Lookup("codec"), call.Lookup("codec"); got == nil || got.DefValue != want.DefValue || got.Usage != want.Usage {
		t.Errorf("phone --codec = %+v, want call's %+v", got, want)
	}
	phonePorts := fmt.Sprintf("%d-%d", sip.DefaultPhoneRTPPortFirst, sip.DefaultPhoneRTPPortLast)
	if got := phone.Lookup("rtp-ports"); got == nil || got.DefValue != phonePorts || !strings.HasPrefix(got.Usage, "RTP port range FIRST-LAST") {
		t.Errorf("phone --rtp-ports = %+v, want the phone's default %s", got, phonePorts)
	}
	ports := call.Lookup("rtp-ports")
	calls := (sip.DefaultRTPPortLast - sip.DefaultRTPPortFirst + 1) / 2
	if calls < 4000 || !strings.Contains(ports.Usage, fmt.Sprintf("the default holds %d calls at once", calls)) {
		t.Errorf("--rtp-ports %s: %q; want a range of at least 4000 calls, its help saying how many", ports.DefValue, ports.Usage)
	}
	if d := call.Lookup("max-duration").DefValue; d != sip.DefaultMaxDuration.String() {
		t.Errorf("--max-duration default %s, want sip's %s", d, sip.DefaultMaxDuration)
	}
}
