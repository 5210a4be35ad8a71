package media

import (
	"context"
	"fmt"

	"denwa/dtmf"
)

// SendEvents sends telephone-event packets (RFC 4733) exactly as given,
// in place of audio, and returns once the last one went out: a test
// bench's way to send what real senders send, quirks included (no marker,
// END only, ENDs repeated or missing, volumes, durations).
//
// The press starts at the next tick ("tick 0"), whose frame is the first
// the press replaces. Times and timestamps are in timestamp units from
// there, as dtmf.GenerateEvent makes them with start 0: packet i goes out
// at the first tick at or after evs[i].Time (160 a tick), and never two in
// one tick (a packet due in a tick already used goes in the next one), and
// carries the RTP timestamp of tick 0 plus evs[i].Timestamp, and its
// Marker. Ticks from tick 0 to the last packet that send no packet send
// nothing (the audio is suspended while the event lasts, RFC 4733
// §2.5.1.1); audio resumes after the last packet with the marker bit.
// Times must not be negative nor decrease. It needs a negotiated EventPT
// (ErrNoTelephoneEvent otherwise). Cancelling ctx stops at the next tick
// and returns ctx.Err(). SendEvents and SendKey take turns; evs is copied.
func (s *Session) SendEvents(ctx context.Context, evs []dtmf.EventPacket) error {
	if len(evs) == 0 {
		return nil
	}
	own := make([]dtmf.EventPacket, len(evs))
	for i, ev := range evs {
		if ev.Payload.Volume > 63 {
			return fmt.Errorf("media: SendEvents packet %d: %w", i, dtmf.ErrVolumeRange)
		}
		if ev.Time < 0 || i > 0 && ev.Time < evs[i-1].Time {
			return fmt.Errorf("%w: SendEvents packet %d at %d goes before tick 0 or its predecessor", ErrConfig, i, ev.Time)
		}
		own[i] = ev
	}
	s.mu.Lock()
	ev := s.eventPT
	s.mu.Unlock()
	if ev == 0 {
		return ErrNoTelephoneEvent
	}
	return s.sendPress(ctx, &keyPress{mode: RFC4733, events: own, timed: true, done: make(chan struct{})})
}
