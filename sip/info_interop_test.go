package sip_test

import (
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneInfoTwice: linphonec with use_info=1 and
// use_rfc2833=1 sends a press both as SIP INFO and as RFC 4733 events, at
// once; the call hears one key. (Of further presses linphonec 5.1 sends
// the INFO only seconds later, after the events: too late to be one press
// by time, so this test presses one key; see docs/dtmf.md.)
func TestInteropLinphoneInfoTwice(t *testing.T) {
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Keys: "#", Mode: peers.Info, Rc: map[string][]string{"sip": {"use_rfc2833=1"}}})
	_, call, keys := dialKeys(t, phone.URI())
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
	if err := call.Hangup(t.Context()); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}
