package dtmf

import (
	"slices"
	"testing"
)

// mstep is one Merger call: Add (op 'e'), Advance ('a', at now) or Flush ('f').
type mstep struct {
	op  byte
	ev  Event
	now int64
}

func rfc(k Key, s, e int64) mstep { return mstep{op: 'e', ev: Event{k, SourceRFC4733, s, e}} }
func inb(k Key, s, e int64) mstep { return mstep{op: 'e', ev: Event{k, SourceInband, s, e}} }
func madv(now int64) mstep        { return mstep{op: 'a', now: now} }
func mflush() mstep               { return mstep{op: 'f'} }

// out is an expected released key, with the index of the step releasing it.
type out struct {
	step int
	ev   Event
}

func R(step int, k Key, s, e int64) out { return out{step, Event{k, SourceRFC4733, s, e}} }
func I(step int, k Key, s, e int64) out { return out{step, Event{k, SourceInband, s, e}} }

func TestMerger(t *testing.T) {
	const H = DefaultMergeHold
	tests := []struct {
		name  string
		steps []mstep
		want  []out
	}{
		{"RFC 4733 only", []mstep{
			rfc('1', 1000, 1800), rfc('2', 3000, 3800), madv(20000), mflush(),
		}, []out{R(0, '1', 1000, 1800), R(1, '2', 3000, 3800)}},
		{"in-band only: held until End+Hold", []mstep{
			inb('1', 1000, 1800), madv(1800 + H - 1), madv(1800 + H), inb('2', 3000, 3800), mflush(),
		}, []out{I(2, '1', 1000, 1800), I(4, '2', 3000, 3800)}},
		{"twins, in-band first: RFC 4733 kept", []mstep{
			inb('#', 1040, 1840), rfc('#', 1000, 1800), madv(1840 + H), mflush(),
		}, []out{R(1, '#', 1000, 1800)}},
		{"twins, RFC 4733 first: in-band dropped", []mstep{
			rfc('#', 1000, 1800), inb('#', 1040, 1840), madv(1840 + H), mflush(),
		}, []out{R(0, '#', 1000, 1800)}},
		{"twins, RFC 4733 reports duration 0", []mstep{
			inb('5', 1000, 1800), rfc('5', 1100, 1100), mflush(),
		}, []out{R(1, '5', 1100, 1100)}},
		{"twins, near miss inside the tolerance", []mstep{
			rfc('5', 1000, 1000), inb('5', 1000+DefaultMergeTolerance-1, 2000), mflush(),
		}, []out{R(0, '5', 1000, 1000)}},
		{"not twins: gap equal to the tolerance", []mstep{
			rfc('5', 1000, 1000), inb('5', 1000+DefaultMergeTolerance, 2000), mflush(),
		}, []out{R(0, '5', 1000, 1000), I(2, '5', 1320, 2000)}},
		{"not twins: different keys at the same time both stay", []mstep{
			inb('1', 1000, 1800), rfc('2', 1000, 1800), mflush(),
		}, []out{R(1, '2', 1000, 1800), I(2, '1', 1000, 1800)}},
		{"two presses of the same key, both sources", []mstep{
			rfc('1', 1000, 1800), inb('1', 1020, 1820),
			rfc('1', 2120, 2920), inb('1', 2140, 2940), // a 40 ms pause
			madv(10000), mflush(),
		}, []out{R(0, '1', 1000, 1800), R(2, '1', 2120, 2920)}},
		{"two presses of the same key, in-band first each time", []mstep{
			inb('1', 1020, 1820), rfc('1', 1000, 1800),
			inb('1', 2140, 2940), rfc('1', 2120, 2920),
			madv(10000), mflush(),
		}, []out{R(1, '1', 1000, 1800), R(3, '1', 2120, 2920)}},
		{"two presses 30 ms apart, in-band only, stay two", []mstep{
			inb('1', 1000, 1400), inb('1', 1640, 2040), mflush(),
		}, []out{I(2, '1', 1000, 1400), I(2, '1', 1640, 2040)}},
		{"two presses, first RFC 4733 event lost: still two keys", []mstep{
			inb('1', 1000, 1400), inb('1', 1640, 2040),
			rfc('1', 1640, 2040), // pairs with the second (overlap), not the first
			mflush(),
		}, []out{I(2, '1', 1000, 1400), R(2, '1', 1640, 2040)}},
		{"RFC 4733 twin after its in-band key was released: dropped", []mstep{
			inb('7', 1000, 1800), madv(1800 + H), rfc('7', 1000, 1800), mflush(),
		}, []out{I(1, '7', 1000, 1800)}},
		{"mixed stream: in-band-only key between merged ones, in order", []mstep{
			rfc('0', 1000, 1800), inb('0', 1010, 1810),
			inb('*', 3000, 3800), // its RFC 4733 event was lost
			inb('#', 5010, 5810), rfc('#', 5000, 5800),
			madv(5810 + H), mflush(),
		}, []out{R(0, '0', 1000, 1800), I(4, '*', 3000, 3800), R(4, '#', 5000, 5800)}},
		{"in-band keys arriving out of order are released in Start order", []mstep{
			inb('2', 3000, 3400), inb('1', 1000, 1400), madv(3400 + H), mflush(),
		}, []out{I(2, '1', 1000, 1400), I(2, '2', 3000, 3400)}},
		{"a later-held key waits for an earlier long one", []mstep{
			inb('1', 1000, 9000), inb('2', 2000, 2400), madv(2400 + H), madv(9000 + H),
		}, []out{I(3, '1', 1000, 9000), I(3, '2', 2000, 2400)}},
		{"hold buffer full: oldest released", []mstep{
			inb('0', 0, 100), inb('1', 1000, 1100), inb('2', 2000, 2100), inb('3', 3000, 3100),
			inb('4', 4000, 4100), inb('5', 5000, 5100), inb('6', 6000, 6100), inb('7', 7000, 7100),
			inb('8', 8000, 8100), mflush(),
		}, []out{
			I(8, '0', 0, 100), I(9, '1', 1000, 1100), I(9, '2', 2000, 2100), I(9, '3', 3000, 3100),
			I(9, '4', 4000, 4100), I(9, '5', 5000, 5100), I(9, '6', 6000, 6100), I(9, '7', 7000, 7100),
			I(9, '8', 8000, 8100),
		}},
		{"invalid keys ignored, End before Start mended", []mstep{
			{op: 'e', ev: Event{0, SourceRFC4733, 0, 10}}, rfc('9', 500, 400),
		}, []out{R(1, '9', 500, 500)}},
		{"unknown source is treated as in-band", []mstep{
			{op: 'e', ev: Event{'3', SourceUnknown, 1000, 1800}}, rfc('3', 1000, 1800), mflush(),
		}, []out{R(1, '3', 1000, 1800)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var m Merger
			if got := runMerger(&m, tt.steps); !slices.Equal(got, tt.want) {
				t.Errorf("released\n got %v\nwant %v", got, tt.want)
			}
		})
	}
}

// runMerger feeds steps to m and returns what it released, by step.
func runMerger(m *Merger, steps []mstep) []out {
	var got []out
	var dst []Event
	for i, s := range steps {
		switch s.op {
		case 'e':
			dst = m.Add(dst[:0], s.ev)
		case 'a':
			dst = m.Advance(dst[:0], s.now)
		case 'f':
			dst = m.Flush(dst[:0])
		}
		for _, e := range dst {
			got = append(got, out{i, e})
		}
	}
	return got
}

// TestMergerEarly: keys added at key-down (MergerConfig.Early), with the
// short End known then: an RFC 4733 key one packet (160) into its event, an
// in-band key about 35 ms (280) into its tone. The twins of a press still
// give one key, in either order, however long the press goes on.
func TestMergerEarly(t *testing.T) {
	const H = 160 // a live session's hold
	tests := []struct {
		name  string
		steps []mstep
		want  []out
	}{
		{"RFC 4733 first (the usual order): in-band twin dropped", []mstep{
			rfc('#', 1000, 1160), madv(1160), madv(1280), inb('#', 1000, 1280), madv(1280 + H), madv(9000), mflush(),
		}, []out{R(0, '#', 1000, 1160)}},
		{"in-band first, RFC 4733 within the hold: RFC 4733 kept", []mstep{
			inb('#', 1000, 1280), madv(1280 + H - 1), rfc('#', 1120, 1280), madv(9000), mflush(),
		}, []out{R(2, '#', 1120, 1280)}},
		{"in-band first, RFC 4733 after the hold: in-band kept, twin dropped", []mstep{
			inb('#', 1000, 1280), madv(1280 + H), rfc('#', 1120, 1280), madv(9000), mflush(),
		}, []out{I(1, '#', 1000, 1280)}},
		{"gateway stamps its event when it detected the tone (50 ms late)", []mstep{
			inb('5', 1000, 1280), rfc('5', 1400, 1400), mflush(),
		}, []out{R(1, '5', 1400, 1400)}},
		{"RFC 4733 60 ms ahead of the tone: twins only as shortest presses", []mstep{
			rfc('5', 1000, 1160), inb('5', 1480, 1760), mflush(),
		}, []out{R(0, '5', 1000, 1160)}},
		{"the same, in-band first", []mstep{
			inb('5', 1480, 1760), rfc('5', 1000, 1160), mflush(),
		}, []out{R(1, '5', 1000, 1160)}},
		{"two shortest presses of a key 80 ms apart, both sources: two keys", []mstep{
			rfc('1', 1000, 1160), inb('1', 1000, 1280),
			rfc('1', 1640, 1800), inb('1', 1640, 1920),
			madv(9000), mflush(),
		}, []out{R(0, '1', 1000, 1160), R(2, '1', 1640, 1800)}},
		{"two presses, in-band first each time, past the hold: two keys", []mstep{
			inb('1', 1000, 1280), madv(1280 + H), rfc('1', 1040, 1200),
			inb('1', 1640, 1920), madv(1920 + H), rfc('1', 1680, 1840),
			madv(9000), mflush(),
		}, []out{I(1, '1', 1000, 1280), I(4, '1', 1640, 1920)}},
		{"*# from an analog line: in-band only, in order", []mstep{
			inb('*', 1000, 1280), madv(1280 + H), inb('#', 3000, 3280), madv(3280 + H),
		}, []out{I(1, '*', 1000, 1280), I(3, '#', 3000, 3280)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runMerger(NewMerger(MergerConfig{Hold: H, Early: true}), tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("released\n got %v\nwant %v", got, tt.want)
			}
		})
	}
	// Without Early, the known parts 60 ms apart are two presses: what
	// Early's 40 ms floor is for.
	got := runMerger(NewMerger(MergerConfig{Hold: H}), []mstep{rfc('5', 1000, 1160), inb('5', 1480, 1760), mflush()})
	if len(got) != 2 {
		t.Errorf("without Early: %v, want two keys", got)
	}
	// The floor does not overflow at the end of the timeline.
	m := NewMerger(MergerConfig{Early: true})
	const top = 1<<63 - 1
	dst := m.Add(nil, Event{'1', SourceRFC4733, top - 100, top - 100})
	dst = m.Add(dst, Event{'1', SourceInband, top - 50, top})
	if len(dst) != 1 {
		t.Errorf("at the end of the timeline: %v", dst)
	}
}

func TestMergerConfig(t *testing.T) {
	// Hold < 0: an in-band key goes out as soon as now reaches its End.
	m := NewMerger(MergerConfig{Hold: -1, Tolerance: 80})
	dst := m.Add(nil, Event{'1', SourceInband, 1000, 1800})
	if dst = m.Advance(dst, 1799); len(dst) != 0 {
		t.Fatalf("released before End: %v", dst)
	}
	if dst = m.Advance(dst, 1800); len(dst) != 1 {
		t.Fatalf("not released at End: %v", dst)
	}
	// Tolerance 80: a gap of 100 is two presses.
	dst = m.Add(dst[:0], Event{'2', SourceRFC4733, 3000, 3000})
	dst = m.Add(dst, Event{'2', SourceInband, 3100, 3900})
	dst = m.Flush(dst)
	if len(dst) != 2 {
		t.Fatalf("tolerance 80: %v", dst)
	}
	// Advance with an extreme now does not overflow.
	var z Merger
	dst = z.Add(dst[:0], Event{'3', SourceInband, 1000, 1800})
	if dst = z.Advance(dst, -1<<63); len(dst) != 0 {
		t.Fatalf("min int64: %v", dst)
	}
	if dst = z.Advance(dst, 1<<63-1); len(dst) != 1 {
		t.Fatalf("max int64: %v", dst)
	}
}

func TestMergerAllocs(t *testing.T) {
	var m Merger
	dst := make([]Event, 0, 16)
	ts := int64(0)
	allocs := testing.AllocsPerRun(1000, func() {
		ts += 4000
		dst = m.Add(dst[:0], Event{'1', SourceInband, ts + 20, ts + 820})
		dst = m.Add(dst[:0], Event{'1', SourceRFC4733, ts, ts + 800})
		dst = m.Add(dst[:0], Event{'2', SourceInband, ts + 2000, ts + 2800})
		dst = m.Advance(dst[:0], ts+2800+DefaultMergeHold)
		dst = m.Flush(dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("Merger allocates %v times per run", allocs)
	}
}
