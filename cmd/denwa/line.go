package main

import (
	"context"
	"errors"
	"fmt"

	"denwa/audio"
	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/media"
	"denwa/sip"
)

// callLine adapts an answered sip.Call to enroll.Line: prompts by name from
// the catalog in the call's codec, keys converted as the call's media hands
// them over. That is wiring only; the dialogue's logic lives in enroll.
type callLine struct {
	call    *sip.Call
	prompts *audio.Catalog
	codec   audio.Codec
	keys    chan enroll.KeyPress
}

// keyBuffer bounds the keys waiting for the dialogue; a caller cannot press
// faster than the dialogue reads them.
const keyBuffer = 32

// dialLine dials number with d and returns the answered call as a line;
// onProgress is Dial's. The call's keys go straight into the line's
// channel (handleKey).
func dialLine(ctx context.Context, d *sip.Dialer, number string, onProgress func(sip.Progress), prompts *audio.Catalog) (*callLine, error) {
	l := &callLine{prompts: prompts, keys: make(chan enroll.KeyPress, keyBuffer)}
	call, err := d.Dial(ctx, number, onProgress, media.KeySinkFunc(l.handleKey))
	if err != nil {
		return nil, config.ExplainTLS(err)
	}
	l.call, l.codec = call, audioCodec(call.Codec())
	return l, nil
}

func audioCodec(k media.PayloadKind) audio.Codec {
	if k == media.KindPCMA {
		return audio.PCMA
	}
	return audio.PCMU
}

// handleKey is the call's media.KeySink: it converts the key, dated when
// it began on the line's clock, and never blocks the call's media: a full
// buffer drops the key (the dialogue reads far faster).
func (l *callLine) handleKey(k media.Key) {
	select {
	case l.keys <- enroll.KeyPress{Key: k.Key, Source: k.Source, At: k.Began}:
	default:
	}
}

// Play plays one prompt to the end, or until ctx is cancelled (barge-in) or
// the call ends; a call that ends during it gives the call's end cause
// (sip.Call.Play waits for it), in enroll's terms.
func (l *callLine) Play(ctx context.Context, id enroll.PromptID) error {
	p, err := l.prompts.Get(string(id))
	if err != nil {
		return err
	}
	return lineError(l.call.Play(ctx, p.Frames(l.codec))) // frames shared by every call
}

func (l *callLine) Keys() <-chan enroll.KeyPress     { return l.keys }
func (l *callLine) Hangup(ctx context.Context) error { return l.call.Hangup(ctx) }
func (l *callLine) Done() <-chan struct{}            { return l.call.Done() }
func (l *callLine) String() string                   { return fmt.Sprintf("line(%s)", l.call) }

// Err says why the call ended, in enroll's terms (see lineError).
func (l *callLine) Err() error { return lineError(l.call.Err()) }

// lineError maps a call's error to enroll's terms: the far end hanging up
// wraps enroll.ErrHungUp, media stopping (which Play reports before the
// call has ended) wraps enroll.ErrMediaTimeout; anything else stays as it
// is.
func lineError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sip.ErrRemoteHangup):
		return fmt.Errorf("%w: %w", enroll.ErrHungUp, err)
	case errors.Is(err, media.ErrMediaTimeout):
		return fmt.Errorf("%w: %w", enroll.ErrMediaTimeout, err)
	}
	return err
}

// outcomeOf maps a Dial failure to the shared outcome set.
func outcomeOf(err error) enroll.Outcome {
	var ce *sip.CallError
	if !errors.As(err, &ce) {
		return enroll.OutcomeFailed
	}
	switch ce.Kind {
	case sip.Busy:
		return enroll.OutcomeBusy
	case sip.Rejected:
		return enroll.OutcomeRejected
	case sip.Unreachable:
		return enroll.OutcomeUnreachable
	case sip.NoAnswer:
		return enroll.OutcomeNoAnswer
	}
	return enroll.OutcomeFailed
}
