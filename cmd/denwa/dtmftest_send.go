package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/dtmf/testplan"
	"denwa/media"
	"denwa/sip"
)

// The sending side of dtmftest: each case synthesized before the call,
// then sent on the answered call at its time, in-band, as RFC 4733
// packets or as a SIP INFO request.

// wireCase is a case ready to send: synthesized once, before the call.
type wireCase struct {
	c       *testplan.Case
	samples []int16            // in-band
	events  []dtmf.EventPacket // RFC 4733
	ctype   string             // SIP INFO
	body    []byte             // SIP INFO
	span    time.Duration      // the press and the gap after it
}

func synthesize(cases []testplan.Case) ([]wireCase, error) {
	out := make([]wireCase, len(cases))
	for i := range cases {
		c := &cases[i]
		w := wireCase{c: c, span: time.Duration(c.SpanMs()) * time.Millisecond}
		var err error
		switch c.Mode {
		case testplan.ModeInband:
			w.samples, err = c.AppendSamples(nil)
		case testplan.ModeRFC4733:
			w.events, err = c.AppendEvents(nil)
		case testplan.ModeSIPInfo:
			w.ctype, w.body, err = c.InfoBody()
		}
		if err != nil {
			return nil, err
		}
		out[i] = w
	}
	return out, nil
}

// g711Frames encodes samples into 20 ms frames of codec, the last one
// padded with silence.
func g711Frames(samples []int16, codec audio.Codec) [][]byte {
	n := (len(samples) + audio.FrameSamples - 1) / audio.FrameSamples
	buf := make([]byte, n*audio.FrameSamples)
	pcm := make([]int16, n*audio.FrameSamples)
	copy(pcm, samples)
	if codec == audio.PCMA {
		audio.EncodeALawTo(buf, pcm)
	} else {
		audio.EncodeULawTo(buf, pcm)
	}
	frames := make([][]byte, n)
	for i := range frames {
		frames[i] = buf[i*audio.FrameSamples : (i+1)*audio.FrameSamples]
	}
	return frames
}

// sender sends the cases of a plan on an answered call, each at its time,
// and notes where each began on the call's timeline (from the answer).
//
// A case in RTP is placed by its RTP timestamp, as the far end's receiver
// places the keys it finds (from the stream's first packet on): a pacer
// that falls behind on a loaded machine skips ticks without advancing the
// timestamps, so the stream's timeline and the wall clock drift apart,
// and only the stream's own timeline matches the far end's. Its origin,
// the stream's first frame, is dated once on the wall clock. A SIP INFO
// case is placed by the wall clock, as the far end dates its requests.
type sender struct {
	call     *sip.Call
	answered time.Time
	codec    audio.Codec
	progress io.Writer
	// firstTS is the stream's first frame's timestamp, originMs when it
	// went out (from answered).
	firstTS  uint32
	originMs float64

	mu      sync.Mutex
	infoErr []string // SIP INFO requests refused or unanswered
	infos   sync.WaitGroup
}

func newSender(call *sip.Call, answered time.Time, progress io.Writer) *sender {
	s := &sender{call: call, answered: answered, codec: audioCodec(call.Codec()), progress: progress}
	tl := call.SendTimeline()
	s.firstTS = tl.First
	// The frames sent so far went one a tick, the last just now.
	if ticks := int64(tl.Next-tl.First) / media.FrameSamples; ticks > 0 {
		s.originMs = durationMs(time.Since(answered) - time.Duration(ticks-1)*frameTime)
	}
	return s
}

// rtpMs places the frame of timestamp ts on the call's timeline.
func (s *sender) rtpMs(ts uint32) float64 {
	return s.originMs + float64(ts-s.firstTS)*1000/dtmf.SampleRate
}

// frameTime is the time between the frames (and ticks) of the call.
const frameTime = 20 * time.Millisecond

// run sends every case after leadIn of audio, waits tail after the last,
// and returns the slot of each case.
func (s *sender) run(ctx context.Context, wire []wireCase, leadIn, tail time.Duration) ([]testplan.Slot, error) {
	slots := make([]testplan.Slot, len(wire))
	next := time.Now().Add(leadIn)
	lastMode := testplan.Mode("")
	lastReport := time.Now()
	for i := range wire {
		w := &wire[i]
		if w.c.Mode != lastMode {
			lastMode = w.c.Mode
			n := 0
			for j := i; j < len(wire) && wire[j].c.Mode == lastMode; j++ {
				n++
			}
			fmt.Fprintf(s.progress, "dtmftest: sending %d %s cases\n", n, lastMode)
		} else if time.Since(lastReport) >= 5*time.Second {
			fmt.Fprintf(s.progress, "dtmftest: case %d of %d (%s)\n", i+1, len(wire), w.c.ID)
			lastReport = time.Now()
		}
		if err := sleepUntil(ctx, s.call, next); err != nil {
			return nil, err
		}
		began, startMs, err := s.send(ctx, w)
		if err != nil {
			return nil, fmt.Errorf("case %s: %w", w.c.ID, err)
		}
		slots[i] = testplan.Slot{Key: w.c.Key, StartMs: startMs, EndMs: startMs + durationMs(w.span)}
		// Half a tick early: the next case's media then starts at the
		// tick its span ends on, not one later.
		next = began.Add(w.span - frameTime/2)
	}
	if err := sleepUntil(ctx, s.call, next.Add(tail)); err != nil {
		return nil, err
	}
	s.infos.Wait()
	if len(s.infoErr) > 0 {
		fmt.Fprintf(s.progress, "dtmftest: %d SIP INFO requests failed: %s\n", len(s.infoErr), strings.Join(s.infoErr[:min(len(s.infoErr), 5)], "; "))
	}
	return slots, nil
}

// send sends one case and returns when its press began on the wire, on
// the wall clock (to pace the next case: Play and SendEvents return right
// after their last tick, which dates the first) and on the call's
// timeline: the timestamp of its first frame (in-band), of the frame its
// events replace first (RFC 4733), or when the request went (SIP INFO).
func (s *sender) send(ctx context.Context, w *wireCase) (time.Time, float64, error) {
	t0 := time.Now()
	switch w.c.Mode {
	case testplan.ModeInband:
		frames := g711Frames(w.samples, s.codec)
		if err := s.call.Play(ctx, frames); err != nil {
			return t0, 0, s.callErr(err)
		}
		began := latest(t0, time.Now().Add(-time.Duration(len(frames)-1)*frameTime))
		return began, s.rtpMs(s.call.SendTimeline().Play), nil
	case testplan.ModeRFC4733:
		var pt uint8
		if w.c.RFC4733 != nil {
			pt = w.c.RFC4733.PT
		}
		if err := s.call.SendEvents(ctx, pt, w.events); err != nil {
			if errors.Is(err, media.ErrNoTelephoneEvent) {
				return t0, 0, errors.New("the far end did not negotiate telephone-event: RFC 4733 cases cannot be sent")
			}
			return t0, 0, s.callErr(err)
		}
		began := latest(t0, time.Now().Add(-time.Duration(lastTick(w.events))*frameTime))
		return began, s.rtpMs(s.call.SendTimeline().Press), nil
	default:
		s.infos.Add(1)
		go func() {
			defer s.infos.Done()
			ctx, cancel := context.WithTimeout(ctx, 8*time.Second)
			defer cancel()
			res, err := s.call.Request(ctx, "INFO", w.ctype, w.body)
			if err == nil && res.Status/100 != 2 {
				err = fmt.Errorf("%d %s", res.Status, res.Reason)
			}
			if err != nil {
				s.mu.Lock()
				s.infoErr = append(s.infoErr, w.c.ID+": "+err.Error())
				s.mu.Unlock()
			}
		}()
		return t0, durationMs(t0.Sub(s.answered)), nil
	}
}

// callErr says how the call ended under a case.
func (s *sender) callErr(err error) error {
	if cerr := s.call.Err(); cerr != nil {
		return fmt.Errorf("the call ended: %w", cerr)
	}
	return err
}

// lastTick is the tick (from the press's first, 0) media.Session.SendEvents
// sends the last of evs in.
func lastTick(evs []dtmf.EventPacket) int64 {
	tick := int64(-1)
	for _, ev := range evs {
		due := (ev.Time + media.FrameSamples - 1) / media.FrameSamples
		tick = max(tick+1, due)
	}
	return tick
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// sleepUntil waits until t, or returns why the call or ctx ended first.
func sleepUntil(ctx context.Context, call *sip.Call, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-call.Done():
		return fmt.Errorf("the call ended: %w", call.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}
