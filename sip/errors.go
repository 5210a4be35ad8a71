package sip

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Sentinel errors. Functions wrap them with %w and the values that matter.
var (
	// ErrConfig: a Config or PhoneConfig value out of range or unparsable.
	ErrConfig = errors.New("sip: invalid configuration")
	// ErrBadNumber: a number that is not E.164-like (+ and digits), or that
	// the dial plan turned into something that cannot be a SIP user part.
	ErrBadNumber = errors.New("sip: bad number")
	// ErrBadChallenge: a WWW-Authenticate/Proxy-Authenticate header that is
	// not a Digest challenge this package can answer.
	ErrBadChallenge = errors.New("sip: bad digest challenge")
	// ErrAuthRequired: the trunk asked for credentials and none are set.
	ErrAuthRequired = errors.New("sip: authentication required but no credentials configured")
	// ErrAuthFailed: the trunk challenged again after our credentials for the
	// same realm: wrong user or password.
	ErrAuthFailed = errors.New("sip: credentials rejected")
	// ErrBadResponse: a response this UA cannot use (a 2xx without a To
	// tag, without Contact, or with an unreadable SDP answer).
	ErrBadResponse = errors.New("sip: malformed response")
	// ErrNoResponse: the INVITE got no response at all in time.
	ErrNoResponse = errors.New("sip: no response")
	// ErrRemoteHangup: Call.Err after the far end sent BYE.
	ErrRemoteHangup = errors.New("sip: remote party hung up")
	// ErrMaxDuration: Call.Err after Config.MaxDuration ran out; the call
	// was hung up.
	ErrMaxDuration = errors.New("sip: maximum call duration reached")
	// ErrLocalHangup: Call.Err after Hangup.
	ErrLocalHangup = errors.New("sip: hung up locally")
	// ErrClosed: the Dialer or Phone was closed.
	ErrClosed = errors.New("sip: closed")
	// ErrTrunkDNS: the trunk's host name does not resolve (trunk.go). A
	// call placed meanwhile fails at once, Unreachable; its error names
	// the host and what DNS said: "trunk sip.example.invalid: DNS lookup
	// failed: no such host".
	ErrTrunkDNS = errors.New("sip: trunk DNS lookup failed")
	// ErrTrunkRefused: the trunk answered 401, 403 or 407 and denwa could
	// not satisfy it: no credentials configured, credentials challenged
	// again, a challenge it cannot answer, or a 403 at any time. Almost
	// always denwa's own configuration; the call is Failed, not Rejected.
	ErrTrunkRefused = errors.New("sip: trunk refused our credentials")
	// ErrRedirect: the trunk answered 3xx and the redirect was not
	// followed (another domain, scheme or transport, a loop, too many
	// hops); the call is Unreachable and the error names the target.
	ErrRedirect = errors.New("sip: redirect not followed")
)

// causeError is an error whose text is msg (one readable sentence) and
// which is (errors.Is) sentinel and wraps err.
type causeError struct {
	msg      string
	sentinel error
	err      error
}

func (e *causeError) Error() string        { return e.msg }
func (e *causeError) Is(target error) bool { return target == e.sentinel }
func (e *causeError) Unwrap() error        { return e.err }

// FailureKind classifies why a call was not answered (or was answered but
// cannot be used). The zero value means unknown. The kinds map one-to-one
// onto the shared outcome names (busy, rejected, unreachable, no-answer,
// failed) except NoCommonCodec, which cmd/denwa reports as failed.
type FailureKind uint8

const (
	FailureUnknown FailureKind = iota
	Busy                       // 486, 600
	Rejected                   // 603: the person declined
	Unreachable                // 404, 410, 480, 484, 604, 5xx, no response, transport error, trunk DNS, a redirect not followed
	NoAnswer                   // ring timeout → CANCEL → 487; 408
	NoCommonCodec              // the answer (or a 488/606) shares no codec with the offer
	Failed                     // anything else; Status and Err say what
)

var failureNames = [...]string{"unknown", "busy", "rejected", "unreachable", "no-answer", "no-common-codec", "failed"}

// String returns the kind's name: "busy", "rejected", "unreachable",
// "no-answer", "no-common-codec", "failed" or "unknown".
func (k FailureKind) String() string {
	if int(k) < len(failureNames) {
		return failureNames[k]
	}
	return "FailureKind(" + strconv.Itoa(int(k)) + ")"
}

// CallError is what Dial returns when a call did not become a usable call.
type CallError struct {
	Kind FailureKind
	// Status and Reason are the final SIP response's status code and
	// reason phrase, zero when there was none (timeouts, transport errors).
	Status int
	Reason string
	// RetryAfter is the response's Retry-After (RFC 3261 §20.33), zero when
	// absent. The dialer never waits on it: scheduling is the caller's job.
	RetryAfter time.Duration
	// Err is the underlying cause, if any: a transport or transaction error,
	// ErrNoResponse, ErrAuthFailed, media's codec error, a context error.
	Err error
}

func (e *CallError) Error() string {
	var b strings.Builder
	b.WriteString("sip: call ")
	b.WriteString(e.Kind.String())
	if e.Status != 0 {
		fmt.Fprintf(&b, " (%d %s)", e.Status, e.Reason)
	}
	if e.RetryAfter > 0 {
		fmt.Fprintf(&b, " retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *CallError) Unwrap() error { return e.Err }

// KindOf returns the FailureKind of a final response status (≥ 300):
//
//	486 Busy Here, 600 Busy Everywhere                       → Busy
//	603 Decline                                              → Rejected
//	404, 410, 480, 484, 604, every 5xx                       → Unreachable
//	408 Request Timeout, 487 Request Terminated              → NoAnswer
//	488 Not Acceptable Here, 606 Not Acceptable              → NoCommonCodec
//	anything else (3xx, 401, 403, 407, other 4xx and 6xx)    → Failed
//
// A 403 is Failed, not Rejected: trunks send it for denwa's own
// misconfiguration (credentials, caller ID, a barred route), and the Dialer
// reports it with ErrTrunkRefused. Rejected is a person declining (603).
// A 3xx the Dialer does not follow is reported Unreachable (see
// Config.Trunk), whatever KindOf says.
// 408 is what proxies send when their own ring timer (RFC 3261 §16.6 Timer C)
// expires, and 487 what follows our CANCEL, so both mean no one answered;
// 488/606 reject the SDP offer, which is the codec failure.
func KindOf(status int) FailureKind {
	switch {
	case status == 486 || status == 600:
		return Busy
	case status == 603:
		return Rejected
	case status == 404 || status == 410 || status == 480 || status == 484 || status == 604:
		return Unreachable
	case status >= 500 && status < 600:
		return Unreachable
	case status == 408 || status == 487:
		return NoAnswer
	case status == 488 || status == 606:
		return NoCommonCodec
	}
	return Failed
}

// parseRetryAfter reads a Retry-After value: delta-seconds, optionally with
// a comment and parameters ("120 (in a meeting);duration=60"). It returns 0
// for anything else, and caps absurd values at one day.
func parseRetryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	end := 0
	for end < len(v) && v[end] >= '0' && v[end] <= '9' {
		end++
	}
	if end == 0 {
		return 0
	}
	if end > 6 {
		return 24 * time.Hour
	}
	n, _ := strconv.Atoi(v[:end])
	d := time.Duration(n) * time.Second
	return min(d, 24*time.Hour)
}
