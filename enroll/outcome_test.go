package enroll

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestOutcomeStrings(t *testing.T) {
	want := []struct {
		o    Outcome
		name string
		exit int
	}{
		{OutcomeUnknown, "unknown", 10},
		{OutcomeVerified, "verified", 0},
		{OutcomeNoAnswer, "no-answer", 12},
		{OutcomeBusy, "busy", 13},
		{OutcomeRejected, "rejected", 14},
		{OutcomeUnreachable, "unreachable", 15},
		{OutcomeNoInput, "no-input", 16},
		{OutcomeWrongInput, "wrong-input", 17},
		{OutcomeHungUp, "hung-up", 18},
		{OutcomeFraudReported, "fraud-reported", 19},
		{OutcomeFailed, "failed", 20},
	}
	if len(want) != numOutcomes {
		t.Fatalf("table has %d outcomes, the package %d", len(want), numOutcomes)
	}
	exits := map[int]Outcome{}
	for _, w := range want {
		t.Run(w.name, func(t *testing.T) {
			if got := w.o.String(); got != w.name {
				t.Errorf("String() = %q, want %q", got, w.name)
			}
			p, err := ParseOutcome(w.name)
			if err != nil || p != w.o {
				t.Errorf("ParseOutcome(%q) = %v, %v", w.name, p, err)
			}
			b, err := w.o.MarshalText()
			if err != nil || string(b) != w.name {
				t.Errorf("MarshalText() = %q, %v", b, err)
			}
			var u Outcome
			if err := u.UnmarshalText(b); err != nil || u != w.o {
				t.Errorf("UnmarshalText(%q) = %v, %v", b, u, err)
			}
			if got := w.o.ExitCode(); got != w.exit {
				t.Errorf("ExitCode() = %d, want %d", got, w.exit)
			}
		})
		if prev, dup := exits[w.exit]; dup {
			t.Errorf("%s and %s share exit code %d", prev, w.o, w.exit)
		}
		exits[w.exit] = w.o
	}
}

func TestOutcomeInvalid(t *testing.T) {
	bad := Outcome(numOutcomes)
	if got := bad.String(); got != fmt.Sprintf("Outcome(%d)", numOutcomes) {
		t.Errorf("String() = %q", got)
	}
	if bad.Valid() {
		t.Error("Valid() = true")
	}
	if _, err := bad.MarshalText(); !errors.Is(err, ErrUnknownOutcome) {
		t.Errorf("MarshalText() error = %v", err)
	}
	if got := bad.ExitCode(); got != 10 {
		t.Errorf("ExitCode() = %d, want 10", got)
	}
	for _, s := range []string{"", "Verified", "verified ", "hungup", "Outcome(11)", "0"} {
		if o, err := ParseOutcome(s); !errors.Is(err, ErrUnknownOutcome) || o != OutcomeUnknown {
			t.Errorf("ParseOutcome(%q) = %v, %v", s, o, err)
		}
	}
	o := OutcomeBusy
	if err := o.UnmarshalText([]byte("nope")); err == nil || o != OutcomeBusy {
		t.Errorf("UnmarshalText(nope) = %v, left %v", err, o)
	}
}

func TestOutcomeJSON(t *testing.T) {
	type rec struct {
		Outcome Outcome `json:"outcome"`
	}
	b, err := json.Marshal(rec{OutcomeFraudReported})
	if err != nil || string(b) != `{"outcome":"fraud-reported"}` {
		t.Fatalf("Marshal = %s, %v", b, err)
	}
	var r rec
	if err := json.Unmarshal([]byte(`{"outcome":"no-input"}`), &r); err != nil || r.Outcome != OutcomeNoInput {
		t.Fatalf("Unmarshal = %v, %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"outcome":"maybe"}`), &r); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("Unmarshal(maybe) error = %v", err)
	}
}

func TestResultErr(t *testing.T) {
	if err := (&Result{Outcome: OutcomeVerified}).Err(); err != nil {
		t.Fatalf("verified: Err() = %v", err)
	}
	boom := errors.New("trunk down")
	err := fmt.Errorf("call: %w", (&Result{Outcome: OutcomeFailed, Cause: boom}).Err())
	var oe *OutcomeError
	if !errors.As(err, &oe) || oe.Outcome != OutcomeFailed || !errors.Is(err, boom) {
		t.Fatalf("failed: %v (as %v)", err, oe)
	}
	if got, want := oe.Error(), "enroll: call ended failed: trunk down"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if got, want := (&Result{Outcome: OutcomeNoInput}).Err().Error(), "enroll: call ended no-input"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
