package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// challengeCall places one challenge-mode call (3 digits) through real SIP
// and RTP with the shipped prompts in lang to a simulated phone
// configured by pc, which hears the digit prompts. Every log record of the
// dialer, the dialogue and the phone goes, at debug level, to the returned
// buffer; the phone's report tells what it pressed.
func challengeCall(t *testing.T, lang string, pc sip.PhoneConfig) (*callReport, sip.PhoneCall, string) {
	t.Helper()
	prompts, err := loadPrompts("", lang)
	if err != nil {
		t.Fatal(err)
	}
	if pc.Digits, err = digitPrompts(prompts); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	r := portRange()
	pc.RTPPortFirst, pc.RTPPortLast, pc.Logger = r.First, r.Last, log
	phone := siptest.NewPhone(t, pc)
	dr := portRange()
	d, err := sip.NewDialer(sip.Config{Trunk: "sip:" + phone.Addr().String(), Bind: "127.0.0.1:0",
		RTPPortFirst: dr.First, RTPPortLast: dr.Last, RingTimeout: 5 * time.Second, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancel()
	rep := placeCall(ctx, d, prompts, enroll.DialogueConfig{ChallengeDigits: challengeTestDigits, Logger: log}, "+81312345678", func(timelineEvent) {})
	return rep, phone.Next(t, 10*time.Second), logs.String()
}

// checkNoCode fails when a digit the phone pressed shows in the report
// (its JSON, as denwa call --json prints it, and the Result behind it) or
// in the logs.
func checkNoCode(t *testing.T, rep *callReport, pressed, logs string) {
	t.Helper()
	code := strings.Trim(pressed, "*#")
	if len(code) < 3 {
		return
	}
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if hasNumber(string(js), code) {
		t.Errorf("the code %s is in the report: %s", code, js)
	}
	if rep.result != nil {
		for _, k := range rep.result.Keys() {
			if k.Key >= '0' && k.Key <= '9' {
				t.Errorf("Result keys hold digit %v", k)
			}
		}
	}
	if hasNumber(logs, code) {
		t.Errorf("the code %s is in the log:\n%s", code, logs)
	}
}

// challengeTestDigits is the code length of the end-to-end calls: six
// digits, so that no port, status, id or payload type in a debug log holds
// the code by chance.
const challengeTestDigits = 6

// hasNumber reports whether n stands in s as a number of its own, not as
// part of a longer run of digits.
func hasNumber(s, n string) bool {
	return regexp.MustCompile(`(^|[^0-9])` + regexp.QuoteMeta(n) + `([^0-9]|$)`).MatchString(s)
}

// TestChallengeEndToEnd is the check: in challenge mode a phone
// that presses # alone (a voicemail greeting replaying keypad tones) is
// never verified, at any moment it presses; one that presses the code it
// heard, then #, is; the code is in no log line and no report.
func TestChallengeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("calls of 25–45 s each")
	}
	type tc struct {
		name  string
		lang  string
		pc    sip.PhoneConfig
		want  enroll.Outcome
		heard bool // the phone presses a code it heard
	}
	cases := []tc{
		{"code heard then # (ja, rfc4733)", "ja", sip.PhoneConfig{Keys: "{code}#"}, enroll.OutcomeVerified, true},
		{"* code # (en, in-band, PCMA)", "en", sip.PhoneConfig{Keys: "*{code}#", KeyMode: sip.KeyInband, Codecs: []media.PayloadKind{media.KindPCMA}}, enroll.OutcomeVerified, true},
	}
	// The replayed greeting: # (or *#) at several moments, the whole call
	// long, as a greeting on a loop would press it.
	for _, delay := range []time.Duration{500 * time.Millisecond, 21 * time.Second} {
		cases = append(cases, tc{"replayed # after " + delay.String(), "ja",
			sip.PhoneConfig{Keys: "##########", KeyDelay: delay, KeyGap: 3 * time.Second}, enroll.OutcomeVerified, false})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rep, pc, logs := challengeCall(t, c.lang, c.pc)
			verified := rep.Outcome == enroll.OutcomeVerified
			if c.heard && !verified {
				t.Errorf("outcome %v (%s), want verified; phone %v pressed %q (%v)", rep.Outcome, rep.Cause, pc.Outcome, pc.KeysSent, pc.Err)
			}
			if !c.heard && (verified || rep.Outcome == enroll.OutcomeFailed) {
				t.Errorf("replayed keys: outcome %v (%s); phone pressed %q", rep.Outcome, rep.Cause, pc.KeysSent)
			}
			if c.heard && len(strings.Trim(pc.KeysSent, "*#")) != challengeTestDigits {
				t.Errorf("phone pressed %q, want a %d-digit code", pc.KeysSent, challengeTestDigits)
			}
			checkNoCode(t, rep, pc.KeysSent, logs)
		})
	}
}

// TestDemoChallenge: `denwa demo --challenge` wires challenge mode from end
// to end: the service reads out a code, the simulated phone hears it and
// presses it, the enrollment is verified; the audit trail and the debug
// log show no digit of it.
func TestDemoChallenge(t *testing.T) {
	if testing.Short() {
		t.Skip("a call of about 25 s")
	}
	run, out, errs, cancel, done := startDemoLogged(t, demoOptions{http: ":0", logFormat: "json", verbose: true, keyDelay: time.Second,
		challenge: enroll.DefaultChallengeDigits, language: "ja"})
	defer cancel()
	ctx := t.Context()
	if !strings.Contains(out.String(), "presses the 3-digit code it hears") {
		t.Errorf("demo banner:\n%s", out.String())
	}
	svc := run.srv.svc
	origin := enroll.Origin{Actor: enroll.ActorSystem}
	en, err := svc.Create(ctx, enroll.CreateRequest{UserID: "demo-user", Phone: "03-1234-5678", Country: "JP", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	var got enroll.Enrollment
	for time.Now().Before(deadline) {
		if got, err = svc.Get(ctx, en.ID); err != nil {
			t.Fatal(err)
		}
		if got.State != enroll.StateCalling && got.State != enroll.StatePending {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if got.State != enroll.StateVerified {
		t.Fatalf("state %v outcome %v (%s)\n%s", got.State, got.Outcome, got.Cause, errs.String())
	}
	evs, err := svc.Audit(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if ev.Action == enroll.ActionCallEnd && ev.Keys != "???#" {
			t.Errorf("audit keys %q, want ???# (digits masked)", ev.Keys)
		}
	}
	log := errs.String()
	if !strings.Contains(log, `"key":"digit"`) {
		t.Errorf("no masked key in the debug log:\n%s", log)
	}
	for d := '0'; d <= '9'; d++ {
		if k := `"key":"` + string(d) + `"`; strings.Contains(log, k) {
			t.Errorf("log shows %s", k)
		}
	}
	for _, name := range []string{"digit-", "keys_sent"} {
		if strings.Contains(log, name) {
			t.Errorf("log names %s", name)
		}
	}
	cancel()
	<-done
}
