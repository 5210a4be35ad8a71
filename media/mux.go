package media

import (
	"encoding/binary"
	"fmt"

	"github.com/pion/rtp"
)

// This file holds every test of what a datagram or a payload type is: RTP,
// RTCP or neither (RFC 3550 §5.1, RFC 5761 §4), static or dynamic
// (RFC 3551 §6). A datagram is classified and parsed in one pass.

// Class is what a datagram that arrives on an RTP port carries.
type Class uint8

const (
	// ClassOther is neither RTP nor RTCP: a version other than 2, or an
	// RTP header (CSRC list, extension, padding) longer than the datagram.
	ClassOther Class = iota
	// ClassRTCP is RTCP multiplexed on the RTP port (RFC 5761 §4).
	ClassRTCP
	// ClassRTP is an RTP packet whose header fits the datagram.
	ClassRTP
)

var classNames = [...]string{ClassOther: "other", ClassRTCP: "RTCP", ClassRTP: "RTP"}

// String returns "RTP", "RTCP" or "other".
func (c Class) String() string {
	if int(c) < len(classNames) {
		return classNames[c]
	}
	return fmt.Sprintf("Class(%d)", uint8(c))
}

// ParseDatagram tells RTP from RTCP and from anything else and, for RTP,
// unmarshals the header into h (reusing its CSRC and extension slices) and
// returns the payload without padding, aliasing b. The first two bytes
// decide (RFC 5761 §4): version 2 and a second byte of 192–223 (SR 200,
// RR 201, SDES 202, BYE 203, APP 204, feedback 205–206, XR 207, and the
// rest of the range that RTP payload types 64–95 with the marker bit
// would collide with) is RTCP; any other version-2 datagram is RTP if its
// fixed header, CSRC list, extension and padding fit:
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|V=2|P|X|  CC   |M|     PT      |       sequence number         |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                           timestamp                           |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|           synchronization source (SSRC) identifier            |
//	+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+=+
//	|       CSRC identifiers (CC of them), extension if X, ...      |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|            payload ...    |  padding (P: last byte counts it) |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The bounds are checked before pion/rtp unmarshals the header, so that
// garbage costs no allocation either. h is meaningful only for ClassRTP.
func ParseDatagram(h *rtp.Header, b []byte) (Class, []byte) {
	if len(b) < 2 || b[0]>>6 != 2 {
		return ClassOther, nil
	}
	if b[1] >= 192 && b[1] <= 223 {
		return ClassRTCP, nil
	}
	if len(b) < 12 {
		return ClassOther, nil
	}
	end := 12 + 4*int(b[0]&0x0f)
	if b[0]&0x10 != 0 { // extension
		if len(b) < end+4 {
			return ClassOther, nil
		}
		end += 4 + 4*int(binary.BigEndian.Uint16(b[end+2:]))
	}
	if end > len(b) {
		return ClassOther, nil
	}
	n, err := h.Unmarshal(b)
	if err != nil { // an extension element beyond the extension
		return ClassOther, nil
	}
	end = len(b)
	if h.Padding {
		pad := int(b[end-1])
		if pad == 0 || end-pad < n {
			return ClassOther, nil
		}
		end -= pad
	}
	return ClassRTP, b[n:end]
}

// staticPT returns the static payload type of a G.711 codec: 8 for PCMA,
// 0 for PCMU.
func staticPT(k PayloadKind) uint8 {
	if k == KindPCMA {
		return 8
	}
	return 0
}

// staticKind returns what a static payload type carries, as far as denwa
// decodes it: PCMU for 0, PCMA for 8, KindUnknown for the rest.
func staticKind(pt uint8) PayloadKind {
	switch pt {
	case 0:
		return KindPCMU
	case 8:
		return KindPCMA
	}
	return KindUnknown
}

// DefaultPayloadTypes returns the static assignments of RFC 3551 §6 that
// denwa decodes: 0 = PCMU, 8 = PCMA. Telephone-events have no static
// payload type; see [LooksLikeTelephoneEvent] for how unknown dynamic
// payload types are guessed.
func DefaultPayloadTypes() PayloadTypes {
	var p PayloadTypes
	p[staticPT(KindPCMU)] = KindPCMU
	p[staticPT(KindPCMA)] = KindPCMA
	return p
}

// IsDynamic reports whether pt is in the dynamic range 96–127 (RFC 3551 §6).
func IsDynamic(pt uint8) bool { return pt >= 96 && pt <= 127 }
