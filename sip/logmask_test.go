package sip

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the dialer's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The dialer's log, at debug level, of an answered call, a busy one and
// a number the dial plan refuses: the number appears only masked
// (MaskNumber), in either form (E.164 or as the dial plan rewrites
// it), and the SIP password never.
func TestLogsMaskNumbers(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	answer, calls := newTestPhone(t, PhoneConfig{Keys: "#", KeyDelay: 100 * time.Millisecond, RingFor: 50 * time.Millisecond})
	busy, _ := newTestPhone(t, PhoneConfig{Status: 486})
	const password = "pw-that-must-not-leak"
	plan := DialPlan{{Match: "+81", Strip: 3, Prepend: "0"}}
	dialer := func(trunk string) *Dialer {
		first, last := rtpRange()
		d, err := NewDialer(Config{Trunk: trunk, Bind: "127.0.0.1:0", RTPPortFirst: first, RTPPortLast: last,
			RingTimeout: 5 * time.Second, DialPlan: plan, Password: password, Logger: log})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()

	d := dialer(answer.URI())
	keys := newKeys()
	call, err := d.Dial(ctx, "+819012345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	if got := collectKeys(call, keys, 1, 5*time.Second); got != "#" {
		t.Errorf("keys %q", got)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Fatal(err)
	}
	waitPhone(t, calls)

	if _, err := dialer(busy.URI()).Dial(ctx, "+819012345678", nil, nil); err == nil {
		t.Fatal("the busy phone answered")
	}
	_, err = d.Dial(ctx, "+81 90 1234 5678 ext", nil, nil)
	if !errors.Is(err, ErrBadNumber) {
		t.Fatalf("Dial(bad) = %v, want ErrBadNumber", err)
	}
	if strings.Contains(err.Error(), "12345678") {
		t.Errorf("the error names the number: %v", err)
	}

	out := logs.String()
	for _, leak := range []string{"+819012345678", "09012345678", "9012345678", password} {
		if strings.Contains(out, leak) {
			t.Errorf("the log holds %q:\n%s", leak, out)
		}
	}
	for _, want := range []string{`to=*******5678`, `msg="call answered"`, `msg="call failed"`} {
		if !strings.Contains(out, want) {
			t.Errorf("the log lacks %s:\n%s", want, out)
		}
	}
}
