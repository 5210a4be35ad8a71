package dtmf

import (
	"encoding/hex"
	"errors"
	"io"
	"slices"
	"testing"
)

// step is one call on an EventDecoder: a packet (op 'p'), Advance ('a') or
// Flush ('f'). ts is a 32-bit RTP timestamp, extended by a Clock32 as the
// media layer does; for Advance it is now (also extended, without moving
// the packet clock). n is how many keys the call must append (-1: any).
type step struct {
	op     byte
	seq    uint16
	ts     uint32
	marker bool
	hex    string // payload
	n      int
}

func pkt(seq uint16, ts uint32, marker bool, payload string, n int) step {
	return step{op: 'p', seq: seq, ts: ts, marker: marker, hex: payload, n: n}
}
func adv(now uint32, n int) step { return step{op: 'a', ts: now, n: n} }
func flush(n int) step           { return step{op: 'f', n: n} }

// run feeds steps to d and returns every key appended.
func run(t *testing.T, d *EventDecoder, steps []step) []Event {
	t.Helper()
	var clk Clock32
	var got []Event
	for i, s := range steps {
		before := len(got)
		switch s.op {
		case 'p':
			payload, err := hex.DecodeString(s.hex)
			if err != nil {
				t.Fatalf("step %d: bad hex %q", i, s.hex)
			}
			got, err = d.Decode(got, s.seq, clk.Extend(s.ts), s.marker, payload)
			if err != nil {
				t.Fatalf("step %d: Decode: %v", i, err)
			}
		case 'a':
			c := clk // now is on the same timeline, but is not a packet
			got = d.Advance(got, c.Extend(s.ts))
		case 'f':
			got = d.Flush(got)
		}
		if n := len(got) - before; s.n >= 0 && n != s.n {
			t.Fatalf("step %d (%c ts=%d): appended %d keys %v, want %d", i, s.op, s.ts, n, got[before:], s.n)
		}
	}
	return got
}

func ev(k Key, start, end int64) Event {
	return Event{Key: k, Source: SourceRFC4733, Start: start, End: end}
}

// Payloads below: event code, E bit|volume, duration (big-endian).
// "0b0a00a0" is '#', volume 10, duration 160; "0b8a0320" is its END at 800.
func TestEventDecoder(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []Event
	}{
		{"ordinary press", []step{
			pkt(10, 8000, true, "0b0a00a0", 0),
			pkt(11, 8000, false, "0b0a0140", 0),
			pkt(12, 8000, false, "0b0a01e0", 0),
			pkt(13, 8000, false, "0b8a0280", 1),
			pkt(14, 8000, false, "0b8a0280", 0),
			pkt(15, 8000, false, "0b8a0280", 0),
			flush(0),
		}, []Event{ev('#', 8000, 8640)}},
		{"missing marker bit", []step{
			pkt(10, 8000, false, "050a00a0", 0),
			pkt(11, 8000, false, "050a0140", 0),
			pkt(12, 8000, false, "058a0140", 1),
		}, []Event{ev('5', 8000, 8320)}},
		{"END packets only", []step{
			pkt(10, 8000, true, "0a8a0320", 1),
			pkt(11, 8000, false, "0a8a0320", 0),
			pkt(12, 8000, false, "0a8a0320", 0),
			pkt(13, 12000, true, "0b8a0320", 1),
			pkt(14, 12000, false, "0b8a0320", 0),
		}, []Event{ev('*', 8000, 8800), ev('#', 12000, 12800)}},
		{"duration 0 throughout", []step{
			pkt(10, 8000, true, "010a0000", 0),
			pkt(11, 8000, false, "010a0000", 0),
			pkt(12, 8000, false, "018a0000", 1),
		}, []Event{ev('1', 8000, 8000)}},
		{"first packet duration 0", []step{
			pkt(10, 8000, true, "010a0000", 0),
			pkt(11, 8000, false, "010a00a0", 0),
			pkt(12, 8000, false, "018a0190", 1),
		}, []Event{ev('1', 8000, 8400)}},
		{"END repeated three times is one key", []step{
			pkt(10, 8000, true, "0b8a0320", 1),
			pkt(11, 8000, false, "0b8a0320", 0),
			pkt(12, 8000, false, "0b8a0320", 0),
			flush(0),
		}, []Event{ev('#', 8000, 8800)}},
		{"all END packets lost: ended by the timeout", []step{
			pkt(10, 8000, true, "0b0a00a0", 0),
			pkt(11, 8000, false, "0b0a0140", 0),
			adv(8320+DefaultEventTimeout, 0), // not yet: exactly Timeout after
			adv(8320+DefaultEventTimeout+1, 1),
			adv(20000, 0),
			pkt(12, 8000, false, "0b8a0280", 0), // the late END: already reported
			flush(0),
		}, []Event{ev('#', 8000, 8320)}},
		{"all END packets lost: timeout runs from the last Advance before the packet", []step{
			adv(8000, 0),
			pkt(10, 8000, true, "0b0a00a0", 0),
			adv(9000, 0),
			pkt(11, 8000, false, "0b0a00a0", 0), // a late, reordered update: heard at 9000
			adv(9000+DefaultEventTimeout, 0),
			adv(9001+DefaultEventTimeout, 1),
		}, []Event{ev('#', 8000, 8160)}},
		{"all END packets lost: ended by the next event", []step{
			pkt(10, 8000, true, "030a00a0", 0),
			pkt(11, 8000, false, "030a0140", 0),
			pkt(12, 9600, true, "040a00a0", 1),
			pkt(13, 9600, false, "048a0140", 1),
		}, []Event{ev('3', 8000, 8320), ev('4', 9600, 9920)}},
		{"two presses of the same key", []step{
			pkt(10, 8000, true, "078a0320", 1),
			pkt(11, 8000, false, "078a0320", 0),
			pkt(12, 8000, false, "078a0320", 0),
			pkt(13, 9200, true, "078a0320", 1),
			pkt(14, 9200, false, "078a0320", 0),
			pkt(15, 9200, false, "078a0320", 0),
		}, []Event{ev('7', 8000, 8800), ev('7', 9200, 10000)}},
		{"two presses of the same key, ENDs lost", []step{
			pkt(10, 8000, true, "070a0320", 0),
			pkt(13, 9200, true, "070a0320", 1),
			flush(1),
		}, []Event{ev('7', 8000, 8800), ev('7', 9200, 10000)}},
		{"long event in three segments is one key", []step{
			pkt(10, 1000, true, "090a00a0", 0),
			pkt(11, 1000, false, "090affff", 0), // first segment full, no E
			pkt(12, 1000+0xFFFF, false, "090a00a0", 0),
			pkt(13, 1000+0xFFFF, false, "090affff", 0),
			pkt(14, 1000+2*0xFFFF, false, "090a0140", 0),
			pkt(15, 1000+2*0xFFFF, false, "098a0320", 1),
			pkt(16, 1000+2*0xFFFF, false, "098a0320", 0),
			pkt(17, 1000, false, "090affff", 0), // a late copy of segment 1
			flush(0),
		}, []Event{ev('9', 1000, 1000+2*0xFFFF+800)}},
		{"long event, closing packet of a segment lost", []step{
			pkt(10, 1000, true, "090a00a0", 0),
			pkt(11, 1000, false, "090aff60", 0), // 0xFF60: last update seen
			pkt(12, 1000+0xFFFF, false, "098a00a0", 1),
		}, []Event{ev('9', 1000, 1000+0xFFFF+160)}},
		{"long event, sender cuts segments at a multiple of its interval", []step{
			pkt(10, 1000, true, "090aff60", 0),
			pkt(12, 1000+0xFF60, false, "098a00a0", 1),
		}, []Event{ev('9', 1000, 1000+0xFF60+160)}},
		{"same key 0xFFFF later after an END is a new press", []step{
			pkt(10, 1000, true, "098aff60", 1),
			pkt(12, 1000+0xFFFF, true, "098a00a0", 1),
		}, []Event{ev('9', 1000, 1000+0xFF60), ev('9', 1000+0xFFFF, 1000+0xFFFF+160)}},
		{"timestamp wrap", []step{
			pkt(10, 0xFFFFFE00, true, "020a00a0", 0),
			pkt(11, 0xFFFFFE00, false, "020a0320", 0),
			pkt(12, 0xFFFFFE00, false, "028a0320", 1),
			pkt(13, 0x00000400, true, "068a0320", 1),
			pkt(14, 0xFFFFFE00, false, "028a0320", 0), // a late END repeat from before the wrap
		}, []Event{ev('2', 0xFFFFFE00, 0xFFFFFE00+800), ev('6', 0x100000400, 0x100000400+800)}},
		{"sequence number wrap", []step{
			pkt(65534, 8000, true, "020a00a0", 0),
			pkt(65535, 8000, false, "020a0140", 0),
			pkt(0, 8000, false, "028a01e0", 1),
			pkt(1, 8000, false, "028a01e0", 0),
			pkt(2, 9600, true, "038a01e0", 1),
			pkt(65533, 8000, false, "028a01e0", 0), // stale, from before the wrap
		}, []Event{ev('2', 8000, 8480), ev('3', 9600, 10080)}},
		{"reordered updates", []step{
			pkt(11, 8000, false, "040a0140", 0),
			pkt(10, 8000, true, "040a00a0", 0),
			pkt(13, 8000, false, "048a0280", 1),
			pkt(12, 8000, false, "040a01e0", 0),
			pkt(14, 8000, false, "048a0280", 0),
		}, []Event{ev('4', 8000, 8640)}},
		{"duplicated packets", []step{
			pkt(10, 8000, true, "040a00a0", 0),
			pkt(10, 8000, true, "040a00a0", 0),
			pkt(11, 8000, false, "048a0140", 1),
			pkt(11, 8000, false, "048a0140", 0),
		}, []Event{ev('4', 8000, 8320)}},
		{"late duplicate END of a reported key", []step{
			pkt(10, 8000, true, "048a0140", 1),
			pkt(11, 9600, true, "058a0140", 1),
			pkt(10, 8000, true, "048a0140", 0),
			pkt(12, 8000, false, "048a0140", 0),
		}, []Event{ev('4', 8000, 8320), ev('5', 9600, 9920)}},
		{"stale packet of an older event after a newer one started", []step{
			pkt(10, 8000, true, "040a00a0", 0),
			pkt(12, 9600, true, "050a00a0", 1),
			pkt(11, 8000, false, "048a0140", 0), // its END, reordered behind the next key
			pkt(13, 9600, false, "058a0140", 1),
		}, []Event{ev('4', 8000, 8160), ev('5', 9600, 9920)}},
		{"non-DTMF events are ignored", []step{
			pkt(10, 8000, true, "100a00a0", 0), // 16: flash
			pkt(11, 8000, false, "108a0320", 0),
			pkt(12, 8800, true, "ff8a0320", 0),
			pkt(13, 9600, true, "018a0140", 1),
			pkt(14, 12000, true, "108a0140", 0), // does not end anything either
			flush(0),
		}, []Event{ev('1', 9600, 9920)}},
		{"volume and reserved bit are ignored", []step{
			pkt(10, 8000, true, "0c3f00a0", 0),
			pkt(11, 8000, false, "0c400140", 0),
			pkt(12, 8000, false, "0cc001e0", 1),
		}, []Event{ev('A', 8000, 8480)}},
		{"payload longer than 4 bytes: first block only", []step{
			pkt(10, 8000, true, "0d8a0140"+"0e8a0140", 1),
			pkt(11, 8000, false, "0d8a0140ffffff", 0),
		}, []Event{ev('B', 8000, 8320)}},
		{"sender timeline jumps back (newer sequence number)", []step{
			pkt(10, 0x01000000, true, "018a0140", 1),
			pkt(11, 0x00100000, true, "028a0140", 1),
			pkt(12, 0x00100000, false, "028a0140", 0),
		}, []Event{ev('1', 0x01000000, 0x01000000+320), ev('2', 0x00100000, 0x00100000+320)}},
		{"different key on a reported timestamp is ignored", []step{
			pkt(10, 8000, true, "018a0140", 1),
			pkt(11, 8000, false, "028a0140", 0),
		}, []Event{ev('1', 8000, 8320)}},
		{"flush ends a key in progress", []step{
			pkt(10, 8000, true, "0f0a0140", 0),
			flush(1),
			flush(0),
			pkt(11, 8000, false, "0f8a01e0", 0),
		}, []Event{ev('D', 8000, 8320)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := run(t, NewEventDecoder(EventDecoderConfig{}), tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys\n got %v\nwant %v", got, tt.want)
			}
			// The early mode reports the same keys with the same Start.
			loose := slices.Clone(tt.steps)
			for i := range loose {
				loose[i].n = -1
			}
			early := run(t, NewEventDecoder(EventDecoderConfig{Early: true}), loose)
			if len(early) != len(got) {
				t.Fatalf("early mode: keys %v, normal %v", early, got)
			}
			for i := range got {
				if early[i].Key != got[i].Key || early[i].Start != got[i].Start {
					t.Errorf("early mode: keys %v, normal %v", early, got)
				}
			}
		})
	}
}

func TestEventDecoderErrors(t *testing.T) {
	d := NewEventDecoder(EventDecoderConfig{})
	evs, err := d.Decode(nil, 10, 8000, true, []byte{0x01, 0x0a, 0x00})
	if !errors.Is(err, ErrShortPayload) || len(evs) != 0 {
		t.Fatalf("3-byte payload: %v, %v; want ErrShortPayload", evs, err)
	}
	if _, err := d.Decode(nil, 10, 8000, true, nil); !errors.Is(err, ErrShortPayload) {
		t.Fatalf("empty payload: %v", err)
	}
	if _, err := d.Decode(nil, 10, 1<<62+1, true, []byte{1, 0x8a, 0, 0xa0}); !errors.Is(err, ErrTimestampRange) {
		t.Fatalf("huge timestamp: %v", err)
	}
	if *d != *NewEventDecoder(EventDecoderConfig{}) {
		t.Fatalf("errors changed the state: %+v", *d)
	}
	// The sequence number of a refused packet is not taken either: a
	// packet with an older one still counts as in order.
	evs, err = d.Decode(evs, 9, 8000, true, []byte{1, 0x8a, 0, 0xa0})
	if err != nil || !slices.Equal(evs, []Event{ev('1', 8000, 8160)}) {
		t.Fatalf("after errors: %v, %v", evs, err)
	}
}

func TestEventDecoderConfigTimeout(t *testing.T) {
	d := NewEventDecoder(EventDecoderConfig{Timeout: 800})
	evs, _ := d.Decode(nil, 1, 8000, true, []byte{1, 0x0a, 0, 0xa0})
	if evs = d.Advance(evs, 8160+800); len(evs) != 0 {
		t.Fatalf("ended at the timeout: %v", evs)
	}
	if evs = d.Advance(evs, 8160+801); !slices.Equal(evs, []Event{ev('1', 8000, 8160)}) {
		t.Fatalf("after the timeout: %v", evs)
	}
	var zero EventDecoder // the zero value uses the default timeout
	evs, _ = zero.Decode(evs[:0], 1, 8000, true, []byte{1, 0x0a, 0, 0xa0})
	if evs = zero.Advance(evs, 8160+DefaultEventTimeout); len(evs) != 0 {
		t.Fatalf("zero value ended early: %v", evs)
	}
	if evs = zero.Advance(evs, 8160+DefaultEventTimeout+1); len(evs) != 1 {
		t.Fatalf("zero value did not time out: %v", evs)
	}
}

func TestEventDecoderPendingAndReset(t *testing.T) {
	d := NewEventDecoder(EventDecoderConfig{})
	if _, ok := d.Pending(); ok {
		t.Fatal("pending before any packet")
	}
	d.Decode(nil, 1, 8000, true, []byte{0x0b, 0x0a, 0x01, 0x40})
	if p, ok := d.Pending(); !ok || p != ev('#', 8000, 8320) {
		t.Fatalf("Pending = %v, %v", p, ok)
	}
	d.Reset()
	if _, ok := d.Pending(); ok {
		t.Fatal("pending after Reset")
	}
	// After Reset the same timestamp is a new key (a new SSRC).
	evs, _ := d.Decode(nil, 1, 8000, true, []byte{0x0b, 0x8a, 0x01, 0x40})
	if len(evs) != 1 {
		t.Fatalf("after Reset: %v", evs)
	}
}

// TestEventRoundTrip: the packets GenerateEvent emits decode to exactly the
// key pressed, whatever the duration, interval and start (across a wrap).
func TestEventRoundTrip(t *testing.T) {
	durations := []int64{0, 1, 159, 160, 161, 800, 0xFFFF - 1, 0xFFFF, 0xFFFF + 1, 2 * 0xFFFF, 3*0xFFFF + 777}
	intervals := []int64{0, 80, 160, 400, 1000}
	starts := []uint32{0, 8000, 0xFFFFFFFF - 1000, 0xFFFFFFFF - 3*0xFFFF}
	var pkts []EventPacket
	var payload []byte
	for _, k := range Keys {
		for _, dur := range durations {
			for _, iv := range intervals {
				for _, st := range starts {
					cfg := EventGenConfig{Interval: iv}
					var err error
					pkts, err = GenerateEvent(pkts[:0], k, int64(st), dur, cfg)
					if err != nil {
						t.Fatal(err)
					}
					if n, _ := EventPacketCount(dur, cfg); n != len(pkts) {
						t.Fatalf("EventPacketCount(%d, %+v) = %d, generated %d", dur, cfg, n, len(pkts))
					}
					var clk Clock32
					d := NewEventDecoder(EventDecoderConfig{})
					var got []Event
					for i, p := range pkts {
						payload, _ = p.Payload.AppendTo(payload[:0])
						got, err = d.Decode(got, uint16(0xFFF0+i), clk.Extend(uint32(p.Timestamp)), p.Marker, payload)
						if err != nil {
							t.Fatal(err)
						}
						got = d.Advance(got, p.Time) // a sender paced in real time
					}
					got = d.Flush(got)
					want := []Event{ev(k, int64(st), int64(st)+dur)}
					if !slices.Equal(got, want) {
						t.Fatalf("key %s dur %d interval %d start %#x: got %v, want %v", k, dur, iv, st, got, want)
					}
				}
			}
		}
	}
}

func TestGenerateEventPackets(t *testing.T) {
	pkts, err := GenerateEvent(nil, '#', 1000, 500, EventGenConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	var got []string
	for _, p := range pkts {
		b, _ = p.Payload.AppendTo(b[:0])
		m := " "
		if p.Marker {
			m = "M"
		}
		got = append(got, m+hex.EncodeToString(b))
		if p.Timestamp != 1000 {
			t.Errorf("timestamp %d", p.Timestamp)
		}
	}
	want := []string{"M0b0a00a0", " 0b0a0140", " 0b0a01e0", " 0b8a01f4", " 0b8a01f4", " 0b8a01f4"}
	if !slices.Equal(got, want) {
		t.Fatalf("packets\n got %v\nwant %v", got, want)
	}
	if pkts[3].Time != 1500 || pkts[5].Time != 1500+320 {
		t.Errorf("END send times %d, %d", pkts[3].Time, pkts[5].Time)
	}
	if _, err := GenerateEvent(nil, 'x', 0, 160, EventGenConfig{}); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("invalid key: %v", err)
	}
	if _, err := GenerateEvent(nil, '1', 0, -1, EventGenConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative duration: %v", err)
	}
	if _, err := GenerateEvent(nil, '1', 0, 160, EventGenConfig{Interval: -5}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative interval: %v", err)
	}
	if _, err := GenerateEvent(nil, '1', 0, 160, EventGenConfig{Volume: 64}); !errors.Is(err, ErrVolumeRange) {
		t.Errorf("volume 64: %v", err)
	}
}

func TestEventPayloadMarshal(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		p    EventPayload
	}{
		{"digit 0 start", "000a00a0", EventPayload{Code: 0, Volume: 10, Duration: 160}},
		{"# end", "0b8a0320", EventPayload{Code: 11, End: true, Volume: 10, Duration: 800}},
		{"D max", "0fbfffff", EventPayload{Code: 15, End: true, Volume: 63, Duration: 0xFFFF}},
		{"flash", "10000000", EventPayload{Code: 16}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tt.hex)
			var p EventPayload
			if err := p.Unmarshal(b); err != nil || p != tt.p {
				t.Fatalf("Unmarshal(%s) = %+v, %v; want %+v", tt.hex, p, err, tt.p)
			}
			var out [4]byte
			if n, err := tt.p.MarshalTo(out[:]); err != nil || n != 4 || hex.EncodeToString(out[:]) != tt.hex {
				t.Fatalf("MarshalTo = %x, %d, %v; want %s", out, n, err, tt.hex)
			}
		})
	}
	var p EventPayload
	if err := p.Unmarshal([]byte{0x01, 0xca, 0x00, 0x10}); err != nil || p.Volume != 10 || !p.End {
		t.Errorf("reserved bit: %+v, %v", p, err)
	}
	if _, err := (EventPayload{}).MarshalTo(make([]byte, 3)); !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("short buffer: %v", err)
	}
	if _, err := (EventPayload{Volume: 64}).MarshalTo(make([]byte, 4)); !errors.Is(err, ErrVolumeRange) {
		t.Errorf("volume 64: %v", err)
	}
	b, err := AppendEventPayload([]byte{0xAA}, '*', true, 7, 0x1234)
	if err != nil || hex.EncodeToString(b) != "aa0a871234" {
		t.Errorf("AppendEventPayload = %x, %v", b, err)
	}
	if b, err := AppendEventPayload(nil, 'x', true, 7, 1); !errors.Is(err, ErrInvalidKey) || len(b) != 0 {
		t.Errorf("AppendEventPayload invalid key = %x, %v", b, err)
	}
}

func TestEventDecoderAllocs(t *testing.T) {
	d := NewEventDecoder(EventDecoderConfig{})
	dst := make([]Event, 0, 8)
	begin := []byte{0x0b, 0x0a, 0x00, 0xa0}
	end := []byte{0x0b, 0x8a, 0x01, 0x40}
	short := []byte{0x0b}
	ts := int64(0)
	var seq uint16
	allocs := testing.AllocsPerRun(1000, func() {
		ts += 1600
		seq++
		dst, _ = d.Decode(dst[:0], seq, ts, true, begin)
		seq++
		dst, _ = d.Decode(dst[:0], seq, ts, false, end)
		dst, _ = d.Decode(dst[:0], seq, ts, false, short)
		seq++
		dst, _ = d.Decode(dst[:0], seq, ts+800, true, begin)
		dst = d.Advance(dst[:0], ts+800+160+DefaultEventTimeout+1)
		dst = d.Flush(dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("Decode/Advance allocate %v times per run", allocs)
	}
}

func BenchmarkEventDecoder(b *testing.B) {
	d := NewEventDecoder(EventDecoderConfig{})
	dst := make([]Event, 0, 8)
	upd := []byte{0x0b, 0x0a, 0x00, 0xa0}
	end := []byte{0x0b, 0x8a, 0x03, 0x20}
	var seq uint16
	ts := int64(0)
	b.ReportAllocs()
	for b.Loop() {
		ts += 1600
		for range 4 {
			seq++
			dst, _ = d.Decode(dst[:0], seq, ts, false, upd)
		}
		for range 3 {
			seq++
			dst, _ = d.Decode(dst[:0], seq, ts, false, end)
		}
	}
}

// TestEventDecoderEarly: with Early, a key comes out with the first packet
// of its event that arrives (n = 1 on that step, 0 on every other), End
// being what that packet says; the rest of the event, END repeats, the
// timeout and Flush add nothing.
func TestEventDecoderEarly(t *testing.T) {
	tests := []struct {
		name  string
		steps []step
		want  []Event
	}{
		{"ordinary press: at the marker packet", []step{
			pkt(10, 8000, true, "0b0a00a0", 1),
			pkt(11, 8000, false, "0b0a0140", 0),
			pkt(12, 8000, false, "0b0a01e0", 0),
			pkt(13, 8000, false, "0b8a0280", 0),
			pkt(14, 8000, false, "0b8a0280", 0),
			pkt(15, 8000, false, "0b8a0280", 0),
			adv(20000, 0),
			flush(0),
		}, []Event{ev('#', 8000, 8160)}},
		{"first packets lost: at the first that arrives", []step{
			pkt(12, 8000, false, "0b0a01e0", 1),
			pkt(13, 8000, false, "0b8a0280", 0),
			pkt(11, 8000, false, "0b0a0140", 0), // late and reordered
			pkt(14, 8000, false, "0b8a0280", 0),
		}, []Event{ev('#', 8000, 8480)}},
		{"first packet duration 0", []step{
			pkt(10, 8000, true, "010a0000", 1),
			pkt(11, 8000, false, "010a00a0", 0),
			pkt(12, 8000, false, "018a0190", 0),
		}, []Event{ev('1', 8000, 8000)}},
		{"END packets only: at the first END, repeats ignored", []step{
			pkt(10, 8000, true, "0a8a0320", 1),
			pkt(11, 8000, false, "0a8a0320", 0),
			pkt(12, 8000, false, "0a8a0320", 0),
			pkt(13, 12000, true, "0b8a0320", 1),
			pkt(14, 12000, false, "0b8a0320", 0),
			pkt(15, 12000, false, "0b8a0320", 0),
		}, []Event{ev('*', 8000, 8800), ev('#', 12000, 12800)}},
		{"every END lost: the timeout and the late END add nothing", []step{
			pkt(10, 8000, true, "0b0a00a0", 1),
			pkt(11, 8000, false, "0b0a0140", 0),
			adv(8321+DefaultEventTimeout, 0),
			pkt(12, 8000, false, "0b8a0280", 0),
			flush(0),
		}, []Event{ev('#', 8000, 8160)}},
		{"every END lost: the next event is the next key", []step{
			pkt(10, 8000, true, "030a00a0", 1),
			pkt(11, 8000, false, "030a0140", 0),
			pkt(12, 9600, true, "040a00a0", 1),
			pkt(13, 9600, false, "048a0140", 0),
		}, []Event{ev('3', 8000, 8160), ev('4', 9600, 9760)}},
		{"two presses of the same key are two keys", []step{
			pkt(10, 8000, true, "050a00a0", 1),
			pkt(11, 8000, false, "058a0140", 0),
			pkt(12, 8000, false, "058a0140", 0),
			pkt(13, 8960, true, "050a00a0", 1),
			pkt(14, 8960, false, "058a0140", 0),
		}, []Event{ev('5', 8000, 8160), ev('5', 8960, 9120)}},
		{"a long press is one key across its segments", []step{
			pkt(10, 1000, true, "090a00a0", 1),
			pkt(11, 1000, false, "090affff", 0),
			pkt(12, 1000+0xFFFF, false, "090a00a0", 0),
			pkt(13, 1000+0xFFFF, false, "098a0140", 0),
			pkt(14, 1000+0xFFFF, false, "098a0140", 0),
		}, []Event{ev('9', 1000, 1160)}},
		{"a stale older event after a newer one", []step{
			pkt(11, 9600, true, "020a00a0", 1),
			pkt(10, 8000, true, "010a00a0", 0),
		}, []Event{ev('2', 9600, 9760)}},
		{"flush ends a key in progress without reporting it again", []step{
			pkt(10, 8000, true, "0f0a0140", 1),
			flush(0),
			pkt(11, 8000, false, "0f8a01e0", 0),
		}, []Event{ev('D', 8000, 8320)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := NewEventDecoder(EventDecoderConfig{Early: true})
			got := run(t, d, tt.steps)
			if !slices.Equal(got, tt.want) {
				t.Errorf("keys\n got %v\nwant %v", got, tt.want)
			}
			d.Reset() // keeps the mode: the same packets give the same keys
			if again := run(t, d, tt.steps); !slices.Equal(again, tt.want) {
				t.Errorf("after Reset: keys %v", again)
			}
		})
	}
}

func TestEventDecoderEarlyAllocs(t *testing.T) {
	d := NewEventDecoder(EventDecoderConfig{Early: true})
	dst := make([]Event, 0, 8)
	begin := []byte{0x0b, 0x0a, 0x00, 0xa0}
	end := []byte{0x0b, 0x8a, 0x01, 0x40}
	ts := int64(0)
	var seq uint16
	keys := 0
	allocs := testing.AllocsPerRun(1000, func() {
		ts += 1600
		seq++
		dst, _ = d.Decode(dst[:0], seq, ts, true, begin)
		keys += len(dst)
		seq++
		dst, _ = d.Decode(dst[:0], seq, ts, false, end)
		dst = d.Advance(dst[:0], ts+800+160+DefaultEventTimeout+1)
		dst = d.Flush(dst[:0])
	})
	if allocs != 0 {
		t.Fatalf("Decode/Advance allocate %v times per run", allocs)
	}
	if keys == 0 {
		t.Fatal("no key")
	}
}
