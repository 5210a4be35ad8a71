package media

import "errors"

// Sentinel errors; functions wrap them with %w and the values that matter,
// except on the packet path, which returns them bare so as not to allocate.
var (
	// ErrNotRTP: a packet that is not RTP version 2 (RTCP included), or
	// too short for its header, CSRC list, extension or padding.
	ErrNotRTP = errors.New("media: not an RTP packet")
	// ErrTooManyStreams: a packet of a new SSRC beyond
	// ReceiverConfig.MaxStreams; it is dropped.
	ErrTooManyStreams = errors.New("media: too many RTP streams in one session")
	// ErrConfig: a configuration value out of range.
	ErrConfig = errors.New("media: invalid configuration")
	// ErrNoPorts: every port of a PortPool is handed out or held by
	// another process. PortPool.Acquire wraps it with the range and how
	// many calls it holds.
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
	// ErrForeignRemote: the far end's SDP names an RTP address outside
	// SessionConfig.MediaNetworks, where media may not come from.
	ErrForeignRemote = errors.New("media: far end's RTP address outside the media networks")
	// ErrCrypto: an a=crypto attribute (RFC 4568) denwa cannot use: an
	// unknown suite, a bad key, an MKI or an unsupported parameter.
	ErrCrypto = errors.New("media: unusable a=crypto attribute")
	// ErrSRTPRequired: SRTP is required (SRTPRequired) and the far end's
	// answer or offer holds no acceptable a=crypto line. The SIP layer
	// ends the call (BYE after an answer, 488 to an offer).
	ErrSRTPRequired = errors.New("media: SRTP required but the far end agreed to no crypto suite")
)
