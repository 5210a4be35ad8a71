package sip_test

import (
	"context"
	"errors"
	"net/netip"
	"testing"
	"time"

	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// Config.MediaNetworks: an answer whose SDP names an RTP address outside
// them fails the call (and is hung up); inside them the call goes on and
// its keys count. RTPLearn is validated, and a phone that sends from its
// SDP address is not disturbed by it.
func TestMediaNetworks(t *testing.T) {
	pf, pl := extRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, RTPPortFirst: pf, RTPPortLast: pl})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	far := newDialer(t, sip.Config{Trunk: phone.URI(), MediaNetworks: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	_, err := far.Dial(ctx, "+81312345678", nil, nil)
	var ce *sip.CallError
	if !errors.As(err, &ce) || ce.Kind != sip.Failed || !errors.Is(err, media.ErrForeignRemote) {
		t.Fatalf("answer from outside the media networks: %v, want a failed call wrapping media.ErrForeignRemote", err)
	}
	if pc := phone.Next(t, 5*time.Second); pc.Outcome != sip.PhoneCallerHungUp {
		t.Errorf("the phone saw %v, want the caller to hang up", pc.Outcome)
	}

	near := newDialer(t, sip.Config{Trunk: phone.URI(), RTPLearn: sip.DefaultRTPLearn,
		MediaNetworks: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	keys := make(mediatest.KeyChan[media.Key], 4)
	call, err := near.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case k := <-keys:
		if k.Key != '#' {
			t.Errorf("key %v, want #", k)
		}
	case <-ctx.Done():
		t.Fatal("no key from a phone inside the media networks")
	}
	call.Hangup(ctx)
	if n := near.ForeignPackets(); n != 0 {
		t.Errorf("%d foreign packets on a quiet network", n)
	}

	for _, c := range []sip.Config{
		{Trunk: phone.URI(), RTPLearn: -1},
		{Trunk: phone.URI(), MediaNetworks: []netip.Prefix{{}}},
	} {
		if _, err := sip.NewDialer(c); !errors.Is(err, sip.ErrConfig) {
			t.Errorf("NewDialer(RTPLearn %d, MediaNetworks %v): %v, want ErrConfig", c.RTPLearn, c.MediaNetworks, err)
		}
	}
}
