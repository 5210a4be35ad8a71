package media

import "errors"

// Sentinel errors of the sending side: port pool, SDP offer/answer, pacer
// and sessions. They are kept apart from errors.go (the receive side's) so
// that the two halves of the package can be worked on at the same time;
// the convention is the same: wrapped with %w and the values that matter.
var (
	// ErrNoPorts: every port of a PortPool is handed out or held by
	// another process.
	ErrNoPorts = errors.New("media: no free RTP port")
	// ErrSDP: an SDP body that cannot be read, or that has no usable
	// m=audio line.
	ErrSDP = errors.New("media: unusable SDP")
	// ErrNoCommonCodec: the far end's SDP lists neither of the G.711
	// codecs we offered or accept. The SIP layer ends the call (BYE after
	// an answer, 488 to an offer).
	ErrNoCommonCodec = errors.New("media: no codec in common")
	// ErrMediaRejected: the far end's m=audio line has port 0 (RFC 3264
	// §6: the stream is rejected).
	ErrMediaRejected = errors.New("media: audio stream rejected (port 0)")
	// ErrSessionClosed: the session was closed; Err reports it after
	// Close, and Play and SendKey return it.
	ErrSessionClosed = errors.New("media: session closed")
	// ErrMediaTimeout: no RTP arrived from the far end for
	// SessionConfig.MediaTimeout; the call layer maps it to hung-up.
	ErrMediaTimeout = errors.New("media: no RTP received (media timeout)")
	// ErrPacerClosed: the session's Pacer was closed under it, or a
	// session was started on a closed Pacer.
	ErrPacerClosed = errors.New("media: pacer closed")
	// ErrNoTelephoneEvent: an RFC 4733 key was asked for on a session
	// that negotiated no telephone-event payload type.
	ErrNoTelephoneEvent = errors.New("media: no telephone-event payload type negotiated")
	// ErrBadFrame: a frame given to Play is not one 20 ms G.711 frame
	// (160 bytes).
	ErrBadFrame = errors.New("media: frame is not 160 bytes of G.711")
)
