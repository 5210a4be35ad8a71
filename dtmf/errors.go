package dtmf

import "errors"

// Sentinel errors of the RFC 4733 decoder, the payload encoder, the event
// generator and the collector. They are returned as they are (not wrapped) on
// the packet path, so that returning them does not allocate; compare with
// [errors.Is].
var (
	// ErrShortPayload: a telephone-event payload shorter than 4 bytes.
	// The decoder's state is left unchanged.
	ErrShortPayload = errors.New("dtmf: telephone-event payload shorter than 4 bytes")

	// ErrTimestampRange: an extended timestamp outside ±2^62, which no
	// [Clock32] produces; refused so that time arithmetic cannot overflow.
	ErrTimestampRange = errors.New("dtmf: timestamp outside ±2^62")

	// ErrInvalidKey: a Key that is not one of the 16 DTMF keys.
	ErrInvalidKey = errors.New("dtmf: not a DTMF key")

	// ErrVolumeRange: a telephone-event volume above 63 (it is a 6-bit field).
	ErrVolumeRange = errors.New("dtmf: telephone-event volume above 63")

	// ErrInvalidConfig: a configuration value out of range; the error
	// returned wraps it with the field and value.
	ErrInvalidConfig = errors.New("dtmf: invalid configuration")
)

// Sentinel errors of ParseInfo (SIP INFO key bodies).
var (
	// ErrInfoTooLong: a body longer than MaxInfoBody, refused unread.
	ErrInfoTooLong = errors.New("dtmf: SIP INFO body too long for a key")
	// ErrInfoFormat: a Content-Type that is not a key body.
	ErrInfoFormat = errors.New("dtmf: SIP INFO body is not application/dtmf-relay or application/dtmf")
	// ErrInfoNoKey: a key body without a signal.
	ErrInfoNoKey = errors.New("dtmf: SIP INFO body has no Signal")
	// ErrInfoNotKey: a signal that is an event but not a DTMF key (flash,
	// event 16, and codes above 15).
	ErrInfoNotKey = errors.New("dtmf: SIP INFO signal is not a DTMF key (flash?)")
	// ErrInfoSyntax: a signal that is neither a key character nor a number.
	ErrInfoSyntax = errors.New("dtmf: SIP INFO signal unreadable")
)
