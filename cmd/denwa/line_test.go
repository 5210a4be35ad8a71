package main

import (
	"errors"
	"fmt"
	"testing"

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
