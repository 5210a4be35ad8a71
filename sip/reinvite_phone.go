package sip

import (
	"context"
	"time"

	"github.com/emiago/sipgo"
	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/media"
)

// The Phone's side of in-dialog offers (reinvite.go): it answers the
// caller's re-INVITEs and UPDATEs, and puts the call on hold and resumes
// it when PhoneConfig.HoldAfter says so.

// phoneDialog is what the Phone's handlers find of a call in progress.
type phoneDialog struct {
	dm   *dialogMedia
	done <-chan struct{} // the call's end
}

// addDialog makes a call's offer/answer state findable by its Call-ID
// until the returned func is called.
func (p *Phone) addDialog(callID string, pd *phoneDialog) func() {
	p.dialogs.Store(callID, pd)
	return func() { p.dialogs.Delete(callID) }
}

func (p *Phone) findDialog(req *sipgo_sip.Request) *phoneDialog {
	cid := req.CallID()
	if cid == nil {
		return nil
	}
	v, ok := p.dialogs.Load(cid.Value())
	if !ok {
		return nil
	}
	return v.(*phoneDialog)
}

// onInDialogOffer answers a caller's re-INVITE or UPDATE: 481 when it
// matches no call in progress.
func (p *Phone) onInDialogOffer(req *sipgo_sip.Request, tx sipgo_sip.ServerTransaction) {
	pd := p.findDialog(req)
	if pd == nil {
		respond(req, tx, 481)
		return
	}
	ct := p.contact(p.cfg.User, false)
	respondOffer(req, tx, pd.dm.receive(req), &ct, p.allow(), nil, pd.done, pd.dm)
}

// onInDialogAck takes the ACK of a caller's re-INVITE.
func (p *Phone) onInDialogAck(req *sipgo_sip.Request) {
	if pd := p.findDialog(req); pd != nil {
		pd.dm.ack(req)
	}
}

// holdCall holds the call HoldAfter after the answer and resumes it
// HoldFor later. It returns when done or ctx ends, with the holds
// completed (held and resumed) and, after a resume, the RTP packets
// received before it.
func (p *Phone) holdCall(ctx context.Context, dlg *sipgo.DialogServerSession, dm *dialogMedia, sess *media.Session) (int, int64) {
	if !sleepCtx(ctx, p.cfg.HoldAfter) || !p.reinvite(ctx, dlg, dm, dm.holdOffer(media.SendOnly)) {
		return 0, 0
	}
	if sess != nil {
		sess.SetDirection(media.Inactive) // no music on hold: nothing sent
	}
	if p.cfg.HoldFor <= 0 || !sleepCtx(ctx, p.cfg.HoldFor) {
		return 0, 0
	}
	var heard int64
	if sess != nil {
		heard = sess.Stats().PacketsReceived
	}
	if !p.reinvite(ctx, dlg, dm, dm.holdOffer(media.SendRecv)) {
		return 0, 0
	}
	return 1, heard
}

// reinvite sends a re-INVITE offering body and reports whether it was
// answered 2xx (and ACKed).
func (p *Phone) reinvite(ctx context.Context, dlg *sipgo.DialogServerSession, dm *dialogMedia, body []byte) bool {
	rctx, stop := context.WithTimeout(ctx, 10*time.Second)
	defer stop()
	target := dlg.InviteRequest.Contact().Address
	res, err := dm.inDialogRequest(rctx, sipgo_sip.INVITE, body,
		func(ctx context.Context, req *sipgo_sip.Request) (sipgo_sip.ClientTransaction, error) {
			return dlg.TransactionRequest(ctx, req)
		},
		func(m sipgo_sip.RequestMethod) *sipgo_sip.Request { return sipgo_sip.NewRequest(m, target) },
		func(req *sipgo_sip.Request, _ *sipgo_sip.Response) error {
			return dlg.WriteRequest(sipgo_sip.NewRequest(sipgo_sip.ACK, target))
		}, nil)
	if err != nil || !res.IsSuccess() {
		p.log.Info("phone re-INVITE failed", "err", err, "status", statusOf(res))
		return false
	}
	return true
}

func statusOf(res *sipgo_sip.Response) int {
	if res == nil {
		return 0
	}
	return res.StatusCode
}

// sleepCtx waits d, or less when ctx ends; it reports whether d passed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
