package dtmf

import "fmt"

// Key is one of the 16 DTMF keys, held as its ASCII character:
// '0'–'9', '*', '#', 'A'–'D'. The zero Key means "no key".
type Key byte

// Keys lists all 16 keys in RFC 4733 event-code order (code i is Keys[i]).
var Keys = [16]Key{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#', 'A', 'B', 'C', 'D'}

// keyCode maps a key character to its RFC 4733 event code + 1 (0 = not a key).
var keyCode = func() (t [256]uint8) {
	for i, k := range Keys {
		t[k] = uint8(i) + 1
	}
	return t
}()

// Valid reports whether k is one of the 16 DTMF keys.
func (k Key) Valid() bool { return keyCode[k] != 0 }

// String returns the key's character, or "?" for an invalid key.
func (k Key) String() string {
	if !k.Valid() {
		return "?"
	}
	return string(rune(k))
}

// Code returns the RFC 4733 event code of k (0–15), and false for an invalid key.
func (k Key) Code() (uint8, bool) {
	c := keyCode[k]
	return c - 1, c != 0
}

// KeyFromCode returns the key of an RFC 4733 event code, and false for codes
// that are not DTMF keys (16 and above: flash, tones, …).
func KeyFromCode(code uint8) (Key, bool) {
	if int(code) >= len(Keys) {
		return 0, false
	}
	return Keys[code], true
}

// ParseKeys converts a string such as "*#" or "0#" into keys.
func ParseKeys(s string) ([]Key, error) {
	ks := make([]Key, 0, len(s))
	for i := 0; i < len(s); i++ {
		k := Key(s[i])
		if k >= 'a' && k <= 'd' {
			k -= 'a' - 'A'
		}
		if !k.Valid() {
			return nil, fmt.Errorf("dtmf: %q at position %d is not a DTMF key (0-9 * # A-D)", s[i], i)
		}
		ks = append(ks, k)
	}
	return ks, nil
}

// Source tells how a key reached us.
type Source uint8

const (
	SourceUnknown Source = iota
	SourceInband         // tones in the audio, found by the Detector
	SourceRFC4733        // telephone-event packets, decoded by the EventDecoder
	SourceSIPInfo        // a SIP INFO request in the call's dialog (see ParseInfo)
)

// String returns "inband", "rfc4733", "sip-info" or "unknown".
func (s Source) String() string {
	switch s {
	case SourceInband:
		return "inband"
	case SourceRFC4733:
		return "rfc4733"
	case SourceSIPInfo:
		return "sip-info"
	}
	return "unknown"
}

// Event is one key press. Start and End are in samples at 8000 Hz on the
// producer's timeline: samples processed for a Detector, extended RTP
// timestamp units for an EventDecoder. End is exclusive.
type Event struct {
	Key    Key
	Source Source
	Start  int64
	End    int64
}

// Duration returns the length of the press in samples.
func (e Event) Duration() int64 { return e.End - e.Start }

func (e Event) String() string {
	return fmt.Sprintf("%s %s [%d,%d)", e.Key, e.Source, e.Start, e.End)
}

// SampleRate is the rate of every timeline in this package.
const SampleRate = 8000
