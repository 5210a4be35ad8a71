package siptest

import (
	"container/heap"
	"math/rand/v2"
	"sync"
	"time"
)

// Impairment says what a Relay does to the RTP of one direction of a
// call. The zero value forwards every packet at once, untouched. Every
// choice is drawn from a math/rand/v2 PCG seeded by the Relay's Seed, the
// call's number on the relay and the direction, so a run is repeatable
// up to the timing of the sockets.
type Impairment struct {
	// Loss is the long-run fraction of packets dropped (0–1).
	Loss float64
	// Burst, from 2, makes losses come in bursts of exactly Burst packets
	// in a row, each followed by at least one packet that gets through; a
	// burst begins with the probability that makes the long-run fraction
	// Loss (at most Burst/(Burst+1)). Zero or one: each packet is lost or
	// not on its own, independently.
	Burst int
	// Reorder is the probability that a packet is held back and sent
	// after the next ReorderDepth packets (or after holdLimit, when the
	// stream pauses).
	Reorder float64
	// ReorderDepth is how many later packets overtake a held one. Zero: 1.
	ReorderDepth int
	// Duplicate is the probability that a packet is sent twice.
	Duplicate float64
	// Jitter delays each packet by a time drawn uniformly from 0 to
	// Jitter; a packet delayed more than the next one is overtaken.
	Jitter time.Duration
	// Stall, with StallEvery, pauses forwarding for Stall every
	// StallEvery from the direction's first packet: what arrives (or
	// falls due) meanwhile is sent, in order, when the pause ends.
	Stall, StallEvery time.Duration
}

// lossStart is the probability that a loss begins on a packet that may
// be lost (outside a burst and not the packet after one), such that
// bursts of n make up the fraction f of all packets. Each such packet
// either passes (1 − q) or begins a burst of n and the packet that passes
// after it (q): f = q·n / (1 − q + q·(n+1)) = q·n / (1 + q·n).
func lossStart(f float64, n int) float64 {
	if n > 1 && f > 0 {
		f /= float64(n) * (1 - f)
	}
	return min(f, 1)
}

// ImpairStats counts what a Relay did to RTP, over one direction or
// summed.
type ImpairStats struct {
	Packets    int64 // datagrams received
	Sent       int64 // datagrams sent (duplicates included)
	Dropped    int64 // lost on purpose (Loss, Burst)
	Duplicated int64 // sent a second time
	// Reordered counts packets sent after a packet with a higher RTP
	// sequence number (held back by Reorder or overtaken under Jitter).
	Reordered int64
	Stalled   int64 // held by a Stall
	Overflow  int64 // dropped because maxQueued packets were waiting
}

// Add returns the sum of s and o.
func (s ImpairStats) Add(o ImpairStats) ImpairStats {
	return ImpairStats{Packets: s.Packets + o.Packets, Sent: s.Sent + o.Sent, Dropped: s.Dropped + o.Dropped,
		Duplicated: s.Duplicated + o.Duplicated, Reordered: s.Reordered + o.Reordered, Stalled: s.Stalled + o.Stalled,
		Overflow: s.Overflow + o.Overflow}
}

const (
	// maxQueued bounds the packets a pipe holds (delayed or held back):
	// 10 s of one stream.
	maxQueued = 500
	// holdLimit is the longest a reordered packet waits for the packets
	// that are to overtake it.
	holdLimit = 200 * time.Millisecond
)

// queued is one packet waiting in a pipe.
type queued struct {
	due  time.Time
	n    uint64 // arrival order, to keep order among equal due times
	b    []byte
	dup  bool // the second copy of a duplicated packet
	left int  // held back: packets still to overtake it
}

type queue []*queued

func (q queue) Len() int { return len(q) }
func (q queue) Less(i, j int) bool {
	if !q[i].due.Equal(q[j].due) {
		return q[i].due.Before(q[j].due)
	}
	return q[i].n < q[j].n
}
func (q queue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *queue) Push(x any)   { *q = append(*q, x.(*queued)) }
func (q *queue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// pipe impairs one direction of one call: push takes each packet as it
// arrives, one goroutine (run) sends what falls due.
type pipe struct {
	imp   Impairment
	q     float64 // lossStart
	depth int
	send  func([]byte)
	wake  chan struct{}

	mu        sync.Mutex
	rnd       *rand.Rand
	burstLeft int       // packets still to drop in this burst
	passNext  bool      // the packet after a burst gets through
	start     time.Time // first packet
	n         uint64
	due       queue     // delayed packets, by due time
	held      []*queued // held back by Reorder
	stats     ImpairStats
	trace     []byte // see Relay.Trace
	maxSeq    uint16
	sentAny   bool
}

func newPipe(imp Impairment, seed, stream uint64, send func([]byte)) *pipe {
	p := &pipe{imp: imp, q: lossStart(imp.Loss, imp.Burst), depth: max(imp.ReorderDepth, 1), send: send,
		wake: make(chan struct{}, 1), rnd: rand.New(rand.NewPCG(seed, stream))}
	return p
}

// push impairs one packet that arrived at now; b is the pipe's to keep.
func (p *pipe) push(b []byte, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Packets++
	if p.start.IsZero() {
		p.start = now
	}
	if p.burstLeft > 0 {
		p.burstLeft--
		p.passNext = p.burstLeft == 0
		p.stats.Dropped++
		p.note('x')
		return
	}
	if p.passNext {
		p.passNext = false
	} else if p.q > 0 && p.rnd.Float64() < p.q {
		p.burstLeft = max(p.imp.Burst, 1) - 1
		p.stats.Dropped++
		p.note('x')
		return
	}
	copies := 1
	if p.imp.Duplicate > 0 && p.rnd.Float64() < p.imp.Duplicate {
		copies = 2
		p.stats.Duplicated++
	}
	hold := p.imp.Reorder > 0 && p.rnd.Float64() < p.imp.Reorder
	switch {
	case hold:
		p.note('r')
	case copies == 2:
		p.note('2')
	default:
		p.note('.')
	}
	if !hold {
		// This packet overtakes the held ones; those it was the last
		// for go right after it.
		p.enqueue(b, false, now)
		if copies == 2 {
			p.enqueue(b, true, now)
		}
		kept := p.held[:0]
		var out []*queued
		for _, h := range p.held {
			if h.left--; h.left <= 0 {
				out = append(out, h)
			} else {
				kept = append(kept, h)
			}
		}
		clear(p.held[len(kept):])
		p.held = kept
		for _, h := range out {
			p.enqueue(h.b, h.dup, now)
		}
	} else {
		for c := range copies {
			if len(p.held)+p.due.Len() >= maxQueued {
				p.stats.Overflow++
				continue
			}
			p.n++
			p.held = append(p.held, &queued{due: now.Add(holdLimit), n: p.n, b: b, dup: c == 1, left: p.depth})
		}
	}
	p.poke()
}

// enqueue schedules b after its jitter, and after any stall its due time
// falls in.
func (p *pipe) enqueue(b []byte, dup bool, now time.Time) {
	if len(p.held)+p.due.Len() >= maxQueued {
		p.stats.Overflow++
		return
	}
	due := now
	if p.imp.Jitter > 0 {
		due = due.Add(time.Duration(p.rnd.Int64N(int64(p.imp.Jitter) + 1)))
	}
	if p.imp.Stall > 0 && p.imp.StallEvery > 0 {
		since := due.Sub(p.start)
		if k := since / p.imp.StallEvery; k >= 1 && since-k*p.imp.StallEvery < p.imp.Stall {
			due = p.start.Add(k*p.imp.StallEvery + p.imp.Stall)
			p.stats.Stalled++
		}
	}
	p.n++
	heap.Push(&p.due, &queued{due: due, n: p.n, b: b, dup: dup})
}

func (p *pipe) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run sends packets as they fall due until done is closed.
func (p *pipe) run(done <-chan struct{}) {
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	var ready [][]byte
	for {
		now := time.Now()
		p.mu.Lock()
		// Held packets whose wait has run out go on as they are.
		kept := p.held[:0]
		for _, h := range p.held {
			if !h.due.After(now) {
				p.enqueue(h.b, h.dup, now)
			} else {
				kept = append(kept, h)
			}
		}
		clear(p.held[len(kept):])
		p.held = kept
		ready = ready[:0]
		for p.due.Len() > 0 && !p.due[0].due.After(now) {
			x := heap.Pop(&p.due).(*queued)
			p.count(x)
			ready = append(ready, x.b)
		}
		next := time.Hour
		if p.due.Len() > 0 {
			next = p.due[0].due.Sub(now)
		}
		for _, h := range p.held {
			next = min(next, h.due.Sub(now))
		}
		p.mu.Unlock()
		for _, b := range ready {
			p.send(b)
		}
		if len(ready) > 0 {
			continue // more may have fallen due while sending
		}
		t.Reset(max(next, 0))
		select {
		case <-done:
			return
		case <-p.wake:
			t.Stop()
		case <-t.C:
		}
	}
}

// count records x as sent; with p.mu held.
func (p *pipe) count(x *queued) {
	p.stats.Sent++
	if len(x.b) < 12 || x.dup {
		return
	}
	seq := uint16(x.b[2])<<8 | uint16(x.b[3])
	switch {
	case !p.sentAny:
		p.sentAny, p.maxSeq = true, seq
	case int16(seq-p.maxSeq) < 0:
		p.stats.Reordered++
	default:
		p.maxSeq = seq
	}
}

// traceLen bounds a pipe's trace: 5 s of a stream of 20 ms packets.
const traceLen = 250

// note records the fate of the packet being pushed; with p.mu held.
func (p *pipe) note(c byte) {
	if len(p.trace) < traceLen {
		p.trace = append(p.trace, c)
	}
}

func (p *pipe) traced() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return string(p.trace)
}

func (p *pipe) snapshot() ImpairStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}
