package enroll

import "errors"

// Every error value of package enroll. Compare with [errors.Is]; the errors
// returned wrap them with the value that mattered. The typed errors that
// carry data are [*LimitError] (limits.go), [*OutcomeError] (outcome.go)
// and [*PhoneError] (phone.go).

// The call and its line.
var (
	// ErrHungUp: the far end ended the call (a BYE from the phone). A
	// [Line] returns it, or an error wrapping it, from Play and Err.
	ErrHungUp = errors.New("enroll: the far end hung up")

	// ErrMediaTimeout: no media arrived from the far end for too long, so
	// the line gave the call up. The dialogue takes it as the far end's
	// doing: hung-up, or wrong-input when a wrong key was heard.
	ErrMediaTimeout = errors.New("enroll: media timeout")

	// errEndedHere is the cause when the line ends with no error of its
	// own while the dialogue still runs: something on our side ended the
	// call.
	errEndedHere = errors.New("enroll: the call was ended from this side during the dialogue")

	// errPlayCode is the cause when a challenge code could not be read
	// out; the line's own error is left out, as it may name the digit.
	errPlayCode = errors.New("enroll: play code: a digit's prompt could not be played")
)

// Configuration and the names of values.
var (
	// ErrInvalidConfig: a configuration value out of range; the error
	// returned wraps it with the field and the value.
	ErrInvalidConfig = errors.New("enroll: invalid configuration")

	// ErrUnknownOutcome: text that names no [Outcome].
	ErrUnknownOutcome = errors.New("enroll: unknown call outcome")
)

// The enrollment service and its Store.
var (
	// ErrNotFound: no enrollment, app password, API key, … by that name.
	ErrNotFound = errors.New("enroll: not found")

	// ErrConflict: the record changed under us (a compare-and-set lost to
	// another writer, a call already in progress) or already exists.
	ErrConflict = errors.New("enroll: conflict")

	// ErrInvalidTransition: the state machine does not allow the change
	// (see CheckTransition), for example completing an enrollment that is
	// not verified, or calling again after a fraud report.
	ErrInvalidTransition = errors.New("enroll: invalid state transition")

	// ErrTokenUsed: a one-time link token was already used.
	ErrTokenUsed = errors.New("enroll: token already used")

	// ErrLimit: an abuse limit refused the call or a per-user cap refused
	// a record (app passwords). Calls refused by a limit give a
	// *LimitError, which wraps it.
	ErrLimit = errors.New("enroll: limit reached")

	// ErrBlocked: the number is blocked (after a 0# fraud report, or by
	// the operator).
	ErrBlocked = errors.New("enroll: number blocked")

	// ErrExpired: the enrollment expired before it was finished.
	ErrExpired = errors.New("enroll: enrollment expired")

	// ErrInvalidInput: a request field is malformed (an empty user ID, an
	// actor of the wrong form) or a phone number is refused: one that
	// cannot be read, or that ServiceConfig.PhonePolicy does not allow
	// (the error then also wraps the [*PhoneError] that says why).
	ErrInvalidInput = errors.New("enroll: invalid input")

	// ErrClosed: the service is shutting down and starts no more calls.
	ErrClosed = errors.New("enroll: service closed")

	// ErrUnknownState: text that names no State.
	ErrUnknownState = errors.New("enroll: unknown state")
)

// Links, API keys and webhook signatures (token.go).
var (
	// ErrTokenInvalid: an enrollment link token that is malformed, too
	// long, of an unknown version or not signed by any of our keys. The
	// error says no more than that (and never repeats the token).
	ErrTokenInvalid = errors.New("enroll: invalid link token")

	// ErrTokenExpired: a correctly signed link token past its expiry.
	ErrTokenExpired = errors.New("enroll: link token expired")

	// ErrAPIKeyInvalid: text that is no denwa API key.
	ErrAPIKeyInvalid = errors.New("enroll: malformed API key")

	// ErrWebhookSignature: a webhook signature header that is malformed
	// or matches no signature of the body.
	ErrWebhookSignature = errors.New("enroll: invalid webhook signature")

	// ErrWebhookExpired: a correctly signed webhook whose timestamp is
	// outside the tolerance (a replay, or a badly wrong clock).
	ErrWebhookExpired = errors.New("enroll: webhook timestamp outside the tolerance")
)

// App passwords (apppassword.go).
var (
	// ErrInvalidAppPassword: text that is no app password (not 16
	// letters once spaces are removed). The error never contains it.
	ErrInvalidAppPassword = errors.New("enroll: not an app password")

	// ErrInvalidPasswordHash: a stored hash that is not an argon2id PHC
	// string denwa accepts (malformed, or parameters out of range).
	ErrInvalidPasswordHash = errors.New("enroll: invalid app password hash")
)

// Webhook delivery (webhook.go).
var (
	// ErrOutboxNotDead: Store.RedeliverOutbox of a message that is
	// pending or delivered; only a dead message is redelivered.
	ErrOutboxNotDead = errors.New("enroll: webhook message is not dead")
)
