package dtmf

import "math"

// DefaultMergeTolerance is the default [MergerConfig.Tolerance]: 40 ms.
//
// The RFC 4733 event and the in-band tone of one press overlap in time; they
// drift apart only by the two detectors' latencies (a gateway's and ours,
// each a frame or two) and by senders that report duration 0 or only a
// short END, which shrinks the RFC 4733 interval to its start. 40 ms covers
// that. Two real presses of the same key are apart by the inter-digit pause
// (≥ 40 ms in ITU-T Q.24; NTT allows 30 ms), so a neighbour press can come
// within the tolerance; pairing is therefore one-to-one and prefers the
// most-overlapping candidate, so a neighbour is only taken when the press's
// own twin is missing, and the count of keys stays right even then.
const DefaultMergeTolerance = 320

// DefaultMergeHold is the default [MergerConfig.Hold]: 500 ms. An in-band
// key is held that long after its End for its RFC 4733 twin. The twin comes
// with its END packet, or, when every END is lost, after the EventDecoder's
// timeout ([DefaultEventTimeout], 300 ms after it was last heard); 200 ms
// more covers network jitter and the tolerance.
const DefaultMergeHold = 4000

// earlyMinPress is how long, at least, a key added at key-down is taken to
// last when looking for its twin (MergerConfig.Early): 40 ms, the shortest
// tone ITU-T Q.24 asks a receiver to accept.
const earlyMinPress = 320

// mergeHeld is how many in-band keys wait for a twin at once; mergeRecent
// how many released keys are remembered to drop twins arriving late.
const (
	mergeHeld   = 8
	mergeRecent = 8
)

// MergerConfig tunes a Merger; zero values select defaults.
type MergerConfig struct {
	// Tolerance: two keys of the same Key from different sources are one
	// press when their intervals overlap or the gap between them is less
	// than Tolerance. Zero means [DefaultMergeTolerance]; negative means 0:
	// only overlapping intervals are twins.
	Tolerance int64
	// Hold: an in-band key is held until now ≥ End+Hold, waiting for an
	// out-of-band twin. Zero means [DefaultMergeHold]; negative means 0 (for
	// streams without telephone-events).
	Hold int64
	// Early says keys are added when they go down ([Config.Early],
	// [EventDecoderConfig.Early]): End is only what was known then, often
	// just Start plus a packet or two of the press. Twins are then judged
	// as though each key lasted at least 40 ms (the shortest press ITU-T
	// Q.24 accepts): the two sightings of a press, whose known parts can
	// be short and apart (an RFC 4733 key with one packet's duration, or
	// none), pair as they would for the shortest whole press; two
	// separate presses (at least 70 ms apart start to start: 40 ms tone,
	// 30 ms pause on NTT lines) pair no more readily than shortest presses
	// do without Early. The keys released keep the End they were added
	// with.
	Early bool
}

// Merger joins one stream's keys from its three sources, RFC 4733
// events, SIP INFO requests and in-band tones, so that one press yields
// one key whichever ways it arrives (gateways often send two).
//
// An out-of-band key (SourceRFC4733 or SourceSIPInfo) is released at
// once, unless a twin of it was already released, in which case the press
// has been reported and it is dropped. An in-band key (any other Source)
// is dropped when an out-of-band twin has arrived, and otherwise held
// until now passes its End+Hold (see [Merger.Advance]). So an out-of-band
// key is preferred to an in-band one, and between RFC 4733 and SIP INFO
// the first to arrive is reported. Twins are the same Key from two
// different sources (all in-band sources count as one) with intervals
// overlapping or less than Tolerance apart (a SIP INFO key's interval is
// where its press may be: its End, the request's arrival, ± its duration
// or 100 ms, whichever is longer); a key has at most one twin
// from each other source. Keys of different Keys are never twins, even
// at the same time: both are released and the caller's policy decides.
// Two keys from the same source are never merged (two real presses).
// A twin that arrives after its partner was released is dropped too, so
// Hold decides which sighting of a press is reported (its Source and
// Start), not how many keys come out (as long as the partner is among
// the last 8 keys released).
//
// Order: keys are released in Start order as long as RFC 4733 keys are
// added in Start order (as an EventDecoder produces them), each in-band
// key is added before now passes its End+Hold, and no SIP INFO key comes:
// a SIP INFO key is released when it is added, whatever its Start. A key
// added later than that, or released early because the hold buffer (8
// keys) was full, may come out of order.
//
// Memory is fixed: 8 held keys and the last 8 released ones. The zero value
// is ready to use with the defaults. A Merger is not safe for concurrent
// use; Add, Advance and Flush do not allocate when dst has room.
type Merger struct {
	cfg MergerConfig

	held  [mergeHeld]Event // in-band keys in Start order
	nheld int

	recent  [mergeRecent]mergeRecord // ring of released keys
	nrecent int
	next    int
}

type mergeRecord struct {
	ev   Event
	seen uint8 // the source classes of the press seen so far (sourceClass bits)
}

// sourceClass is a source's bit in mergeRecord.seen: every in-band source
// is one class.
func sourceClass(s Source) uint8 {
	switch s {
	case SourceRFC4733:
		return 2
	case SourceSIPInfo:
		return 4
	}
	return 1
}

// outOfBand reports whether s is a source released without a hold.
func outOfBand(s Source) bool { return s == SourceRFC4733 || s == SourceSIPInfo }

// NewMerger returns a merger for one stream.
func NewMerger(cfg MergerConfig) *Merger {
	return &Merger{cfg: cfg}
}

func (m *Merger) tolerance() int64 {
	switch t := m.cfg.Tolerance; {
	case t == 0:
		return DefaultMergeTolerance
	case t < 0:
		return 0
	default:
		return min(t, 1<<40)
	}
}

func (m *Merger) hold() int64 {
	switch h := m.cfg.Hold; {
	case h == 0:
		return DefaultMergeHold
	case h < 0:
		return 0
	default:
		return min(h, 1<<40)
	}
}

// gap returns how far apart the intervals of a and b are: negative when
// they overlap (by that much), zero when they touch.
func gap(a, b Event) int64 {
	return max(a.Start, b.Start) - min(a.End, b.End)
}

// twin reports whether a and b can be the two sightings of one press, and
// how good a match they are (a lower gap is better).
func (m *Merger) twin(a, b Event) (int64, bool) {
	if a.Key != b.Key {
		return 0, false
	}
	a, b = infoSpan(a), infoSpan(b)
	if m.cfg.Early {
		a, b = atLeast(a, earlyMinPress), atLeast(b, earlyMinPress)
	}
	g := gap(a, b)
	return g, g < m.tolerance()
}

// infoMinSpan is how far, at least, a SIP INFO key may be from its press
// either way when judging twins: 100 ms.
const infoMinSpan = 800

// infoSpan returns where the press of a SIP INFO key may lie, for judging
// twins: a request carries no RTP time, so it is placed ending (End) where
// it arrived, and senders send it when the key goes down (the press comes
// after it) or when it comes up (the press ends at it). It spans End ±
// the key's duration, or infoMinSpan when that is longer. Other keys are
// returned as they are.
func infoSpan(ev Event) Event {
	if ev.Source != SourceSIPInfo {
		return ev
	}
	w := max(ev.End-ev.Start, infoMinSpan)
	if ev.End > math.MinInt64+w && ev.End < math.MaxInt64-w {
		ev.Start, ev.End = ev.End-w, ev.End+w
	}
	return ev
}

// atLeast returns ev lasting at least n (End moved later if need be, short
// of overflowing int64).
func atLeast(ev Event, n int64) Event {
	if ev.Start <= math.MaxInt64-n {
		ev.End = max(ev.End, ev.Start+n)
	}
	return ev
}

// Add takes one key from either source and appends to dst the keys now
// certain, in Start order. Invalid keys are ignored; an End before Start is
// taken as End = Start.
func (m *Merger) Add(dst []Event, ev Event) []Event {
	if !ev.Key.Valid() {
		return dst
	}
	ev.End = max(ev.End, ev.Start)
	if outOfBand(ev.Source) {
		return m.addOutOfBand(dst, ev)
	}
	// In-band: dropped if an out-of-band twin was released.
	if r := m.bestRecent(ev); r >= 0 {
		m.recent[r].seen |= sourceClass(ev.Source)
		return dst
	}
	if m.nheld == mergeHeld {
		dst = m.release(dst, 0)
	}
	i := m.nheld
	for i > 0 && m.held[i-1].Start > ev.Start {
		m.held[i] = m.held[i-1]
		i--
	}
	m.held[i] = ev
	m.nheld++
	return dst
}

func (m *Merger) addOutOfBand(dst []Event, ev Event) []Event {
	seen := sourceClass(ev.Source)
	best, bestGap := -1, int64(0)
	for i := range m.nheld {
		if g, ok := m.twin(ev, m.held[i]); ok && (best < 0 || g < bestGap) {
			best, bestGap = i, g
		}
	}
	if best >= 0 {
		seen |= sourceClass(m.held[best].Source)
		m.remove(best) // the in-band twin: the out-of-band key wins
	} else if r := m.bestRecent(ev); r >= 0 {
		m.recent[r].seen |= seen // the press was reported already
		return dst
	}
	// Held keys that started earlier are not twins of this or any later
	// RFC 4733 key; release them first to keep Start order.
	for ev.Source == SourceRFC4733 && m.nheld > 0 && m.held[0].Start < ev.Start {
		dst = m.release(dst, 0)
	}
	dst = append(dst, ev)
	m.remember(ev, seen)
	return dst
}

// bestRecent finds the released key that is ev's best twin among those
// of a press not yet seen from ev's source class, or -1.
func (m *Merger) bestRecent(ev Event) int {
	c := sourceClass(ev.Source)
	best, bestGap := -1, int64(0)
	for i := range m.nrecent {
		r := &m.recent[i]
		if r.seen&c != 0 {
			continue
		}
		if g, ok := m.twin(ev, r.ev); ok && (best < 0 || g < bestGap) {
			best, bestGap = i, g
		}
	}
	return best
}

func (m *Merger) remember(ev Event, seen uint8) {
	m.recent[m.next] = mergeRecord{ev: ev, seen: seen}
	m.next = (m.next + 1) % mergeRecent
	m.nrecent = min(m.nrecent+1, mergeRecent)
}

func (m *Merger) remove(i int) {
	copy(m.held[i:m.nheld], m.held[i+1:m.nheld])
	m.nheld--
	m.held[m.nheld] = Event{}
}

func (m *Merger) release(dst []Event, i int) []Event {
	ev := m.held[i]
	m.remove(i)
	m.remember(ev, sourceClass(ev.Source))
	return append(dst, ev)
}

// Advance tells the merger the stream's time has reached now (on the
// events' timeline) and appends the held in-band keys whose twin can no
// longer arrive: those with End+Hold ≤ now, oldest first. A key waits for
// any held key that started before it, to keep Start order.
func (m *Merger) Advance(dst []Event, now int64) []Event {
	h := uint64(m.hold())
	// now-End ≥ Hold, computed in uint64 so that no int64 can overflow.
	for m.nheld > 0 && now >= m.held[0].End && uint64(now)-uint64(m.held[0].End) >= h {
		dst = m.release(dst, 0)
	}
	return dst
}

// Flush ends the stream, appending every held key in Start order. Twins
// arriving later are still recognised and dropped.
func (m *Merger) Flush(dst []Event) []Event {
	for m.nheld > 0 {
		dst = m.release(dst, 0)
	}
	return dst
}
