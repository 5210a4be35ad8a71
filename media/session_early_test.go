package media

import (
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
)

// A live session hands a key out when it goes down: while the far end is
// still pressing it, whichever way it is sent, with telephone-event
// negotiated or not. The press lasts a second; the key must reach the
// KeySink before the far end's SendKey has returned, and only once after it.
func TestSessionKeysAtKeyDown(t *testing.T) {
	cases := []struct {
		name    string
		eventPT uint8
		mode    KeyMode
		src     dtmf.Source
	}{
		{"rfc4733", 101, RFC4733, dtmf.SourceRFC4733},
		{"inband with telephone-event", 101, Inband, dtmf.SourceInband},
		{"inband without telephone-event", 0, Inband, dtmf.SourceInband},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, b := sessionPair(t, KindPCMU, c.eventPT)
				defer a.Close()
				defer b.Close()
				time.Sleep(100 * time.Millisecond)
				pressed := make(chan error, 1)
				go func() { pressed <- b.SendKey(t.Context(), '#', c.mode, time.Second) }()
				select {
				case k := <-keysOf(a):
					if k.Event.Key != '#' || k.Source != c.src {
						t.Fatalf("key %v, want # from %s", k, c.src)
					}
					// End is what was known at key-down: well inside the press.
					if d := k.Duration(); d <= 0 || d > 800 {
						t.Errorf("key %v: End %d samples after Start, want what was known at key-down", k, d)
					}
				case err := <-pressed:
					t.Fatalf("the press ended (%v) before its key came out", err)
				}
				if err := <-pressed; err != nil {
					t.Fatal(err)
				}
				time.Sleep(500 * time.Millisecond) // past every hold and timeout
				if ks := collectKeys(a); len(ks) != 0 {
					t.Errorf("more keys after the press: %v", ks)
				}
			})
		})
	}
}
