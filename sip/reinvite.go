package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/media"
)

// In-dialog offers and refreshes, for the Dialer's calls and the Phone's
// alike: a re-INVITE (RFC 3261 §14) or an UPDATE (RFC 3311) from the far
// end that puts the call on hold, resumes it, moves its media, changes
// codec or only refreshes the session, answered by media.AnswerReoffer;
// a re-INVITE without SDP, to which our 2xx makes the offer
// (media.Reoffer) and whose ACK brings the answer. The rules of RFC 3264
// §8 and RFC 3261 §14.2 on overlapping offers apply:
//   - an offer while ours is unanswered (our re-INVITE in progress, or our
//     2xx to an offerless re-INVITE not yet ACKed) gets 491 (glare; the
//     far end retries after a random wait);
//   - a re-INVITE while the previous one is unfinished gets 500 with a
//     Retry-After of up to 10 s;
//   - an offer we cannot take (no codec in common, media removed) gets
//     488, and the session stays as it was;
//   - a request with a CSeq below the last one gets 500.
//
// Session timers (RFC 4028) are in reinvite_timer.go.

// Timers of RFC 3261 §17.1.1.1 for the 2xx retransmissions of a re-INVITE
// over UDP (§13.3.1.4).
const (
	timerT1 = 500 * time.Millisecond
	timerT2 = 4 * time.Second
)

// dialogMedia is the offer/answer state of one dialog's session once it is
// answered: our current description and theirs, what is negotiated, and
// the offers in flight. Its methods are safe for concurrent use.
type dialogMedia struct {
	log      *slog.Logger
	sess     *media.Session // nil for a Phone that sends no RTP
	codecs   []media.PayloadKind
	noEvents bool

	mu         sync.Mutex
	local      []byte       // our current SDP
	remote     []byte       // theirs
	neg        media.Answer // Direction ours
	remoteCSeq uint32       // the last CSeq of theirs handled here; 0: none yet
	// ourOffer: an offer of ours is unanswered; offered reads the answer.
	ourOffer bool
	offered  media.OfferConfig
	// outInvite: our re-INVITE is in progress.
	outInvite bool
	// inInvite: a re-INVITE of theirs is unfinished (answered, not yet
	// ACKed); acked is closed by its ACK, whose CSeq is ackSeq.
	inInvite bool
	ackSeq   uint32
	acked    chan struct{}
}

func newDialogMedia(log *slog.Logger, sess *media.Session, local, remote []byte, neg media.Answer, codecs []media.PayloadKind, noEvents bool, remoteCSeq uint32) *dialogMedia {
	if neg.Direction == "" {
		neg.Direction = media.SendRecv
	}
	return &dialogMedia{log: log, sess: sess, codecs: codecs, noEvents: noEvents,
		local: local, remote: remote, neg: neg, remoteCSeq: remoteCSeq}
}

// Negotiated returns what is negotiated now (Direction ours).
func (m *dialogMedia) negotiated() media.Answer {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.neg
}

// offerReply is how an in-dialog INVITE or UPDATE is answered.
type offerReply struct {
	status int
	body   []byte
	// retryAfter, for a 500, is the Retry-After in seconds.
	retryAfter int
	// acked, for a 2xx to an INVITE, is closed by its ACK.
	acked chan struct{}
}

func hasSDP(req *sipgo_sip.Request) bool {
	if len(req.Body()) == 0 {
		return false
	}
	ct := req.ContentType()
	return ct == nil || strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct.Value())), "application/sdp")
}

// receive handles a far end's in-dialog INVITE or UPDATE and says how to
// answer it; a 2xx has already changed the session.
func (m *dialogMedia) receive(req *sipgo_sip.Request) offerReply {
	invite := req.Method == sipgo_sip.INVITE
	withSDP := hasSDP(req)
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := req.CSeq().SeqNo
	if m.remoteCSeq != 0 && seq <= m.remoteCSeq {
		return offerReply{status: 500, retryAfter: rand.IntN(10) + 1}
	}
	switch {
	case invite && m.inInvite:
		return offerReply{status: 500, retryAfter: rand.IntN(10) + 1}
	case invite && m.outInvite, withSDP && m.ourOffer:
		return offerReply{status: 491}
	}
	m.remoteCSeq = seq
	if !withSDP {
		if !invite { // an UPDATE refresh: nothing to negotiate
			return offerReply{status: 200}
		}
		body, oc, err := media.Reoffer(m.config())
		if err != nil {
			m.log.Info("re-INVITE without SDP: no offer to make", "err", err)
			return offerReply{status: 500, retryAfter: 1}
		}
		m.local, m.offered, m.ourOffer = body, oc, true
		return m.awaitAck(seq, body)
	}
	r, err := media.AnswerReoffer(req.Body(), m.config())
	if err != nil {
		m.log.Info("in-dialog offer refused", "method", req.Method, "err", err)
		return offerReply{status: 488}
	}
	if err := m.apply(r.Media); err != nil {
		m.log.Info("in-dialog offer refused", "method", req.Method, "err", err)
		return offerReply{status: 488}
	}
	if r.Changed {
		m.log.Info("session renegotiated", "method", req.Method, "media", r.Media.String())
	}
	m.local, m.remote = r.Body, req.Body()
	if !invite {
		return offerReply{status: 200, body: r.Body}
	}
	return m.awaitAck(seq, r.Body)
}

// awaitAck marks a re-INVITE of theirs answered 2xx and waiting for its
// ACK. Under mu.
func (m *dialogMedia) awaitAck(seq uint32, body []byte) offerReply {
	m.inInvite, m.ackSeq, m.acked = true, seq, make(chan struct{})
	return offerReply{status: 200, body: body, acked: m.acked}
}

// ack handles the ACK of a re-INVITE of theirs: for an offerless one, its
// body is the answer to the offer our 2xx made. It reports whether the ACK
// was one we waited for.
func (m *dialogMedia) ack(req *sipgo_sip.Request) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.inInvite || req.CSeq().SeqNo != m.ackSeq {
		return false
	}
	m.inInvite = false
	close(m.acked)
	if !m.ourOffer {
		return true
	}
	m.ourOffer = false
	if !hasSDP(req) {
		m.log.Info("ACK brings no answer to our offer; the session stays as it was")
		return true
	}
	m.answered(req.Body())
	return true
}

// answered takes the far end's answer to our offer. Under mu.
func (m *dialogMedia) answered(body []byte) {
	a, err := media.ParseAnswer(body, m.offered)
	if err == nil {
		// The keys stay (we never rekey); the direction becomes ours.
		a.SRTP, a.Direction = m.neg.SRTP, media.AnswerDirection(a.Direction)
		err = m.apply(a)
	}
	if err != nil {
		m.log.Info("answer to our offer not usable; the session stays as it was", "err", err)
		return
	}
	m.remote = body
}

// gaveUp ends the wait for the ACK of a re-INVITE of theirs (it never
// came, or the call ended).
func (m *dialogMedia) gaveUp(acked chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.inInvite && m.acked == acked {
		m.inInvite, m.ourOffer = false, false
	}
}

// apply makes a the session's. Under mu.
func (m *dialogMedia) apply(a media.Answer) error {
	if m.sess != nil {
		if err := m.sess.Update(a); err != nil {
			return err
		}
	}
	if !a.Remote.IsValid() || a.Remote.Addr().IsUnspecified() {
		a.Remote = m.neg.Remote
	}
	m.neg = a
	return nil
}

// config is the ReofferConfig of the session now. Under mu.
func (m *dialogMedia) config() media.ReofferConfig {
	return media.ReofferConfig{Local: m.local, Remote: m.remote, Codecs: m.codecs, NoEvents: m.noEvents, Current: m.neg}
}

// beginOffer starts an in-dialog request of ours: a re-INVITE (invite)
// with body as our offer (nil: our current description), or an UPDATE
// without one. It returns the body to send, or false while the dialog is
// busy with another offer or re-INVITE (the caller tries again later).
func (m *dialogMedia) beginOffer(invite bool, body []byte) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !invite {
		return nil, true
	}
	if m.inInvite || m.outInvite || m.ourOffer {
		return nil, false
	}
	if body == nil {
		body = m.local
	}
	m.outInvite, m.ourOffer = true, true
	m.offered = media.OfferConfig{Codecs: m.codecs, NoEvents: m.noEvents, EventPT: m.neg.EventPT}
	if !media.IsDynamic(m.offered.EventPT) {
		m.offered.EventPT = 0
	}
	m.local = body
	return body, true
}

// endOffer ends our re-INVITE with its final response (nil: none came):
// a 2xx's SDP is the answer to our offer.
func (m *dialogMedia) endOffer(res *sipgo_sip.Response) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outInvite, m.ourOffer = false, false
	if res != nil && res.IsSuccess() && len(res.Body()) > 0 {
		m.answered(res.Body())
	}
}

// holdOffer returns our current description turned into a hold (dir
// media.SendOnly or media.Inactive) or a resume (media.SendRecv): the
// direction lines replaced and the o= version incremented.
func (m *dialogMedia) holdOffer(dir string) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	lines := strings.Split(strings.TrimRight(string(m.local), "\r\n"), "\r\n")
	out := make([]string, 0, len(lines)+1)
	for _, l := range lines {
		switch l {
		case "a=" + media.SendRecv, "a=" + media.SendOnly, "a=" + media.RecvOnly, "a=" + media.Inactive:
			continue
		}
		if o, ok := strings.CutPrefix(l, "o="); ok {
			if f := strings.Fields(o); len(f) == 6 {
				if v, err := strconv.ParseUint(f[2], 10, 64); err == nil {
					f[2] = strconv.FormatUint(v+1, 10)
					l = "o=" + strings.Join(f, " ")
				}
			}
		}
		out = append(out, l)
	}
	out = append(out, "a="+dir)
	return []byte(strings.Join(out, "\r\n") + "\r\n")
}

// respondOffer answers req as reply says, adding contact and allow (the
// Allow header) to a 2xx and more (session timer headers) when not nil, and, for a 2xx to an INVITE,
// sends it again over UDP until the ACK (T1 doubling up to T2, 64×T1 in
// all; RFC 3261 §13.3.1.4), the dialog ends (stop), or that time has
// passed. It returns once the 2xx is ACKed or given up on.
func respondOffer(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction, reply offerReply, contact sipgo_sip.Header,
	allow string, more func(*sipgo_sip.Response), stop <-chan struct{}, m *dialogMedia) {
	res := sipgo_sip.NewResponseFromRequest(req, reply.status, reasonPhrase(reply.status), nil)
	if reply.status == 500 && reply.retryAfter > 0 {
		res.AppendHeader(sipgo_sip.NewHeader("Retry-After", strconv.Itoa(reply.retryAfter)))
	}
	if reply.status/100 == 2 {
		if contact != nil {
			res.AppendHeader(sipgo_sip.HeaderClone(contact))
		}
		res.AppendHeader(sipgo_sip.NewHeader("Allow", allow))
		if more != nil {
			more(res)
		}
		if reply.body != nil {
			ct := sipgo_sip.ContentTypeHeader("application/sdp")
			res.AppendHeader(&ct)
			res.SetBody(reply.body)
		}
	}
	if err := tx.Respond(res); err != nil || reply.acked == nil {
		return
	}
	udp := strings.EqualFold(req.Transport(), "UDP")
	wait, total := timerT1, time.Duration(0)
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		select {
		case <-reply.acked:
			return
		case <-stop:
			m.gaveUp(reply.acked)
			return
		case <-t.C:
			total += wait
			if total >= 64*timerT1 {
				m.gaveUp(reply.acked)
				m.log.Info("no ACK for our 2xx to a re-INVITE")
				return
			}
			if udp {
				_ = tx.Respond(res)
			}
			wait = min(2*wait, timerT2)
			t.Reset(wait)
		}
	}
}

// glareWait is how long to wait before trying an offer again after a 491
// (RFC 3261 §14.1): 2.1–4 s for the dialog's Call-ID owner, 0–2 s for the
// other side.
func glareWait(owner bool) time.Duration {
	if owner {
		return 2100*time.Millisecond + rand.N(1900*time.Millisecond)
	}
	return rand.N(2 * time.Second)
}

// inDialogRequest sends one in-dialog request of ours (built by req), a
// re-INVITE with body as its offer (nil: our current description) or an
// UPDATE without one, and waits for its final response, ACKing a 2xx to
// a re-INVITE (ack builds the ACK for a final response). more adds
// headers. It returns the final response, or an error when none came or
// the dialog is busy with another offer (errBusy).
func (m *dialogMedia) inDialogRequest(ctx context.Context, method sipgo_sip.RequestMethod, body []byte,
	send func(context.Context, *sipgo_sip.Request) (sipgo_sip.ClientTransaction, error),
	build func(sipgo_sip.RequestMethod) *sipgo_sip.Request, ack func(*sipgo_sip.Request, *sipgo_sip.Response) error,
	more func(*sipgo_sip.Request)) (*sipgo_sip.Response, error) {
	invite := method == sipgo_sip.INVITE
	body, ok := m.beginOffer(invite, body)
	if !ok {
		return nil, errBusy
	}
	var res *sipgo_sip.Response
	if invite {
		defer func() { m.endOffer(res) }()
	}
	req := build(method)
	if more != nil {
		more(req)
	}
	if body != nil {
		ct := sipgo_sip.ContentTypeHeader("application/sdp")
		req.AppendHeader(&ct)
		req.SetBody(body)
	}
	tx, err := send(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("sip: send %s: %w", method, err)
	}
	defer tx.Terminate()
	res, err = finalResponse(ctx, tx, string(method))
	if err != nil {
		return nil, err
	}
	if invite && res.IsSuccess() {
		if err := ack(req, res); err != nil {
			return res, fmt.Errorf("sip: ACK to re-INVITE: %w", err)
		}
	}
	return res, nil
}

// errBusy: an offer of ours must wait, the dialog being busy with another.
var errBusy = errors.New("sip: an offer or re-INVITE is in progress")
