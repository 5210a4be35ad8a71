package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"denwa/media"
)

// SDES-SRTP between the Dialer and the Phone, each call verified with "#":
// required on both ends with keys sent as RFC 4733 and in-band; optional
// against a plain phone (it answers RTP/AVP without crypto: plain RTP)
// and against an optional one (SRTP).
func TestSRTPLoop(t *testing.T) {
	for _, tc := range []struct {
		name          string
		dialer, phone media.SRTPMode
		mode          KeyMode
		want          media.CryptoSuite
	}{
		{"required-rfc4733", media.SRTPRequired, media.SRTPRequired, KeyRFC4733, media.SuiteAES128SHA1_80},
		{"required-inband", media.SRTPRequired, media.SRTPRequired, KeyInband, media.SuiteAES128SHA1_80},
		{"optional-plain-phone", media.SRTPOptional, media.SRTPOff, KeyRFC4733, 0},
		{"optional-optional-phone", media.SRTPOptional, media.SRTPOptional, KeyRFC4733, media.SuiteAES128SHA1_80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Keys: "#", KeyMode: tc.mode, KeyDelay: 300 * time.Millisecond, SRTP: tc.phone})
			d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second, SRTP: tc.dialer})
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			keys := newKeys()
			call, err := d.Dial(ctx, "+81312345678", nil, keys)
			if err != nil {
				t.Fatal(err)
			}
			if s := call.Media().SRTP.Suite(); s != tc.want {
				t.Errorf("call's SRTP suite %v, want %v", s, tc.want)
			}
			if got := collectKeys(call, keys, 1, 8*time.Second); got != "#" {
				t.Errorf("keys %q, want #", got)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			if pc := waitPhone(t, calls); pc.SRTP != tc.want || pc.KeysSent != "#" {
				t.Errorf("phone saw %+v", pc)
			}
			if n := d.SRTPAuthFailures(); n != 0 {
				t.Errorf("%d SRTP packets failed authentication", n)
			}
		})
	}
}

// SRTP required against a phone without it: the phone refuses the
// RTP/SAVP offer with 488 and the call fails at once, saying why.
func TestSRTPRequiredPlainPhone(t *testing.T) {
	phone, calls := newTestPhone(t, PhoneConfig{Keys: "#"})
	d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second, SRTP: media.SRTPRequired})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	start := time.Now()
	_, err := d.Dial(ctx, "+81312345678", nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != 488 || !errors.Is(err, media.ErrSRTPRequired) {
		t.Fatalf("Dial: %v, want a 488 CallError wrapping media.ErrSRTPRequired", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("failing took %v", took)
	}
	t.Logf("cause: %v", err)
	if pc := waitPhone(t, calls); pc.Status != 488 || !errors.Is(pc.Err, media.ErrMediaRejected) {
		t.Errorf("phone saw %+v", pc)
	}

	// The other way round: a phone that requires SRTP refuses a plain offer.
	phone2, calls2 := newTestPhone(t, PhoneConfig{Keys: "#", SRTP: media.SRTPRequired})
	d2 := newTestDialer(t, Config{Trunk: phone2.URI(), RingTimeout: 5 * time.Second})
	if _, err := d2.Dial(ctx, "+81312345678", nil, nil); !errors.As(err, &ce) || ce.Status != 488 {
		t.Fatalf("plain offer to an SRTP phone: %v, want 488", err)
	}
	if pc := waitPhone(t, calls2); pc.Status != 488 || !errors.Is(pc.Err, media.ErrSRTPRequired) {
		t.Errorf("phone saw %+v", pc)
	}
}
