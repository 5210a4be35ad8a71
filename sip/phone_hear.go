package sip

import (
	"net/netip"
	"sync"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"
	"github.com/pion/rtp"

	"denwa/dtmf"
	"denwa/media"
)

// A Phone that listens (PhoneConfig.Hear) is the far end of a DTMF test:
// it hears the caller's keys from all three sources — in-band tones and
// RFC 4733 events in the caller's RTP, SIP INFO requests in the dialog —
// each with its measured length, and answers the other in-dialog INFO
// requests the caller sends (denwa dtmftest asks for its report this way,
// docs/dtmf.md).

// HeardKey is one key a listening Phone heard.
type HeardKey struct {
	Key    dtmf.Key
	Source dtmf.Source // dtmf.SourceInband, SourceRFC4733 or SourceSIPInfo
	// At is when the press began, from the answer (the caller's ACK) on
	// the Phone's clock: for a key in RTP, when the stream's first packet
	// arrived plus the key's place in the stream (RTP time, so the
	// packets' jitter does not move it); for a SIP INFO key, when the
	// request arrived.
	At time.Duration
	// Duration is the press's measured length: the tone's for an in-band
	// key, the final duration of an RFC 4733 event (to the last packet
	// that arrived when its END never came), the INFO body's Duration (0
	// when it has none).
	Duration time.Duration
}

// Hearing hears one answered call for a listening Phone
// (PhoneConfig.Hear). Its methods are called one at a time.
type Hearing interface {
	// Key takes each key, in the order they become certain.
	Key(HeardKey)
	// Request answers an in-dialog INFO whose body is not a key (any
	// content type but the DTMF ones): the status (200 when zero) and a
	// response body of the given content type (none when empty).
	Request(contentType string, body []byte) (status int, resType string, resBody []byte)
	// End is called once, when the call has ended and every key was
	// handed over.
	End()
}

// hearing is a call's Hearing with the receiver that finds its RTP keys.
// The RTP side runs on the goroutine that reads the call's socket, INFO
// requests on sipgo's handler goroutines; mu serialises them.
type hearing struct {
	h        Hearing
	answered time.Time
	from     netip.AddrPort // the caller's SDP address: media only from there

	mu    sync.Mutex
	hdr   rtp.Header
	recv  *media.Receiver
	first map[uint32]time.Time // each stream's first packet's arrival
	ended bool
}

// newHearing starts hearing a call answered now with neg.
func newHearing(h Hearing, neg media.Answer) (*hearing, error) {
	hr := &hearing{h: h, answered: time.Now(), from: neg.Remote, first: map[uint32]time.Time{}}
	pts := neg.Receive
	if pts == (media.PayloadTypes{}) {
		pts = media.DefaultPayloadTypes()
		if neg.PayloadType != 0 {
			pts[neg.PayloadType] = neg.Codec
		}
		if neg.EventPT != 0 {
			pts[neg.EventPT] = media.KindTelephoneEvent
		}
	}
	// Not Early: a key is reported when it ends, with its whole length.
	recv, err := media.NewReceiver(media.ReceiverConfig{PayloadTypes: pts}, media.KeySinkFunc(hr.rtpKey))
	if err != nil {
		return nil, err
	}
	hr.recv = recv
	return hr, nil
}

// datagram takes one datagram read from the call's socket.
func (hr *hearing) datagram(b []byte, from netip.AddrPort) {
	if netip.AddrPortFrom(from.Addr().Unmap(), from.Port()) != hr.from {
		return
	}
	now := time.Now()
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.ended {
		return
	}
	class, payload := media.ParseDatagram(&hr.hdr, b)
	if class != media.ClassRTP {
		return
	}
	if _, ok := hr.first[hr.hdr.SSRC]; !ok && len(hr.first) < media.DefaultMaxStreams {
		hr.first[hr.hdr.SSRC] = now
	}
	_ = hr.recv.HandleRTP(&hr.hdr, payload) // a bad packet is counted and dropped
}

// rtpKey is the receiver's KeySink, under mu.
func (hr *hearing) rtpKey(k media.Key) {
	at := hr.first[k.Stream.SSRC].Add(k.At).Sub(hr.answered)
	hr.h.Key(HeardKey{Key: k.Key, Source: k.Source, At: at, Duration: time.Duration(k.Duration()) * time.Second / dtmf.SampleRate})
}

// infoKey takes a SIP INFO key that arrived now.
func (hr *hearing) infoKey(k dtmf.Key, dur time.Duration) error {
	at := time.Since(hr.answered)
	hr.mu.Lock()
	defer hr.mu.Unlock()
	if hr.ended {
		return media.ErrSessionClosed
	}
	hr.h.Key(HeardKey{Key: k, Source: dtmf.SourceSIPInfo, At: at, Duration: dur})
	return nil
}

// onInfo answers an INFO in the call: a key (or no body) as answerInfo
// does, the key going to the Hearing; any other body to Hearing.Request.
func (hr *hearing) onInfo(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction, p *Phone) {
	var ctype string
	if h := req.ContentType(); h != nil {
		ctype = h.Value()
	}
	if len(req.Body()) == 0 || dtmf.InfoFormatOf(ctype) != dtmf.InfoUnknown {
		answerInfo(req, tx, hr.infoKey, p.log)
		return
	}
	hr.mu.Lock()
	if hr.ended {
		hr.mu.Unlock()
		respond(req, tx, 481)
		return
	}
	status, rtype, rbody := hr.h.Request(ctype, req.Body())
	hr.mu.Unlock()
	if status == 0 {
		status = 200
	}
	res := sipgo_sip.NewResponseFromRequest(req, status, reasonPhrase(status), nil)
	if len(rbody) > 0 {
		res.AppendHeader(sipgo_sip.NewHeader("Content-Type", rtype))
		res.SetBody(rbody)
	}
	_ = tx.Respond(res)
}

// end hands over the keys still sounding and ends the Hearing; called
// once the call's session has ended (no more datagrams).
func (hr *hearing) end() {
	hr.mu.Lock()
	if hr.ended {
		hr.mu.Unlock()
		return
	}
	hr.recv.Flush()
	hr.ended = true
	hr.mu.Unlock()
	hr.h.End()
}

// hearConn is a call's RTP socket with a hearing on it: every datagram
// read also goes to the hearing, on the goroutine that reads the socket.
type hearConn struct {
	media.PacketConn
	hr *hearing
}

func (c *hearConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.PacketConn.ReadFromUDPAddrPort(b)
	if err == nil {
		c.hr.datagram(b[:n], from)
	}
	return n, from, err
}

// hearingOf returns the hearing of the call req is in, nil when none.
func (p *Phone) hearingOf(req *sipgo_sip.Request) *hearing {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	v, ok := p.hearings.Load(cid.Value())
	if !ok {
		return nil
	}
	return v.(*hearing)
}
