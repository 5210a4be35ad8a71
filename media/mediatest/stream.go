package mediatest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"denwa/dtmf"

	"github.com/pion/rtp"
)

// Mode says how a key press is sent.
type Mode uint8

const (
	// RFC4733 sends telephone-event packets (the zero Mode means RFC4733).
	RFC4733 Mode = 1 << iota
	// Inband writes the tone pair into the G.711 audio.
	Inband
	// Both does both at once, as gateways that keep the tones in the audio
	// while also signalling the key: still one key press.
	Both = RFC4733 | Inband
)

// String returns "rfc4733", "inband" or "both", as in the .keys files.
func (m Mode) String() string {
	switch m.norm() {
	case RFC4733:
		return "rfc4733"
	case Inband:
		return "inband"
	case Both:
		return "both"
	}
	return fmt.Sprintf("Mode(%d)", uint8(m))
}

func (m Mode) norm() Mode {
	if m == 0 {
		return RFC4733
	}
	return m
}

// EventQuirks are the deviations of real RFC 4733 senders (DESIGN.md lists
// them). The zero value is a well-behaved sender in Asterisk's manner: marker
// on the first packet, duration growing by one packet time per packet, and
// the END packet sent three times back to back with the same timestamp and
// consecutive sequence numbers.
type EventQuirks struct {
	NoMarker     bool // never set the marker bit
	EndOnly      bool // send only the END packet(s), carrying the full duration
	ZeroDuration bool // every packet of the event says duration 0
	LoseEnd      bool // every END packet is lost (their sequence numbers stay used)
	// EndRepeats is how many END packets are sent; zero means 3.
	EndRepeats int
	// EndSameSeq repeats END under one sequence number, as the
	// dtmf_2833_*.pcap files shipped with sipp do.
	EndSameSeq bool
	// Volume is the power level field (0–63, in −dBm0); zero means 10.
	Volume uint8
}

// Press is one key press.
type Press struct {
	Key dtmf.Key
	// At is when the press starts, from the stream's first sample. Events
	// start on the packet boundary at or before At.
	At time.Duration
	// Dur is how long the key is held; zero means 100 ms.
	Dur  time.Duration
	Mode Mode
	// Level is each tone's level in dBm0 for in-band keys; zero means
	// DefaultLevel (−10). Twist is the high tone's level minus the low
	// tone's, in dB.
	Level, Twist float64
	Quirks       EventQuirks
}

// Network impairs a stream on its way to the capture point. The zero value
// delivers every packet on time. Randomness is seeded: the same Network
// gives the same arrivals.
type Network struct {
	Seed uint64
	// Loss is the probability that any packet is lost.
	Loss float64
	// Drop, when set, loses the packets it returns true for (after Loss).
	Drop func(h *rtp.Header, payload []byte) bool
	// Jitter delays each packet by a uniform random time in [0, Jitter):
	// packets may arrive out of order.
	Jitter time.Duration
	// Burst holds back the packets that would arrive in the first Burst of
	// every BurstEvery and releases them together at its end.
	Burst, BurstEvery time.Duration
}

// Stream is one direction of RTP carrying G.711 audio and telephone-events
// under one SSRC. Fields are used as given (0 is a valid SSRC, sequence
// number and timestamp) except those whose zero value is documented.
type Stream struct {
	SSRC     uint32
	Src, Dst netip.AddrPort
	// AudioPT is PCMU (0) or PCMA (8).
	AudioPT uint8
	// EventPT is the telephone-event payload type; zero means 101.
	EventPT uint8
	// Seq and Timestamp are those of the first packet: set them near 65535
	// and 2³²−1 to test wrap-around.
	Seq       uint16
	Timestamp uint32
	// Ptime is the audio packet interval; zero means 20 ms. It must be a
	// whole number of milliseconds.
	Ptime time.Duration
	// Start is when the first packet arrives, from the capture's start.
	Start time.Duration
	// Duration is the stream's length; zero means the end of the last press
	// plus 300 ms.
	Duration time.Duration
	Presses  []Press
	// AudioDuringEvents keeps sending audio packets while an RFC 4733-only
	// key is held; by default they stop, as most senders do.
	AudioDuringEvents bool
	// NoAudio sends only telephone-events (like sipp's dtmf_2833_*.pcap).
	NoAudio bool
	Net     Network
}

// Packet is one UDP datagram seen at the capture point.
type Packet struct {
	// At is the arrival time from the capture's start.
	At       time.Duration
	Src, Dst netip.AddrPort
	// Payload is the UDP payload: an RTP packet or a SIP message.
	Payload []byte
}

// Errors returned for invalid specs.
var (
	ErrBadStream = errors.New("mediatest: invalid stream")
	ErrBadPress  = errors.New("mediatest: invalid key press")
)

func (s Stream) ptime() time.Duration {
	if s.Ptime == 0 {
		return 20 * time.Millisecond
	}
	return s.Ptime
}

func (s Stream) eventPT() uint8 {
	if s.EventPT == 0 {
		return DefaultEventPT
	}
	return s.EventPT
}

func (p Press) dur() time.Duration {
	if p.Dur == 0 {
		return 100 * time.Millisecond
	}
	return p.Dur
}

func samples(d time.Duration) int64 { return int64(d) * SampleRate / int64(time.Second) }

// length returns the stream's duration.
func (s Stream) length() time.Duration {
	if s.Duration != 0 {
		return s.Duration
	}
	var end time.Duration
	for _, p := range s.Presses {
		end = max(end, p.At+p.dur())
	}
	return end + 300*time.Millisecond
}

// Validate reports what is wrong with s, if anything.
func (s Stream) Validate() error {
	if s.AudioPT != PCMU && s.AudioPT != PCMA {
		return fmt.Errorf("%w: audio payload type %d is neither PCMU (0) nor PCMA (8)", ErrBadStream, s.AudioPT)
	}
	if s.eventPT() > 127 || s.eventPT() == s.AudioPT {
		return fmt.Errorf("%w: telephone-event payload type %d", ErrBadStream, s.eventPT())
	}
	pt := s.ptime()
	if pt <= 0 || pt%time.Millisecond != 0 {
		return fmt.Errorf("%w: ptime %v is not a whole number of milliseconds", ErrBadStream, pt)
	}
	if !s.Src.IsValid() || !s.Dst.IsValid() || s.Src.Addr().Is4() != s.Dst.Addr().Is4() {
		return fmt.Errorf("%w: addresses %v -> %v", ErrBadStream, s.Src, s.Dst)
	}
	if s.Net.Loss < 0 || s.Net.Loss >= 1 || s.Net.Jitter < 0 || s.Net.Burst < 0 ||
		(s.Net.Burst > 0 && s.Net.BurstEvery < s.Net.Burst) {
		return fmt.Errorf("%w: network %+v", ErrBadStream, s.Net)
	}
	var end time.Duration
	nextFrame := 0 // first frame free of the previous press's events
	spf := int(samples(pt))
	for i, p := range s.Presses {
		if _, ok := p.Key.Code(); !ok {
			return fmt.Errorf("%w: press %d: key %q", ErrBadPress, i, byte(p.Key))
		}
		if p.At < end || p.At < 0 || p.dur() < 0 || p.Mode.norm()&^Both != 0 {
			return fmt.Errorf("%w: press %d (%q at %v) overlaps the previous one or is malformed", ErrBadPress, i, byte(p.Key), p.At)
		}
		if p.Mode.norm()&RFC4733 != 0 {
			first, n := eventFrames(p, spf)
			if first < nextFrame {
				return fmt.Errorf("%w: press %d (%q at %v) starts its events in the previous press's packets", ErrBadPress, i, byte(p.Key), p.At)
			}
			nextFrame = first + n
		}
		end = p.At + p.dur()
	}
	if end > s.length() {
		return fmt.Errorf("%w: presses end at %v, after the stream (%v)", ErrBadStream, end, s.length())
	}
	return nil
}

// Packets returns the stream's packets in arrival order (a packet's Payload
// is its own).
func (s Stream) Packets() ([]Packet, error) {
	g, err := newGen(s)
	if err != nil {
		return nil, err
	}
	var out []Packet
	for {
		p, ok := g.next()
		if !ok {
			break
		}
		p.Payload = slices.Clone(p.Payload)
		out = append(out, p)
	}
	slices.SortStableFunc(out, func(a, b Packet) int { return cmpDur(a.At, b.At) })
	return out, nil
}

func cmpDur(a, b time.Duration) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// eventFrames returns the first frame of p's events and their number of
// frames: the duration rounded to whole packets, at least one.
func eventFrames(p Press, spf int) (first, n int) {
	return int(samples(p.At)) / spf, max(1, int((samples(p.dur())+int64(spf)/2)/int64(spf)))
}

// eventPlan is one RFC 4733 press in frames.
type eventPlan struct {
	first, n int // first frame, number of frames (≥1); END goes in frame first+n-1
	ts       uint32
	code     uint8
	q        EventQuirks
}

type pending struct {
	hdr     rtp.Header
	payload []byte
	ev      [4]byte
	isEvent bool
	lost    bool
}

// gen produces a stream's packets one frame at a time, in send order.
type gen struct {
	s       Stream
	spf     int // samples per frame
	ptime   time.Duration
	frames  int
	frame   int
	seq     uint16
	events  []eventPlan
	quiet   []bool // frames whose audio is suppressed
	pcm     []int16
	audio   []byte
	silence []byte
	queue   []pending
	qi      int
	at      time.Duration // send time of the queued frame
	out     []byte
	rng     *rand.Rand
}

func newGen(s Stream) (*gen, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	g := &gen{s: s, ptime: s.ptime(), seq: s.Seq}
	g.spf = int(samples(g.ptime))
	g.frames = int((s.length() + g.ptime - 1) / g.ptime)
	g.pcm = make([]int16, g.spf)
	g.audio = make([]byte, g.spf)
	g.silence = make([]byte, g.spf)
	for i := range g.silence {
		g.silence[i] = Silence(s.AudioPT)
	}
	g.out = make([]byte, 0, 12+g.spf)
	g.quiet = make([]bool, g.frames)
	for _, p := range s.Presses {
		m := p.Mode.norm()
		if m&RFC4733 == 0 {
			continue
		}
		code, _ := p.Key.Code()
		start, n := eventFrames(p, g.spf)
		g.events = append(g.events, eventPlan{
			first: start, n: n, code: code, q: p.Quirks,
			ts: s.Timestamp + uint32(start*g.spf),
		})
		if m == RFC4733 && !s.AudioDuringEvents {
			for f := start; f < start+n && f < g.frames; f++ {
				g.quiet[f] = true
			}
		}
	}
	g.rng = rand.New(rand.NewPCG(s.Net.Seed, uint64(s.SSRC)))
	return g, nil
}

// fill queues the packets of the current frame.
func (g *gen) fill() {
	g.queue, g.qi = g.queue[:0], 0
	k := g.frame
	g.at = g.s.Start + time.Duration(k)*g.ptime
	ts := g.s.Timestamp + uint32(k*g.spf)
	if !g.s.NoAudio && !g.quiet[k] {
		payload := g.silence
		if g.toneFrame(k) {
			_, _ = EncodeTo(g.audio, g.pcm, g.s.AudioPT) // same lengths
			payload = g.audio
		}
		g.queue = append(g.queue, pending{
			hdr:     rtp.Header{Version: 2, PayloadType: g.s.AudioPT, SequenceNumber: g.seq, Timestamp: ts, SSRC: g.s.SSRC},
			payload: payload,
		})
		g.seq++
	}
	for _, e := range g.events {
		if k < e.first || k >= e.first+e.n {
			continue
		}
		i := k - e.first
		end := i == e.n-1
		if e.q.EndOnly && !end {
			continue
		}
		reps := 1
		if end {
			reps = e.q.EndRepeats
			if reps == 0 {
				reps = 3
			}
		}
		vol := e.q.Volume
		if vol == 0 {
			vol = 10
		}
		dur := uint16(min((i+1)*g.spf, 0xFFFF))
		if e.q.ZeroDuration {
			dur = 0
		}
		first := i == 0 || e.q.EndOnly
		for r := range reps {
			p := pending{
				hdr: rtp.Header{
					Version: 2, PayloadType: g.s.eventPT(), SequenceNumber: g.seq, Timestamp: e.ts, SSRC: g.s.SSRC,
					Marker: first && r == 0 && !e.q.NoMarker,
				},
				isEvent: true,
				lost:    end && e.q.LoseEnd,
			}
			p.ev = [4]byte{e.code, vol & 0x3F, byte(dur >> 8), byte(dur)}
			if end {
				p.ev[1] |= 0x80
			}
			g.queue = append(g.queue, p)
			if !(end && e.q.EndSameSeq && r < reps-1) {
				g.seq++
			}
		}
	}
}

// toneFrame renders frame k's in-band tones into g.pcm and reports whether
// there were any.
func (g *gen) toneFrame(k int) bool {
	lo, hi := k*g.spf, (k+1)*g.spf
	any := false
	for _, p := range g.s.Presses {
		if p.Mode.norm()&Inband == 0 {
			continue
		}
		ps := int(samples(p.At))
		pe := ps + int(samples(p.dur()))
		if pe <= lo || ps >= hi {
			continue
		}
		if !any {
			clear(g.pcm)
			any = true
		}
		a, b := max(ps, lo), min(pe, hi)
		level := p.Level
		if level == 0 {
			level = DefaultLevel
		}
		ToneTo(g.pcm[a-lo:b-lo], a-ps, p.Key, level, level+p.Twist)
	}
	return any
}

// next returns the next packet in send order (arrival times include the
// network's impairments). Its Payload is valid until the next call.
func (g *gen) next() (Packet, bool) {
	for {
		for g.qi < len(g.queue) {
			p := &g.queue[g.qi]
			g.qi++
			payload := p.payload
			if p.isEvent {
				payload = p.ev[:]
			}
			if p.lost {
				continue
			}
			n := &g.s.Net
			if n.Loss > 0 && g.rng.Float64() < n.Loss {
				continue
			}
			if n.Drop != nil && n.Drop(&p.hdr, payload) {
				continue
			}
			at := g.at
			if n.Jitter > 0 {
				at += time.Duration(g.rng.Int64N(int64(n.Jitter)))
			}
			if n.Burst > 0 {
				phase := at % n.BurstEvery
				if phase < n.Burst {
					at += n.Burst - phase
				}
			}
			g.out = g.out[:p.hdr.MarshalSize()+len(payload)]
			h, _ := p.hdr.MarshalTo(g.out)
			copy(g.out[h:], payload)
			return Packet{At: at, Src: g.s.Src, Dst: g.s.Dst, Payload: g.out}, true
		}
		if g.frame >= g.frames {
			return Packet{}, false
		}
		g.fill()
		g.frame++
	}
}
