package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"denwa/media"
)

// SDES-SRTP between the Dialer and the Phone: required on both ends,
// keys sent as RFC 4733 and in-band, each verified with "#" over SRTP.
func TestSRTPLoop(t *testing.T) {
	for _, tc := range []struct {
		name string
		mode KeyMode
	}{{"rfc4733", KeyRFC4733}, {"inband", KeyInband}} {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Keys: "#", KeyMode: tc.mode, KeyDelay: 300 * time.Millisecond, SRTP: media.SRTPRequired})
			d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second, SRTP: media.SRTPRequired})
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			keys := newKeys()
			call, err := d.Dial(ctx, "+81312345678", nil, keys)
			if err != nil {
				t.Fatal(err)
			}
			if s := call.Media().SRTP.Suite(); s != media.SuiteAES128SHA1_80 {
				t.Errorf("call's SRTP suite %v", s)
			}
			if got := collectKeys(call, keys, 1, 8*time.Second); got != "#" {
				t.Errorf("keys %q over SRTP, want #", got)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			pc := waitPhone(t, calls)
			if pc.SRTP != media.SuiteAES128SHA1_80 || pc.KeysSent != "#" {
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

// SRTP optional: a plain phone answers RTP/AVP without crypto and the
// call goes on over plain RTP; an optional phone gets SRTP.
func TestSRTPOptional(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phone media.SRTPMode
		want  media.CryptoSuite
	}{{"plain-phone", media.SRTPOff, 0}, {"optional-phone", media.SRTPOptional, media.SuiteAES128SHA1_80}} {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, SRTP: tc.phone})
			d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second, SRTP: media.SRTPOptional})
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			keys := newKeys()
			call, err := d.Dial(ctx, "+81312345678", nil, keys)
			if err != nil {
				t.Fatal(err)
			}
			if s := call.Media().SRTP.Suite(); s != tc.want {
				t.Errorf("SRTP suite %v, want %v", s, tc.want)
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
		})
	}
}
