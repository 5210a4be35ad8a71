package main

import (
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/media"
)

// The line's key sink passes each key on with when it began, and never
// blocks the call's media: a key that finds the buffer full is dropped.
func TestCallLineHandleKey(t *testing.T) {
	l := &callLine{keys: make(chan enroll.KeyPress, 2)}
	began := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	for i, k := range []dtmf.Key{'1', '#', '9'} {
		l.handleKey(media.Key{Event: dtmf.Event{Key: k, Source: dtmf.SourceRFC4733}, Began: began.Add(time.Duration(i) * time.Second)})
	}
	for i, want := range []dtmf.Key{'1', '#'} {
		got := <-l.keys
		if got.Key != want || got.Source != dtmf.SourceRFC4733 || !got.At.Equal(began.Add(time.Duration(i)*time.Second)) {
			t.Errorf("key %d: %+v, want %c from rfc4733 at %v", i, got, want, began.Add(time.Duration(i)*time.Second))
		}
	}
	select {
	case k := <-l.keys:
		t.Errorf("a key beyond the buffer came through: %v", k)
	default:
	}
}
