package enroll

import (
	"encoding/json"
	"strings"
	"time"
)

// Actor names who caused a change, as the audit trail records it:
// "api-key:<name>" for a system calling the API with the named key,
// "user-link" for a user on the screens reached through a one-time link,
// "system" for denwa itself (a call ending, expiry, recovery), "local"
// for an operator working on the store itself (ActorLocal). An Actor
// never holds a secret: an API key is named, never quoted.
type Actor string

// The actors that take no name.
const (
	ActorSystem   Actor = "system"
	ActorUserLink Actor = "user-link"
	// ActorLocal is an operator using `denwa admin --store`: someone with
	// access to the store itself, whom no API key names.
	ActorLocal Actor = "local"
)

// ActorAPIKey returns the actor for a request authenticated with the API
// key called name (its configured name, never the key itself).
func ActorAPIKey(name string) Actor { return Actor("api-key:" + name) }

// ActorForKey is ActorAPIKey for a name as stored, which may hold any
// bytes: it keeps 1 to 64 bytes of [A-Za-z0-9._-] and replaces others by
// "_", so that the actor is Valid and one key shows under one name in
// every trail (the HTTP API's and the console's).
func ActorForKey(name string) Actor {
	b := []byte(name[:min(len(name), 64)])
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return ActorAPIKey("_")
	}
	return ActorAPIKey(string(b))
}

// Valid reports whether a is one of the forms above, with an API key name
// of 1 to 64 characters from [A-Za-z0-9._-].
func (a Actor) Valid() bool {
	switch a {
	case ActorSystem, ActorUserLink, ActorLocal:
		return true
	}
	name, ok := strings.CutPrefix(string(a), "api-key:")
	if !ok || len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

func (a Actor) String() string { return string(a) }

// The actions an AuditEvent records.
const (
	ActionCreate    = "create"     // enrollment created (→ pending)
	ActionCallStart = "call.start" // a call was started (→ calling)
	ActionCallEnd   = "call.end"   // the call ended (→ verified or failed), with its outcome
	ActionBlock     = "block"      // the number was blocked after a 0# fraud report (no state change)
	ActionComplete  = "complete"   // the app password was shown (→ completed)
	ActionExpire    = "expire"     // ExpiresAt passed (→ expired)
	ActionRecover   = "recover"    // a call lost to a restart or a dead node (→ failed)
)

// AuditEvent is one entry of an enrollment's audit trail: who did what,
// when, and how the call went. It never holds a secret (no API key, app
// password, link token, SIP or webhook credential): causes pass through
// the Service's redaction of its configured secrets first.
type AuditEvent struct {
	ID           string // random, see NewID
	EnrollmentID string
	At           time.Time
	Actor        Actor
	Action       string // one of the Action constants
	From, To     State  // equal when the action changes no state (ActionBlock)
	Outcome      Outcome
	Cause        string
	// KeySource is how the deciding key of a verified or fraud-reported
	// call arrived ("rfc4733", "inband", "sip-info"); Keys are the keys the
	// call acted on, in order, at most 32 ("#", "*#", "10#0#"; in challenge
	// mode digits are masked as "?": "*???#"). For call.end.
	KeySource string
	Keys      string
	// RequestID is the API request that caused the change, if any.
	RequestID string
	// Attempt is the enrollment's attempt count after the change.
	Attempt int
	// Node names the node that placed the call, for the call's events
	// (call.start, call.end, block, recover); empty otherwise, and for a
	// deployment of one unnamed node.
	Node string
	// AnsweredAt is when the call was answered (the dialogue began), and
	// KeyAt when its deciding key (the one KeySource tells of) was
	// pressed; for call.end (and the block event that follows it), zero
	// when there was none.
	AnsweredAt, KeyAt time.Time
}

// The actions an OperatorEvent records.
const (
	OpUnblock           = "unblock"             // a block on a number was lifted; Target is the number
	OpAPIKeyCreate      = "api-key.create"      // Target is the key's name
	OpAPIKeyRevoke      = "api-key.revoke"      // Target is the key's name
	OpAppPasswordRevoke = "app-password.revoke" // Target is "<user>/<app password ID>"
	OpWebhookRedeliver  = "webhook.redeliver"   // Target is the message ID
)

// OperatorEvent records what an operator did through the admin API or
// `denwa admin`: who (an API key, or a local user of the command line on
// the store itself), what, to what and why. Like an AuditEvent, it never
// holds a secret.
type OperatorEvent struct {
	ID     string // random, see NewID
	At     time.Time
	Actor  Actor  // ActorAPIKey, or ActorLocal for the command line on the store
	Action string // one of the Op constants
	Target string
	Reason string // the operator's words, at most 512 bytes; may be empty
	// EnrollmentID is the enrollment the target belongs to, if any (for
	// an unblock, the enrollment whose fraud report blocked the number).
	EnrollmentID string
	RequestID    string
}

// The webhook events, as OutboxMessage.Event and the payload's "event".
// Each call that ends sends exactly one: verified, fraud_reported (a 0#
// report, which also leaves the enrollment failed), or failed (every other
// outcome, a call interrupted by a restart included).
const (
	EventVerified      = "enrollment.verified"
	EventFailed        = "enrollment.failed"
	EventFraudReported = "enrollment.fraud_reported"
)

// WebhookPayload is the JSON body of every webhook: the event, when it
// happened, and the enrollment as it then was. Secrets never appear in it.
type WebhookPayload struct {
	Event      string          `json:"event"`
	At         time.Time       `json:"at"`
	Enrollment WebhookSnapshot `json:"enrollment"`
}

// WebhookSnapshot is the enrollment as a webhook shows it.
type WebhookSnapshot struct {
	ID         string    `json:"id"`
	UserID     string    `json:"user_id"`
	Phone      string    `json:"phone"`
	State      State     `json:"state"`
	Attempts   int       `json:"attempts"`
	Outcome    Outcome   `json:"outcome"`
	Cause      string    `json:"cause,omitempty"`
	KeySource  string    `json:"key_source,omitempty"`
	VerifiedAt time.Time `json:"verified_at,omitzero"`
}

// webhookMessage builds the outbox message for event about e.
func webhookMessage(event string, e Enrollment, now time.Time) OutboxMessage {
	p := WebhookPayload{Event: event, At: now, Enrollment: WebhookSnapshot{
		ID: e.ID, UserID: e.UserID, Phone: e.Phone, State: e.State, Attempts: e.Attempts,
		Outcome: e.Outcome, Cause: e.Cause, KeySource: e.KeySource, VerifiedAt: e.VerifiedAt,
	}}
	body, err := json.Marshal(p)
	if err != nil {
		// Only an Outcome or State outside its set can fail, and the
		// service never stores one.
		panic("enroll: webhook payload: " + err.Error())
	}
	return OutboxMessage{Event: event, EnrollmentID: e.ID, Payload: body, CreatedAt: now, NextAttemptAt: now}
}
