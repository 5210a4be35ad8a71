package enroll_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
)

func TestTransitions(t *testing.T) {
	all := []enroll.State{enroll.StateUnknown, enroll.StatePending, enroll.StateCalling, enroll.StateVerified,
		enroll.StateCompleted, enroll.StateFailed, enroll.StateExpired}
	allowed := map[[2]enroll.State]bool{
		{enroll.StatePending, enroll.StateCalling}:    true,
		{enroll.StatePending, enroll.StateExpired}:    true,
		{enroll.StateCalling, enroll.StateVerified}:   true,
		{enroll.StateCalling, enroll.StateFailed}:     true,
		{enroll.StateFailed, enroll.StateCalling}:     true,
		{enroll.StateFailed, enroll.StateExpired}:     true,
		{enroll.StateVerified, enroll.StateCompleted}: true,
		{enroll.StateVerified, enroll.StateExpired}:   true,
	}
	for _, from := range all {
		for _, to := range all {
			err := enroll.CheckTransition(from, to)
			if allowed[[2]enroll.State{from, to}] {
				if err != nil {
					t.Errorf("%v → %v: %v, want allowed", from, to, err)
				}
			} else if !errors.Is(err, enroll.ErrInvalidTransition) {
				t.Errorf("%v → %v: %v, want ErrInvalidTransition", from, to, err)
			}
		}
		if from.Final() {
			for _, to := range all {
				if enroll.CheckTransition(from, to) == nil {
					t.Errorf("final state %v leads to %v", from, to)
				}
			}
		}
	}
}

func TestStateText(t *testing.T) {
	for s := range enroll.State(7) {
		b, err := s.MarshalText()
		if err != nil {
			t.Fatalf("%d: %v", s, err)
		}
		var back enroll.State
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Fatalf("%q → %v, %v", b, back, err)
		}
	}
	if s := enroll.State(7).String(); s != "State(7)" {
		t.Errorf("String = %q", s)
	}
	if _, err := enroll.State(9).MarshalText(); !errors.Is(err, enroll.ErrUnknownState) {
		t.Errorf("MarshalText(9): %v", err)
	}
	if _, err := enroll.ParseState("Pending"); !errors.Is(err, enroll.ErrUnknownState) {
		t.Errorf("ParseState(Pending): %v", err)
	}
	b, _ := json.Marshal(struct{ S enroll.State }{enroll.StateVerified})
	if string(b) != `{"S":"verified"}` {
		t.Errorf("JSON %s", b)
	}
}

func TestExpiredAndRetryable(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	e := enroll.Enrollment{ExpiresAt: t0}
	for s, want := range map[enroll.State]bool{
		enroll.StatePending: true, enroll.StateFailed: true, enroll.StateVerified: true,
		enroll.StateCalling: false, enroll.StateCompleted: false, enroll.StateExpired: false,
	} {
		e.State = s
		if got := e.Expired(t0); got != want {
			t.Errorf("%v at ExpiresAt: Expired = %v, want %v", s, got, want)
		}
		if e.Expired(t0.Add(-time.Microsecond)) {
			t.Errorf("%v expired before ExpiresAt", s)
		}
	}
	e = enroll.Enrollment{State: enroll.StateFailed, Outcome: enroll.OutcomeBusy, Attempts: 2}
	if !e.Retryable(3) || e.Retryable(2) {
		t.Error("Retryable: attempts rule")
	}
	e.Outcome = enroll.OutcomeFraudReported
	if e.Retryable(3) {
		t.Error("a fraud report is retryable")
	}
	e = enroll.Enrollment{State: enroll.StatePending}
	if e.Retryable(3) {
		t.Error("pending is 'retryable'")
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := enroll.NewID()
		if len(id) != 22 || seen[id] {
			t.Fatalf("NewID %q (len %d, seen %v)", id, len(id), seen[id])
		}
		for _, c := range id {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				t.Fatalf("NewID %q is not URL-safe", id)
			}
		}
		seen[id] = true
	}
}

func TestActor(t *testing.T) {
	for a, want := range map[enroll.Actor]bool{
		enroll.ActorSystem: true, enroll.ActorUserLink: true, enroll.ActorAPIKey("crm-prod_1.a"): true,
		"api-key:": false, "api-key:a b": false, "api-key:a/b": false, "admin": false, "": false,
		enroll.ActorAPIKey(string(make([]byte, 65))): false,
	} {
		if got := a.Valid(); got != want {
			t.Errorf("Actor(%q).Valid() = %v, want %v", a, got, want)
		}
	}
}

func TestIsE164(t *testing.T) {
	for s, want := range map[string]bool{
		"+81312345678": true, "+1234567": true, "+123456789012345": true,
		"+123456": false, "+1234567890123456": false, "81312345678": false, "+081312345678": false,
		"+81 312345678": false, "+8131234567８": false, "": false, "+": false,
	} {
		if got := enroll.IsE164(s); got != want {
			t.Errorf("IsE164(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestRecoveredCall(t *testing.T) {
	t0 := time.Date(2025, 4, 1, 9, 0, 0, 0, time.UTC)
	e := enroll.Enrollment{ID: "e1", State: enroll.StateCalling, Version: 4, Attempts: 2, KeySource: "x"}
	next, ev, m := enroll.RecoveredCall(e, t0.Add(1500*time.Nanosecond))
	if next.State != enroll.StateFailed || next.Version != 5 || next.Outcome != enroll.OutcomeFailed ||
		next.Cause != enroll.CauseInterrupted || next.KeySource != "" || !next.UpdatedAt.Equal(t0.Add(time.Microsecond)) {
		t.Errorf("next %+v", next)
	}
	if ev.EnrollmentID != "e1" || ev.From != enroll.StateCalling || ev.To != enroll.StateFailed || ev.Action != enroll.ActionRecover ||
		ev.Actor != enroll.ActorSystem || ev.Attempt != 2 || ev.ID == "" {
		t.Errorf("event %+v", ev)
	}
	var p enroll.WebhookPayload
	if err := json.Unmarshal(m.Payload, &p); err != nil || m.Event != enroll.EventFailed || p.Event != enroll.EventFailed ||
		p.Enrollment.Cause != enroll.CauseInterrupted || p.Enrollment.State != enroll.StateFailed {
		t.Errorf("message %+v %s: %v", m, m.Payload, err)
	}
}

func TestLimitError(t *testing.T) {
	err := error(&enroll.LimitError{Limit: "number", Max: 3, Window: time.Hour, RetryAfter: time.Minute})
	if !errors.Is(err, enroll.ErrLimit) {
		t.Error("LimitError is not ErrLimit")
	}
	if got := err.Error(); got != "enroll: limit reached: at most 3 calls per 1h0m0s per number; retry after 1m0s" {
		t.Errorf("Error() = %q", got)
	}
}

func TestActorForKey(t *testing.T) {
	for in, want := range map[string]string{"ops": "ops", "mail gw": "mail_gw", "": "_", "運用": "______",
		strings.Repeat("a", 70): strings.Repeat("a", 64)} {
		got := enroll.ActorForKey(in)
		if got != enroll.ActorAPIKey(want) || !got.Valid() {
			t.Errorf("ActorForKey(%q) = %q, want %q (valid)", in, got, enroll.ActorAPIKey(want))
		}
	}
}
