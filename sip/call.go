package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/media"
)

// Call is an answered outbound call. Its methods are safe for concurrent
// use. The keys the far end presses, RFC 4733, in-band and SIP INFO
// merged (one press, one key), go to the media.KeySink given to Dial, as
// media.SessionConfig.KeySink describes; the last of them before Done is
// closed. A Call ends when the far end sends BYE, when no RTP arrives for
// Config.MediaTimeout, when Config.MaxDuration runs out, or on Hangup,
// whichever comes first: that first cause is the call's end cause, and
// Play, Err and Hangup all report it the same way. Done is closed once
// everything the call held (RTP port, goroutines, the INVITE transaction)
// is released. At most one BYE is sent per call, and none after the far
// end's.
type Call struct {
	d         *Dialer
	log       *slog.Logger
	callID    string
	localTag  string
	remoteTag string
	invite    *sipMsg             // the INVITE that was answered
	answer    *sipgo_sip.Response // its 2xx
	// target is the dialog's remote target once a target refresh moved
	// it (refreshTarget); nil: the 2xx's Contact. Under mu.
	target   *sipgo_sip.Uri
	inviteTx sipgo_sip.ClientTransaction
	neg      media.Answer
	sess     *media.Session
	answered time.Time
	dm       *dialogMedia  // in-dialog offers (reinvite.go)
	st       *sessionTimer // RFC 4028 (reinvite_timer.go)

	mu      sync.Mutex
	cseq    uint32
	err     error // the end cause: set once, by the first to end the call
	done    chan struct{}
	hangup  sync.Once
	byeErr  error
	stopped chan struct{} // closed to stop the watcher
}

// Codec returns the negotiated audio codec (media.KindPCMU or KindPCMA).
func (c *Call) Codec() media.PayloadKind { return c.neg.Codec }

// Media returns what the SDP exchanges negotiated, the latest re-INVITE or
// UPDATE included: remote RTP address, payload types, telephone-event
// payload type, and Direction, ours (recvonly while the far end holds).
// Codec keeps the codec of the answer, which Play's frames are in.
func (c *Call) Media() media.Answer { return c.dm.negotiated() }

// CallID returns the SIP Call-ID.
func (c *Call) CallID() string { return c.callID }

// AnsweredAt returns when the 2xx arrived (Config.Now).
func (c *Call) AnsweredAt() time.Time { return c.answered }

// Play sends frames (20 ms of G.711 each, in the negotiated codec) paced
// in real time, returning when the last has been sent, ctx ends or the
// call ends. When the call ends (before or during Play), Play returns once
// Done is closed, with the call's end cause (Err): the far end's BYE gives
// ErrRemoteHangup, never the media session's closing.
func (c *Call) Play(ctx context.Context, frames [][]byte) error {
	return c.sendErr(ctx, c.sess.Play(ctx, frames))
}

// sendErr is the error of a send on the call's media (Play, SendEvents)
// that returned err: err itself when nil, ctx's or not about the call
// (what was given could not be sent), else the call's end cause once the
// call has ended.
func (c *Call) sendErr(ctx context.Context, err error) error {
	if err == nil || ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return err
	}
	if c.sess.Err() == nil && c.Err() == nil {
		return err
	}
	// Media ended: either the call is ending and closed it, or it ended by
	// itself (media timeout) and the watcher is ending the call. (The
	// session's Err is set before its Play can see it ended; its Done may
	// be closed later.)
	<-c.done
	return c.Err()
}

// Done is closed when the call has ended.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err is nil while the call lasts; once it has begun to end (and surely
// after Done) it says why: ErrRemoteHangup, media.ErrMediaTimeout (or
// another error that ended media), ErrMaxDuration or ErrLocalHangup.
func (c *Call) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// String describes the call.
func (c *Call) String() string {
	return fmt.Sprintf("sip.Call(%s %s)", c.callID, c.neg.String())
}

// Hangup sends BYE (RFC 3261 §15.1.1) and ends the call, returning once
// Done is closed. It is idempotent: later calls, and calls after the call
// ended otherwise (the far end hung up), return the first result (nil when
// the call had ended otherwise). The call ends whether or not the BYE gets
// its 200; the error says what went wrong with it.
func (c *Call) Hangup(ctx context.Context) error {
	c.hangup.Do(func() {
		if c.claim(ErrLocalHangup) {
			c.byeErr = c.bye(ctx)
			c.release()
		}
	})
	<-c.done
	return c.byeErr
}

// bye sends a BYE inside the dialog and waits for its final response.
func (c *Call) bye(ctx context.Context) error {
	req := c.inDialog(sipgo_sip.BYE)
	tx, err := c.d.send(ctx, req)
	if err != nil {
		return fmt.Errorf("sip: send BYE: %w", err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, "BYE")
	if err != nil {
		return err
	}
	if !res.IsSuccess() && res.StatusCode != 481 {
		return fmt.Errorf("sip: BYE answered %d %s", res.StatusCode, truncate(res.Reason, 80))
	}
	return nil
}

// finalResponse waits for tx's final response, skipping provisional ones;
// what names the request in its errors.
func finalResponse(ctx context.Context, tx sipgo_sip.ClientTransaction, what string) (*sipgo_sip.Response, error) {
	for {
		select {
		case res := <-tx.Responses():
			if res == nil || res.IsProvisional() {
				continue
			}
			return res, nil
		case <-tx.Done():
			return nil, fmt.Errorf("sip: %s: %w", what, errors.Join(ErrNoResponse, tx.Err()))
		case <-ctx.Done():
			return nil, fmt.Errorf("sip: %s: %w", what, ctx.Err())
		}
	}
}

// inDialog builds a request inside the dialog (RFC 3261 §12.2.1.1): remote
// target from the 2xx's Contact or the last target refresh's, route set
// from the 2xx's Record-Route reversed.
func (c *Call) inDialog(method sipgo_sip.RequestMethod) *sipMsg {
	target := c.invite.Recipient
	c.mu.Lock()
	refreshed := c.target
	c.mu.Unlock()
	if refreshed != nil {
		target = *refreshed.Clone()
	} else if ct := c.answer.Contact(); ct != nil && ct.Address.Host != "" {
		target = *ct.Address.Clone()
	}
	req := sipgo_sip.NewRequest(method, target)
	req.AppendHeader(sipgo_sip.HeaderClone(c.invite.From()))
	req.AppendHeader(sipgo_sip.HeaderClone(c.answer.To()))
	req.AppendHeader(sipgo_sip.HeaderClone(c.invite.CallID()))
	seq := c.invite.CSeq().SeqNo
	if method != sipgo_sip.ACK {
		c.mu.Lock()
		c.cseq++
		seq = c.cseq
		c.mu.Unlock()
	}
	req.AppendHeader(&sipgo_sip.CSeqHeader{SeqNo: seq, MethodName: method})
	maxf := sipgo_sip.MaxForwardsHeader(70)
	req.AppendHeader(&maxf)
	rr := c.answer.GetHeaders("Record-Route")
	for i := len(rr) - 1; i >= 0; i-- {
		req.AppendHeader(sipgo_sip.NewHeader("Route", rr[i].Value()))
	}
	if len(rr) == 0 && c.d.s.proxy != nil {
		sipgo_sip.CopyHeaders("Route", c.invite, req)
	}
	if r := req.Route(); r != nil {
		req.SetDestination(c.d.destFor(&r.Address))
	} else {
		req.SetDestination(c.d.destFor(&target))
	}
	// The INVITE's Contact: over tls it names the connection (tls.go).
	req.AppendHeader(sipgo_sip.HeaderClone(c.invite.Contact()))
	req.SetBody(nil)
	req.SetTransport(c.invite.Transport())
	return req
}

// refreshTarget makes the Contact of a target refresh request (a
// re-INVITE or UPDATE) that succeeded, or of the 2xx to ours, the
// dialog's remote target (RFC 3261 §12.2.1.2, §12.2.2; RFC 3311 §5.1):
// the far end's later requests of ours go there.
func (c *Call) refreshTarget(h *sipgo_sip.ContactHeader) {
	if h == nil || h.Address.Host == "" {
		return
	}
	u := h.Address.Clone()
	c.mu.Lock()
	c.target = u
	c.mu.Unlock()
}

// end ends the call unless it is ending already: it records why, sends
// BYE when sendBye (bounded to 4 s), and releases what the call holds.
func (c *Call) end(why error, sendBye bool) {
	if !c.claim(why) {
		return
	}
	if sendBye {
		ctx, stop := context.WithTimeout(context.Background(), 4*time.Second)
		if err := c.bye(ctx); err != nil {
			c.log.Info("BYE failed", "err", err)
		}
		stop()
	}
	c.release()
}

// claim records why the call ends if nothing has yet; only the first claim
// succeeds, and its caller must then release the call. Recording the cause
// before media is closed lets Play and Err report it, not the closing.
func (c *Call) claim(why error) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	c.err = why
	return true
}

// release closes media and the INVITE transaction, forgets the call and
// closes Done.
func (c *Call) release() {
	close(c.stopped)
	_ = c.sess.Close()
	c.inviteTx.Terminate()
	c.d.unregister(c)
	c.log.Info("call ended", "why", c.Err())
	close(c.done)
}

// watch ends the call when media stops or MaxDuration runs out. It runs in
// the Dialer's wait group from register on.
func (c *Call) watch() {
	max := time.NewTimer(c.d.s.cfg.MaxDuration)
	defer max.Stop()
	c.d.wg.Go(c.runSessionTimer) // ends with the call (stopped)
	select {
	case <-c.stopped:
	case <-c.sess.Done():
		err := c.sess.Err()
		if err == nil {
			err = media.ErrSessionClosed
		}
		c.end(err, true)
	case <-max.C:
		c.end(ErrMaxDuration, true)
	}
}

// answer handles the 2xx: ACK it (and its retransmissions), read the SDP
// answer, start media and return the Call. A 2xx that cannot be used is
// still ACKed and then hung up (RFC 3261 §13.2.2.4).
func (a *attempt) answer(res *sipgo_sip.Response) (*Call, error) {
	d := a.d
	to := res.To()
	c := &Call{d: d, log: a.log, invite: a.invite, answer: res, inviteTx: a.tx,
		callID: a.invite.CallID().Value(), done: make(chan struct{}), stopped: make(chan struct{}),
		cseq: a.invite.CSeq().SeqNo, answered: d.s.cfg.Now()}
	c.localTag, _ = a.invite.From().Params.Get("tag")
	if to != nil {
		c.remoteTag, _ = to.Params.Get("tag")
	}
	ack := c.inDialog(sipgo_sip.ACK)
	d.prepare(ack)
	// Listen for retransmissions of the 2xx before the first ACK goes
	// out: the far end may resend it the moment that ACK arrives, and a
	// copy that finds no hook is dropped unACKed.
	tmpl := ack.Clone()
	a.tx.OnRetransmission(func(r *sipgo_sip.Response) {
		if r.IsSuccess() {
			_ = d.cli.WriteRequest(tmpl.Clone(), func(*sipgo.Client, *sipgo_sip.Request) error { return nil })
		}
	})
	sendAck := func() error {
		if err := d.cli.WriteRequest(ack, func(*sipgo.Client, *sipgo_sip.Request) error { return nil }); err != nil {
			return fmt.Errorf("sip: send ACK: %w", err)
		}
		return nil
	}
	fail := func(kind FailureKind, err error) (*Call, error) {
		ctx, stop := context.WithTimeout(context.Background(), cancelWait)
		defer stop()
		if ackErr := sendAck(); ackErr != nil {
			kind, err = Unreachable, ackErr
		} else if c.remoteTag != "" {
			if berr := c.bye(ctx); berr != nil {
				a.log.Info("BYE after unusable answer failed", "err", berr)
			}
		}
		a.tx.Terminate()
		return nil, &CallError{Kind: kind, Status: res.StatusCode, Reason: truncate(res.Reason, 80), Err: err}
	}
	if c.remoteTag == "" {
		return fail(Failed, fmt.Errorf("%w: 2xx without To tag", ErrBadResponse))
	}
	neg, err := media.ParseAnswer(res.Body(), a.offerConfig())
	switch {
	case errors.Is(err, media.ErrNoCommonCodec):
		return fail(NoCommonCodec, err)
	case err != nil && a.early != nil && len(res.Body()) == 0:
		neg = a.earlyNeg // the answer came in the 183 (RFC 3261 §13.2.1)
	case err != nil:
		return fail(Failed, fmt.Errorf("%w: %w", ErrBadResponse, err))
	}
	c.neg = neg
	if a.early != nil && neg.Remote == a.earlyNeg.Remote && neg.PayloadType == a.earlyNeg.PayloadType && neg.EventPT == a.earlyNeg.EventPT && neg.SRTP.Equal(a.earlyNeg.SRTP) {
		// Early media goes on as the call's: its keys count from now.
		a.early.Answered()
		c.sess, a.early = a.early, nil
	} else {
		if a.early != nil {
			a.early.Close()
			a.early = nil
		}
		c.sess, err = d.newSession(a.conn, neg, a.keys, false)
		if err != nil {
			return fail(Failed, err)
		}
	}
	c.startInDialog(a, res)
	// The call is registered before its ACK goes out: the far end may send
	// BYE as soon as the ACK arrives, and that BYE must find the call.
	if !d.register(c) {
		c.sess.Close()
		return fail(Failed, ErrClosed)
	}
	if err := sendAck(); err != nil {
		c.end(err, false)
		return nil, &CallError{Kind: Unreachable, Status: res.StatusCode, Reason: truncate(res.Reason, 80), Err: err}
	}
	a.log.Info("call answered", "media", neg.String())
	a.report(Answered, res)
	return c, nil
}

// startEarly starts receiving early media announced by a 183 with SDP.
func (a *attempt) startEarly(res *sipgo_sip.Response) error {
	neg, err := media.ParseAnswer(res.Body(), a.offerConfig())
	if err != nil {
		return err
	}
	s, err := a.d.newSession(keepOpen{a.conn}, neg, a.keys, true)
	if err != nil {
		return err
	}
	a.early, a.earlyNeg = s, neg
	return nil
}

func (a *attempt) offerConfig() media.OfferConfig { return a.offered }

// keepOpen lets an early-media session stop reading without closing the
// socket the answered call goes on using.
type keepOpen struct{ media.PacketConn }

func (k keepOpen) Close() error { return k.SetReadDeadline(time.Unix(1, 0)) }

// buildOffer makes the SDP offer oc (see offerConfig) for conn; local is
// the address that routes to the trunk, used when conn's is unspecified.
func (d *Dialer) buildOffer(conn media.PacketConn, oc media.OfferConfig, local netip.Addr) ([]byte, error) {
	oc.Addr = d.rtpAddr
	if !oc.Addr.IsValid() {
		oc.Addr = conn.LocalAddrPort().Addr()
	}
	if oc.Addr.IsUnspecified() && local.IsValid() {
		oc.Addr = local
	}
	return media.Offer(oc)
}

// newSession starts media for a negotiated answer on conn, its keys going
// to keys: from the SDP address only (or a source learned per
// Config.RTPLearn), and only keys pressed after the answer; early is for a
// 183's media, whose keys wait for Answered.
func (d *Dialer) newSession(conn media.PacketConn, neg media.Answer, keys media.KeySink, early bool) (*media.Session, error) {
	_ = conn.SetReadDeadline(time.Time{})
	sc := neg.SessionConfig()
	sc.Conn = conn
	sc.MediaTimeout = d.s.cfg.MediaTimeout
	sc.Now = d.s.cfg.Now
	sc.Logger = d.log
	sc.Pacer = d.pacer
	sc.KeySink = keys
	sc.Learn, sc.MediaNetworks, sc.Early = d.s.cfg.RTPLearn, d.s.cfg.MediaNetworks, early
	sc.Receiver.Jitter = d.s.cfg.Jitter
	sc.Foreign, sc.SRTPAuthFailed = &d.foreign, &d.srtpAuthFailed
	return media.NewSession(sc)
}
