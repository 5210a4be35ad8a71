package media

import (
	"context"
	"fmt"
	"time"

	"denwa/audio"
	"denwa/dtmf"
)

// The sending side of a Session: Play and SendKey hand the pacer what to
// send, and the pacer's walk builds and sends one packet per session and
// tick (sendTick).

// KeyMode says how Session.SendKey sends a key.
type KeyMode uint8

const (
	// Inband mixes the key's tone pair (ITU-T Q.23) into the audio.
	Inband KeyMode = iota + 1
	// RFC4733 sends telephone-event packets in place of audio frames.
	RFC4733
)

// String returns "in-band", "RFC 4733" or "KeyMode(n)".
func (m KeyMode) String() string {
	switch m {
	case Inband:
		return "in-band"
	case RFC4733:
		return "RFC 4733"
	}
	return fmt.Sprintf("KeyMode(%d)", uint8(m))
}

// In-band key presses: the low tone at −10 dBm0, the high tone 2 dB
// louder (the usual positive twist of a telephone set), and 60 ms of
// silence after each press so that two presses of the same key stay two
// (ITU-T Q.24 asks for at least 40 ms between them).
const (
	keyLevel = -10.0
	keyTwist = 2.0
	keyGap   = 60 * dtmf.SampleRate / 1000
)

// playback is one Play call in progress.
type playback struct {
	frames [][]byte
	next   int
	done   chan struct{}
}

// keyPress is one SendKey call in progress.
type keyPress struct {
	mode    KeyMode
	tone    dtmf.Tone // in-band
	pos     int       // in-band: samples of tone sent
	events  []dtmf.EventPacket
	i       int    // RFC 4733: packets sent
	base    uint32 // RFC 4733: timestamp of the press's first frame
	started bool
	timed   bool  // RFC 4733: each packet at its Time (SendEvents)
	tick    int64 // timed: ticks since the press's first frame
	pt      uint8 // timed: the payload type to send; 0: the negotiated one
	done    chan struct{}
}

// Play sends frames, 20 ms of G.711 each (160 bytes, already in the
// session's codec), one per tick, and returns when the last one has been
// sent. The frames are read, never modified, and not retained after Play
// returns: they may be shared read-only slices of a prompt catalog.
//
// Cancelling ctx stops the prompt at the next tick (barge-in) and returns
// ctx.Err(); silence follows. If the session ends first, Play returns
// Err. Concurrent Play calls take turns.
func (s *Session) Play(ctx context.Context, frames [][]byte) error {
	for i, f := range frames {
		if len(f) != FrameSamples {
			return fmt.Errorf("%w: frame %d has %d bytes", ErrBadFrame, i, len(f))
		}
	}
	if err := s.acquire(ctx, s.playSem); err != nil {
		return err
	}
	defer func() { <-s.playSem }()
	pb := &playback{frames: frames, done: make(chan struct{})}
	s.mu.Lock()
	if s.ended {
		defer s.mu.Unlock()
		return s.err
	}
	if len(frames) == 0 {
		s.mu.Unlock()
		return nil
	}
	s.play = pb
	s.mu.Unlock()
	select {
	case <-pb.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		finished := pb.next == len(pb.frames)
		if s.play == pb {
			s.play = nil
		}
		s.mu.Unlock()
		if finished {
			return nil
		}
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// SendKey presses key for duration (rounded to whole samples; at least
// 1 ms) and returns when the press has been sent. Inband mixes the tone
// pair into the outgoing audio (into a prompt, if one plays) and follows
// it with 60 ms of silence; RFC4733 sends telephone-event packets in
// place of audio (pausing a prompt): an update every 20 ms, the first
// with the marker bit, and the END packet three times (dtmf.GenerateEvent),
// which needs a negotiated EventPT (ErrNoTelephoneEvent otherwise).
// Cancelling ctx stops the press at the next tick and returns ctx.Err()
// (an RFC 4733 press then has no END: the far end ends it by timeout).
// Concurrent SendKey calls take turns. It is meant for the phone
// simulator and tests.
func (s *Session) SendKey(ctx context.Context, key dtmf.Key, mode KeyMode, duration time.Duration) error {
	if !key.Valid() {
		return fmt.Errorf("media: SendKey %q: %w", byte(key), dtmf.ErrInvalidKey)
	}
	samples := int64(duration) * dtmf.SampleRate / int64(time.Second)
	if samples < dtmf.SampleRate/1000 {
		return fmt.Errorf("%w: key press of %v is shorter than 1 ms", ErrConfig, duration)
	}
	p := &keyPress{mode: mode, done: make(chan struct{})}
	switch mode {
	case Inband:
		p.tone = dtmf.Tone{Key: key, Level: keyLevel, Twist: keyTwist, Duration: int(samples), Gap: keyGap}
	case RFC4733:
		s.mu.Lock()
		ev := s.eventPT
		s.mu.Unlock()
		if ev == 0 {
			return ErrNoTelephoneEvent
		}
		evs, err := dtmf.GenerateEvent(nil, key, 0, samples, dtmf.EventGenConfig{Interval: FrameSamples})
		if err != nil {
			return fmt.Errorf("media: SendKey: %w", err)
		}
		p.events = evs
	default:
		return fmt.Errorf("%w: key mode %v", ErrConfig, mode)
	}
	return s.sendPress(ctx, p)
}

// sendPress sends p, as SendKey describes, once the presses before it are done.
func (s *Session) sendPress(ctx context.Context, p *keyPress) error {
	if err := s.acquire(ctx, s.keySem); err != nil {
		return err
	}
	defer func() { <-s.keySem }()
	s.mu.Lock()
	if s.ended {
		defer s.mu.Unlock()
		return s.err
	}
	s.press = p
	s.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		if s.press == p {
			s.press = nil
			if p.mode == RFC4733 && p.started {
				s.markNext = true
			}
		}
		s.mu.Unlock()
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// acquire takes a one-slot semaphore, giving up when ctx is done or the
// session ends.
func (s *Session) acquire(ctx context.Context, sem chan struct{}) error {
	select {
	case sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return s.Err()
	}
}

// sendTick is the session's part of one pacer tick: it builds the next
// packet into the session's one buffer, sends it, and checks the media
// timeout. It reports whether a packet went out. It does not allocate.
func (s *Session) sendTick(now time.Time) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	if !s.sends() {
		// Held: the timeline goes on, nothing is sent, what plays waits
		// (see SetDirection).
		s.ts += FrameSamples
		s.markNext = true
		s.mu.Unlock()
		s.checkTimeout(now)
		return false
	}
	n := s.nextPacketLocked()
	to := s.remote
	s.mu.Unlock()
	if n == 0 { // a timed press with nothing due (SendEvents)
		s.checkTimeout(now)
		return false
	}
	sent := false
	out, err := s.pkt[:n], error(nil)
	if s.srtp != nil {
		out, err = s.srtp.protect(out)
	}
	if err == nil {
		_, err = s.conn.WriteToUDPAddrPort(out, to)
	}
	if err != nil {
		s.sendErrs.Add(1)
	} else {
		s.sent.Add(1)
		s.sentBytes.Add(int64(len(out)))
		sent = true
	}
	s.checkTimeout(now)
	return sent
}

// nextPacketLocked writes the next packet into s.pkt and returns its
// length, or 0 when the tick sends nothing (a timed press between its
// packets). Called with s.mu held, by the pacer's walk.
func (s *Session) nextPacketLocked() int {
	ts := s.ts
	s.ts += FrameSamples
	h := &s.hdr
	var payload []byte
	if p := s.press; p != nil && p.mode == RFC4733 {
		if !p.started {
			p.started, p.base = true, ts
			s.pressTS = ts
		}
		if p.timed {
			due := p.events[p.i].Time <= p.tick*FrameSamples
			p.tick++
			if !due {
				return 0
			}
		}
		ev := &p.events[p.i]
		h.PayloadType, h.Marker, h.Timestamp = s.eventPT, ev.Marker, p.base+uint32(ev.Timestamp)
		if p.pt != 0 {
			h.PayloadType = p.pt
		}
		ev.Payload.MarshalTo(s.evbuf[:]) // 4 bytes; the volume is the generator's, in range
		payload = s.evbuf[:]
		if p.i++; p.i == len(p.events) {
			s.press = nil
			close(p.done)
			s.markNext = true // audio resumes after a hole in its timeline
		}
	} else {
		payload = s.silence[:]
		if pb := s.play; pb != nil {
			if pb.next == 0 {
				s.playTS = ts
			}
			payload = pb.frames[pb.next]
			if pb.next++; pb.next == len(pb.frames) {
				s.play = nil
				close(pb.done)
			}
		}
		if p != nil || s.codec != s.cfg.Codec {
			// An in-band press mixes its tone into the frame; a codec
			// changed by Update converts the frame.
			if s.cfg.Codec == KindPCMU {
				audio.DecodeULawTo(s.pcm[:], payload)
			} else {
				audio.DecodeALawTo(s.pcm[:], payload)
			}
			if p != nil {
				p.tone.AddTo(s.pcm[:], p.pos)
				if p.pos += FrameSamples; p.pos >= p.tone.Len() {
					s.press = nil
					close(p.done)
				}
			}
			if s.codec == KindPCMU {
				audio.EncodeULawTo(s.mix[:], s.pcm[:])
			} else {
				audio.EncodeALawTo(s.mix[:], s.pcm[:])
			}
			payload = s.mix[:]
		}
		h.PayloadType, h.Marker, h.Timestamp = s.pt, s.markNext, ts
		s.markNext = false
	}
	h.SequenceNumber = s.seq
	s.seq++
	n, _ := h.MarshalTo(s.pkt) // 12 bytes: no CSRC, no extension
	return n + copy(s.pkt[n:], payload)
}
