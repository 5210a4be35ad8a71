package sip

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/dtmf"
)

// SIP INFO keys (RFC 6086 requests without Info-Package, the "legacy" use
// that PBXs and gateways make of them): an INFO inside a call whose body
// is application/dtmf-relay or application/dtmf is a key, merged with the
// call's RFC 4733 and in-band keys (media.Session.OutOfBandKey) and
// answered 200; another body is answered 415 with Accept (RFC 6086 §4.2.2),
// an INFO that matches no call 481. Requests of methods no handler takes
// get 405 with Allow (RFC 3261 §21.4.6), and a CANCEL that matches no
// INVITE transaction 481 (§9.2).

// infoTimeout bounds how long a Phone waits for the answer to an INFO.
const infoTimeout = 4 * time.Second

// onInfo answers an INFO sent to the Dialer: in a call, see answerInfo;
// outside every call, 481.
func (d *Dialer) onInfo(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	c := d.match(req)
	if c == nil {
		d.log.Debug("INFO matches no call", dialogIDs(req)...)
		respond(req, tx, 481)
		return
	}
	answerInfo(req, tx, func(k dtmf.Key, dur time.Duration) error {
		return c.sess.OutOfBandKey(k, dtmf.SourceSIPInfo, dur)
	}, c.log)
}

// onInfo answers an INFO sent to the Phone: in a call, as answerInfo does
// (unless it listens, PhoneConfig.Hear, the Phone checks the body and
// drops the key); outside every call, 481.
func (p *Phone) onInfo(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	if _, err := p.ds.MatchDialogRequest(req); err != nil {
		respond(req, tx, 481)
		return
	}
	if hr := p.hearingOf(req); hr != nil {
		hr.onInfo(req, tx, p) // phone_hear.go
		return
	}
	answerInfo(req, tx, nil, p.log)
}

// answerInfo answers an INFO in a call whose keys go to deliver (nil: keys
// are dropped). A body that is a key goes to deliver, lasting the body's
// Duration (0 when none), and gets 200; a signal that is not a key (flash) is
// dropped with 200 as well, since the request was understood. An INFO
// without a body (some send it to probe the dialog) gets 200. A body in
// another format gets 415 with Accept, an unreadable key body 400. The key
// is never logged: it may be a digit of a code.
func answerInfo(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction, deliver func(dtmf.Key, time.Duration) error, log *slog.Logger) {
	body := req.Body()
	if len(body) == 0 {
		respond(req, tx, 200)
		return
	}
	var ctype string
	if h := req.ContentType(); h != nil {
		ctype = h.Value()
	}
	f := dtmf.InfoFormatOf(ctype)
	if f == dtmf.InfoUnknown {
		log.Debug("INFO body refused", "content_type", truncate(ctype, 80))
		res := sipgo_sip.NewResponseFromRequest(req, 415, reasonPhrase(415), nil)
		res.AppendHeader(sipgo_sip.NewHeader("Accept", dtmf.InfoContentTypes))
		_ = tx.Respond(res)
		return
	}
	k, err := dtmf.ParseInfo(f, body)
	switch {
	case err == dtmf.ErrInfoNotKey:
		log.Info("INFO signal ignored", "err", err)
		respond(req, tx, 200)
		return
	case err != nil:
		log.Info("INFO key body unreadable", "content_type", f.String(), "err", err)
		respond(req, tx, 400)
		return
	}
	if deliver != nil {
		dur := time.Duration(k.Duration) * time.Second / dtmf.SampleRate
		if err := deliver(k.Key, dur); err != nil {
			respond(req, tx, 481) // the call is ending
			return
		}
	}
	respond(req, tx, 200)
}

// methodNotAllowed answers a request of a method no handler takes: 405
// with the methods that have one in Allow (RFC 3261 §8.2.1, §21.4.6).
func (e *endpoint) methodNotAllowed(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	res := sipgo_sip.NewResponseFromRequest(req, 405, reasonPhrase(405), nil)
	res.AppendHeader(sipgo_sip.NewHeader("Allow", e.allow()))
	_ = tx.Respond(res)
}

// allow is the Allow header's value: the methods this endpoint handles,
// sorted. Handlers are registered before the endpoint starts serving.
func (e *endpoint) allow() string {
	m := e.srv.RegisteredMethods()
	slices.Sort(m)
	return strings.Join(m, ", ")
}

// sendInfoKey sends k as an application/dtmf-relay INFO in the Phone's
// dialog, lasting dur. It reports whether the request went out (the
// press counts once it did: the far end may hang up on it before it
// answers) and returns an error when it did not, or was refused.
func sendInfoKey(ctx context.Context, dlg *sipgo.DialogServerSession, k dtmf.Key, dur time.Duration) (bool, error) {
	body, err := dtmf.AppendDTMFRelay(nil, k, int64(dur*dtmf.SampleRate/time.Second))
	if err != nil {
		return false, err
	}
	inv := dlg.InviteRequest
	target := inv.Recipient
	if ct := inv.Contact(); ct != nil {
		target = ct.Address
	}
	req := sipgo_sip.NewRequest(sipgo_sip.INFO, target)
	req.SetTransport(inv.Transport())
	req.AppendHeader(sipgo_sip.NewHeader("Content-Type", dtmf.InfoDTMFRelay.String()))
	req.SetBody(body)
	ctx, cancel := context.WithTimeout(ctx, infoTimeout)
	defer cancel()
	tx, err := dlg.TransactionRequest(ctx, req)
	if err != nil {
		return false, fmt.Errorf("sip: send INFO: %w", err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, "INFO")
	if err != nil {
		return true, err
	}
	if !res.IsSuccess() {
		return true, fmt.Errorf("sip: INFO answered %d %s", res.StatusCode, truncate(res.Reason, 80))
	}
	return true, nil
}
