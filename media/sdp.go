package media

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// SDPAudio is what one m=audio line of an SDP body (RFC 4566 §5.14) says
// about the RTP its author wants to receive: the address to send it to and
// what the offered payload types carry.
type SDPAudio struct {
	// Addr is the connection address (media-level c=, else session-level)
	// and the m= port.
	Addr netip.AddrPort
	// PayloadTypes maps the m= line's formats: from a=rtpmap lines
	// (PCMU/8000, PCMA/8000, telephone-event/8000, names case-insensitive),
	// and the static 0 and 8 without one (RFC 3551 §6).
	PayloadTypes PayloadTypes
}

// ParseSDPAudio returns the m=audio lines of an SDP body that have a port
// and a connection address. It uses pion/sdp and, when pion rejects a body
// that real equipment sent (attribute order, unknown lines), falls back to
// reading the c=, m= and a=rtpmap lines alone. It fails only when neither
// finds an m=audio line.
func ParseSDPAudio(body []byte) ([]SDPAudio, error) {
	if sd, err := parseSDP(body); err == nil {
		if out := audioFromPion(sd); len(out) > 0 {
			return out, nil
		}
	}
	// pion took the body but what it read has no usable audio line (an
	// attribute it misfiled, say): read the lines alone.
	if sd, err := parseSDPLines(body); err == nil {
		if out := audioFromPion(sd); len(out) > 0 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("media: SDP has no usable m=audio line")
}

func audioFromPion(sd *sdp.SessionDescription) []SDPAudio {
	var out []SDPAudio
	session := connAddr(sd.ConnectionInformation)
	for _, md := range sd.MediaDescriptions {
		if md.MediaName.Media != "audio" || md.MediaName.Port.Value <= 0 || md.MediaName.Port.Value > 65535 {
			continue
		}
		addr := connAddr(md.ConnectionInformation)
		if !addr.IsValid() {
			addr = session
		}
		if !addr.IsValid() {
			continue
		}
		a := SDPAudio{Addr: netip.AddrPortFrom(addr, uint16(md.MediaName.Port.Value))}
		var rtpmaps []string
		for _, at := range md.Attributes {
			if at.Key == "rtpmap" {
				rtpmaps = append(rtpmaps, at.Value)
			}
		}
		a.PayloadTypes = mapFormats(md.MediaName.Formats, rtpmaps)
		out = append(out, a)
	}
	return out
}

func connAddr(c *sdp.ConnectionInformation) netip.Addr {
	if c == nil || c.Address == nil {
		return netip.Addr{}
	}
	return parseConnAddr(c.Address.Address)
}

// parseConnAddr reads a c= address, dropping a multicast /ttl suffix.
func parseConnAddr(s string) netip.Addr {
	s, _, _ = strings.Cut(s, "/")
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// mapFormats maps an m= line's formats with its rtpmap values
// ("<pt> <name>/<rate>[/<channels>]").
func mapFormats(formats, rtpmaps []string) PayloadTypes {
	var p PayloadTypes
	for _, f := range formats {
		pt, err := strconv.ParseUint(f, 10, 7)
		if err != nil {
			continue
		}
		if k := staticKind(uint8(pt)); k != KindUnknown {
			p[pt] = k
		}
	}
	for _, m := range rtpmaps {
		ptStr, enc, ok := strings.Cut(strings.TrimSpace(m), " ")
		if !ok {
			continue
		}
		pt, err := strconv.ParseUint(ptStr, 10, 7)
		if err != nil {
			continue
		}
		name, rest, _ := strings.Cut(strings.TrimSpace(enc), "/")
		rate, _, _ := strings.Cut(rest, "/")
		if rate != "8000" {
			p[pt] = KindUnknown
			continue
		}
		switch strings.ToLower(name) {
		case "pcmu":
			p[pt] = KindPCMU
		case "pcma":
			p[pt] = KindPCMA
		case "telephone-event":
			p[pt] = KindTelephoneEvent
		default:
			p[pt] = KindUnknown
		}
	}
	return p
}
