package enroll

import (
	"fmt"
	"strconv"
)

// Outcome is how a verification call ended: a closed set shared by the
// whole system (the dialer, the dialogue, the store, the CLI, webhooks).
// The zero value means unknown: a call that has not ended, or a value that
// was never set.
//
// Outcomes are stored and sent as their String form ("verified",
// "no-answer", …), never as numbers. The one numeric form outside the
// process is [Outcome.ExitCode].
type Outcome uint8

// The call outcomes. Only [OutcomeFailed] has an internal cause (see
// [Result.Cause]); the others are what the far end or the person did.
const (
	OutcomeUnknown       Outcome = iota // not ended, or never set
	OutcomeVerified                     // the person pressed # (or * then #)
	OutcomeNoAnswer                     // the call rang out, nobody answered
	OutcomeBusy                         // the line was busy (SIP 486/600)
	OutcomeRejected                     // the far end declined the call (SIP 603 …)
	OutcomeUnreachable                  // the number could not be reached (SIP 404/480/5xx from the far side …)
	OutcomeNoInput                      // answered, but no key came (often voicemail)
	OutcomeWrongInput                   // answered, but only wrong keys came, too many times (or before the line went dead)
	OutcomeHungUp                       // the far end hung up, or its line went dead (media timeout), before deciding
	OutcomeFraudReported                // the person pressed 0# to report a call they did not ask for
	OutcomeFailed                       // our side failed (trunk, network, internal, shutdown); see the cause

	numOutcomes = iota
)

var outcomeNames = [numOutcomes]string{
	OutcomeUnknown:       "unknown",
	OutcomeVerified:      "verified",
	OutcomeNoAnswer:      "no-answer",
	OutcomeBusy:          "busy",
	OutcomeRejected:      "rejected",
	OutcomeUnreachable:   "unreachable",
	OutcomeNoInput:       "no-input",
	OutcomeWrongInput:    "wrong-input",
	OutcomeHungUp:        "hung-up",
	OutcomeFraudReported: "fraud-reported",
	OutcomeFailed:        "failed",
}

// Valid reports whether o is one of the defined outcomes, unknown included.
func (o Outcome) Valid() bool { return int(o) < numOutcomes }

// String returns the outcome's name: "verified", "no-answer", "busy",
// "rejected", "unreachable", "no-input", "wrong-input", "hung-up",
// "fraud-reported", "failed", or "unknown" for the zero value. A value
// outside the set gives "Outcome(N)".
func (o Outcome) String() string {
	if !o.Valid() {
		return "Outcome(" + strconv.Itoa(int(o)) + ")"
	}
	return outcomeNames[o]
}

// ParseOutcome returns the outcome named s, which must be exactly one of
// the names String returns ("unknown" gives OutcomeUnknown). Other text
// gives an error wrapping [ErrUnknownOutcome].
func ParseOutcome(s string) (Outcome, error) {
	for o, name := range outcomeNames {
		if s == name {
			return Outcome(o), nil
		}
	}
	return OutcomeUnknown, fmt.Errorf("%w: %q", ErrUnknownOutcome, s)
}

// MarshalText implements [encoding.TextMarshaler] with the String form. A
// value outside the set is an error wrapping [ErrUnknownOutcome].
func (o Outcome) MarshalText() ([]byte, error) {
	if !o.Valid() {
		return nil, fmt.Errorf("%w: %s", ErrUnknownOutcome, o)
	}
	return []byte(outcomeNames[o]), nil
}

// UnmarshalText implements [encoding.TextUnmarshaler] with [ParseOutcome].
// On error *o is left unchanged.
func (o *Outcome) UnmarshalText(text []byte) error {
	v, err := ParseOutcome(string(text))
	if err != nil {
		return err
	}
	*o = v
	return nil
}

// ExitCode is the exit status `denwa call` gives for the outcome, so that
// scripts can tell outcomes apart without parsing output:
//
//	verified        0
//	unknown        10
//	no-answer      12
//	busy           13
//	rejected       14
//	unreachable    15
//	no-input       16
//	wrong-input    17
//	hung-up        18
//	fraud-reported 19
//	failed         20
//
// Every outcome but verified has its own code, 10 and up; codes 1 to 9 are
// left to the command itself (usage, configuration, errors before a call is
// placed). A value outside the set gives 10, like unknown. The table is a
// stable interface: new outcomes take new codes, existing codes never
// change, so the constants above keep their order.
func (o Outcome) ExitCode() int {
	switch {
	case o == OutcomeVerified:
		return 0
	case !o.Valid():
		return 10
	}
	return 10 + int(o)
}

// OutcomeError is a call that did not end verified, as an error: what
// [Result.Err] returns. Cause is set when the outcome is
// [OutcomeFailed] (why we failed) and may be set for [OutcomeHungUp] (why the
// line ended, for example [ErrMediaTimeout]). Use [errors.As] to get the
// outcome back from a wrapped error.
type OutcomeError struct {
	Outcome Outcome
	Cause   error
}

// Error returns "enroll: call ended no-input", or with the cause
// "enroll: call ended failed: <cause>".
func (e *OutcomeError) Error() string {
	if e.Cause == nil {
		return "enroll: call ended " + e.Outcome.String()
	}
	return "enroll: call ended " + e.Outcome.String() + ": " + e.Cause.Error()
}

// Unwrap returns the cause.
func (e *OutcomeError) Unwrap() error { return e.Cause }
