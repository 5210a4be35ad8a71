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
// Times must not be negative nor decrease. The packets go with payload
// type pt (a sender's quirk: one the far end did not negotiate), or with
// the negotiated EventPT when pt is 0 (ErrNoTelephoneEvent when there is
// none). Cancelling ctx stops at the next tick
// and returns ctx.Err(). SendEvents and SendKey take turns; evs is copied.
func (s *Session) SendEvents(ctx context.Context, pt uint8, evs []dtmf.EventPacket) error {
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
	if pt > 127 {
		return fmt.Errorf("%w: SendEvents payload type %d", ErrConfig, pt)
	}
	s.mu.Lock()
	ev := s.eventPT
	s.mu.Unlock()
	if ev == 0 && pt == 0 {
		return ErrNoTelephoneEvent
	}
	return s.sendPress(ctx, &keyPress{mode: RFC4733, events: own, timed: true, pt: pt, done: make(chan struct{})})
}

// SendTimeline says where what a session sent lies on its stream's
// timeline, in RTP timestamps: the timeline the far end's receiver dates
// keys on. A frame goes out each tick (or nothing, while SendEvents waits
// between its packets, or while held); the timestamp advances 160 a tick
// either way, and not for ticks the pacer skipped, so on a loaded machine
// it falls behind the wall clock.
type SendTimeline struct {
	First uint32 // the stream's first frame
	Next  uint32 // the next frame to go
	Play  uint32 // the first frame of the latest Play
	Press uint32 // the first frame (tick 0) of the latest RFC 4733 press (SendKey, SendEvents)
}

// SendTimeline returns where the stream and its latest Play and press
// began: a test bench reads it after Play or SendEvents to place what it
// sent.
func (s *Session) SendTimeline() SendTimeline {
	s.mu.Lock()
	defer s.mu.Unlock()
	return SendTimeline{First: s.ts0, Next: s.ts, Play: s.playTS, Press: s.pressTS}
}
