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
	// Tolerance: an RFC 4733 and an in-band key of the same Key are one
	// press when their intervals overlap or the gap between them is less
	// than Tolerance. Zero means [DefaultMergeTolerance]; negative means 0:
	// only overlapping intervals are twins.
	Tolerance int64
	// Hold: an in-band key is held until now ≥ End+Hold, waiting for its
	// RFC 4733 twin. Zero means [DefaultMergeHold]; negative means 0 (for
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

// Merger joins one stream's RFC 4733 and in-band keys so that one press
// yields one key, preferring the RFC 4733 event (gateways often send both).
//
// An RFC 4733 key is released at once, unless its in-band twin was already
// released, in which case the press has been reported and it is dropped.
// An in-band key (any Source other than [SourceRFC4733]) is dropped when
// its RFC 4733 twin has arrived, and otherwise held until now passes its
// End+Hold (see [Merger.Advance]). Twins are the same Key from the two
// sources with intervals overlapping or less than Tolerance apart; each
// key has at most one twin. Keys of different Keys are never twins, even
// at the same time: both are released and the caller's policy decides.
// Two keys from the same source are never merged (two real presses).
// A twin that arrives after its partner was released is dropped too, so
// Hold decides which sighting of a press is reported (its Source and
// Start), not how many keys come out (as long as the partner is among
// the last 8 keys released).
//
// Order: keys are released in Start order as long as RFC 4733 keys are
// added in Start order (as an EventDecoder produces them) and each in-band
// key is added before now passes its End+Hold. A key added later than
// that, or released early because the hold buffer (8 keys) was full, may
// come out of order.
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
	ev     Event
	paired bool // its twin has been seen (and dropped)
}

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
	if m.cfg.Early {
		a, b = atLeast(a, earlyMinPress), atLeast(b, earlyMinPress)
	}
	g := gap(a, b)
	return g, g < m.tolerance()
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
	if ev.Source == SourceRFC4733 {
		return m.addRFC(dst, ev)
	}
	// In-band: dropped if its RFC 4733 twin was released.
	if r := m.bestRecent(ev, SourceRFC4733); r >= 0 {
		m.recent[r].paired = true
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

func (m *Merger) addRFC(dst []Event, ev Event) []Event {
	paired := false
	best, bestGap := -1, int64(0)
	for i := range m.nheld {
		if g, ok := m.twin(ev, m.held[i]); ok && (best < 0 || g < bestGap) {
			best, bestGap = i, g
		}
	}
	if best >= 0 {
		m.remove(best) // the in-band twin: the RFC 4733 key wins
		paired = true
	} else if r := m.bestRecent(ev, SourceInband); r >= 0 {
		m.recent[r].paired = true // reported in-band already
		return dst
	}
	// Held keys that started earlier are not twins of this or any later
	// RFC 4733 key; release them first to keep Start order.
	for m.nheld > 0 && m.held[0].Start < ev.Start {
		dst = m.release(dst, 0)
	}
	dst = append(dst, ev)
	m.remember(ev, paired)
	return dst
}

// bestRecent finds the unpaired released key that is ev's best twin among
// those from the other source (src SourceRFC4733 finds RFC 4733 keys;
// SourceInband finds all others), or -1.
func (m *Merger) bestRecent(ev Event, src Source) int {
	best, bestGap := -1, int64(0)
	for i := range m.nrecent {
		r := &m.recent[i]
		if r.paired || (r.ev.Source == SourceRFC4733) != (src == SourceRFC4733) {
			continue
		}
		if g, ok := m.twin(ev, r.ev); ok && (best < 0 || g < bestGap) {
			best, bestGap = i, g
		}
	}
	return best
}

func (m *Merger) remember(ev Event, paired bool) {
	m.recent[m.next] = mergeRecord{ev: ev, paired: paired}
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
	m.remember(ev, false)
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
