package sip_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// holdPhone is a siptest.Phone on its own RTP ports.
func holdPhone(t *testing.T, cfg sip.PhoneConfig) *siptest.Phone {
	cfg.RTPPortFirst, cfg.RTPPortLast = extRange()
	cfg.Logger = quietLogger()
	return siptest.NewPhone(t, cfg)
}

// The phone holds (a=sendonly, then nothing sent) for longer than the
// dialer's media timeout and resumes: the dialer answers recvonly, keeps
// the call, the prompt waits and goes on after the resume, where the
// phone hears it, and the key pressed after the resume counts.
func TestHoldResume(t *testing.T) {
	p := holdPhone(t, sip.PhoneConfig{HoldAfter: 300 * time.Millisecond, HoldFor: 2 * time.Second,
		KeyDelay: 3 * time.Second, Keys: "#"})
	d := newDialer(t, sip.Config{Trunk: p.URI(), MediaTimeout: 700 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	keys := make(chan media.Key, 4)
	call, err := d.Dial(ctx, "+81312345678", nil, media.KeySinkFunc(func(k media.Key) { keys <- k }))
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
	waitFor(t, "held", func() bool { return call.Media().Direction == media.RecvOnly })
	select {
	case err := <-played:
		t.Fatalf("prompt ended during the hold: %v", err)
	default:
	}
	waitFor(t, "resumed", func() bool { return call.Media().Direction == media.SendRecv })
	if err := <-played; err != nil {
		t.Fatalf("Play: %v", err)
	}
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("prompt took %v: it did not wait out the hold", took)
	}
	select {
	case k := <-keys:
		if k.Key != '#' {
			t.Fatalf("key %v after the resume", k)
		}
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	case <-ctx.Done():
		t.Fatal("no key after the resume")
	}
	call.Hangup(ctx)
	pc := p.Next(t, 10*time.Second)
	if pc.Holds != 1 || pc.HeardAfterResume < 40 {
		t.Errorf("phone: %d holds, heard %d packets after the resume", pc.Holds, pc.HeardAfterResume)
	}
}

// Held to the end, the call outlives several media timeouts and ends by
// the phone's BYE.
func TestHoldToTheEnd(t *testing.T) {
	p := holdPhone(t, sip.PhoneConfig{HoldAfter: 200 * time.Millisecond, HangupAfter: 2 * time.Second})
	d := newDialer(t, sip.Config{Trunk: p.URI(), MediaTimeout: 500 * time.Millisecond})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-call.Done():
	case <-ctx.Done():
		t.Fatal("call did not end")
	}
	if err := call.Err(); !errors.Is(err, sip.ErrRemoteHangup) {
		t.Errorf("held call ended with %v, want the phone's BYE", err)
	}
	if pc := p.Next(t, 10*time.Second); pc.Outcome != sip.PhoneHungUp {
		t.Errorf("phone outcome %v", pc.Outcome)
	}
}
