package media

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// PayloadKind is what an RTP payload type carries, as far as DTMF detection
// is concerned.
type PayloadKind uint8

const (
	KindUnknown        PayloadKind = iota // not decoded; counted as ignored
	KindPCMU                              // G.711 μ-law, 8000 Hz
	KindPCMA                              // G.711 A-law, 8000 Hz
	KindTelephoneEvent                    // RFC 4733 telephone-event/8000
)

// String returns "PCMU", "PCMA", "telephone-event" or "unknown".
func (k PayloadKind) String() string {
	switch k {
	case KindPCMU:
		return "PCMU"
	case KindPCMA:
		return "PCMA"
	case KindTelephoneEvent:
		return "telephone-event"
	}
	return "unknown"
}

// PayloadTypes maps the 128 RTP payload types (RFC 3550 §5.1, 7 bits) to
// what they carry. Index it directly: pts[101] = KindTelephoneEvent. It is
// a plain array: copying it copies the map.
type PayloadTypes [128]PayloadKind

// String lists the known entries, e.g. "0:PCMU 8:PCMA 101:telephone-event".
func (p *PayloadTypes) String() string {
	var b strings.Builder
	for pt, k := range p {
		if k != KindUnknown {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%d:%s", pt, k)
		}
	}
	return b.String()
}

// maxGuessDuration is the longest duration field (5 s) that the guess takes
// as a key press; real senders cut longer presses into segments anyway.
const maxGuessDuration = 5 * 8000

// LooksLikeTelephoneEvent is the heuristic a Receiver applies to a packet
// whose payload type is unknown but dynamic (96–127), as when the SDP that
// negotiated it was not seen: the payload is taken as RFC 4733
// telephone-events when it is 4, 8, 12 or 16 bytes long and every 4-byte
// block reads as one (RFC 4733 §2.3):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|     event     |E|R| volume    |          duration             |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// event ≤ 16 (the 16 keys and flash), R = 0, and duration ≤ 5 s (40000
// units). Audio frames of any codec denwa meets are longer than 16 bytes,
// so the guess does not take audio for events; a codec with tiny frames on
// a dynamic payload type (comfort noise, Opus DTX) could be misread, which
// is why SDP, when present, always wins and ReceiverConfig.NoGuess turns
// the guess off.
func LooksLikeTelephoneEvent(payload []byte) bool {
	if len(payload) == 0 || len(payload)%4 != 0 || len(payload) > 16 {
		return false
	}
	for i := 0; i < len(payload); i += 4 {
		if payload[i] > 16 || payload[i+1]&0x40 != 0 {
			return false
		}
		if binary.BigEndian.Uint16(payload[i+2:]) > maxGuessDuration {
			return false
		}
	}
	return true
}
