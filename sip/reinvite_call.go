package sip

import (
	"context"
	"fmt"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"
)

// The Dialer's side of in-dialog offers (reinvite.go) and session timers
// (reinvite_timer.go): its handlers and the Call's requests.

// startInDialog sets up a just-answered call's offer/answer state and
// session timer from the INVITE's 2xx.
func (c *Call) startInDialog(a *attempt, res *sipgo_sip.Response) {
	c.dm = newDialogMedia(c.log, c.sess, a.invite.Body(), res.Body(), c.neg, a.d.s.cfg.Codecs, false, 0)
	c.st = newSessionTimer(res, a.minSE)
}

// onOffer returns the handler of a far end's re-INVITE or UPDATE
// (RFC 3311: an offer, or a session refresh without one), answered as
// reinvite.go says; a request that matches no call is answered unmatched
// (603 to an INVITE: this UA only calls out; 481 to an UPDATE).
func (d *Dialer) onOffer(unmatched int) sipgo.RequestHandler {
	return func(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
		if c := d.match(req); c != nil {
			c.onOffer(req, tx)
			return
		}
		respond(req, tx, unmatched)
	}
}

// onAck takes the ACK of a re-INVITE of the far end's; the ACK of the
// first INVITE's 2xx is ours to send, never to receive.
func (d *Dialer) onAck(req *sipgo_sip.Request, _ sipgo_sip.ServerTransaction) {
	if c := d.match(req); c != nil {
		c.dm.ack(req)
	}
}

// onOffer answers an in-dialog INVITE or UPDATE; a 2xx counts as a
// session refresh, and its Contact is the dialog's remote target from then.
func (c *Call) onOffer(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	reply := c.dm.receive(req)
	respondOffer(req, tx, reply, c.invite.Contact(), c.d.allow(), func(res *sipgo_sip.Response) {
		c.st.received(req, res)
		c.refreshTarget(req.Contact())
	}, c.stopped, c.dm)
}

// request builds an in-dialog request of ours (a refresh).
func (c *Call) request(method sipgo_sip.RequestMethod) *sipgo_sip.Request {
	req := c.inDialog(method)
	req.AppendHeader(sipgo_sip.NewHeader("Allow", c.d.allow()))
	return req
}

// ackReinvite ACKs the 2xx to our re-INVITE req, and its retransmissions.
func (c *Call) ackReinvite(req *sipgo_sip.Request, res *sipgo_sip.Response) error {
	c.refreshTarget(res.Contact())
	ack := c.inDialog(sipgo_sip.ACK)
	ack.CSeq().SeqNo = req.CSeq().SeqNo
	c.d.prepare(ack)
	if err := c.d.cli.WriteRequest(ack, func(*sipgo.Client, *sipgo_sip.Request) error { return nil }); err != nil {
		return fmt.Errorf("sip: send ACK: %w", err)
	}
	return nil
}

// send is Dialer.send for the refresh requests.
func (c *Call) send(ctx context.Context, req *sipgo_sip.Request) (sipgo_sip.ClientTransaction, error) {
	tx, err := c.d.send(ctx, req)
	if err != nil {
		return nil, err
	}
	// A 2xx to our re-INVITE sent again (our ACK lost) is ACKed again.
	tx.OnRetransmission(func(r *sipgo_sip.Response) {
		if r.IsSuccess() && req.Method == sipgo_sip.INVITE {
			_ = c.ackReinvite(req, r)
		}
	})
	return tx, nil
}
