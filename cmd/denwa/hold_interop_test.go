package main

import (
	"encoding/json"
	"regexp"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneHoldCall: `denwa call` to linphonec, which answers,
// puts the call on hold ("pause": re-INVITE a=sendonly), resumes it two
// seconds later and presses #: the greeting goes on after the resume and
// the call ends verified.
func TestInteropLinphoneHoldCall(t *testing.T) {
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Mode: peers.RFC4733})
	t.Setenv(passwordEnv, "")
	type result struct {
		stdout, stderr string
		code           int
	}
	done := make(chan result, 1)
	go func() {
		stdout, stderr, code := runCLI(t, "call", "--json", "--rtp-ports", portRange().String(), "--ring-timeout", "10s",
			"--trunk", phone.URI(), "+81312345678")
		done <- result{stdout, stderr, code}
	}()
	off := phone.WaitConnected(t, 0)
	phone.Pause()
	_, off = phone.WaitOutput(t, regexp.MustCompile(`is now paused`), off, 10*time.Second)
	time.Sleep(2 * time.Second) // held: denwa sends nothing, its prompt waits
	phone.Resume()
	phone.WaitOutput(t, regexp.MustCompile(`Media streams established`), off, 10*time.Second)
	phone.SendKeys("#", 0)
	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("denwa call did not end\nlinphonec:\n%s", phone.Output())
	}
	var rep callReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q: %v", r.code, r.stdout, r.stderr, err)
	}
	if rep.Outcome != enroll.OutcomeVerified || r.code != 0 || rep.Keys != "#" {
		t.Fatalf("outcome %s (exit %d), keys %q; want verified, #\n%s\n%s\nlinphonec:\n%s", rep.Outcome, r.code, rep.Keys, r.stdout, r.stderr, phone.Output())
	}
}
