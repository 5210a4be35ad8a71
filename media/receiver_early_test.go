package media

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media/mediatest"
)

// ReceiverConfig.Early, as live sessions use it: a key comes out when it
// goes down. The tests feed packets one at a time and look at which packet
// made the sink fire; every position is on the stream's RTP timeline.

// wire is one RTP stream as its sender puts it on the wire: 20 ms PCMU
// packets and RFC 4733 packets, each with the stream time it is sent at.
type wire struct {
	ssrc uint32 // zero: 77
	pkts []wirePkt
}

type wirePkt struct {
	sent    int64 // stream time at which the sender emits it
	ts      uint32
	pt      uint8
	marker  bool
	payload []byte
}

// audio adds x as 20 ms packets from timestamp ts, each sent once its last
// sample is.
func (w *wire) audio(ts uint32, x []int16) {
	for i := 0; i < len(x); i += 160 {
		b := make([]byte, 160)
		audio.EncodeULawTo(b, x[i:min(i+160, len(x))])
		for j := len(x) - i; j < 160; j++ {
			b[j] = 0xFF
		}
		w.pkts = append(w.pkts, wirePkt{sent: int64(ts) + int64(i) + 160, ts: ts + uint32(i), pt: 0, payload: b})
	}
}

// press adds the telephone-event packets (PT 101) of one press of k from
// ts lasting dur, as a real-time sender emits them, lag later.
func (w *wire) press(t testing.TB, k dtmf.Key, ts uint32, dur, lag int64) {
	evs, err := dtmf.GenerateEvent(nil, k, int64(ts), dur, dtmf.EventGenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		b, _ := e.Payload.AppendTo(nil)
		w.pkts = append(w.pkts, wirePkt{sent: e.Time + lag, ts: uint32(e.Timestamp), pt: 101, marker: e.Marker, payload: b})
	}
}

// drop removes the telephone-event packets for which lose says so (by
// their index among the event packets).
func (w *wire) drop(lose func(i int) bool) {
	n := 0
	w.pkts = slices.DeleteFunc(w.pkts, func(p wirePkt) bool {
		if p.pt != 101 {
			return false
		}
		n++
		return lose(n - 1)
	})
}

// packets returns the stream in send order, sequence numbers in that order.
func (w *wire) packets(t testing.TB) ([][]byte, []wirePkt) {
	ps := slices.Clone(w.pkts)
	slices.SortStableFunc(ps, func(a, b wirePkt) int { return cmp.Compare(a.sent, b.sent) })
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = mediatest.RTP(cmp.Or(w.ssrc, 77), p.pt, uint16(1000+i), p.ts, p.marker, p.payload)
	}
	return out, ps
}

// tone returns n samples of k's pair at −10 dBm0 per tone.
func tone(k dtmf.Key, n int) []int16 {
	x := make([]int16, n)
	tn := dtmf.Tone{Key: k, Level: -10, Duration: n}
	tn.AddTo(x, 0)
	return x
}

// silentAudio adds silence from ts to end.
func (w *wire) silentAudio(ts, end uint32) { w.audio(ts, make([]int16, end-ts)) }

// firing is a key and the index of the packet that made the sink fire
// (-1: Idle or Flush).
type firing struct {
	Key
	at int
}

func (f firing) String() string {
	return fmt.Sprintf("%c %s [%d,%d) at packet %d", f.Key.Key, f.Source, f.Start, f.End, f.at)
}

// liveTypes: PCMU and telephone-event on 101, as a live call negotiates.
func liveTypes() PayloadTypes {
	p := DefaultPayloadTypes()
	p[101] = KindTelephoneEvent
	return p
}

// feedOne hands the packets to a new receiver one at a time, then goes
// Idle for a second and Flushes, and returns every key with the packet
// that produced it.
func feedOne(t *testing.T, cfg ReceiverConfig, pkts [][]byte) []firing {
	t.Helper()
	var got []firing
	cur := 0
	r, err := NewReceiver(cfg, KeySinkFunc(func(k Key) { got = append(got, firing{k, cur}) }))
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		cur = i
		if err := r.HandlePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	cur = -1
	r.Idle(time.Second)
	r.Flush()
	return got
}

// These tests time keys to the packet that brings them, so their audio goes
// to the detector as it arrives (no jitter buffer); the buffer's added
// latency is TestReceiverMergeHoldLatency's and TestJitterLatency's.
var (
	noJitter   = JitterConfig{Off: true}
	earlyLive  = ReceiverConfig{Early: true, PayloadTypes: liveTypes(), Merge: dtmf.MergerConfig{Hold: LiveMergeHold}, NoGuess: true, Jitter: noJitter}
	earlyNoTE  = ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: -1}, NoGuess: true, Jitter: noJitter}
	normalLive = ReceiverConfig{PayloadTypes: liveTypes(), Merge: dtmf.MergerConfig{Hold: LiveMergeHold}, NoGuess: true, Jitter: noJitter}
)

// TestReceiverEarlyRFC4733: an RFC 4733 key comes out with the first
// packet of its event that arrives, once, whatever is lost; the normal
// mode reports the same key at its end.
func TestReceiverEarlyRFC4733(t *testing.T) {
	const at = 1600 // the press: 100 ms from here; audio (silence) goes on
	cases := []struct {
		name    string
		lose    func(i int) bool // event packets: 4 updates, then 3 END
		first   int              // the event packet the key must come with
		end     int64            // its End
		normEnd int64
	}{
		{"every packet", func(int) bool { return false }, 0, at + 160, at + 800},
		{"first two lost", func(i int) bool { return i < 2 }, 2, at + 480, at + 800},
		{"END packets only", func(i int) bool { return i < 4 }, 4, at + 800, at + 800},
		{"first END lost, repeats arrive", func(i int) bool { return i < 5 }, 5, at + 800, at + 800},
		{"every END lost", func(i int) bool { return i >= 4 }, 0, at + 160, at + 640},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var w wire
			w.silentAudio(0, 4800)
			w.press(t, '#', at, 800, 0)
			w.drop(c.lose)
			pkts, meta := w.packets(t)
			// The index of each surviving event packet.
			var evIdx []int
			for i, p := range meta {
				if p.pt == 101 {
					evIdx = append(evIdx, i)
				}
			}
			got := feedOne(t, earlyLive, pkts)
			kept := 0
			for i := range 7 {
				if !c.lose(i) && i < c.first {
					kept++
				}
			}
			want := firing{Key{Event: dtmf.Event{Key: '#', Source: dtmf.SourceRFC4733, Start: at, End: c.end}}, evIdx[kept]}
			if len(got) != 1 || got[0].Event != want.Event || got[0].at != want.at {
				t.Fatalf("early: %v, want %v", got, want)
			}
			norm := feedOne(t, normalLive, pkts)
			if len(norm) != 1 || norm[0].Key.Key != '#' || norm[0].Start != at || norm[0].End != c.normEnd || norm[0].at >= 0 && norm[0].at < got[0].at {
				t.Fatalf("normal: %v, early %v", norm, got)
			}
		})
	}
}

// inbandWire: silence, k's tone from toneAt for dur samples, silence, to
// 8000.
func inbandWire(k dtmf.Key, toneAt, dur int) *wire {
	var w wire
	x := make([]int16, 8000)
	copy(x[toneAt:], tone(k, dur))
	w.audio(0, x)
	return &w
}

// TestReceiverEarlyInband: an in-band key comes out with the packet that
// brings its 32nd to 38th millisecond of tone (the detector's acceptance,
// on the stream timeline), once, with End the acceptance point; with
// telephone-events negotiated, LiveMergeHold later (one packet).
func TestReceiverEarlyInband(t *testing.T) {
	for _, off := range []int{0, 13, 40, 77, 120, 159} {
		for _, dur := range []int{320, 800, 4000} {
			toneAt := 1600 + off
			pkts, meta := inbandWire('5', toneAt, dur).packets(t)
			got := feedOne(t, earlyNoTE, pkts)
			if len(got) != 1 || got[0].Key.Key != '5' || got[0].Source != dtmf.SourceInband || got[0].at < 0 {
				t.Fatalf("tone at %d for %d: %v, want one 5 while the tone sounds", toneAt, dur, got)
			}
			k := got[0]
			pEnd := int64(meta[k.at].ts) + 160
			if d := k.Start - int64(toneAt); d < -12 || d > 12 {
				t.Errorf("tone at %d: Start %d", toneAt, k.Start)
			}
			if acc := k.End - int64(toneAt); acc < 32*8 || acc > 38*8 {
				t.Errorf("tone at %d: accepted %.1f ms into the tone, want 32–38", toneAt, float64(acc)/8)
			}
			if k.End <= pEnd-160 || k.End > pEnd {
				t.Errorf("tone at %d: End %d, reported with the packet [%d,%d)", toneAt, k.End, pEnd-160, pEnd)
			}
			// Telephone-event negotiated: the key waits LiveMergeHold for
			// an RFC 4733 twin, on the stream timeline.
			held := feedOne(t, earlyLive, pkts)
			if len(held) != 1 || held[0].Event != k.Event {
				t.Fatalf("tone at %d, held: %v, want %v", toneAt, held, k)
			}
			if hEnd := int64(meta[held[0].at].ts) + 160; hEnd < k.End+LiveMergeHold || hEnd-160 >= k.End+LiveMergeHold {
				t.Errorf("tone at %d: released with the packet ending %d, want the first ending at or after %d", toneAt, hEnd, k.End+LiveMergeHold)
			}
			// The normal mode finds the same key, after the tone.
			norm := feedOne(t, normalLive, pkts)
			if len(norm) != 1 || norm[0].Key.Key != '5' || norm[0].Start != k.Start || norm[0].at >= 0 && int64(meta[norm[0].at].ts) < int64(toneAt+dur) {
				t.Errorf("tone at %d for %d: normal %v, early %v", toneAt, dur, norm, k)
			}
		}
	}
}

// TestReceiverEarlyTwins: a press sent both ways (a gateway passing the
// tone and sending events) is one key, whichever sighting comes first.
func TestReceiverEarlyTwins(t *testing.T) {
	const toneAt = 1640
	cases := []struct {
		name  string
		stamp int64 // the events' timestamp after the tone's start
		lag   int64 // how much later than real time the events are sent
		src   dtmf.Source
		first bool // the key comes with the first event packet
	}{
		{"same start: events first", 0, 0, dtmf.SourceRFC4733, true},
		{"events stamped 25 ms late (the gateway's detection): within the hold", 200, 0, dtmf.SourceRFC4733, true},
		{"events 20 ms ahead of the tone", -160, 0, dtmf.SourceRFC4733, true},
		{"events 60 ms ahead of the tone", -480, 0, dtmf.SourceRFC4733, true},
		{"events 80 ms late on the wire: in-band first, twin dropped", 0, 640, dtmf.SourceInband, false},
		{"events stamped 60 ms late: in-band first, twin dropped", 480, 0, dtmf.SourceInband, false},
	}
	for _, c := range cases {
		for _, dur := range []int{400, 800, 16000} {
			if int64(dur) <= c.stamp {
				continue
			}
			t.Run(fmt.Sprintf("%s/%dms", c.name, dur/8), func(t *testing.T) {
				w := inbandWire('#', toneAt, dur)
				if dur > 4000 {
					w = &wire{}
					x := make([]int16, toneAt+dur+4000)
					copy(x[toneAt:], tone('#', dur))
					w.audio(0, x)
				}
				w.press(t, '#', uint32(toneAt+c.stamp), int64(dur)-c.stamp, c.lag)
				pkts, meta := w.packets(t)
				firstEv := slices.IndexFunc(meta, func(p wirePkt) bool { return p.pt == 101 })
				got := feedOne(t, earlyLive, pkts)
				if len(got) != 1 || got[0].Key.Key != '#' || got[0].Source != c.src {
					t.Fatalf("got %v, want one # from %s", got, c.src)
				}
				if c.first && got[0].at != firstEv {
					t.Errorf("%v: want it with the first event packet, %d", got[0], firstEv)
				}
				if !c.first && (got[0].at < 0 || got[0].at > firstEv) {
					t.Errorf("%v: want it before the first event packet, %d", got[0], firstEv)
				}
				// The normal mode gives one key too, from the same press.
				if norm := feedOne(t, normalLive, pkts); len(norm) != 1 || norm[0].Key.Key != '#' {
					t.Errorf("normal mode: %v", norm)
				}
			})
		}
	}
}

// TestReceiverEarlyLongPress: a press held for seconds, each way and both,
// with a 10 ms break in the tone, is one key, reported at its start.
func TestReceiverEarlyLongPress(t *testing.T) {
	const toneAt, dur = 1600, 3 * 8000
	x := make([]int16, toneAt+dur+4000)
	copy(x[toneAt:], tone('0', dur))
	clear(x[toneAt+8000 : toneAt+8080]) // a 10 ms break a second in
	for _, way := range []string{"inband", "rfc4733", "both"} {
		t.Run(way, func(t *testing.T) {
			var w wire
			if way == "rfc4733" {
				w.silentAudio(0, uint32(len(x)))
			} else {
				w.audio(0, x)
			}
			if way != "inband" {
				w.press(t, '0', toneAt, dur, 0)
			}
			pkts, meta := w.packets(t)
			got := feedOne(t, earlyLive, pkts)
			if len(got) != 1 || got[0].Key.Key != '0' || got[0].at < 0 || meta[got[0].at].ts > toneAt+640 {
				t.Fatalf("got %v, want one 0 within 80 ms of its start", got)
			}
		})
	}
}

// TestReceiverEarlyIdleFlush: a far end that goes quiet (Receiver.Idle) or
// a session that ends (Flush) releases a key held for its twin, and never
// reports a key twice; a press after Idle is a new key.
func TestReceiverEarlyIdleFlush(t *testing.T) {
	// Stream 1: a 40 ms tone, then nothing: the key goes down with the
	// last packet and waits LiveMergeHold for a twin no packet will bring.
	w1 := wire{ssrc: 1}
	x := make([]int16, 1600+320)
	copy(x[1600:], tone('#', 320))
	w1.audio(0, x)
	p1, _ := w1.packets(t)
	// Stream 2: RFC 4733 '5', every END lost, then nothing.
	w2 := wire{ssrc: 2}
	w2.press(t, '5', 3200, 800, 0)
	w2.drop(func(i int) bool { return i >= 4 })
	p2, _ := w2.packets(t)

	var got []Key
	r, err := NewReceiver(earlyLive, KeySinkFunc(func(k Key) { got = append(got, k) }))
	if err != nil {
		t.Fatal(err)
	}
	handle := func(r *Receiver, pkts [][]byte) {
		t.Helper()
		for _, p := range pkts {
			if err := r.HandlePacket(p); err != nil {
				t.Fatal(err)
			}
		}
	}
	handle(r, p1)
	if len(got) != 0 {
		t.Fatalf("the # before its hold ran out: %v", got)
	}
	handle(r, p2)
	if len(got) != 1 || got[0].Key != '5' {
		t.Fatalf("before going quiet: %v, want only the 5 (the # held for its twin)", got)
	}
	r.Idle(idleCheck) // 100 ms: more than the hold
	if len(got) != 2 || got[1].Key != '#' || got[1].Source != dtmf.SourceInband {
		t.Fatalf("after Idle: %v, want 5 then the held #", got)
	}
	r.Idle(time.Second) // past the 5's timeout: nothing more
	r.Flush()
	r.Flush()
	if len(got) != 2 {
		t.Fatalf("after Idle and Flush: %v, want no key twice", got)
	}
	// A new tone on stream 1 after the quiet is a new key.
	w3 := wire{ssrc: 1}
	y := make([]int16, 2400)
	copy(y[800:], tone('#', 800))
	w3.audio(16000, y)
	p3, _ := w3.packets(t)
	handle(r, p3)
	if len(got) != 3 || got[2].Key != '#' {
		t.Fatalf("press after the quiet: %v", got)
	}

	// Flush releases a held key at once.
	got = nil
	r2, _ := NewReceiver(earlyLive, KeySinkFunc(func(k Key) { got = append(got, k) }))
	handle(r2, p1)
	if len(got) != 0 {
		t.Fatalf("before Flush: %v", got)
	}
	r2.Flush()
	r2.Flush()
	if len(got) != 1 || got[0].Key != '#' {
		t.Fatalf("Flush: %v, want the held # once", got)
	}
}

// TestReceiverEarlyZeroAllocs: the packet path stays allocation-free in
// early mode, with keys going down in-band and by RFC 4733.
func TestReceiverEarlyZeroAllocs(t *testing.T) {
	var w wire
	x := make([]int16, 8000)
	copy(x[800:], tone('1', 800))
	copy(x[4000:], tone('2', 800))
	w.audio(0, x)
	w.press(t, '3', 2400, 800, 0)
	w.press(t, '2', 4000, 800, 0)
	pkts, _ := w.packets(t)
	keys := 0
	r, err := NewReceiver(earlyLive, KeySinkFunc(func(Key) { keys++ }))
	if err != nil {
		t.Fatal(err)
	}
	// Replay the second over and over, a second later each time.
	round := uint32(0)
	send := func() {
		for i, p := range pkts {
			ts := uint32(p[4])<<24 | uint32(p[5])<<16 | uint32(p[6])<<8 | uint32(p[7])
			ts += round * 8000
			seq := uint16(i) + uint16(round)*uint16(len(pkts))
			q := p[:len(p):len(p)]
			q[2], q[3] = byte(seq>>8), byte(seq)
			q[4], q[5], q[6], q[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
			if err := r.HandlePacket(q); err != nil {
				t.Fatal(err)
			}
			ts -= round * 8000 // restore
			q[4], q[5], q[6], q[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		}
		round++
	}
	send()
	if allocs := testing.AllocsPerRun(20, send); allocs != 0 {
		t.Errorf("a second of packets allocates %v times", allocs)
	}
	if keys < 3*21 {
		t.Errorf("%d keys in %d rounds", keys, round)
	}
}
