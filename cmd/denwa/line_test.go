package main

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
)

// TestLineError: what a call reports, from Play before the call has ended
// or from Err after, reaches the dialogue in enroll's terms, so that the
// far end's hang-up and a line gone quiet are the person's doing.
func TestLineError(t *testing.T) {
	boom := errors.New("boom")
	for _, tt := range []struct {
		err  error
		want error // errors.Is; nil: the result is nil
	}{
		{nil, nil},
		{sip.ErrRemoteHangup, enroll.ErrHungUp},
		{fmt.Errorf("play: %w", media.ErrMediaTimeout), enroll.ErrMediaTimeout},
		{media.ErrMediaTimeout, media.ErrMediaTimeout},
		{boom, boom},
	} {
		got := lineError(tt.err)
		if tt.want == nil {
			if got != nil {
				t.Errorf("lineError(nil) = %v", got)
			}
			continue
		}
		if !errors.Is(got, tt.want) || !errors.Is(got, tt.err) {
			t.Errorf("lineError(%v) = %v, want it to wrap %v and the original", tt.err, got, tt.want)
		}
	}
	if err := lineError(boom); errors.Is(err, enroll.ErrHungUp) || errors.Is(err, enroll.ErrMediaTimeout) {
		t.Errorf("lineError(boom) = %v: not the far end's doing", err)
	}
}

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
