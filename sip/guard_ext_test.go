package sip_test

import (
	"context"
	"testing"
	"time"

	"denwa/sip"
	"denwa/sip/siptest"
)

// TestGuard2xxTenTimes: with the guard on the Dialer's port (responses
// pass it untouched), a 2xx the trunk sends ten times, each copy after
// the ACK for the previous one, is ACKed ten times, and the call stays up
// until Hangup's one BYE.
func TestGuard2xxTenTimes(t *testing.T) {
	const copies = 10
	var ok []byte
	uas := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		switch {
		case req.Method == "INVITE" && ok == nil:
			ok = ok200(req, pcmuSDP)
			return [][]byte{ok}
		case req.Method == "INVITE":
			return [][]byte{ok}
		case req.Method == "ACK" && req.N < copies:
			return [][]byte{ok}
		}
		return siptest.Polite(req)
	})
	d := newDialer(t, sip.Config{Trunk: uas.URI(), InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !uas.Wait("ACK", copies, 5*time.Second) {
		t.Errorf("%d ACKs for %d copies of the 2xx", uas.Count("ACK"), copies)
	}
	select {
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	default:
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if !uas.Wait("BYE", 1, 5*time.Second) || uas.Count("ACK") != copies || uas.Count("BYE") != 1 {
		t.Errorf("%d ACKs, %d BYEs; want %d and 1", uas.Count("ACK"), uas.Count("BYE"), copies)
	}
	if s := d.GuardStats(); s != (sip.GuardStats{}) {
		t.Errorf("the guard refused something from the trunk: %+v", s)
	}
}
