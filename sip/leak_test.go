package sip_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// RTP port ranges for the tests of package sip_test. Package sip's own
// tests take 32000–51999 (rtpRange), cmd/denwa's 31000 and up; the record
// test keeps 52000–52199 to itself so that its capture filter is exact;
// these helpers hand out 20 ports each from 52200 to 53999.
var extPorts atomic.Int32

func extRange() (int, int) {
	n := int(extPorts.Add(1)) % 90
	first := 52200 + n*20
	return first, first + 19
}

func quietLogger() *slog.Logger {
	if os.Getenv("DENWA_SIP_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newDialer starts a Dialer on 127.0.0.1 with its own RTP range. The
// caller closes it (the leak checks need Close before they count).
func newDialer(t *testing.T, cfg sip.Config) *sip.Dialer {
	t.Helper()
	if cfg.Bind == "" {
		cfg.Bind = "127.0.0.1:0"
	}
	if cfg.RTPPortFirst == 0 {
		cfg.RTPPortFirst, cfg.RTPPortLast = extRange()
	}
	cfg.Logger = quietLogger()
	d, err := sip.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// waitGoroutines is package sip's (loop_test.go).
var waitGoroutines = sip.WaitGoroutines

// TestLeakAfterCalls places answered, busy, unanswered and cancelled
// calls against simulated phones, closes everything and checks that the
// RTP ports are back in their pools and the goroutine count is back where
// it was.
func TestLeakAfterCalls(t *testing.T) {
	const rounds = 3
	base := runtime.NumGoroutine()

	answer := siptest.NewPhone(t, sip.PhoneConfig{Logger: quietLogger(), RTPPortFirst: 53960, RTPPortLast: 53979})
	busy := siptest.NewPhone(t, sip.PhoneConfig{Status: 486, RingFor: 50 * time.Millisecond, Logger: quietLogger()})
	ring := siptest.NewPhone(t, sip.PhoneConfig{RingFor: -1, Logger: quietLogger()})
	dAnswer := newDialer(t, sip.Config{Trunk: answer.URI()})
	dBusy := newDialer(t, sip.Config{Trunk: busy.URI()})
	dRing := newDialer(t, sip.Config{Trunk: ring.URI(), RingTimeout: 300 * time.Millisecond})
	// Its ring timeout is far beyond the context's, so that a loaded
	// machine cannot let the timeout win the race.
	dCancel := newDialer(t, sip.Config{Trunk: ring.URI(), RingTimeout: time.Minute})
	dialers := []*sip.Dialer{dAnswer, dBusy, dRing, dCancel}

	silence := make([]byte, media.FrameSamples)
	frames := [][]byte{silence, silence, silence}
	var calls int
	for range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		// Answered: play three frames and hang up.
		call, err := dAnswer.Dial(ctx, "+81312345678", nil, nil)
		if err != nil {
			cancel()
			t.Fatalf("answered call: %v", err)
		}
		if err := call.Play(ctx, frames); err != nil {
			t.Errorf("Play: %v", err)
		}
		if err := call.Hangup(ctx); err != nil {
			t.Errorf("Hangup: %v", err)
		}
		answer.Next(t, 5*time.Second)
		// Busy.
		_, err = dBusy.Dial(ctx, "+81312345678", nil, nil)
		wantKind(t, "busy", err, sip.Busy)
		busy.Next(t, 5*time.Second)
		// No answer: the ring timeout cancels.
		_, err = dRing.Dial(ctx, "+81312345678", nil, nil)
		wantKind(t, "no-answer", err, sip.NoAnswer)
		ring.Next(t, 5*time.Second)
		// Cancelled by the caller's context while it rings.
		cctx, ccancel := context.WithTimeout(ctx, 150*time.Millisecond)
		_, err = dCancel.Dial(cctx, "+81312345678", nil, nil)
		ccancel()
		wantKind(t, "ctx", err, sip.Failed)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ctx: err %v does not wrap the context's error", err)
		}
		ring.Next(t, 5*time.Second)
		cancel()
		calls += 4
	}
	for i, d := range dialers {
		if n := sip.RTPPortsInUse(d); n != 0 {
			t.Errorf("dialer %d: %d RTP ports in use after its calls", i, n)
		}
		if err := d.Close(); err != nil {
			t.Errorf("dialer %d: Close: %v", i, err)
		}
		if n := sip.RTPPortsInUse(d); n != 0 {
			t.Errorf("dialer %d: %d RTP ports in use after Close", i, n)
		}
	}
	for _, p := range []*siptest.Phone{answer, busy, ring} {
		p.Close()
	}
	waitGoroutines(t, base)
	t.Logf("%d calls; goroutines %d before, %d after", calls, base, runtime.NumGoroutine())
}

func wantKind(t *testing.T, what string, err error, kind sip.FailureKind) *sip.CallError {
	t.Helper()
	var ce *sip.CallError
	if !errors.As(err, &ce) {
		t.Errorf("%s: err %v, want a *sip.CallError", what, err)
		return nil
	}
	if ce.Kind != kind {
		t.Errorf("%s: kind %v, want %v (%v)", what, ce.Kind, kind, err)
	}
	return ce
}
