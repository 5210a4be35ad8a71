package main

import (
	"context"

	"denwa/audio"
	"denwa/enroll"
	"denwa/sip"
)

// enrollDialer adapts a sip.Dialer to enroll.Dialer: an answered call
// becomes a callLine that plays prompts from the catalog; a call that was
// not answered becomes an *enroll.OutcomeError with the outcome outcomeOf
// gives (busy, rejected, unreachable, no-answer, failed) and the SIP error
// as its cause. The Service calls it from its own goroutine, one per call.
func enrollDialer(d *sip.Dialer, prompts *audio.Catalog) enroll.Dialer {
	return enroll.DialerFunc(func(ctx context.Context, e164 string) (enroll.Line, error) {
		line, err := dialLine(ctx, d, e164, nil, prompts)
		if err != nil {
			return nil, &enroll.OutcomeError{Outcome: outcomeOf(err), Cause: err}
		}
		return line, nil
	})
}
