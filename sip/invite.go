package sip

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/media"
)

// cancelWait bounds the wait for the 487 after a CANCEL (RFC 3261 §9.1
// says 64×T1; a PBX answers at once, and the outcome is known already).
const cancelWait = 4 * time.Second

// attempt is one Dial: the INVITE client transaction(s), authentication
// retries, provisional responses and the final outcome.
type attempt struct {
	d        *Dialer
	ctx      context.Context
	invite   *sipMsg
	conn     media.PacketConn
	progress func(Progress)
	keys     media.KeySink
	number   string
	log      *slog.Logger

	tx          sipgo_sip.ClientTransaction
	provisional bool
	early       *media.Session // early media (183 with SDP)
	earlyNeg    media.Answer
	answered    map[string]bool // realms answered with credentials: at most once each
	redirects   []string        // Request-URIs tried so far, the first included
	resent      bool            // a new INVITE went out (credentials, redirect): wait for its response anew

	offered media.OfferConfig // the offer made, its SRTP keys included
}

func (a *attempt) report(k ProgressKind, res *sipgo_sip.Response) {
	a.progress(Progress{Kind: k, At: a.d.s.cfg.Now(), Status: res.StatusCode, Reason: res.Reason})
}

func (a *attempt) run() (*Call, error) {
	cfg := a.d.s.cfg
	var err error
	a.tx, err = a.d.send(a.ctx, a.invite)
	if err != nil {
		return nil, &CallError{Kind: Unreachable, Err: fmt.Errorf("sip: send INVITE: %w", err)}
	}
	ring := time.NewTimer(cfg.RingTimeout)
	defer ring.Stop()
	noResp := time.NewTimer(cfg.InviteTimeout)
	defer noResp.Stop()
	for {
		select {
		case res := <-a.tx.Responses():
			if res == nil || !a.ours(res) {
				continue
			}
			noResp.Stop()
			call, done, err := a.handle(res)
			if done {
				return call, err
			}
			if a.resent {
				a.resent = false
				noResp.Reset(cfg.InviteTimeout)
			}
		case <-a.tx.Done():
			err := a.tx.Err()
			a.log.Debug("INVITE transaction ended without a final response", "err", err)
			return nil, &CallError{Kind: Unreachable, Err: errors.Join(ErrNoResponse, err)}
		case <-noResp.C:
			if !a.provisional {
				a.tx.Terminate()
				return nil, &CallError{Kind: Unreachable, Err: fmt.Errorf("%w to INVITE in %v", ErrNoResponse, cfg.InviteTimeout)}
			}
		case <-ring.C:
			if !a.provisional {
				// Nothing heard at all (RingTimeout ≤ InviteTimeout): the
				// trunk is not there, whichever timer fired first.
				a.tx.Terminate()
				return nil, &CallError{Kind: Unreachable, Err: fmt.Errorf("%w to INVITE in %v", ErrNoResponse, cfg.RingTimeout)}
			}
			return a.cancel(&CallError{Kind: NoAnswer, Err: fmt.Errorf("sip: not answered in %v", cfg.RingTimeout)})
		case <-a.ctx.Done():
			return a.cancel(&CallError{Kind: Failed, Err: a.ctx.Err()})
		}
	}
}

// ours reports whether res answers the INVITE now in flight. sipgo
// matches a response to its client transaction by Via branch and CSeq
// method alone (RFC 3261 §17.1.3), so a response with another Call-ID or
// CSeq number (a stray, or a forgery copying our branch) would otherwise
// be taken for the answer.
func (a *attempt) ours(res *sipgo_sip.Response) bool {
	cid, cseq := res.CallID(), res.CSeq()
	ok := cid != nil && cseq != nil && cid.Value() == a.invite.CallID().Value() &&
		cseq.SeqNo == a.invite.CSeq().SeqNo && cseq.MethodName == sipgo_sip.INVITE
	if !ok {
		var got string
		if cid != nil {
			got = cid.Value()
		}
		if cseq != nil {
			got += " " + cseq.Value()
		}
		a.log.Debug("ignoring response for another call or request", "status", res.StatusCode, "call_id_cseq", truncate(got, 120))
	}
	return ok
}

// handle processes one response; done reports whether Dial is over.
func (a *attempt) handle(res *sipgo_sip.Response) (*Call, bool, error) {
	switch {
	case res.StatusCode < 100 || res.StatusCode > 699:
		// sipgo's parser accepts any number; ignore what SIP does not define.
		a.log.Debug("ignoring response with invalid status", "status", res.StatusCode)
		return nil, false, nil
	case res.IsProvisional():
		a.provisional = true
		switch {
		case res.StatusCode == 100:
			a.report(Trying, res)
		case res.StatusCode == 183 && len(res.Body()) > 0 && a.early == nil:
			if err := a.startEarly(res); err != nil {
				a.log.Info("early media not usable", "err", err)
				a.report(Ringing, res)
				return nil, false, nil
			}
			a.report(EarlyMedia, res)
		default:
			a.report(Ringing, res)
		}
		return nil, false, nil
	case res.IsSuccess():
		call, err := a.answer(res)
		return call, true, err
	case res.StatusCode == 401 || res.StatusCode == 407:
		if err := a.authenticate(res); err != nil {
			return nil, true, err
		}
		return nil, false, nil
	case res.StatusCode >= 300 && res.StatusCode < 400:
		if err := a.redirect(res); err != nil {
			return nil, true, err
		}
		return nil, false, nil
	}
	ce := finalError(res)
	srtpRefused(ce, a.offered)
	return nil, true, ce
}

// finalError is the CallError for a final failure response: KindOf its
// status, with ErrTrunkRefused for 401, 403 and 407.
func finalError(res *sipgo_sip.Response) *CallError {
	ce := &CallError{Kind: KindOf(res.StatusCode), Status: res.StatusCode, Reason: truncate(res.Reason, 80)}
	if h := res.GetHeader("Retry-After"); h != nil {
		ce.RetryAfter = parseRetryAfter(h.Value())
	}
	switch res.StatusCode {
	case 401, 403, 407:
		ce.Err = ErrTrunkRefused
	}
	return ce
}

// redirect follows a 301 or 302 (RFC 3261 §8.1.3.4) to its first Contact
// when that is in the trunk's domain (Dialer.sameDomain), at most
// maxRedirects hops and never to a Request-URI tried before: a new INVITE
// with the same Call-ID, From and To, CSeq+1, a new branch, and no
// credentials (the new target challenges anew). Anything else ends the
// call Unreachable with ErrRedirect naming the target.
func (a *attempt) redirect(res *sipgo_sip.Response) error {
	d := a.d
	notFollowed := func(target, why string, err error) error {
		msg := fmt.Sprintf("sip: trunk redirected to %s; not followed: %s", target, why)
		if target == "" {
			msg = "sip: trunk redirected; not followed: " + why
		}
		return &CallError{Kind: Unreachable, Status: res.StatusCode, Reason: truncate(res.Reason, 80),
			Err: &causeError{msg: msg, sentinel: ErrRedirect, err: err}}
	}
	ct := res.Contact()
	if ct == nil || ct.Address.Host == "" {
		return notFollowed("", "no Contact", nil)
	}
	target := *ct.Address.Clone()
	target.Headers = nil // no header fields from a Contact into our request
	shown := truncate(target.String(), 120)
	if res.StatusCode != 301 && res.StatusCode != 302 {
		return notFollowed(shown, fmt.Sprintf("%d is not a redirect denwa follows", res.StatusCode), nil)
	}
	if ok, why := d.sameDomain(target); !ok {
		return notFollowed(shown, why, nil)
	}
	if target.User == "" {
		target.User = a.invite.Recipient.User
	}
	if a.redirects == nil {
		a.redirects = []string{a.invite.Recipient.String()}
	}
	if slices.Contains(a.redirects, target.String()) {
		return notFollowed(shown, "loop", nil)
	}
	if len(a.redirects) > maxRedirects {
		return notFollowed(shown, fmt.Sprintf("more than %d redirects", maxRedirects), nil)
	}
	a.redirects = append(a.redirects, target.String())
	if d.s.proxy == nil && d.s.transport != "tls" { // see Dialer.route
		dst, err := d.resolveTarget(a.ctx, target)
		if err != nil {
			return notFollowed(shown, err.Error(), err)
		}
		a.invite.SetDestination(dst.String())
	}
	a.tx.Terminate()
	a.invite.Recipient = target
	a.invite.RemoveHeader("Authorization")
	a.invite.RemoveHeader("Proxy-Authorization")
	a.answered = nil
	a.invite.CSeq().SeqNo++
	a.provisional = false
	a.log.Info("following redirect", "status", res.StatusCode, "target", shown)
	if d.s.transport == "tls" {
		if err := d.connectTLS(a.ctx, a.invite); err != nil {
			return &CallError{Kind: Unreachable, Err: err}
		}
	}
	tx, err := d.send(a.ctx, a.invite)
	if err != nil {
		return &CallError{Kind: Unreachable, Err: fmt.Errorf("sip: send redirected INVITE: %w", err)}
	}
	a.tx, a.resent = tx, true
	return nil
}

// authenticate answers a 401/407 with a new INVITE carrying credentials
// (RFC 3261 §22.2, §22.3): same Call-ID and From tag, CSeq+1, new branch.
// Each realm is answered once; another challenge for it means the
// credentials are wrong (unless the server says the nonce was stale).
func (a *attempt) authenticate(res *sipgo_sip.Response) error {
	s := a.d.s
	hdrName, authName := "WWW-Authenticate", "Authorization"
	if res.StatusCode == 407 {
		hdrName, authName = "Proxy-Authenticate", "Proxy-Authorization"
	}
	fail := func(err error) error {
		return &CallError{Kind: Failed, Status: res.StatusCode, Reason: truncate(res.Reason, 80), Err: fmt.Errorf("%w: %w", ErrTrunkRefused, err)}
	}
	if s.cfg.Password == "" {
		return fail(ErrAuthRequired)
	}
	var values []string
	for _, h := range res.GetHeaders(hdrName) {
		values = append(values, h.Value())
	}
	ch, err := pickChallenge(values)
	if err != nil {
		return fail(err)
	}
	if a.answered == nil {
		a.answered = map[string]bool{}
	}
	key := hdrName + "\x00" + ch.Realm
	if a.answered[key] && !ch.Stale {
		return fail(fmt.Errorf("%w for realm %q (user %q)", ErrAuthFailed, ch.Realm, s.authUser))
	}
	if a.answered[key+"\x00stale"] {
		return fail(fmt.Errorf("%w for realm %q (user %q): stale nonce twice", ErrAuthFailed, ch.Realm, s.authUser))
	}
	if a.answered[key] {
		a.answered[key+"\x00stale"] = true
	}
	a.answered[key] = true
	value, err := Authorize(ch, Credentials{Username: s.authUser, Password: s.cfg.Password},
		DigestRequest{Method: "INVITE", URI: a.invite.Recipient.String()})
	if err != nil {
		return fail(err)
	}
	a.tx.Terminate()
	// Keep answers to other realms (RFC 3261 §22.3: a request may carry
	// credentials for several proxies); replace this realm's.
	kept := a.invite.GetHeaders(authName)
	a.invite.RemoveHeader(authName)
	for _, h := range kept {
		if c, err := parseAuthParams(afterScheme(h.Value())); err == nil && c["realm"] != ch.Realm {
			a.invite.AppendHeader(sipgo_sip.NewHeader(authName, h.Value()))
		}
	}
	a.invite.AppendHeader(sipgo_sip.NewHeader(authName, value))
	a.invite.CSeq().SeqNo++
	a.provisional = false
	a.log.Debug("answering digest challenge", "status", res.StatusCode, "realm", ch.Realm, "algorithm", ch.Algorithm)
	tx, err := a.d.send(a.ctx, a.invite)
	if err != nil {
		return &CallError{Kind: Unreachable, Err: fmt.Errorf("sip: send INVITE with credentials: %w", err)}
	}
	a.tx, a.resent = tx, true
	return nil
}

func afterScheme(v string) string {
	for i := 0; i < len(v); i++ {
		if v[i] == ' ' {
			return v[i+1:]
		}
	}
	return ""
}

// cancel sends CANCEL for the INVITE (RFC 3261 §9.1) and waits (briefly)
// for the final response. A 2xx that crosses the CANCEL is ACKed and hung
// up at once. It returns why, the error it was given.
func (a *attempt) cancel(why *CallError) (*Call, error) {
	if !a.provisional {
		// No provisional response yet: a CANCEL may not be sent (§9.1);
		// stop retransmitting and give up.
		a.tx.Terminate()
		return nil, why
	}
	creq := sipgo_sip.NewRequest(sipgo_sip.CANCEL, a.invite.Recipient)
	creq.AppendHeader(sipgo_sip.HeaderClone(a.invite.Via()))
	for _, name := range []string{"From", "To", "Call-ID", "Route", "Max-Forwards"} {
		sipgo_sip.CopyHeaders(name, a.invite, creq)
	}
	creq.AppendHeader(&sipgo_sip.CSeqHeader{SeqNo: a.invite.CSeq().SeqNo, MethodName: sipgo_sip.CANCEL})
	creq.SetBody(nil)
	creq.SetTransport(a.invite.Transport())
	if dst := a.invite.Destination(); dst != "" {
		creq.SetDestination(dst)
	}
	creq.Laddr = a.invite.Laddr
	ctx, stop := context.WithTimeout(context.Background(), cancelWait)
	defer stop()
	a.log.Debug("sending CANCEL", "why", why.Kind)
	ctx2, err := a.d.cli.TransactionRequest(ctx, creq, func(*sipgo.Client, *sipgo_sip.Request) error { return nil })
	if err != nil {
		a.tx.Terminate()
		why.Err = errors.Join(why.Err, fmt.Errorf("sip: send CANCEL: %w", err))
		return nil, why
	}
	defer ctx2.Terminate()
	// The CANCEL's own 200 is not waited for: the INVITE's final response
	// (487, or a 2xx that crossed) is what matters.
	for {
		select {
		case res := <-a.tx.Responses():
			if res == nil || res.IsProvisional() || !a.ours(res) {
				continue
			}
			if res.IsSuccess() {
				// Answered as we cancelled: ACK, then BYE (§15).
				call, err := a.answer(res)
				if err == nil {
					hctx, hstop := context.WithTimeout(context.Background(), cancelWait)
					_ = call.Hangup(hctx)
					hstop()
				}
				return nil, why
			}
			if res.StatusCode != 487 && why.Kind == NoAnswer {
				// A real final answer raced the CANCEL: it says more.
				return nil, finalError(res)
			}
			a.tx.Terminate()
			return nil, why
		case <-a.tx.Done():
			return nil, why
		case <-ctx.Done():
			a.tx.Terminate()
			return nil, why
		}
	}
}
