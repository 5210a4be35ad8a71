package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
	"denwa/sip/siptest/peers"
)

// Kamailio 5.6 (sip/siptest/peers) as the PBX that lets only registered
// extensions call out: the registrar for extension 1001 (401 digest with
// the password in a variable, usrloc in memory), 407 on the INVITE, 403
// Caller not registered for an unregistered caller, the others
// record-routed to the called party. docs/pbx.md has this configuration.

const kamUser, kamPassword = "1001", "kamailio-test-pw"

// kamCall runs `denwa call --json` through Kamailio at trunk as 1001 with
// password and the extra flags, and returns the report.
func kamCall(t *testing.T, trunk, password string, extra ...string) (callReport, string) {
	t.Helper()
	t.Setenv(passwordEnv, password)
	args := append([]string{"call", "--json", "--trunk", trunk, "--user", kamUser, "--from", "sip:" + kamUser + "@kamailio.test",
		"--bind", "127.0.0.1:0", "--rtp-ports", portRange().String(), "--ring-timeout", "10s"}, extra...)
	stdout, stderr, code := runCLI(t, append(args, "+81312345678")...)
	var rep callReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("exit %d, stdout %q, stderr %q: %v", code, stdout, stderr, err)
	}
	if strings.Contains(stdout+stderr, kamPassword) {
		t.Fatalf("the output shows the password:\n%s\n%s", stdout, stderr)
	}
	return rep, stdout + stderr
}

// TestInteropKamailioRegistrar: without --register denwa's call is refused (403
// Caller not registered); with it the call goes through to a verified
// end; on exit denwa removes its binding, so the next call without
// --register is refused again. A wrong password is a registration that
// fails with its cause, and a call that is not verified.
func TestInteropKamailioRegistrar(t *testing.T) {
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, RTPPortFirst: r.First, RTPPortLast: r.Last})
	k := peers.StartKamailio(t, peers.KamailioConfig{Registrar: true, RequireRegistered: true, Target: phone.URI(),
		Auth: &peers.Auth{User: kamUser, Password: kamPassword}})
	refused := func(rep callReport, out string) {
		t.Helper()
		if rep.Outcome == enroll.OutcomeVerified || rep.Status != 403 || !strings.Contains(rep.Cause, "Caller not registered") {
			t.Fatalf("want the call refused with 403 Caller not registered:\n%s", out)
		}
	}

	rep, out := kamCall(t, k.URI("udp"), kamPassword)
	refused(rep, out)

	rep, out = kamCall(t, k.URI("udp"), kamPassword, "--register", "--user-phone")
	if rep.Outcome != enroll.OutcomeVerified || !strings.HasPrefix(rep.Registration, "registered until ") {
		t.Fatalf("want registered and verified:\n%s", out)
	}
	if pc := phone.Next(t, 5*time.Second); !strings.Contains(pc.From, "sip:1001@kamailio.test;user=phone") || pc.User != "+81312345678" {
		t.Errorf("the phone saw From %q, user %q", pc.From, pc.User)
	}

	rep, out = kamCall(t, k.URI("udp"), kamPassword) // the binding went with denwa
	refused(rep, out)

	rep, out = kamCall(t, k.URI("udp"), "wrong-password", "--register")
	if rep.Outcome == enroll.OutcomeVerified || !strings.Contains(rep.Registration, "registration failed: sip: register: 401") ||
		!strings.Contains(rep.Registration, "credentials rejected") {
		t.Fatalf("want the registration failure with its cause, and no verified call:\n%s", out)
	}
}

// TestInteropKamailioIdentity: over TCP, with SHA-256 challenges (RFC
// 8760), denwa registers, its INVITE reaches the called party through
// Kamailio with P-Asserted-Identity, Privacy and user=phone, and the
// binding is removed on exit. The called party is a scripted one that
// records the INVITE and answers busy, which is quick.
func TestInteropKamailioIdentity(t *testing.T) {
	uas := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method == "INVITE" {
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 486, Reason: "Busy Here", ToTag: "busy"})}
		}
		return siptest.Polite(req)
	})
	k := peers.StartKamailio(t, peers.KamailioConfig{Registrar: true, RequireRegistered: true, Target: uas.URI(),
		Auth: &peers.Auth{User: kamUser, Password: kamPassword, Algorithm: "SHA-256"}})
	rep, out := kamCall(t, k.URI("tcp"), kamPassword, "--register", "--verbose", "--user-phone", "--privacy", "id",
		"--asserted-identity", "sip:+81312340000@kamailio.test", "--display-name", "Denwa")
	if rep.Outcome != enroll.OutcomeBusy || !strings.HasPrefix(rep.Registration, "registered until ") ||
		!strings.Contains(out, "algorithm=SHA-256") || !strings.Contains(out, "msg=un-registered") {
		t.Fatalf("want registered over TCP with SHA-256, busy, un-registered:\n%s", out)
	}
	inv := uas.Requests()[0]
	if inv.Method != "INVITE" || inv.Header("P-Asserted-Identity") != `"Denwa" <sip:+81312340000@kamailio.test;user=phone>` ||
		inv.Header("Privacy") != "id" || !strings.Contains(inv.Header("From"), "<sip:1001@kamailio.test;user=phone>") {
		t.Fatalf("the called party got:\n%s", inv.Raw)
	}
}
