package media

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// FrameInterval is the packetisation interval of everything denwa sends:
// one 20 ms G.711 frame (160 samples, 160 timestamp units) per packet.
const FrameInterval = 20 * time.Millisecond

// FrameSamples is the number of samples (and RTP timestamp units) in one
// frame.
const FrameSamples = 160

// LateThreshold: a tick whose walk starts later than this after its
// deadline counts in PacerStats.Late.
const LateThreshold = 2 * time.Millisecond

// The pacing-error histogram: LagBuckets buckets of LagBucket each, the
// last one open-ended.
const (
	LagBucket  = 100 * time.Microsecond
	LagBuckets = 201
)

// PacerConfig configures a Pacer; the zero value works.
type PacerConfig struct {
	// Logger receives the pacer's rare messages (ticks skipped because
	// the process stalled), rate-limited. Nil discards them.
	Logger *slog.Logger
}

// PacerSlots is how many phases a Pacer spreads its sessions over: each
// session is given one slot for its life, slot k sending at
// k·FrameInterval/PacerSlots into every 20 ms interval.
const PacerSlots = 10

// Pacer sends the frames of many sessions from one goroutine, so that a
// thousand calls cost one timer, not a thousand tickers. Every
// FrameInterval each registered session sends exactly one packet: a prompt
// frame, a key press, or silence.
//
// Sessions are spread over PacerSlots phases of the interval: a new
// session joins the slot holding the fewest, and slot k is walked (in the
// order its sessions were registered) at k·2 ms into each interval. A
// walk of a thousand sessions costs about 5 ms of sendto on a small VM;
// spread this way each session's packet leaves within a tenth of that
// after its own deadline, always at the same phase, so the far end sees
// 20 ms spacing, and the load on the CPU is even rather than a burst.
//
// The schedule is monotonic: sub-tick m is due at start + m·2 ms, measured
// on the monotonic clock, so it does not drift however long each walk
// takes. When the goroutine wakes up late by less than an interval it
// simply walks, and the next sub-tick is still due on the grid. When a
// slot's walk is a whole interval late or more (a stalled process), its
// missed ticks are skipped, not made up in a burst: each stream then sends
// its next frame, with the next sequence number and timestamp, and is
// delayed by the stall, which a receiver's jitter buffer absorbs; nothing
// of a prompt is lost. Skipped ticks are counted (PacerStats.Skipped).
// Empty slots cost no wake-up.
//
// While no session is registered the goroutine sleeps without ticking;
// the first registration restarts the schedule. A Pacer is safe for
// concurrent use.
type Pacer struct {
	log *slog.Logger

	mu     sync.Mutex // serialises changes to slots
	slots  [PacerSlots]atomic.Pointer[[]*Session]
	count  atomic.Int64
	closed bool
	wake   chan struct{} // cap 1: the list became non-empty
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once

	statsMu sync.Mutex
	stats   PacerStats

	// Owned by the pacer goroutine.
	local     PacerStats
	lastStall time.Time
}

// PacerStats counts a Pacer's work. Lag is the pacing error of every frame
// sent: from its slot's scheduled time to the moment its send returned,
// so it includes the stream's place in its slot's walk.
type PacerStats struct {
	Streams int   // sessions registered now
	Ticks   int64 // 20 ms intervals in which sessions were walked
	Skipped int64 // ticks skipped because the goroutine woke up an interval late or more
	Late    int64 // walks that started more than LateThreshold after their deadline
	Frames  int64 // packets sent (all sessions)
	MaxWalk time.Duration
	MaxLag  time.Duration
	// Lag[i] counts frames whose pacing error was in [i, i+1)·LagBucket;
	// the last bucket holds everything beyond.
	Lag [LagBuckets]int64
}

// LagQuantile returns the pacing error below which fraction q (0–1) of
// the frames fall, to the upper edge of its bucket; 0 with no frames.
func (s *PacerStats) LagQuantile(q float64) time.Duration {
	var total int64
	for _, n := range s.Lag {
		total += n
	}
	if total == 0 {
		return 0
	}
	want := int64(q*float64(total) + 0.5)
	want = max(1, min(want, total))
	var acc int64
	for i, n := range s.Lag {
		if acc += n; acc >= want {
			if i == LagBuckets-1 {
				return s.MaxLag
			}
			return time.Duration(i+1) * LagBucket
		}
	}
	return s.MaxLag
}

// NewPacer starts a Pacer's goroutine; Close stops it.
func NewPacer(cfg PacerConfig) *Pacer { return newPacer(cfg, true) }

// newPacer with run false starts no goroutine: tests and benchmarks then
// drive walk themselves.
func newPacer(cfg PacerConfig, run bool) *Pacer {
	p := &Pacer{
		log:  cfg.Logger,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	empty := []*Session{}
	for i := range p.slots {
		p.slots[i].Store(&empty)
	}
	if run {
		go p.run()
	} else {
		close(p.done)
	}
	return p
}

// String describes the pacer, e.g. "media.Pacer(12 streams)".
func (p *Pacer) String() string {
	return fmt.Sprintf("media.Pacer(%d streams)", p.Len())
}

// Len returns the number of sessions registered.
func (p *Pacer) Len() int { return int(p.count.Load()) }

// Stats returns a snapshot of the counters, published once per tick.
func (p *Pacer) Stats() PacerStats {
	p.statsMu.Lock()
	s := p.stats
	p.statsMu.Unlock()
	s.Streams = p.Len()
	return s
}

// Close stops the goroutine and waits for it to exit. Sessions still
// registered end with ErrPacerClosed. Close is idempotent.
func (p *Pacer) Close() error {
	p.once.Do(func() {
		p.mu.Lock()
		p.closed = true
		var left []*Session
		for i := range p.slots {
			left = append(left, *p.slots[i].Load()...)
		}
		p.mu.Unlock()
		close(p.stop)
		<-p.done
		for _, s := range left {
			s.end(ErrPacerClosed)
		}
	})
	return nil
}

// add registers s in the slot holding the fewest sessions; its first
// frame goes out at that slot's next turn. Each slot's list is copied on
// write, so the walk reads it without a lock.
func (p *Pacer) add(s *Session) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrPacerClosed
	}
	k := 0
	for i := range p.slots {
		if len(*p.slots[i].Load()) < len(*p.slots[k].Load()) {
			k = i
		}
	}
	old := *p.slots[k].Load()
	next := make([]*Session, len(old), len(old)+1)
	copy(next, old)
	next = append(next, s)
	p.slots[k].Store(&next)
	if p.count.Add(1) == 1 {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// remove unregisters s. A walk already under way may still visit it once;
// the session ignores visits after it ended.
func (p *Pacer) remove(s *Session) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.slots {
		old := *p.slots[k].Load()
		i := slices.Index(old, s)
		if i < 0 {
			continue
		}
		next := make([]*Session, 0, len(old)-1)
		next = append(next, old[:i]...)
		next = append(next, old[i+1:]...)
		p.slots[k].Store(&next)
		p.count.Add(-1)
		return
	}
}

func (p *Pacer) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	const step = FrameInterval / PacerSlots
	var start time.Time
	var m int64 // sub-tick: slot m%PacerSlots, due at start + m·step
	lastTick := int64(-1)
	idle := true
	for {
		if p.count.Load() == 0 {
			idle = true
			select {
			case <-p.wake:
				continue
			case <-p.stop:
				return
			}
		}
		if idle {
			idle, start, m, lastTick = false, time.Now(), 0, -1
		}
		// The next slot with sessions; empty ones cost no wake-up.
		var list []*Session
		for range PacerSlots {
			if list = *p.slots[m%PacerSlots].Load(); len(list) > 0 {
				break
			}
			m++
		}
		if len(list) == 0 {
			continue // emptied meanwhile
		}
		deadline := start.Add(time.Duration(m) * step)
		if d := time.Until(deadline); d > 0 {
			timer.Reset(d)
			select {
			case <-timer.C:
			case <-p.stop:
				timer.Stop()
				return
			}
		} else {
			select {
			case <-p.stop:
				return
			default:
			}
		}
		now := time.Now()
		lag := now.Sub(deadline)
		if lag >= FrameInterval {
			skip := int64(lag / FrameInterval)
			m += skip * PacerSlots
			deadline = deadline.Add(time.Duration(skip) * FrameInterval)
			lag -= time.Duration(skip) * FrameInterval
			p.local.Skipped += skip
			p.logStall(now, skip)
		}
		if lag > LateThreshold {
			p.local.Late++
		}
		if tick := m / PacerSlots; tick != lastTick {
			lastTick = tick
			p.local.Ticks++
		}
		p.walk(list, now, deadline)
		m++
	}
}

// walk lets every stream of one slot send its frame for the sub-tick due
// at deadline.
func (p *Pacer) walk(list []*Session, now, deadline time.Time) {
	t := now
	for _, s := range list {
		if s.sendTick(now) {
			p.local.Frames++
		}
		t = time.Now()
		lag := t.Sub(deadline)
		p.local.MaxLag = max(p.local.MaxLag, lag)
		p.local.Lag[min(max(int(lag/LagBucket), 0), LagBuckets-1)]++
	}
	p.local.MaxWalk = max(p.local.MaxWalk, t.Sub(now))
	p.statsMu.Lock()
	p.stats = p.local
	p.statsMu.Unlock()
}

// logStall reports skipped ticks at most once a minute.
func (p *Pacer) logStall(now time.Time, skipped int64) {
	if now.Sub(p.lastStall) < time.Minute {
		return
	}
	p.lastStall = now
	p.log.Warn("media: pacer woke up late; ticks skipped, streams delayed",
		"skipped", skipped, "total_skipped", p.local.Skipped)
}
