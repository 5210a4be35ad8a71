package enroll

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"time"
)

// State is where an enrollment is in its life. The zero value means
// unknown: a value that was never set. States are stored and sent as their
// String form ("pending", "calling", …), never as numbers.
//
//	           StartCall            call verified         Complete
//	pending ─────────────► calling ─────────────► verified ─────────► completed
//	   │                    │   ▲                    │
//	   │        call failed │   │ StartCall (retry)  │
//	   │                    ▼   │                    │
//	   │                   failed                    │
//	   │                    │                        │
//	   └──────── past ExpiresAt ─────────────────────┴──► expired
//
// completed and expired are final; failed is final when the failure is not
// retryable (see [Enrollment.Retryable]). calling never expires: the call
// decides where it goes (a call interrupted by a crash is recovered as
// failed, see [Store.RecoverCalling]).
type State uint8

// The enrollment states.
const (
	StateUnknown   State = iota // never set
	StatePending                // created, no call placed yet
	StateCalling                // a verification call is in progress
	StateVerified               // the person pressed #; the app password may be issued
	StateCompleted              // the app password was shown; nothing more to do
	StateFailed                 // the last call did not verify (see Outcome); may be retried
	StateExpired                // not finished before ExpiresAt
)

var stateNames = [...]string{
	StateUnknown:   "unknown",
	StatePending:   "pending",
	StateCalling:   "calling",
	StateVerified:  "verified",
	StateCompleted: "completed",
	StateFailed:    "failed",
	StateExpired:   "expired",
}

// String returns the state's name, or "State(N)" for a value outside the
// set.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Valid reports whether s is one of the defined states, unknown included.
func (s State) Valid() bool { return int(s) < len(stateNames) }

// Final reports whether no transition leaves s.
func (s State) Final() bool { return s == StateCompleted || s == StateExpired }

// ParseState returns the state named s, exactly as String gives it. Other
// text gives an error wrapping ErrUnknownState.
func ParseState(s string) (State, error) {
	for i, n := range stateNames {
		if n == s {
			return State(i), nil
		}
	}
	return StateUnknown, fmt.Errorf("%w: %q", ErrUnknownState, s)
}

// MarshalText implements encoding.TextMarshaler with the String form.
func (s State) MarshalText() ([]byte, error) {
	if !s.Valid() {
		return nil, fmt.Errorf("%w: %d", ErrUnknownState, uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler with ParseState.
func (s *State) UnmarshalText(text []byte) error {
	v, err := ParseState(string(text))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// transitions is the state machine: from → the states it may move to.
// Everything not listed is ErrInvalidTransition.
var transitions = map[State][]State{
	StatePending:  {StateCalling, StateExpired},
	StateCalling:  {StateVerified, StateFailed},
	StateFailed:   {StateCalling, StateExpired},
	StateVerified: {StateCompleted, StateExpired},
}

// CheckTransition returns nil when the state machine allows from → to,
// and an error wrapping ErrInvalidTransition otherwise. It knows nothing
// of attempts, outcomes or time; see [Enrollment.Retryable] for the rule
// on leaving failed.
func CheckTransition(from, to State) error {
	for _, s := range transitions[from] {
		if s == to {
			return nil
		}
	}
	return fmt.Errorf("%w: %s → %s", ErrInvalidTransition, from, to)
}

// Enrollment is one user's attempt to register a verification phone. It is
// a plain value: the [Store] keeps it, the [Service] changes it, and every
// change is one compare-and-set on Version.
//
// Times are UTC with microsecond precision (what every store keeps); the
// zero time means "not yet".
type Enrollment struct {
	// ID is random and URL-safe (see NewID); it is the enrollment's name in
	// URLs and webhooks.
	ID string
	// UserID is the organisation's reference to the user: opaque to denwa.
	UserID string
	// Phone is the number to call, in E.164 ("+81312345678").
	Phone string
	// Country is the ISO 3166-1 alpha-2 region the number was entered for
	// ("JP"); informational.
	Country string
	// ClientIP is the address the enrollment was requested from, as the
	// API saw it; it keys the per-IP call limit.
	ClientIP string

	State State
	// Version counts the changes stored: 1 when created, one more on each
	// update. Updates are compare-and-set on it (Store.UpdateEnrollment).
	Version int64
	// Attempts is how many calls have been started.
	Attempts int

	// Outcome and Cause are those of the last call: unknown before the
	// first one ends. Cause is the text of a failed call's cause, with any
	// configured secret removed.
	Outcome Outcome
	Cause   string
	// KeySource is how the deciding key of a verified or fraud-reported
	// call arrived: "rfc4733", "inband" or "sip-info" (dtmf.Source's
	// String); empty otherwise.
	KeySource string
	// Node names the service instance that placed the current or last
	// call; a node recovers only its own interrupted calls.
	Node string

	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time // see Expired
	VerifiedAt  time.Time
	CompletedAt time.Time
}

// Expired reports whether the enrollment is in a state that expires
// (pending, failed or verified) and now is at or past ExpiresAt. A zero
// ExpiresAt never expires.
func (e *Enrollment) Expired(now time.Time) bool {
	switch e.State {
	case StatePending, StateFailed, StateVerified:
		return !e.ExpiresAt.IsZero() && !now.Before(e.ExpiresAt)
	}
	return false
}

// Retryable reports whether a failed enrollment may be called again:
// the last outcome is not fraud-reported and fewer than maxAttempts calls
// were made. It is false in every other state.
func (e *Enrollment) Retryable(maxAttempts int) bool {
	return e.State == StateFailed && e.Outcome != OutcomeFraudReported && e.Attempts < maxAttempts
}

// NewID returns 128 random bits as 22 characters of unpadded URL-safe
// base64: the form of enrollment, audit event and app-password IDs.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Now returns t in the form every Enrollment and AuditEvent time has: UTC,
// truncated to the microsecond (PostgreSQL's precision, so that a value
// reads back equal from every store).
func Now(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// The cause stored when a call is lost because its node stopped while the
// call was in progress (see Store.RecoverCalling).
const CauseInterrupted = "interrupted by restart"

// CauseNodeLost is the cause stored when another node ends a call because
// the node that placed it lost its lease in the store (it died, or lost
// the database for longer than the lease): see NodeLostCall.
const CauseNodeLost = "node lost"

// RecoveredCall returns what [Store.RecoverCalling] stores for e, an
// enrollment found in calling: the enrollment failed with outcome failed
// and cause [CauseInterrupted] (Version one more), the audit event of the
// change (actor system, action "recover"), and the webhook message. Store
// implementations call it so that every store records the same thing.
func RecoveredCall(e Enrollment, now time.Time) (Enrollment, AuditEvent, OutboxMessage) {
	return lostCall(e, now, CauseInterrupted)
}

// NodeLostCall returns what a node stores for e, an enrollment in calling
// placed by another node whose lease lapsed: as RecoveredCall, with cause
// [CauseNodeLost]. Like every failed call it may be retried while attempts
// are left. The Service writes it with Store.UpdateEnrollment, whose
// compare-and-set makes it happen once however many nodes try.
func NodeLostCall(e Enrollment, now time.Time) (Enrollment, AuditEvent, OutboxMessage) {
	return lostCall(e, now, CauseNodeLost)
}

// lostCall is e, in calling, failed with cause by the system (action
// "recover"): the enrollment, its audit event and its webhook.
func lostCall(e Enrollment, now time.Time, cause string) (Enrollment, AuditEvent, OutboxMessage) {
	now = Now(now)
	next := e
	next.State = StateFailed
	next.Version = e.Version + 1
	next.Outcome = OutcomeFailed
	next.Cause = cause
	next.KeySource = ""
	next.UpdatedAt = now
	ev := AuditEvent{
		ID:           NewID(),
		EnrollmentID: e.ID,
		At:           now,
		Actor:        ActorSystem,
		Action:       ActionRecover,
		From:         e.State,
		To:           StateFailed,
		Outcome:      OutcomeFailed,
		Cause:        cause,
		Attempt:      e.Attempts,
		Node:         e.Node,
	}
	return next, ev, webhookMessage(EventFailed, next, now)
}
