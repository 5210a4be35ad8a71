package enroll

import "errors"

// Sentinel errors. Compare with [errors.Is]; the errors returned usually
// wrap them with the value that mattered.
var (
	// ErrHungUp: the far end ended the call (a BYE from the phone). A
	// [Line] returns it, or an error wrapping it, from Play and Err.
	ErrHungUp = errors.New("enroll: the far end hung up")

	// ErrMediaTimeout: no media arrived from the far end for too long, so
	// the line gave the call up. The dialogue treats it as a hang-up.
	ErrMediaTimeout = errors.New("enroll: media timeout")

	// ErrInvalidConfig: a configuration value out of range; the error
	// returned wraps it with the field and the value.
	ErrInvalidConfig = errors.New("enroll: invalid configuration")

	// ErrUnknownOutcome: text that names no [Outcome].
	ErrUnknownOutcome = errors.New("enroll: unknown call outcome")
)
