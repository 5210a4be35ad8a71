package main

import (
	"encoding/json"
	"testing"

	"denwa/enroll"
	"denwa/sip/siptest/peers"
)

// Interop tests: `denwa call` through real SIP software started on
// loopback by sip/siptest/peers (Kamailio as the PBX, linphonec and
// baresip as the phone, rtpengine relaying the media). Each skips without
// its program, and fails instead under DENWA_REQUIRE_INTEROP=1.

// interopCall runs `denwa call --json` with args and password (may be
// empty) and requires the outcome verified with keys.
func interopCall(t *testing.T, password, keys string, args ...string) callReport {
	t.Helper()
	t.Setenv(passwordEnv, password)
	args = append(append([]string{"call", "--json", "--rtp-ports", portRange().String(), "--ring-timeout", "10s"}, args...), "+81312345678")
	stdout, stderr, code := runCLI(t, args...)
	var rep callReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
	}
	if rep.Outcome != enroll.OutcomeVerified || code != 0 || rep.Keys != keys {
		t.Fatalf("outcome %s (exit %d), keys %q; want verified, keys %q\n%s\n%s", rep.Outcome, code, rep.Keys, keys, stdout, stderr)
	}
	return rep
}

// TestInteropKamailioLinphone: denwa → Kamailio (record-route, 407 digest)
// → linphonec pressing # as RFC 4733, over UDP, TCP and TLS.
func TestInteropKamailioLinphone(t *testing.T) {
	cases := []struct {
		name, transport, algorithm string
	}{
		{"udp-md5", "udp", "MD5"},
		{"udp-sha256", "udp", "SHA-256"},
		{"tcp-md5", "tcp", "MD5"},
		{"tls-sha256", "tls", "SHA-256"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.RFC4733})
			kc := peers.KamailioConfig{Target: phone.URI(), Auth: &peers.Auth{User: "denwa", Password: "kam-pw-7", Algorithm: c.algorithm}}
			var args []string
			if c.transport == "tls" {
				kc.TLS = peers.NewCA(t, "denwa interop CA")
			}
			k := peers.StartKamailio(t, kc)
			args = append(args, "--trunk", k.URI(c.transport), "--user", "denwa")
			if c.transport == "tls" {
				t.Setenv("SSL_CERT_FILE", kc.TLS.CertFile)
			}
			interopCall(t, "kam-pw-7", "#", args...)
		})
	}
}
