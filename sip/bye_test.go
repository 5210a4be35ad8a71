package sip_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// How a call that is ending reports why: whoever ends it first (the far
// end's BYE, the media timeout, Hangup) sets the cause, and Play, Err,
// Done and Hangup all agree on it.

// prompt returns n frames of silence (20 ms each).
func prompt(n int) [][]byte {
	silence := make([]byte, media.FrameSamples)
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = silence
	}
	return frames
}

// TestRemoteByeAnyMoment: the far end hangs up about 40 ms after the
// answer while the caller starts a prompt 0–80 ms after Dial returns, so
// the BYE lands before Play, as Play starts and while it plays. Every
// time, Play returns sip.ErrRemoteHangup (never the media session's
// closing) with Done already closed and Err the same, Hangup afterwards
// returns nil, and the phone saw its own BYE end the call.
func TestRemoteByeAnyMoment(t *testing.T) {
	const rounds = 40
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 10))
	t.Logf("seed %d", seed)
	first, last := extRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{HangupAfter: 40 * time.Millisecond, Logger: quietLogger(), RTPPortFirst: first, RTPPortLast: last})
	d := newDialer(t, sip.Config{Trunk: phone.URI()})
	frames := prompt(100)
	for i := range rounds {
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		call, err := d.Dial(ctx, "+81312345678", nil)
		if err != nil {
			cancel()
			t.Fatalf("round %d: Dial: %v", i, err)
		}
		delay := time.Duration(rng.Int64N(int64(80 * time.Millisecond)))
		time.Sleep(delay) // where the prompt starts relative to the BYE
		err = call.Play(ctx, frames)
		if !errors.Is(err, sip.ErrRemoteHangup) || errors.Is(err, media.ErrSessionClosed) {
			t.Errorf("round %d (Play after %v): Play returned %v, want %v", i, delay, err, sip.ErrRemoteHangup)
		}
		select {
		case <-call.Done():
		default:
			t.Errorf("round %d: Play returned %v before Done was closed", i, err)
		}
		if err := call.Err(); !errors.Is(err, sip.ErrRemoteHangup) {
			t.Errorf("round %d: Err %v, want %v", i, err, sip.ErrRemoteHangup)
		}
		if err := call.Hangup(ctx); err != nil {
			t.Errorf("round %d: Hangup after the far end's BYE: %v", i, err)
		}
		if pc := phone.Next(t, 5*time.Second); pc.Outcome != sip.PhoneHungUp || pc.Err != nil {
			t.Errorf("round %d: phone saw %v (%v), want %v", i, pc.Outcome, pc.Err, sip.PhoneHungUp)
		}
		cancel()
	}
	if n := sip.RTPPortsInUse(d); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
}

// TestMediaTimeoutOneBye: far ends that answer and never send RTP, while
// the caller plays a prompt and hangs up at a random moment around the
// media timeout. Play's error and Err agree (media.ErrMediaTimeout, or
// sip.ErrLocalHangup when Hangup came first), and every call gets exactly
// one BYE however the timeout's BYE and Hangup race.
func TestMediaTimeoutOneBye(t *testing.T) {
	const calls = 8 // extRange holds 10
	const timeout = 300 * time.Millisecond
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 11))
	t.Logf("seed %d", seed)
	uas := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method == "INVITE" {
			return [][]byte{ok200(req, pcmuSDP)} // RTP to port 9: none comes back
		}
		return siptest.Polite(req)
	})
	d := newDialer(t, sip.Config{Trunk: uas.URI(), MediaTimeout: timeout})
	frames := prompt(100)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var ids []string
	for i := range calls {
		hangAt := timeout - 100*time.Millisecond + time.Duration(rng.Int64N(int64(200*time.Millisecond)))
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			call, err := d.Dial(ctx, "+81312345678", nil)
			if err != nil {
				t.Errorf("call %d: Dial: %v", i, err)
				return
			}
			mu.Lock()
			ids = append(ids, call.CallID())
			mu.Unlock()
			played := make(chan error, 1)
			go func() { played <- call.Play(ctx, frames) }()
			time.Sleep(hangAt)
			herr := call.Hangup(ctx)
			perr := <-played
			why := call.Err()
			switch {
			case errors.Is(why, media.ErrMediaTimeout):
				if herr != nil {
					t.Errorf("call %d: Hangup after the media timeout: %v", i, herr)
				}
			case errors.Is(why, sip.ErrLocalHangup):
			default:
				t.Errorf("call %d (Hangup after %v): Err %v, want %v or %v", i, hangAt, why, media.ErrMediaTimeout, sip.ErrLocalHangup)
			}
			if perr != why {
				t.Errorf("call %d (Hangup after %v): Play returned %v, Err %v", i, hangAt, perr, why)
			}
		})
	}
	wg.Wait()
	// Every BYE was answered before its call's Done closed, and Hangup
	// waits for Done: the UAS has seen them all.
	byes := map[string]int{}
	for _, r := range uas.Requests() {
		if r.Method == "BYE" {
			byes[r.Header("Call-ID")]++
		}
	}
	for _, id := range ids {
		if byes[id] != 1 {
			t.Errorf("call %s: %d BYEs, want 1", id, byes[id])
		}
	}
	if n := sip.RTPPortsInUse(d); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
}
