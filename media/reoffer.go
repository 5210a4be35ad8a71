package media

import (
	"bytes"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
)

// In-dialog offers (RFC 3264 §8): once a call is up, the far end may send
// a new offer in a re-INVITE or an UPDATE to put the call on hold
// (a=sendonly or a=inactive, or the older c=0.0.0.0 of RFC 2543), to
// resume it (a=sendrecv), to move its media (another c= address or m=
// port), to change codec, or only to refresh the session with its SDP
// unchanged. AnswerReoffer answers such an offer from our current
// description; Reoffer makes our offer when the far end's re-INVITE
// carries none (RFC 3261 §14.2: the offer then goes in our 2xx and the
// answer comes in the ACK).
//
// Our side of the session does not move: the answer keeps our address,
// port, o= session ID and username, and its o= version is incremented only
// when the answer differs from what we said last (RFC 3264 §8).

// ReofferConfig is what AnswerReoffer and Reoffer start from. Zero values
// are documented per field.
type ReofferConfig struct {
	// Local is our current session description: the offer or answer we
	// sent last. Its o= line, c= address and m=audio port are kept.
	// Required.
	Local []byte
	// Remote is the far end's current description (the last offer or
	// answer it sent). An offer identical to it, o= version included, is
	// a session refresh and gets Local back unchanged. Nil: none known.
	Remote []byte
	// Codecs are the codecs we accept, as in AnswerConfig: nil means
	// PCMU and PCMA. An offer may move the call to any of them.
	Codecs []PayloadKind
	// NoEvents answers without telephone-event.
	NoEvents bool
	// Current is what is negotiated now (Direction ours). The codec we
	// send with is kept while the offer lists it, and Remote is kept when
	// the offer holds with an unspecified c= address.
	Current Answer
}

// Reanswer is the outcome of an in-dialog offer.
type Reanswer struct {
	// Body is our answer: Local itself when nothing changed.
	Body []byte
	// Media is what is negotiated from now on: where to send, codec and
	// payload types, what to accept, and Direction, ours (recvonly to
	// their sendonly, inactive to inactive or to c=0.0.0.0).
	Media Answer
	// Changed reports that Body differs from Local (and so carries Local's
	// o= version plus one).
	Changed bool
}

// AnswerDirection returns the direction that answers an offer's
// (RFC 3264 §6.1): recvonly to sendonly, sendonly to recvonly, inactive
// to inactive, sendrecv otherwise.
func AnswerDirection(offered string) string {
	switch offered {
	case SendOnly:
		return RecvOnly
	case RecvOnly:
		return SendOnly
	case Inactive:
		return Inactive
	}
	return SendRecv
}

// localDesc is what we keep of our own description.
type localDesc struct {
	user     string
	id, ver  uint64
	addr     netip.Addr
	port     uint16
	eventPT  uint8
	original []byte
}

func readLocal(local []byte) (localDesc, error) {
	o, ok := readOrigin(local)
	if !ok {
		return localDesc{}, fmt.Errorf("%w: our current SDP has no usable o= line", ErrConfig)
	}
	ms, err := readMedia(local)
	if err != nil {
		return localDesc{}, fmt.Errorf("%w: our current SDP: %v", ErrConfig, err)
	}
	m, err := firstAudio(ms)
	if err != nil || m.port <= 0 || m.port > 65535 || !m.addr.IsValid() {
		return localDesc{}, fmt.Errorf("%w: our current SDP has no m=audio line with an address", ErrConfig)
	}
	l := localDesc{user: o.Username, id: o.SessionID, ver: o.SessionVersion,
		addr: m.addr, port: uint16(m.port), original: local}
	for _, f := range m.formats {
		if m.kinds[f] == KindTelephoneEvent {
			l.eventPT = f
			break
		}
	}
	return l, nil
}

// readOrigin reads the o= line by itself: our own description may carry
// an m= line we rejected as the offer wrote it, which pion would refuse.
func readOrigin(body []byte) (sdp.Origin, bool) {
	for line := range strings.SplitSeq(string(body), "\n") {
		v, ok := strings.CutPrefix(strings.TrimSpace(line), "o=")
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) != 6 {
			return sdp.Origin{}, false
		}
		id, err1 := strconv.ParseUint(f[1], 10, 64)
		ver, err2 := strconv.ParseUint(f[2], 10, 64)
		if err1 != nil || err2 != nil || id == 0 || ver == math.MaxUint64 {
			return sdp.Origin{}, false
		}
		return sdp.Origin{Username: f[0], SessionID: id, SessionVersion: ver}, true
	}
	return sdp.Origin{}, false
}

// finish returns body as the new local description: Local itself when
// body (written with Local's version) is the same, else body again with
// the version incremented.
func (l *localDesc) finish(sd *sdp.SessionDescription) ([]byte, bool, error) {
	body, err := sd.Marshal()
	if err != nil {
		return nil, false, fmt.Errorf("media: SDP: %w", err)
	}
	if bytes.Equal(body, l.original) {
		return l.original, false, nil
	}
	sd.Origin.SessionVersion = l.ver + 1
	body, err = sd.Marshal()
	if err != nil {
		return nil, false, fmt.Errorf("media: SDP: %w", err)
	}
	return body, true, nil
}

// AnswerReoffer answers an in-dialog SDP offer (RFC 3264 §8). An offer
// identical to cfg.Remote is a refresh: Local comes back, Changed false,
// Media cfg.Current. Otherwise the first m=audio line with a port, an
// RTP/AVP profile and a codec we accept is answered, every other m= line
// rejected with port 0: the answer lists each accepted codec of the offer
// once (and telephone-event unless NoEvents), under the offer's numbers
// and in its order, with the direction that answers the offer's. Errors
// wrap ErrConfig (cfg.Local unusable), ErrSDP, ErrMediaRejected or
// ErrNoCommonCodec: the SIP layer then answers 488 and the session stays
// as it was (RFC 3261 §14.2). On an SRTP session (Current.SRTP) the offer
// must keep the far end's key, and the answer carries ours (keptCrypto).
func AnswerReoffer(offer []byte, cfg ReofferConfig) (Reanswer, error) {
	codecs, err := checkCodecs(cfg.Codecs)
	if err != nil {
		return Reanswer{}, err
	}
	l, err := readLocal(cfg.Local)
	if err != nil {
		return Reanswer{}, err
	}
	if cfg.Remote != nil && bytes.Equal(offer, cfg.Remote) {
		return Reanswer{Body: cfg.Local, Media: cfg.Current}, nil
	}
	ms, err := readMedia(offer)
	if err != nil {
		return Reanswer{}, fmt.Errorf("media: SDP offer: %w", err)
	}
	sd := newSessionDescription(l.addr, l.user, l.id, l.ver)
	var a Answer
	found, sawAudio := false, false
	var noCodec error
	for i := range ms {
		m := &ms[i]
		if found || m.media != "audio" || m.port <= 0 || m.port > 65535 || !m.addr.IsValid() || !isRTPProto(m.proto) {
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		sawAudio = true
		ourCrypto, err := keptCrypto(m, cfg.Current.SRTP)
		if err != nil {
			noCodec = err
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		var pts []uint8
		var ours PayloadTypes
		for _, f := range m.formats {
			if k := m.kinds[f]; (k == KindPCMU || k == KindPCMA) && slices.Contains(codecs, k) && !hasKind(ours, k) {
				pts = append(pts, f)
				ours[f] = k
			}
		}
		if len(pts) == 0 {
			noCodec = fmt.Errorf("%w: offer lists %v, we accept %v", ErrNoCommonCodec, m.formats, codecs)
			sd.MediaDescriptions = append(sd.MediaDescriptions, rejectedMedia(m))
			continue
		}
		a = Answer{Codec: ours[pts[0]], PayloadType: pts[0], Ptime: m.ptime, SRTP: cfg.Current.SRTP,
			Remote: netip.AddrPortFrom(m.addr, uint16(m.port)), Direction: AnswerDirection(m.dir)}
		for _, pt := range pts { // keep the codec we send with while it is offered
			if ours[pt] == cfg.Current.Codec {
				a.Codec, a.PayloadType = ours[pt], pt
			}
		}
		if !cfg.NoEvents {
			for _, f := range m.formats {
				if m.kinds[f] == KindTelephoneEvent {
					a.EventPT = f
					ours[f] = KindTelephoneEvent
					break
				}
			}
		}
		if m.addr.IsUnspecified() { // RFC 2543 hold: nowhere to send
			a.Remote, a.Direction = cfg.Current.Remote, Inactive
		}
		theirs := m.kinds
		if a.EventPT == 0 {
			for f, k := range theirs {
				if k == KindTelephoneEvent {
					theirs[f] = KindUnknown
				}
			}
		}
		a.Receive = mergeTypes(ours, theirs)
		md := audioMedia(l.port, m.proto, pts, ours, a.EventPT, a.Direction)
		if ourCrypto.key != nil {
			addCrypto(md, ourCrypto)
		}
		sd.MediaDescriptions = append(sd.MediaDescriptions, md)
		found = true
	}
	switch {
	case found:
	case noCodec != nil:
		return Reanswer{}, noCodec
	case !sawAudio:
		return Reanswer{}, fmt.Errorf("media: SDP offer: %w", ErrMediaRejected)
	}
	body, changed, err := l.finish(sd)
	if err != nil {
		return Reanswer{}, err
	}
	return Reanswer{Body: body, Media: a, Changed: changed}, nil
}

// keptCrypto checks an in-dialog offer's SRTP against the session's keys
// (RFC 4568 §7.1.4): a plain session takes plain RTP/AVP only (a=crypto
// on it ignored); an SRTP session takes an offer that keeps the far end's
// key (a rekey is refused), and is answered with our key under the tag of
// the offer's line. It returns our a=crypto line (none for plain RTP).
func keptCrypto(m *sdpAudio, keys SRTPKeys) (Crypto, error) {
	savp := strings.EqualFold(m.proto, "RTP/SAVP")
	if !keys.Enabled() {
		if savp {
			return Crypto{}, fmt.Errorf("%w: an RTP/SAVP (SRTP) offer on a plain RTP session", ErrMediaRejected)
		}
		return Crypto{}, nil
	}
	for _, v := range m.crypto {
		c, err := ParseCrypto(v)
		if err == nil && c.Suite == keys.p.suite && c.key != nil && string(c.key.b) == string(keys.p.recv.b) {
			return Crypto{Tag: c.Tag, Suite: c.Suite, key: keys.p.send}, nil
		}
	}
	return Crypto{}, fmt.Errorf("%w: the in-dialog offer does not keep the session's SRTP key (rekeying is not supported)", ErrSRTPRequired)
}

// Reoffer returns our offer for a re-INVITE that carried none: every codec
// we accept and telephone-event (Local's number for it, else
// DefaultEventPT) unless NoEvents, sendrecv, at Local's address and port,
// and on an SRTP session RTP/SAVP with our key unchanged.
// It is Local itself when that says the same, and otherwise carries
// Local's o= version plus one. The answer to it is read with ParseAnswer
// and the OfferConfig Reoffer returns.
func Reoffer(cfg ReofferConfig) ([]byte, OfferConfig, error) {
	l, err := readLocal(cfg.Local)
	if err != nil {
		return nil, OfferConfig{}, err
	}
	oc := OfferConfig{Addr: l.addr, Port: l.port, Codecs: cfg.Codecs, NoEvents: cfg.NoEvents,
		EventPT: l.eventPT, SessionID: l.id, SessionVersion: l.ver, Username: l.user}
	if k := cfg.Current.SRTP; k.Enabled() { // the same key again: no rekey
		oc.SRTP, oc.Crypto = SRTPRequired, []Crypto{{Tag: 1, Suite: k.p.suite, key: k.p.send}}
	}
	if !IsDynamic(oc.EventPT) {
		oc.EventPT = 0
	}
	body, err := Offer(oc)
	if err != nil {
		return nil, OfferConfig{}, err
	}
	if bytes.Equal(body, l.original) {
		return l.original, oc, nil
	}
	oc.SessionVersion = l.ver + 1
	body, err = Offer(oc)
	return body, oc, err
}
