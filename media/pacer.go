package media

import (
	"fmt"
	"log/slog"
	"runtime"
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
	// Shards is how many goroutines share the walks: the slots are dealt
	// out among them, so that sending and receiving use every core. It is
	// rounded down to a divisor of PacerSlots (1, 2, 4, 5, 10 or 20);
	// zero means as many as GOMAXPROCS allows, one for a private pacer.
	Shards int
	// NormalPriority runs the shards as ordinary goroutines, woken by the
	// runtime's timers, at the process's priority. By default each shard
	// keeps a thread of its own, raises it to the lowest real-time
	// priority (SCHED_FIFO 1; Linux, with CAP_SYS_NICE or an RLIMIT_RTPRIO,
	// else nice −10 where permitted, else as it is), and sleeps on that
	// thread until each deadline: a walk is a millisecond of work or less,
	// and a media thread must not queue behind a host's other runnable
	// threads, or wait for another thread to run the runtime's timers. A
	// real-time shard that keeps falling whole intervals behind (ten
	// skipped ticks within a second: an overloaded host, see
	// PacerStats.Skipped) goes back to nice −10 for good, so that it
	// cannot starve signalling. Private pacers (SessionConfig.Pacer nil)
	// use NormalPriority, and so must pacers under testing/synctest, whose
	// clock a thread's own sleep does not follow.
	//
	// A shard that wakes needs one of the Go runtime's Ps to run on: give
	// the process more Ps than cores (GOMAXPROCS; denwa's commands that
	// carry calls set twice the default), or a busy runtime keeps a
	// punctual thread waiting.
	NormalPriority bool
}

// pacerNice is the niceness of shards' threads that are not real-time.
const pacerNice = -10

// threadPriority is what a shard's thread got.
type threadPriority uint8

const (
	priorityNormal threadPriority = iota
	priorityNice
	priorityRealtime
)

func (t threadPriority) String() string {
	return [...]string{"normal", "nice -10", "SCHED_FIFO 1"}[t]
}

// PacerSlots is how many phases a Pacer spreads its sessions over: each
// session is given one slot for its life, slot k sending at
// k·FrameInterval/PacerSlots into every 20 ms interval. Twenty slots, 1 ms
// apart, keep a slot's walk short (50 sessions at a thousand calls, about
// half a millisecond of sendto): with ten, a session's place in a longer
// walk wandered more from tick to tick, and the pacing error at the
// receiver was about twice as large in the load test.
const PacerSlots = 20

// Pacer sends the frames of many sessions from a few goroutines (its
// shards, one per core by default), so that a thousand calls cost a timer
// per core, not a thousand tickers. Every FrameInterval each registered
// session sends exactly one packet: a prompt frame, a key press, or
// silence. After a slot's sends, the same walk reads what the far ends of
// the slot's polled sessions sent (see Session), so receiving costs no
// goroutine per call either.
//
// Sessions are spread over PacerSlots phases of the interval: a new
// session joins the slot holding the fewest, and slot k is walked (in the
// order its sessions were registered) at k·1 ms into each interval by
// shard k mod Shards. A walk of a thousand sessions costs several
// milliseconds of sendto on a small VM; spread this way each session's
// packet leaves within a twentieth of that after its own deadline, always
// at the same phase, so the far end sees 20 ms spacing, and the load on
// the CPUs is even rather than a burst.
//
// The schedule is monotonic: each shard's sub-tick m is due at start +
// m·1 ms, measured on the monotonic clock, so it does not drift however
// long each walk takes. When a shard wakes up late by less than an
// interval it simply walks, and the next sub-tick is still due on the
// grid. When a slot's walk is a whole interval late or more (a stalled
// process), its missed ticks are skipped, not made up in a burst: each
// stream then sends its next frame, with the next sequence number and
// timestamp, and is delayed by the stall, which a receiver's jitter buffer
// absorbs; nothing of a prompt is lost. Skipped ticks are counted
// (PacerStats.Skipped). Empty slots cost no wake-up.
//
// While none of its slots holds a session a shard sleeps without ticking;
// the next registration restarts its schedule. A Pacer is safe for
// concurrent use.
type Pacer struct {
	log *slog.Logger

	mu             sync.Mutex // serialises changes to slots
	slots          [PacerSlots]atomic.Pointer[[]*Session]
	count          atomic.Int64
	closed         bool
	shards         []*pacerShard // slot k is walked by shards[k%len(shards)]
	normalPriority bool
	stop           chan struct{}
	wg             sync.WaitGroup
	once           sync.Once

	statsMu sync.Mutex
	stats   []PacerStats // as each shard last published them
}

// A real-time shard steps down (PacerConfig.NormalPriority) when it skips
// stepDownSkips ticks within stepDownWindow: an overloaded host, not one
// stall of the process or its VM, which skips a few and is over.
const (
	stepDownSkips  = 10
	stepDownWindow = time.Second
)

// pacerShard is one goroutine of a Pacer and what it owns.
type pacerShard struct {
	id        int
	wake      chan struct{} // cap 1: a session joined one of the shard's slots
	local     PacerStats
	lastStall time.Time
	skipsAt   time.Time // start of the window skips counts in
	skips     int64
	rbuf      [maxDatagram]byte // polled sessions' datagrams are read into it
}

// PacerStats counts a Pacer's work. Lag is the pacing error of every frame
// sent: from its slot's scheduled time to the moment its send returned,
// so it includes the stream's place in its slot's walk.
type PacerStats struct {
	Streams int   // sessions registered now
	Ticks   int64 // 20 ms intervals in which sessions were walked
	Skipped int64 // ticks skipped because a shard woke up an interval late or more
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

// NewPacer starts a Pacer's goroutines; Close stops them.
func NewPacer(cfg PacerConfig) *Pacer { return newPacer(cfg, true) }

// newPacer with run false starts no goroutine: tests and benchmarks then
// drive walk themselves.
func newPacer(cfg PacerConfig, run bool) *Pacer {
	p := &Pacer{log: cfg.Logger, stop: make(chan struct{}), normalPriority: cfg.NormalPriority}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	n := cfg.Shards
	if n <= 0 {
		n = runtime.GOMAXPROCS(0)
	}
	n = min(n, PacerSlots)
	for PacerSlots%n != 0 {
		n--
	}
	p.stats = make([]PacerStats, n)
	for i := range n {
		p.shards = append(p.shards, &pacerShard{id: i, wake: make(chan struct{}, 1)})
	}
	empty := []*Session{}
	for i := range p.slots {
		p.slots[i].Store(&empty)
	}
	if run {
		for _, sh := range p.shards {
			p.wg.Go(func() { p.run(sh) })
		}
	}
	return p
}

// String describes the pacer, e.g. "media.Pacer(12 streams)".
func (p *Pacer) String() string {
	return fmt.Sprintf("media.Pacer(%d streams)", p.Len())
}

// Len returns the number of sessions registered.
func (p *Pacer) Len() int { return int(p.count.Load()) }

// Shards returns the number of goroutines that walk the slots.
func (p *Pacer) Shards() int { return len(p.shards) }

// Stats returns a snapshot of the counters, published by each shard after
// each walk: counts are summed over the shards, Ticks and the maxima are
// the largest shard's.
func (p *Pacer) Stats() PacerStats {
	var s PacerStats
	p.statsMu.Lock()
	for _, t := range p.stats {
		s.Add(&t)
	}
	p.statsMu.Unlock()
	s.Streams = p.Len()
	return s
}

// Add merges t into s, as for two shards or two pacers: counts and the
// histogram are summed, Ticks and the maxima are the larger.
func (s *PacerStats) Add(t *PacerStats) {
	s.Streams += t.Streams
	s.Ticks = max(s.Ticks, t.Ticks)
	s.Skipped += t.Skipped
	s.Late += t.Late
	s.Frames += t.Frames
	s.MaxWalk = max(s.MaxWalk, t.MaxWalk)
	s.MaxLag = max(s.MaxLag, t.MaxLag)
	for i, n := range t.Lag {
		s.Lag[i] += n
	}
}

// Close stops the goroutines and waits for them to exit. Sessions still
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
		p.wg.Wait()
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
	p.count.Add(1)
	select {
	case p.shards[k%len(p.shards)].wake <- struct{}{}:
	default:
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

// run is one shard's loop: it walks the shard's slots on their grid.
func (p *Pacer) run(sh *pacerShard) {
	// See PacerConfig.NormalPriority. The thread is never unlocked: it
	// ends with the goroutine, its priority with it.
	own := !p.normalPriority
	prio := priorityNormal
	if own {
		runtime.LockOSThread()
		var err error
		if prio, err = raisePriority(pacerNice); err != nil && sh.id == 0 {
			p.log.Debug("media: pacer threads keep the process's priority", "err", err)
		}
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	n := int64(len(p.shards))
	const step = FrameInterval / PacerSlots
	var start time.Time
	// Sub-tick m walks slot m%PacerSlots and is due at start + m·step; m
	// steps by the number of shards, so it only meets this shard's slots.
	var m int64
	lastTick := int64(-1)
	idle := true
	for {
		if p.shardEmpty(sh) {
			idle = true
			select {
			case <-sh.wake:
				continue
			case <-p.stop:
				return
			}
		}
		if idle {
			idle, start, m, lastTick = false, time.Now(), int64(sh.id), -1
		}
		// The next slot with sessions; empty ones cost no wake-up.
		var list []*Session
		for range PacerSlots {
			if list = *p.slots[m%PacerSlots].Load(); len(list) > 0 {
				break
			}
			m += n
		}
		if len(list) == 0 {
			continue // emptied meanwhile
		}
		deadline := start.Add(time.Duration(m) * step)
		if !p.sleepUntil(deadline, own, timer) {
			return
		}
		now := time.Now()
		lag := now.Sub(deadline)
		if lag >= FrameInterval {
			skip := int64(lag / FrameInterval)
			m += skip * PacerSlots
			deadline = deadline.Add(time.Duration(skip) * FrameInterval)
			lag -= time.Duration(skip) * FrameInterval
			sh.local.Skipped += skip
			p.logStall(sh, now, skip)
			if prio == priorityRealtime && sh.overrun(now, skip) {
				lowerPriority(pacerNice)
				prio = priorityNice
				p.log.Warn("media: a real-time pacer thread keeps falling behind; it runs at nice -10 from now on",
					"shard", sh.id, "skipped_in_window", sh.skips)
			}
		}
		if lag > LateThreshold {
			sh.local.Late++
		}
		if tick := m / PacerSlots; tick != lastTick {
			lastTick = tick
			sh.local.Ticks++
		}
		p.walk(sh, list, now, deadline)
		m += n
	}
}

// sleepUntil waits for deadline, on the shard's own thread or on the
// runtime's timer; it reports false when the pacer is closing.
func (p *Pacer) sleepUntil(deadline time.Time, own bool, timer *time.Timer) bool {
	if d := time.Until(deadline); d > 0 {
		if !own {
			timer.Reset(d)
			select {
			case <-timer.C:
				return true
			case <-p.stop:
				timer.Stop()
				return false
			}
		}
		sleepThread(d) // less than an interval: Close waits no longer
	}
	select {
	case <-p.stop:
		return false
	default:
		return true
	}
}

// overrun counts skip skipped ticks at now and reports whether the shard
// has skipped stepDownSkips within stepDownWindow.
func (sh *pacerShard) overrun(now time.Time, skip int64) bool {
	if now.Sub(sh.skipsAt) > stepDownWindow {
		sh.skipsAt, sh.skips = now, 0
	}
	sh.skips += skip
	return sh.skips >= stepDownSkips
}

// shardEmpty reports whether none of sh's slots holds a session.
func (p *Pacer) shardEmpty(sh *pacerShard) bool {
	for k := sh.id; k < PacerSlots; k += len(p.shards) {
		if len(*p.slots[k].Load()) > 0 {
			return false
		}
	}
	return true
}

// walk lets every stream of one slot send its frame for the sub-tick due
// at deadline.
func (p *Pacer) walk(sh *pacerShard, list []*Session, now, deadline time.Time) {
	st := &sh.local
	t := now
	for _, s := range list {
		if s.sendTick(now) {
			st.Frames++
		}
		t = time.Now()
		lag := t.Sub(deadline)
		st.MaxLag = max(st.MaxLag, lag)
		st.Lag[min(max(int(lag/LagBucket), 0), LagBuckets-1)]++
	}
	st.MaxWalk = max(st.MaxWalk, t.Sub(now))
	// Then what the far ends sent since this slot's last turn: reading
	// after sending keeps the sends of the slot together on the grid.
	for _, s := range list {
		if s.pr != nil {
			s.receiveTick(now, sh.rbuf[:])
		}
	}
	p.statsMu.Lock()
	p.stats[sh.id] = *st
	p.statsMu.Unlock()
}

// logStall reports skipped ticks at most once a minute.
func (p *Pacer) logStall(sh *pacerShard, now time.Time, skipped int64) {
	if now.Sub(sh.lastStall) < time.Minute {
		return
	}
	sh.lastStall = now
	p.log.Warn("media: pacer woke up late; ticks skipped, streams delayed",
		"shard", sh.id, "skipped", skipped, "total_skipped", sh.local.Skipped)
}
