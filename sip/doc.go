// Package sip is denwa's SIP user agent, on github.com/emiago/sipgo.
//
// A Dialer places outbound verification calls through a PBX or carrier
// trunk (RFC 3261): INVITE with an SDP offer built by package media, digest
// authentication on 401/407 (RFC 7616, MD5 and SHA-256, qop=auth), progress
// reports for 100/180/183, CANCEL when the ring timeout runs out, ACK for the
// 2xx, and BYE both ways. Every way a call can fail to become usable is a
// *CallError with a FailureKind (busy, rejected, unreachable, no-answer,
// no-common-codec, failed), the SIP status and the Retry-After, if any.
// An answered Call plays frames and hands out the keys the far end pressed
// (package media's session does the RTP). In the dialog it answers
// re-INVITEs and UPDATEs (hold, resume, moved media, session refresh;
// RFC 3264 §8) and keeps RFC 4028 session timers when the far end asks for
// them (reinvite*.go). Optionally the Dialer keeps its contact registered
// (register.go, RFC 3261 §10) and puts the caller's asserted identity on
// its INVITEs (identity.go, RFC 3325, RFC 3323).
//
// A Phone is the other end: a small UAS that answers (or refuses with a
// given status), plays silence and presses keys in-band or as RFC 4733
// events. denwa demo, the tests and test benches call it.
//
// Both are built on one endpoint (endpoint.go): a sipgo user agent with
// its server, client and listener, an RTP port pool, and the pacer that
// sends every call's RTP.
//
// Guarantees:
//   - sip never imports denwa's enroll package nor net/http itself (sipgo's
//     WebSocket transport brings net/http in transitively); cmd/denwa adapts
//     a Call to enroll's Line.
//   - Passwords live only in memory: they are never logged and never appear
//     in errors or in Config.String.
//   - Every goroutine has an owner: a Call ends its own when it ends, a
//     Dialer or Phone when it is closed (a Dialer's registration first
//     removes its binding).
//   - A Call's end cause is whichever ended it first (the far end's BYE,
//     the media timeout, MaxDuration, an expired session timer, Hangup),
//     and Play, Err and Hangup report that one cause: a BYE at any moment
//     gives ErrRemoteHangup.
//     A Call sends at most one BYE, and none after the far end's.
//   - The dialer never sleeps on Retry-After; it reports it.
package sip
