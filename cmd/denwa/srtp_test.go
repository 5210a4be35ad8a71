package main

import (
	"strings"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// denwa call --srtp: against a phone that requires SRTP the call is
// verified over it; against a plain phone it fails saying SRTP is why.
// Over udp both warn that the keys cross in clear.
func TestCallSRTP(t *testing.T) {
	for _, c := range []struct {
		name     string
		phone    media.SRTPMode
		code     int
		last     string
		contains string
	}{
		{"verified", media.SRTPRequired, 0, "verified", "key # rfc4733"},
		{"plain-phone", media.SRTPOff, 1, "failed", "SRTP required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := portRange()
			phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 200 * time.Millisecond, SRTP: c.phone, RTPPortFirst: r.First, RTPPortLast: r.Last})
			stdout, stderr, code := runCLI(t, "call", "--srtp", "required", "--trunk", "sip:"+phone.Addr().String(), "--rtp-ports", portRange().String(), "+81312345678")
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if lines[len(lines)-1] != c.last || !strings.Contains(stdout+stderr, c.contains) || (code == 0) != (c.code == 0) {
				t.Fatalf("exit %d\n%s\nstderr %s", code, stdout, stderr)
			}
			if !strings.Contains(stderr, "warning: "+sip.ClearKeysWarning) {
				t.Errorf("no clear-key warning: %s", stderr)
			}
		})
	}
}
