package sip

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"denwa/media"
	"denwa/media/mediatest"
)

// portBase hands each test its own RTP port ranges, so parallel packages
// and tests do not collide.
var portBase atomic.Int32

func rtpRange() (int, int) {
	n := int(portBase.Add(1)) % 200
	first := 32000 + n*100
	return first, first + 98
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("DENWA_SIP_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func newTestPhone(t *testing.T, cfg PhoneConfig) (*Phone, chan PhoneCall) {
	t.Helper()
	calls := make(chan PhoneCall, 4)
	cfg.Calls = calls
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	cfg.RTPPortFirst, cfg.RTPPortLast = rtpRange()
	cfg.Logger = testLogger(t)
	p, err := NewPhone(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, calls
}

func newTestDialer(t *testing.T, cfg Config) *Dialer {
	t.Helper()
	if cfg.Bind == "" {
		cfg.Bind = "127.0.0.1:0"
	}
	cfg.RTPPortFirst, cfg.RTPPortLast = rtpRange()
	cfg.Logger = testLogger(t)
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// newKeys is a call's key sink in tests: pass it to Dial and read it with
// collectKeys.
func newKeys() mediatest.KeyChan[media.Key] { return make(mediatest.KeyChan[media.Key], 16) }

// collectKeys reads keys until n have come, the call ends or the timeout
// passes.
func collectKeys(c *Call, keys mediatest.KeyChan[media.Key], n int, timeout time.Duration) string {
	var got strings.Builder
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for got.Len() < n {
		select {
		case k := <-keys:
			got.WriteByte(byte(k.Key))
		case <-c.Done():
			// The session handed its last keys over before Done.
			for {
				select {
				case k := <-keys:
					got.WriteByte(byte(k.Key))
				default:
					return got.String()
				}
			}
		case <-deadline.C:
			return got.String()
		}
	}
	return got.String()
}

// dial calls the test number through d and fails the test unless the
// call is answered.
func dial(ctx context.Context, t *testing.T, d *Dialer) *Call {
	t.Helper()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return call
}

// dialHangup places an answered call through d and hangs it up.
func dialHangup(t *testing.T, d *Dialer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	if err := dial(ctx, t, d).Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// waitEnded waits up to timeout for call to end and returns its Err.
func waitEnded(t *testing.T, call *Call, timeout time.Duration) error {
	t.Helper()
	select {
	case <-call.Done():
	case <-time.After(timeout):
		t.Fatalf("call did not end in %v", timeout)
	}
	return call.Err()
}

func waitPhone(t *testing.T, calls chan PhoneCall) PhoneCall {
	t.Helper()
	select {
	case pc := <-calls:
		return pc
	case <-time.After(10 * time.Second):
		t.Fatal("phone reported no call")
	}
	return PhoneCall{}
}

// TestLoopKeys is the whole loop in process: Dialer → Phone (UDP and TCP,
// both codecs, both key modes) → keys back in the key sink given to Dial.
func TestLoopKeys(t *testing.T) {
	cases := []struct {
		name    string
		network string
		codec   media.PayloadKind
		mode    KeyMode
		keys    string
		eventPT uint8
	}{
		{"udp-pcmu-rfc4733-hash", "udp", media.KindPCMU, KeyRFC4733, "#", 0},
		{"udp-pcma-inband-star-hash", "udp", media.KindPCMA, KeyInband, "*#", 0},
		{"tcp-pcmu-inband-0-hash", "tcp", media.KindPCMU, KeyInband, "0#", 0},
		{"tcp-pcma-rfc4733-1", "tcp", media.KindPCMA, KeyRFC4733, "1", 0},
		{"udp-pt96", "udp", media.KindPCMU, KeyRFC4733, "#", 96},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			phone, calls := newTestPhone(t, PhoneConfig{Network: tc.network, Keys: tc.keys, KeyMode: tc.mode,
				KeyDelay: 300 * time.Millisecond, Codecs: []media.PayloadKind{tc.codec}, EventPT: tc.eventPT, RingFor: 200 * time.Millisecond})
			d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second})
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			var progress []ProgressKind
			keys := newKeys()
			call, err := d.Dial(ctx, "+81312345678", func(p Progress) { progress = append(progress, p.Kind) }, keys)
			if err != nil {
				t.Fatal(err)
			}
			if call.Codec() != tc.codec {
				t.Errorf("codec %v, want %v", call.Codec(), tc.codec)
			}
			if tc.eventPT != 0 && call.Media().EventPT != tc.eventPT {
				t.Errorf("event PT %d, want %d", call.Media().EventPT, tc.eventPT)
			}
			got := collectKeys(call, keys, len(tc.keys), 8*time.Second)
			if got != tc.keys {
				t.Errorf("keys %q, want %q", got, tc.keys)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("second Hangup: %v", err)
			}
			<-call.Done()
			if !errors.Is(call.Err(), ErrLocalHangup) {
				t.Errorf("Err %v", call.Err())
			}
			pc := waitPhone(t, calls)
			if pc.Outcome != PhoneCallerHungUp || pc.KeysSent != tc.keys || pc.Codec != tc.codec || pc.User != "+81312345678" {
				t.Errorf("phone saw %+v", pc)
			}
			if want := []ProgressKind{Ringing, Answered}; !equalKinds(progress, want) && !equalKinds(progress, append([]ProgressKind{Trying}, want...)) {
				t.Errorf("progress %v", progress)
			}
			if n := d.pool.InUse(); n != 0 {
				t.Errorf("%d RTP ports still in use", n)
			}
		})
	}
}

func equalKinds(a, b []ProgressKind) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// waitGoroutines waits (at most 5 s) until no more goroutines run than
// base, and fails with every goroutine's stack if they do not.
func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	n := runtime.NumGoroutine()
	for n > base && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		n = runtime.NumGoroutine()
	}
	if n > base {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines still running, %d before; stacks:\n%s", n, base, buf)
	}
}
