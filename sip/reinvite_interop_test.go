package sip_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest/peers"
)

// TestInteropLinphoneHold: linphonec answers denwa's call, puts it on
// hold ("pause": a re-INVITE with a=sendonly) for longer than denwa's
// media timeout, resumes it ("resume": a=sendrecv) and presses #. denwa
// must answer both re-INVITEs (recvonly, then sendrecv), keep the call,
// hold its prompt while held and finish it after the resume, and count
// the # (the call is verified).
func TestInteropLinphoneHold(t *testing.T) {
	const mediaTimeout = 2 * time.Second
	phone := peers.StartLinphone(t, peers.LinphoneConfig{Mode: peers.RFC4733})
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf(format+"\nlinphonec:\n%s", append(args, phone.Output())...)
	}
	d := newDialer(t, sip.Config{Trunk: phone.URI(), RingTimeout: 10 * time.Second, MediaTimeout: mediaTimeout})
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	keys := make(mediatest.KeyChan[media.Key], 8)
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		fail("Dial: %v", err)
	}
	defer call.Hangup(context.Background())
	wait := func(what string, cond func() bool) {
		t.Helper()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-tick.C:
			case <-call.Done():
				fail("call ended waiting for %s: %v", what, call.Err())
			case <-ctx.Done():
				fail("no %s in time", what)
			}
		}
	}
	off := phone.WaitConnected(t, 0)
	prompt := make([][]byte, 100) // 2 s
	for i := range prompt {
		prompt[i] = make([]byte, media.FrameSamples)
		for j := range prompt[i] {
			prompt[i][j] = 0xFF // PCMU silence; the prompt's timing is what matters
		}
	}
	played := make(chan error, 1)
	go func() { played <- call.Play(ctx, prompt) }()
	phone.Pause()
	wait("hold", func() bool { d := call.Media().Direction; return d == media.RecvOnly || d == media.Inactive })
	heldAt := time.Now()
	_, pausedAt := phone.WaitOutput(t, regexp.MustCompile(`is now paused`), off, 10*time.Second)
	// Held past the media timeout: the call stays, the prompt waits.
	hold := time.NewTimer(mediaTimeout + time.Second)
	select {
	case <-hold.C:
	case <-call.Done():
		fail("held call ended: %v", call.Err())
	case err := <-played:
		fail("prompt finished while held (%v)", err)
	}
	phone.Resume()
	wait("resume", func() bool { return call.Media().Direction == media.SendRecv })
	if err := <-played; err != nil {
		fail("Play after the resume: %v", err)
	}
	if time.Since(heldAt) < mediaTimeout {
		t.Errorf("prompt ended %v after the hold began", time.Since(heldAt))
	}
	// linphonec sends RTP again once its streams are up after the resume.
	phone.WaitOutput(t, regexp.MustCompile(`Media streams established`), pausedAt, 10*time.Second)
	phone.SendKeys("#", 0)
	select {
	case k := <-keys:
		if k.Key != '#' {
			t.Errorf("key %v, want #", k)
		}
	case <-call.Done():
		fail("call ended before the key: %v", call.Err())
	case <-ctx.Done():
		fail("no key after the resume")
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}
