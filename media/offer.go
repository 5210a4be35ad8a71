package media

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
)

// SDP offer/answer for one G.711 audio stream (RFC 3264 on RFC 4566),
// built and read with github.com/pion/sdp/v3. The offer denwa sends:
//
//	v=0
//	o=denwa 5092817364 1 IN IP4 192.0.2.10
//	s=denwa
//	c=IN IP4 192.0.2.10
//	t=0 0
//	m=audio 30000 RTP/AVP 0 8 101
//	a=rtpmap:0 PCMU/8000
//	a=rtpmap:8 PCMA/8000
//	a=rtpmap:101 telephone-event/8000
//	a=fmtp:101 0-16
//	a=ptime:20
//	a=sendrecv
//
// Payload type numbers in an SDP say what its author wants to receive
// (RFC 3264 §5.1): we send with the far end's numbers and accept ours and,
// where they do not clash, the far end's too, since equipment in the field
// often sends with the numbers it announced rather than ours.

// DefaultEventPT is the telephone-event payload type denwa offers unless
// told otherwise.
const DefaultEventPT uint8 = 101

// The values of Answer.Direction (RFC 4566 §6).
const (
	SendRecv = "sendrecv"
	SendOnly = "sendonly"
	RecvOnly = "recvonly"
	Inactive = "inactive"
)

// OfferConfig describes the audio stream denwa offers. Zero values are
// documented per field.
type OfferConfig struct {
	// Addr is the address the far end sends RTP to (c= and o=). Required:
	// a valid, specified IPv4 or IPv6 address.
	Addr netip.Addr
	// Port is the RTP port (m=). Required, non-zero.
	Port uint16
	// Codecs lists the offered codecs, KindPCMU and KindPCMA, in order of
	// preference. Nil means PCMU then PCMA; []PayloadKind{KindPCMA} offers
	// A-law only.
	Codecs []PayloadKind
	// EventPT is the telephone-event payload type, 96–127. Zero means
	// DefaultEventPT (101).
	EventPT uint8
	// NoEvents leaves telephone-event out of the offer: keys arrive
	// in-band only.
	NoEvents bool
	// SessionID and SessionVersion go into o=. A zero SessionID is drawn
	// at random; a zero SessionVersion means 1. A re-offer keeps the ID
	// and increments the version (RFC 3264 §8).
	SessionID, SessionVersion uint64
	// Username goes into o=; empty means "denwa".
	Username string
	// SRTP offers SDES-SRTP (RFC 4568) with the Crypto lines:
	// SRTPRequired as RTP/SAVP, SRTPOptional as RTP/AVP with a=crypto
	// (best-effort SRTP, see docs/design-notes.md). Zero: plain RTP/AVP.
	SRTP SRTPMode
	// Crypto are the a=crypto lines of an SRTP offer, our keys, one per
	// suite in order of preference: OfferCrypto() draws them, fresh for
	// every call. ParseAnswer needs the same lines to pair the answer's
	// key with ours. Required when SRTP is on; ignored otherwise.
	Crypto []Crypto
}

// AnswerConfig describes how denwa answers an offer (the phone simulator's
// side). Zero values are documented per field.
type AnswerConfig struct {
	// Addr and Port are where we receive RTP, as in OfferConfig; required.
	Addr netip.Addr
	Port uint16
	// Codecs lists the codecs we accept; the offer's order picks among
	// them (RFC 3264 §6.1). Nil means PCMU and PCMA.
	Codecs []PayloadKind
	// EventPT, if non-zero, answers telephone-event with this payload
	// type instead of the offer's (as some endpoints in the field do); we
	// then also send events with it. Zero keeps the offer's number.
	EventPT uint8
	// NoEvents answers without telephone-event: keys go in-band.
	NoEvents bool
	// SessionID, SessionVersion and Username are as in OfferConfig.
	SessionID, SessionVersion uint64
	Username                  string
	// SRTP is what the answerer accepts: SRTPOff plain RTP/AVP only (an
	// RTP/SAVP line is rejected, a=crypto on RTP/AVP ignored);
	// SRTPOptional SRTP when the offer carries a usable a=crypto line,
	// plain RTP otherwise; SRTPRequired SRTP only. With SRTP the answer
	// carries the chosen line's tag and suite with a fresh key of ours.
	SRTP SRTPMode
}

// Answer is the outcome of an offer/answer exchange, from our side: where
// to send, what to send with, and what to accept.
type Answer struct {
	// Remote is where to send RTP: the far end's c= address and m= port.
	Remote netip.AddrPort
	// Codec (KindPCMU or KindPCMA) and PayloadType are what we send audio
	// with: the far end's first listed codec that we offered or accept,
	// under the far end's number.
	Codec       PayloadKind
	PayloadType uint8
	// EventPT is the payload type to send telephone-events with; zero
	// when none was negotiated (keys are then in-band only).
	EventPT uint8
	// Receive maps the payload types we accept: ours, plus the far end's
	// where they do not clash with ours.
	Receive PayloadTypes
	// Direction is the far end's a=sendrecv/sendonly/recvonly/inactive
	// (SendRecv when absent); for AnswerOffer, the direction we answered.
	Direction string
	// Ptime is the far end's a=ptime, zero when absent. denwa always
	// sends 20 ms frames; this is informational.
	Ptime time.Duration
	// SRTP holds the negotiated suite and keys; zero for plain RTP. It
	// prints no key.
	SRTP SRTPKeys
}

// SessionConfig returns a SessionConfig with the negotiated fields set:
// Remote, Codec, PayloadType, EventPT and Receive. The caller adds Conn and
// the rest.
func (a *Answer) SessionConfig() SessionConfig {
	return SessionConfig{Remote: a.Remote, Codec: a.Codec, PayloadType: a.PayloadType, EventPT: a.EventPT, Receive: a.Receive, SRTP: a.SRTP}
}

// String summarises the answer, e.g. "192.0.2.1:4000 PCMU/0 te=101 sendrecv",
// followed by " SRTP <suite>" when SRTP was negotiated.
func (a *Answer) String() string {
	sec := ""
	if a.SRTP.Enabled() {
		sec = " " + a.SRTP.String()
	}
	return fmt.Sprintf("%s %s/%d te=%d %s%s", a.Remote, a.Codec, a.PayloadType, a.EventPT, a.Direction, sec)
}

var defaultCodecs = []PayloadKind{KindPCMU, KindPCMA}

// checkCodecs validates a codec list; nil means PCMU, PCMA.
func checkCodecs(codecs []PayloadKind) ([]PayloadKind, error) {
	if len(codecs) == 0 {
		return defaultCodecs, nil
	}
	for i, c := range codecs {
		if c != KindPCMU && c != KindPCMA {
			return nil, fmt.Errorf("%w: codec %s is not PCMU or PCMA", ErrConfig, c)
		}
		if slices.Contains(codecs[:i], c) {
			return nil, fmt.Errorf("%w: codec %s listed twice", ErrConfig, c)
		}
	}
	return codecs, nil
}

func checkEventPT(pt uint8) (uint8, error) {
	if pt == 0 {
		return DefaultEventPT, nil
	}
	if !IsDynamic(pt) {
		return 0, fmt.Errorf("%w: telephone-event payload type %d is not dynamic (96–127)", ErrConfig, pt)
	}
	return pt, nil
}

func checkAddr(a netip.Addr, port uint16) error {
	if !a.IsValid() || a.IsUnspecified() {
		return fmt.Errorf("%w: SDP needs a specified address, not %v", ErrConfig, a)
	}
	if port == 0 {
		return fmt.Errorf("%w: SDP needs a non-zero RTP port", ErrConfig)
	}
	return nil
}

// offerTypes is the payload-type map an offer announces.
func offerTypes(codecs []PayloadKind, eventPT uint8) PayloadTypes {
	var p PayloadTypes
	for _, c := range codecs {
		p[staticPT(c)] = c
	}
	if eventPT != 0 {
		p[eventPT] = KindTelephoneEvent
	}
	return p
}

// Offer returns the SDP offer for one audio stream (see the example at the
// top of offer.go).
func Offer(cfg OfferConfig) ([]byte, error) {
	if err := checkAddr(cfg.Addr, cfg.Port); err != nil {
		return nil, err
	}
	codecs, err := checkCodecs(cfg.Codecs)
	if err != nil {
		return nil, err
	}
	var ev uint8
	if !cfg.NoEvents {
		if ev, err = checkEventPT(cfg.EventPT); err != nil {
			return nil, err
		}
	}
	proto, err := offerProto(cfg)
	if err != nil {
		return nil, err
	}
	pts := make([]uint8, 0, len(codecs)+1)
	for _, c := range codecs {
		pts = append(pts, staticPT(c))
	}
	sd := newSessionDescription(cfg.Addr, cfg.Username, cfg.SessionID, cfg.SessionVersion)
	md := audioMedia(cfg.Port, proto, pts, offerTypes(codecs, ev), ev, SendRecv)
	if cfg.SRTP != SRTPOff {
		addCrypto(md, cfg.Crypto...)
	}
	sd.MediaDescriptions = []*sdp.MediaDescription{md}
	return sd.Marshal()
}

func newSessionDescription(addr netip.Addr, user string, id, version uint64) *sdp.SessionDescription {
	addr = addr.Unmap()
	if user == "" {
		user = "denwa"
	}
	if id == 0 {
		id = rand.Uint64N(1<<62) + 1 // RFC 4566 §5.2: fits an NTP-format timestamp
	}
	if version == 0 {
		version = 1
	}
	at := "IP4"
	if addr.Is6() {
		at = "IP6"
	}
	return &sdp.SessionDescription{
		Origin: sdp.Origin{Username: user, SessionID: id, SessionVersion: version,
			NetworkType: "IN", AddressType: at, UnicastAddress: addr.String()},
		SessionName:           "denwa",
		ConnectionInformation: &sdp.ConnectionInformation{NetworkType: "IN", AddressType: at, Address: &sdp.Address{Address: addr.String()}},
		TimeDescriptions:      []sdp.TimeDescription{{Timing: sdp.Timing{}}},
	}
}

// audioMedia builds an m=audio section listing pts then eventPT (if not 0).
func audioMedia(port uint16, proto string, pts []uint8, kinds PayloadTypes, eventPT uint8, dir string) *sdp.MediaDescription {
	if eventPT != 0 {
		pts = append(pts, eventPT)
	}
	md := &sdp.MediaDescription{MediaName: sdp.MediaName{Media: "audio", Port: sdp.RangedPort{Value: int(port)}, Protos: strings.Split(proto, "/")}}
	for _, pt := range pts {
		md.MediaName.Formats = append(md.MediaName.Formats, strconv.Itoa(int(pt)))
	}
	for _, pt := range pts {
		name := "telephone-event"
		if k := kinds[pt]; k != KindTelephoneEvent {
			name = k.String()
		}
		md.Attributes = append(md.Attributes, sdp.NewAttribute("rtpmap", fmt.Sprintf("%d %s/8000", pt, name)))
	}
	if eventPT != 0 {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("fmtp", fmt.Sprintf("%d 0-16", eventPT)))
	}
	md.Attributes = append(md.Attributes, sdp.NewAttribute("ptime", "20"), sdp.NewPropertyAttribute(dir))
	return md
}

// sdpAudio is what we read from one m= line.
type sdpAudio struct {
	media   string
	proto   string
	port    int
	addr    netip.Addr
	formats []uint8  // in the m= line's order
	raw     []string // the formats as written
	kinds   PayloadTypes
	mapped  [128]bool // has an a=rtpmap line
	dir     string
	ptime   time.Duration
	crypto  []string // a=crypto values
}

// readMedia lists the m= lines of a body with what denwa needs of them.
func readMedia(body []byte) ([]sdpAudio, error) {
	sd, err := parseSDP(body)
	if err != nil {
		return nil, err
	}
	session := connAddr(sd.ConnectionInformation)
	sessionDir := direction(sd.Attributes, SendRecv)
	out := make([]sdpAudio, 0, len(sd.MediaDescriptions))
	for _, md := range sd.MediaDescriptions {
		m := sdpAudio{media: md.MediaName.Media, proto: strings.Join(md.MediaName.Protos, "/"), port: md.MediaName.Port.Value}
		if m.addr = connAddr(md.ConnectionInformation); !m.addr.IsValid() {
			m.addr = session
		}
		var rtpmaps []string
		for _, a := range md.Attributes {
			switch strings.ToLower(a.Key) {
			case "rtpmap":
				rtpmaps = append(rtpmaps, a.Value)
				if ptStr, _, ok := strings.Cut(strings.TrimSpace(a.Value), " "); ok {
					if pt, err := strconv.ParseUint(ptStr, 10, 7); err == nil {
						m.mapped[pt] = true
					}
				}
			case "crypto":
				m.crypto = append(m.crypto, a.Value)
			case "ptime":
				if ms, err := strconv.ParseFloat(strings.TrimSpace(a.Value), 64); err == nil && ms > 0 && ms < 1000 {
					m.ptime = time.Duration(ms * float64(time.Millisecond))
				}
			}
		}
		m.kinds = mapFormats(md.MediaName.Formats, rtpmaps)
		for pt, k := range m.kinds {
			if k == KindTelephoneEvent && !IsDynamic(uint8(pt)) {
				m.kinds[pt] = KindUnknown // RFC 4733 has no static payload type
			}
		}
		for _, f := range md.MediaName.Formats {
			if pt, err := strconv.ParseUint(f, 10, 7); err == nil {
				m.formats = append(m.formats, uint8(pt))
			}
		}
		m.raw = md.MediaName.Formats
		m.dir = direction(md.Attributes, sessionDir)
		out = append(out, m)
	}
	return out, nil
}

func direction(attrs []sdp.Attribute, def string) string {
	for _, a := range attrs {
		switch k := strings.ToLower(a.Key); k {
		case SendRecv, SendOnly, RecvOnly, Inactive:
			return k
		}
	}
	return def
}

// parseSDP unmarshals body with pion/sdp and, when pion refuses a body
// that real equipment sends (lines out of order, missing s= or t=, junk),
// reads its c=, m= and a= lines alone.
func parseSDP(body []byte) (*sdp.SessionDescription, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err == nil {
		return &sd, nil
	}
	return parseSDPLines(body)
}

func parseSDPLines(body []byte) (*sdp.SessionDescription, error) {
	sd := &sdp.SessionDescription{}
	var md *sdp.MediaDescription
	for line := range strings.SplitSeq(string(body), "\n") {
		line = strings.TrimSpace(line)
		if len(line) < 2 || line[1] != '=' {
			continue
		}
		v := line[2:]
		switch line[0] {
		case 'c':
			f := strings.Fields(v)
			if len(f) != 3 {
				continue
			}
			ci := &sdp.ConnectionInformation{NetworkType: f[0], AddressType: f[1], Address: &sdp.Address{Address: f[2]}}
			if md == nil {
				sd.ConnectionInformation = ci
			} else {
				md.ConnectionInformation = ci
			}
		case 'm':
			f := strings.Fields(v)
			if len(f) < 3 {
				md = &sdp.MediaDescription{} // unusable, but it owns the lines that follow
				sd.MediaDescriptions = append(sd.MediaDescriptions, md)
				continue
			}
			portStr, _, _ := strings.Cut(f[1], "/")
			port, err := strconv.Atoi(portStr)
			if err != nil || port < 0 || port > 65535 {
				port = -1
			}
			md = &sdp.MediaDescription{MediaName: sdp.MediaName{Media: f[0], Port: sdp.RangedPort{Value: port},
				Protos: strings.Split(f[2], "/"), Formats: f[3:]}}
			sd.MediaDescriptions = append(sd.MediaDescriptions, md)
		case 'a':
			k, val, _ := strings.Cut(v, ":")
			a := sdp.Attribute{Key: k, Value: val}
			if md == nil {
				sd.Attributes = append(sd.Attributes, a)
			} else {
				md.Attributes = append(md.Attributes, a)
			}
		}
	}
	if len(sd.MediaDescriptions) == 0 {
		return nil, fmt.Errorf("%w: no m= line", ErrSDP)
	}
	return sd, nil
}

// firstAudio returns the first m=audio line with a port; ErrMediaRejected
// when every m=audio line has port 0.
func firstAudio(ms []sdpAudio) (*sdpAudio, error) {
	rejected := false
	for i := range ms {
		if ms[i].media == "audio" {
			if ms[i].port == 0 {
				rejected = true
				continue
			}
			return &ms[i], nil
		}
	}
	if rejected {
		return nil, ErrMediaRejected
	}
	return nil, fmt.Errorf("%w: no m=audio line", ErrSDP)
}

// mergeTypes returns ours with theirs added where ours has nothing.
func mergeTypes(ours, theirs PayloadTypes) PayloadTypes {
	for pt, k := range theirs {
		if ours[pt] == KindUnknown {
			ours[pt] = k
		}
	}
	return ours
}

// ParseAnswer reads the far end's SDP answer to the offer made with
// offered (only its Codecs, EventPT and NoEvents matter here). It takes
// the first m=audio line with a port and returns where to send, the first codec in
// the answer's order that we offered, the telephone-event payload type
// the far end chose (possibly not ours; zero when absent: keys in-band
// only) and the payload types to accept. Errors wrap ErrSDP (unreadable,
// no m=audio, no address), ErrMediaRejected (port 0) or ErrNoCommonCodec.
func ParseAnswer(body []byte, offered OfferConfig) (Answer, error) {
	codecs, err := checkCodecs(offered.Codecs)
	if err != nil {
		return Answer{}, err
	}
	var ourEv uint8
	if !offered.NoEvents {
		if ourEv, err = checkEventPT(offered.EventPT); err != nil {
			return Answer{}, err
		}
	}
	ms, err := readMedia(body)
	if err != nil {
		return Answer{}, fmt.Errorf("media: SDP answer: %w", err)
	}
	m, err := firstAudio(ms)
	if err != nil {
		return Answer{}, fmt.Errorf("media: SDP answer: %w", err)
	}
	if m.port < 0 || m.port > 65535 {
		return Answer{}, fmt.Errorf("%w: answer's m=audio port %d", ErrSDP, m.port)
	}
	if !m.addr.IsValid() {
		return Answer{}, fmt.Errorf("%w: answer has no connection address", ErrSDP)
	}
	theirs := m.kinds
	// Leniency: our own telephone-event number echoed without an rtpmap
	// means what we offered it for.
	if ourEv != 0 && slices.Contains(m.formats, ourEv) && theirs[ourEv] == KindUnknown && !m.mapped[ourEv] {
		theirs[ourEv] = KindTelephoneEvent
	}
	a := Answer{
		Remote:    netip.AddrPortFrom(m.addr, uint16(m.port)),
		Direction: m.dir,
		Ptime:     m.ptime,
	}
	for _, pt := range m.formats {
		if k := theirs[pt]; (k == KindPCMU || k == KindPCMA) && slices.Contains(codecs, k) {
			a.Codec, a.PayloadType = k, pt
			break
		}
	}
	if a.Codec == KindUnknown {
		return Answer{}, fmt.Errorf("%w: answer lists %v, we offered %v", ErrNoCommonCodec, m.formats, codecs)
	}
	if a.SRTP, err = answeredSRTP(m, offered); err != nil {
		return Answer{}, err
	}
	if ourEv != 0 {
		for _, pt := range m.formats {
			if theirs[pt] == KindTelephoneEvent {
				a.EventPT = pt
				break
			}
		}
	}
	ours := offerTypes(codecs, ourEv)
	if a.EventPT == 0 {
		// No events negotiated: accept only audio from the far end's map.
		for pt, k := range theirs {
			if k == KindTelephoneEvent {
				theirs[pt] = KindUnknown
			}
		}
	}
	a.Receive = mergeTypes(ours, theirs)
	return a, nil
}

// AnswerOffer answers an SDP offer (the phone simulator's side): the first
// m=audio line with a port and a codec in common is accepted with one
// codec (the first in the offer's order that cfg accepts) and
// telephone-event if offered; every other m= line is rejected with port 0
// (RFC 3264 §6). It returns the answer body and what was negotiated:
// Remote is the offerer's address, PayloadType and EventPT the numbers to
// send with. Errors wrap ErrSDP, ErrMediaRejected (no audio line with a
// port) or ErrNoCommonCodec (the UAS then answers 488).
func AnswerOffer(offer []byte, cfg AnswerConfig) ([]byte, Answer, error) {
	if err := checkAddr(cfg.Addr, cfg.Port); err != nil {
		return nil, Answer{}, err
	}
	codecs, err := checkCodecs(cfg.Codecs)
	if err != nil {
		return nil, Answer{}, err
	}
	if cfg.EventPT != 0 && !IsDynamic(cfg.EventPT) {
		return nil, Answer{}, fmt.Errorf("%w: telephone-event payload type %d is not dynamic (96–127)", ErrConfig, cfg.EventPT)
	}
	if cfg.SRTP > SRTPRequired {
		return nil, Answer{}, fmt.Errorf("%w: SRTP mode %v", ErrConfig, cfg.SRTP)
	}
	ms, err := readMedia(offer)
	if err != nil {
		return nil, Answer{}, fmt.Errorf("media: SDP offer: %w", err)
	}
	sd := newSessionDescription(cfg.Addr, cfg.Username, cfg.SessionID, cfg.SessionVersion)
	var a Answer
	found, sawAudio := false, false
	var noCodec, noSRTP error
	for i := range ms {
		m := &ms[i]
		if found || m.media != "audio" || m.port <= 0 || m.port > 65535 || !m.addr.IsValid() || !isRTPProto(m.proto) {
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		ourCrypto, theirCrypto, err := offeredSRTP(m, cfg.SRTP)
		if err != nil {
			if noSRTP == nil {
				noSRTP = err
			}
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		sawAudio = true
		var codec PayloadKind
		var pt uint8
		for _, f := range m.formats {
			if k := m.kinds[f]; (k == KindPCMU || k == KindPCMA) && slices.Contains(codecs, k) {
				codec, pt = k, f
				break
			}
		}
		if codec == KindUnknown {
			noCodec = fmt.Errorf("%w: offer lists %v, we accept %v", ErrNoCommonCodec, m.formats, codecs)
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		var theirEv uint8
		for _, f := range m.formats {
			if m.kinds[f] == KindTelephoneEvent {
				theirEv = f
				break
			}
		}
		var ev uint8
		if theirEv != 0 && !cfg.NoEvents {
			ev = theirEv
			if cfg.EventPT != 0 {
				ev = cfg.EventPT
			}
		}
		dir := SendRecv
		switch m.dir {
		case SendOnly:
			dir = RecvOnly
		case RecvOnly:
			dir = SendOnly
		case Inactive:
			dir = Inactive
		}
		var ours PayloadTypes
		ours[pt] = codec
		if ev != 0 {
			ours[ev] = KindTelephoneEvent
		}
		md := audioMedia(cfg.Port, m.proto, []uint8{pt}, ours, ev, dir)
		if ourCrypto.key != nil {
			addCrypto(md, ourCrypto)
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, md)
		theirs := m.kinds
		if ev == 0 {
			for f, k := range theirs {
				if k == KindTelephoneEvent {
					theirs[f] = KindUnknown
				}
			}
		}
		a = Answer{
			Remote:      netip.AddrPortFrom(m.addr, uint16(m.port)),
			Codec:       codec,
			PayloadType: pt,
			EventPT:     ev,
			Receive:     mergeTypes(ours, theirs),
			Direction:   dir,
			Ptime:       m.ptime,
		}
		if ourCrypto.key != nil {
			a.SRTP = newSRTPKeys(ourCrypto, theirCrypto)
		}
		found = true
	}
	switch {
	case found:
	case noCodec != nil:
		return nil, Answer{}, noCodec
	case noSRTP != nil:
		return nil, Answer{}, noSRTP
	case !sawAudio:
		return nil, Answer{}, fmt.Errorf("media: SDP offer: %w", ErrMediaRejected)
	}
	body, err := sd.Marshal()
	if err != nil {
		return nil, Answer{}, fmt.Errorf("media: SDP answer: %w", err)
	}
	return body, a, nil
}

// rejectedMedia answers an m= line with port 0, keeping its media, proto
// and first format (RFC 3264 §6: the line must stay, with at least one
// format).
func rejectedMedia(m *sdpAudio) *sdp.MediaDescription {
	media, proto, format := m.media, m.proto, "0"
	if media == "" {
		media = "audio"
	}
	if proto == "" {
		proto = "RTP/AVP"
	}
	if len(m.raw) > 0 {
		format = m.raw[0]
	}
	return &sdp.MediaDescription{MediaName: sdp.MediaName{Media: media, Port: sdp.RangedPort{Value: 0},
		Protos: strings.Split(proto, "/"), Formats: []string{format}}}
}
