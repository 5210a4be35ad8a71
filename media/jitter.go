package media

import (
	"fmt"
	"time"
)

// The jitter buffer of a stream's in-band audio.
//
// The in-band detector needs the audio in timestamp order, without holes
// it cannot tell from silence. A Receiver therefore holds each stream's
// G.711 frames a little while, keyed by extended RTP timestamp, and hands
// them to the detector in order once they end the depth or more before the
// end of the newest frame: the audio waits the depth. A packet that comes
// less than the depth behind the newest audio is put back in its place
// (StreamStats.Reordered), a second copy of a frame is dropped
// (Duplicates), and a packet further behind arrives after its place went
// to the detector and is dropped (Late). A hole still open when its time
// comes is given to the detector as missing audio (dtmf.Detector.Missing,
// StreamStats.Concealed), up to maxConceal and as far as sequence numbers
// are missing, and as silence beyond that: a hole the sender left (silence
// suppression, audio paused for events), with no packet missing, is
// silence.
//
// Release is driven by RTP time only: by the packets that arrive, and by
// Receiver.Idle and Flush, which hand over all that is held. Arrival
// jitter without reordering costs nothing; only overtaking does. So the
// depth adapts to how far packets are overtaken: it starts at Min and
// rises at once to the largest lag seen (how far behind the newest audio
// a packet's audio ended when it arrived) plus one packet, up to Max; after
// jitterCalm of RTP time without such a lag it comes down a packet's worth
// at a time. With 20 ms packets, 40 ms puts back a packet overtaken by one
// other, 60 ms one overtaken by two (the most that 0–60 ms of random delay
// does). RFC 4733 events do not wait in it: they have their own path, and
// their own redundancy.

// JitterConfig sizes the jitter buffer that puts each stream's in-band
// audio in order before the detector (see Receiver). The zero value gives
// the defaults.
type JitterConfig struct {
	// Min is the depth the buffer starts at and never goes below: audio
	// waits this long (in RTP time, behind the newest audio received)
	// before it reaches the detector, and a packet that arrives less than
	// this far behind is put back in place. Zero means DefaultJitterMin
	// (40 ms: a 20 ms packet overtaken by one other).
	Min time.Duration
	// Max is the deepest the buffer goes when packets arrive further
	// behind than Min allows. Zero means DefaultJitterMax (60 ms: a 20 ms
	// packet overtaken by two others), or Min if that is more. At most
	// MaxJitterDepth. In-band keys are reported up to Max later than they
	// would be without a buffer.
	Max time.Duration
	// Off turns the buffer off: audio goes to the detector as it arrives,
	// and a packet behind what the detector has is dropped as late. Lost
	// audio is still given to the detector as missing, not as silence.
	Off bool
}

// Defaults and limits for JitterConfig.
const (
	DefaultJitterMin = 40 * time.Millisecond
	DefaultJitterMax = 60 * time.Millisecond
	MaxJitterDepth   = 300 * time.Millisecond
)

// String shows the depth range, "40ms–60ms", "60ms" or "off".
func (c JitterConfig) String() string {
	lo, hi, err := c.depths()
	switch {
	case err != nil:
		return fmt.Sprintf("invalid(%v–%v)", c.Min, c.Max)
	case c.Off:
		return "off"
	case lo == hi:
		return samplesToDuration(lo).String()
	}
	return samplesToDuration(lo).String() + "–" + samplesToDuration(hi).String()
}

// Validate reports a depth out of range, wrapping ErrConfig.
func (c JitterConfig) Validate() error {
	_, _, err := c.depths()
	return err
}

// depths returns the depth bounds in timestamp units, defaults filled in.
func (c JitterConfig) depths() (lo, hi int64, err error) {
	if c.Off {
		return 0, 0, nil
	}
	if c.Min < 0 || c.Max < 0 || c.Min > MaxJitterDepth || c.Max > MaxJitterDepth {
		return 0, 0, fmt.Errorf("%w: jitter buffer depth %v–%v: want 0 to %v", ErrConfig, c.Min, c.Max, MaxJitterDepth)
	}
	if c.Max != 0 && c.Min > c.Max {
		return 0, 0, fmt.Errorf("%w: jitter buffer Min %v is above Max %v", ErrConfig, c.Min, c.Max)
	}
	mn, mx := c.Min, c.Max
	if mn == 0 {
		mn = DefaultJitterMin
		if mx != 0 {
			mn = min(mn, mx) // a Max below the default Min lowers it
		}
	}
	if mx == 0 {
		mx = max(DefaultJitterMax, mn)
	}
	return durationToSamples(mn), durationToSamples(mx), nil
}

func durationToSamples(d time.Duration) int64 {
	return int64(d / (time.Second / 8000))
}

const (
	// jitterSlots is how many frames a stream holds at most: 300 ms of
	// 10 ms packets with room to spare. A stream of smaller packets that
	// fills it has its oldest frame released early.
	jitterSlots = 32
	// jitterDone is how many released timestamps are remembered to tell a
	// duplicate from a late packet.
	jitterDone = 16
	// jitterCalm is the RTP time (5 s) without a lag as large as the
	// current one after which the depth comes down by jitterStep.
	jitterCalm = 40000
	jitterStep = 160
	// maxConceal is the most of a hole (60 ms, three packets) given to
	// the detector as missing; the rest of a longer hole is silence. The
	// detector bridges a loss of that length when the tone goes on after
	// it.
	maxConceal = 480
	maxLag     = int64(MaxJitterDepth / (time.Second / 8000))
)

// jitterFrame is one held G.711 payload.
type jitterFrame struct {
	ts   int64
	seq  int64 // extended sequence number
	kind PayloadKind
	data []byte // grown to the largest payload; holds n bytes
	n    int
}

// jitterBuffer holds one stream's audio frames in timestamp order. It is
// plain memory: no allocation once each slot's data has grown to the
// stream's packet size.
type jitterBuffer struct {
	min, max int64 // depth bounds
	depth    int64
	peak     int64 // largest lag seen lately
	calm     int64 // RTP time since peak was last reached
	newest   int64 // timestamp of the newest frame pushed
	end      int64 // and the end of its audio
	started  bool

	n      int                      // frames held
	order  [jitterSlots]uint8       // slots of the held frames, by timestamp
	nfree  int                      // free slots on the stack
	free   [jitterSlots]uint8       // stack of free slots
	frames [jitterSlots]jitterFrame // by slot

	done  [jitterDone]int64 // ring of timestamps released with audio
	ndone int
}

func (b *jitterBuffer) init(lo, hi int64) {
	b.min, b.max, b.depth = lo, hi, lo
	b.nfree = jitterSlots
	for i := range b.free {
		b.free[i] = uint8(jitterSlots - 1 - i)
	}
}

// restart takes ts as the newest timestamp: the first frame, or a jump of
// the timeline. The buffer must be empty.
func (b *jitterBuffer) restart(ts int64) {
	b.newest, b.end, b.started, b.calm = ts, ts, true, 0
}

// full reports that no frame can be pushed before one is released.
func (b *jitterBuffer) full() bool { return b.n == jitterSlots }

// first returns the oldest frame held, or nil.
func (b *jitterBuffer) first() *jitterFrame {
	if b.n == 0 {
		return nil
	}
	return &b.frames[b.order[0]]
}

// pop drops the oldest frame, remembering its timestamp.
func (b *jitterBuffer) pop() {
	slot := b.order[0]
	b.done[b.ndone%jitterDone] = b.frames[slot].ts
	b.ndone++
	copy(b.order[:b.n-1], b.order[1:b.n])
	b.n--
	b.free[b.nfree] = slot
	b.nfree++
}

// released reports whether a frame with timestamp ts went to the detector
// lately (so that another copy of it is a duplicate, not a late packet).
func (b *jitterBuffer) released(ts int64) bool {
	for i := range min(b.ndone, jitterDone) {
		if b.done[i] == ts {
			return true
		}
	}
	return false
}

// push holds a copy of payload at ts (sequence number seq), or reports
// false when a frame with that timestamp is held already. The buffer must
// not be full. It moves newest and the depth.
func (b *jitterBuffer) push(ts, seq int64, kind PayloadKind, payload []byte) bool {
	i := b.n // insertion point: after every frame older than ts
	for i > 0 {
		t := b.frames[b.order[i-1]].ts
		if t == ts {
			return false
		}
		if t < ts {
			break
		}
		i--
	}
	b.nfree--
	slot := b.free[b.nfree]
	f := &b.frames[slot]
	if cap(f.data) < len(payload) {
		f.data = make([]byte, len(payload))
	}
	f.ts, f.seq, f.kind, f.n = ts, seq, kind, copy(f.data[:len(payload)], payload)
	copy(b.order[i+1:b.n+1], b.order[i:b.n])
	b.order[i] = slot
	b.n++
	if ts > b.newest {
		b.calm += ts - b.newest
		b.newest = ts
		if b.calm >= jitterCalm && b.peak > 0 {
			b.peak = max(0, b.peak-jitterStep)
			b.calm = 0
			b.setDepth()
		}
	} else if ts < b.newest {
		b.observe(b.end-ts-int64(len(payload)), int64(len(payload)))
	}
	if ts == b.newest {
		b.end = ts + int64(len(payload))
	}
	return true
}

// observe takes the lag of a packet of n samples that arrived behind the
// newest one: how far its end is behind the newest end. Its audio would
// have had to wait that long, and then a packet more, to reach the detector
// in order. A lag beyond MaxJitterDepth is no reordering a buffer could
// mend (a sender that jumped back): it does not count.
func (b *jitterBuffer) observe(lag, n int64) {
	if need := lag + n; need >= b.peak && lag <= maxLag {
		b.peak, b.calm = min(need, b.max), 0
		b.setDepth()
	}
}

func (b *jitterBuffer) setDepth() { b.depth = min(max(b.peak, b.min), b.max) }
