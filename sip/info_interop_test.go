package sip_test

import (
	"context"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneInfoTwice: linphonec with use_info=1 and
// use_rfc2833=1 sends a press both as SIP INFO and as RFC 4733 events, at
// once; the call hears one key. (Of further presses linphonec 5.1 sends
// the INFO only seconds later, after the events: too late to be one press
// by time, so this test presses one key; see docs/dtmf.md.)
func TestInteropLinphoneInfoTwice(t *testing.T) {
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.Info, Rc: map[string][]string{"sip": {"use_rfc2833=1"}}})
	d := newDialer(t, sip.Config{Trunk: phone.URI()})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	keys := make(mediatest.KeyChan[media.Key], 8)
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup(ctx)
	var first media.Key
	select {
	case first = <-keys:
	case <-time.After(10 * time.Second):
		t.Fatal("no key")
	}
	if first.Key != '#' || first.Source != dtmf.SourceSIPInfo && first.Source != dtmf.SourceRFC4733 {
		t.Fatalf("key %v", first)
	}
	// Both sightings have come by now (linphonec sends them together);
	// wait well past the merger's window for a second key.
	select {
	case k := <-keys:
		t.Fatalf("a second key %v after %v", k, first)
	case <-time.After(1500 * time.Millisecond):
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}
