package sip

import (
	"context"
	"fmt"

	sipgo_sip "github.com/emiago/sipgo/sip"

	"denwa/dtmf"
	"denwa/media"
)

// Requests of the caller inside an answered call, other than BYE: an
// INFO (or MESSAGE) with a body the far end answers (denwa dtmftest asks
// its far end for what it heard this way, see docs/dtmf.md), and
// telephone-events sent exactly as given (a DTMF test bench's quirks).

// InDialogResponse is the final response to a request sent with
// Call.Request.
type InDialogResponse struct {
	Status      int
	Reason      string
	ContentType string // "" without a body
	Body        []byte
}

// Request sends a request of method (INFO or MESSAGE) with the given body
// inside the call's dialog, along its route set, and waits for its final
// response, bounded by ctx. A response of any status is returned as it
// is (no error); an error means none came or the call has ended.
func (c *Call) Request(ctx context.Context, method, contentType string, body []byte) (InDialogResponse, error) {
	m := sipgo_sip.RequestMethod(method)
	if m != sipgo_sip.INFO && m != sipgo_sip.MESSAGE {
		return InDialogResponse{}, fmt.Errorf("%w: in-dialog request %q (want INFO or MESSAGE)", ErrConfig, method)
	}
	if c.Err() != nil {
		return InDialogResponse{}, fmt.Errorf("sip: %s: %w", method, c.Err())
	}
	req := c.inDialog(m)
	if contentType != "" {
		req.AppendHeader(sipgo_sip.NewHeader("Content-Type", contentType))
	}
	req.SetBody(body)
	tx, err := c.d.send(ctx, req)
	if err != nil {
		return InDialogResponse{}, fmt.Errorf("sip: send %s: %w", method, err)
	}
	defer tx.Terminate()
	res, err := finalResponse(ctx, tx, method)
	if err != nil {
		return InDialogResponse{}, err
	}
	out := InDialogResponse{Status: res.StatusCode, Reason: truncate(res.Reason, 80), Body: res.Body()}
	if h := res.ContentType(); h != nil {
		out.ContentType = h.Value()
	}
	return out, nil
}

// SendEvents sends telephone-event packets as given, in place of audio
// (media.Session.SendEvents: each at its Time, with its Marker, its
// Timestamp from the press's first frame), with payload type pt (0: the
// negotiated one), and returns once the last one went out. Like Play, it
// returns the call's end cause when the call ends.
func (c *Call) SendEvents(ctx context.Context, pt uint8, evs []dtmf.EventPacket) error {
	return c.sendErr(ctx, c.sess.SendEvents(ctx, pt, evs))
}

// SendTimeline says where the call's stream and its latest Play and
// press began (media.Session.SendTimeline).
func (c *Call) SendTimeline() media.SendTimeline { return c.sess.SendTimeline() }
