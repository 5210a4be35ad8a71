package main

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// rtpPorts hands each test call its own RTP range so parallel runs never meet.
var rtpPorts = struct {
	sync.Mutex
	next int
}{next: 31000}

func portRange() config.PortRange {
	rtpPorts.Lock()
	defer rtpPorts.Unlock()
	first := rtpPorts.next
	rtpPorts.next += 20
	return config.PortRange{First: first, Last: first + 19}
}

// TestCallEndToEnd runs `denwa call` against the simulated phone on
// loopback, through real SIP and RTP, with the shipped prompts: each case
// checks the outcome word, the exit code and the keys in the timeline.
func TestCallEndToEnd(t *testing.T) {
	cases := []struct {
		name    string
		phone   sip.PhoneConfig
		args    []string
		outcome enroll.Outcome
		keys    string
	}{
		{"hash rfc4733 pcmu", sip.PhoneConfig{Keys: "#", KeyMode: sip.KeyRFC4733}, nil, enroll.OutcomeVerified, "#"},
		{"analog star hash in-band pcma", sip.PhoneConfig{Keys: "*#", KeyMode: sip.KeyInband, Codecs: []media.PayloadKind{media.KindPCMA}}, nil, enroll.OutcomeVerified, "*#"},
		{"fraud report", sip.PhoneConfig{Keys: "0#", KeyMode: sip.KeyRFC4733}, nil, enroll.OutcomeFraudReported, "0#"},
		{"star hash sip-info", sip.PhoneConfig{Keys: "*#", KeyMode: sip.KeySIPInfo}, nil, enroll.OutcomeVerified, "*#"},
		{"busy", sip.PhoneConfig{Status: 486}, nil, enroll.OutcomeBusy, ""},
		{"declined", sip.PhoneConfig{Status: 603}, nil, enroll.OutcomeRejected, ""},
		{"unavailable", sip.PhoneConfig{Status: 503}, nil, enroll.OutcomeUnreachable, ""},
		{"no answer", sip.PhoneConfig{RingFor: -1}, []string{"--ring-timeout", "1s"}, enroll.OutcomeNoAnswer, ""},
		{"hangs up during the greeting", sip.PhoneConfig{Keys: "", HangupAfter: 700 * time.Millisecond}, nil, enroll.OutcomeHungUp, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			c.phone.KeyDelay = 300 * time.Millisecond
			r := portRange()
			c.phone.RTPPortFirst, c.phone.RTPPortLast = r.First, r.Last
			phone := siptest.NewPhone(t, c.phone)
			args := append([]string{"call", "--json", "--trunk", "sip:" + phone.Addr().String(), "--rtp-ports", portRange().String()}, c.args...)
			args = append(args, "+81312345678")
			stdout, stderr, code := runCLI(t, args...)
			var rep callReport
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
				t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
			}
			if rep.Outcome != c.outcome || code != c.outcome.ExitCode() || rep.Keys != c.keys {
				t.Fatalf("outcome %s (exit %d), keys %q; want %s (exit %d), keys %q\n%s", rep.Outcome, code, rep.Keys, c.outcome, c.outcome.ExitCode(), c.keys, stdout)
			}
		})
	}
}

// The text output ends with the outcome word, after a timeline that names
// each key with its source.
func TestCallTextTimeline(t *testing.T) {
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyMode: sip.KeyInband, KeyDelay: 200 * time.Millisecond, RTPPortFirst: r.First, RTPPortLast: r.Last})
	stdout, stderr, code := runCLI(t, "call", "--trunk", "sip:"+phone.Addr().String(), "--rtp-ports", portRange().String(), "+81312345678")
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if code != 0 || lines[len(lines)-1] != "verified" || !strings.Contains(stdout, "answered") || !strings.Contains(stdout, "key # inband") || !strings.Contains(stdout, "prompt greeting") {
		t.Fatalf("exit %d\n%s\nstderr %s", code, stdout, stderr)
	}
}

func TestCallUsageErrors(t *testing.T) {
	t.Setenv(passwordEnv, "hunter2-secret")
	cases := [][]string{
		{"call", "+81312345678"}, // no trunk
		{"call", "--trunk", "sip:127.0.0.1:9", "--codec", "opus", "+81312345678"},
		{"call", "--trunk", "sip:127.0.0.1:9", "--rtp-ports", "5-3", "+81312345678"},
		{"call", "--trunk", "sip:127.0.0.1:9", "--dial-plan", "nothing", "+81312345678"},
		{"call", "--trunk", "sip:127.0.0.1:9", "--prompts", "/nonexistent", "+81312345678"},
		{"call", "--trunk", "not a uri", "+81312345678"},
		{"phone", "--keys", "x"},
		{"phone", "--mode", "pulse"},
		{"phone", "--status", "200"},
	}
	for _, args := range cases {
		stdout, stderr, code := runCLI(t, args...)
		if code != 2 || stderr == "" || strings.Contains(stdout+stderr, "hunter2") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 2 and an error, never the password", args, code, stdout, stderr)
		}
	}
}
