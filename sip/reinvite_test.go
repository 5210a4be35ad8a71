package sip

import (
	"context"
	"errors"
	"testing"
	"time"

	"denwa/media"
)

// The phone holds (a=sendonly, then nothing sent) for longer than the
// dialer's media timeout and resumes: the dialer answers recvonly, keeps
// the call, the prompt waits and goes on after the resume, where the
// phone hears it, and the key pressed after the resume counts.
func TestHoldResume(t *testing.T) {
	p, calls := newTestPhone(t, PhoneConfig{HoldAfter: 300 * time.Millisecond, HoldFor: 2 * time.Second,
		KeyDelay: 3 * time.Second, Keys: "#"})
	d := newTestDialer(t, Config{Trunk: p.URI(), MediaTimeout: 700 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	keys := newKeys()
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	played := make(chan error, 1)
	prompt := make([][]byte, 75) // 1.5 s: still playing when the hold comes
	for i := range prompt {
		prompt[i] = make([]byte, media.FrameSamples)
		for j := range prompt[i] {
			prompt[i][j] = byte(0x20 + i%64)
		}
	}
	start := time.Now()
	go func() { played <- call.Play(ctx, prompt) }()
	waitUntil(t, "held", func() bool { return call.Media().Direction == media.RecvOnly })
	select {
	case err := <-played:
		t.Fatalf("prompt ended during the hold: %v", err)
	default:
	}
	waitUntil(t, "resumed", func() bool { return call.Media().Direction == media.SendRecv })
	if err := <-played; err != nil {
		t.Fatalf("Play: %v", err)
	}
	if took := time.Since(start); took < 1500*time.Millisecond+1500*time.Millisecond {
		t.Errorf("prompt took %v: it did not wait out the hold", took)
	}
	if got := collectKeys(call, keys, 1, 10*time.Second); got != "#" {
		t.Fatalf("keys after the resume %q (call err %v)", got, call.Err())
	}
	if err := call.Err(); err != nil {
		t.Fatalf("call ended: %v", err)
	}
	call.Hangup(ctx)
	pc := waitPhone(t, calls)
	if pc.Holds != 1 || pc.HeardAfterResume < 40 {
		t.Errorf("phone: %d holds, heard %d packets after the resume", pc.Holds, pc.HeardAfterResume)
	}
}

// Without the hold the same silence of the phone is a media timeout: the
// hold is what kept the call above.
func TestHoldNotResumedOnlyHeld(t *testing.T) {
	p, calls := newTestPhone(t, PhoneConfig{HoldAfter: 200 * time.Millisecond, HangupAfter: 2 * time.Second})
	d := newTestDialer(t, Config{Trunk: p.URI(), MediaTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := dial(ctx, t, d)
	if err := waitEnded(t, call, 10*time.Second); !errors.Is(err, ErrRemoteHangup) {
		t.Errorf("held call ended with %v, want the phone's BYE", err)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneHungUp {
		t.Errorf("phone outcome %v", pc.Outcome)
	}
}

// waitUntil waits (10 s at most) until cond holds, looking every 10 ms.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}
