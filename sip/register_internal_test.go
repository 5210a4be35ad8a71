package sip

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"
)

// TestBackoff: the wait doubles from lo up to hi and is drawn between
// half and all of it (seeded, so the draws are always these).
func TestBackoff(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 13))
	lo, hi := 5*time.Second, time.Minute
	caps := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute, time.Minute, time.Minute}
	seen := map[time.Duration]bool{}
	for n, c := range caps {
		for range 50 {
			w := backoff(rng, lo, hi, n+1)
			if w < c/2 || w > c {
				t.Fatalf("failure %d: waited %v; want between %v and %v", n+1, w, c/2, c)
			}
			seen[w] = true
		}
	}
	if len(seen) < 300 {
		t.Errorf("%d distinct waits in 350; want jitter", len(seen))
	}
	if w := backoff(rng, lo, hi, 1000); w > hi {
		t.Errorf("after 1000 failures: %v > %v", w, hi)
	}
}

// TestRegisterTLS: over tls the REGISTER goes on the connection the calls
// use (one handshake for both); a registrar that does not take REGISTER
// (the Phone: 405) is a failure with its status.
func TestRegisterTLS(t *testing.T) {
	phone, calls, hs := newTLSPhone(t, PhoneConfig{Status: 486})
	d := newTestDialer(t, Config{Trunk: phone.URI(), TLS: trusting(t), InviteTimeout: 2 * time.Second,
		Register: RegisterConfig{Enabled: true, RetryMin: time.Hour}})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := d.Registration().Wait(ctx, func(s RegistrationState) bool { return s.Failures > 0 })
	var re *RegisterError
	if err != nil || !errors.As(st.Err, &re) || re.Status != 405 {
		t.Fatalf("state %+v, %v; want failed with 405", st, err)
	}
	_, err = d.Dial(ctx, "+81312345678", nil, nil)
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != 486 {
		t.Fatalf("Dial: %v; want the 486", err)
	}
	waitPhone(t, calls)
	if n := hs.Load(); n != 1 {
		t.Errorf("%d TLS handshakes at the phone, want 1 (REGISTER and INVITE on one connection)", n)
	}
}
