package dtmf

import (
	"errors"
	"reflect"
	"testing"
)

// Fuzz input for FuzzEventDecoder: records of fuzzRecordLen bytes,
//
//	flags | seq (2, big-endian) | RTP timestamp (4, big-endian) | payload (4)
//
// flags bit 0 is the marker bit; bits 1–2 choose the call: 0 or 1 Decode,
// 2 Advance (now = the timestamp, extended), 3 Flush; bits 4–5, when bit 3
// is set, cut the payload to 0–3 bytes (a short payload).
const fuzzRecordLen = 11

func encodeFuzzRecord(b []byte, flags byte, seq uint16, ts uint32, payload [4]byte) []byte {
	return append(b, flags, byte(seq>>8), byte(seq), byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts),
		payload[0], payload[1], payload[2], payload[3])
}

// fuzzSeeds: an ordinary press, a segmented long press, END-only keys
// across a timestamp wrap, a lost END ended by Advance, reordering.
func fuzzSeeds() [][]byte {
	var seeds [][]byte
	gen := func(b []byte, key Key, start uint32, dur int64, seq0 uint16) []byte {
		pkts, _ := GenerateEvent(nil, key, int64(start), dur, EventGenConfig{})
		for i, p := range pkts {
			var pl [4]byte
			p.Payload.MarshalTo(pl[:])
			var fl byte
			if p.Marker {
				fl = 1
			}
			b = encodeFuzzRecord(b, fl, seq0+uint16(i), uint32(p.Timestamp), pl)
		}
		return b
	}
	seeds = append(seeds, gen(nil, '#', 8000, 800, 100))
	seeds = append(seeds, gen(nil, '5', 1000, 2*0xFFFF+500, 65500))
	var b []byte
	b = encodeFuzzRecord(b, 1, 1, 0xFFFFFF00, [4]byte{0x0a, 0x8a, 0x03, 0x20})
	b = encodeFuzzRecord(b, 0, 2, 0xFFFFFF00, [4]byte{0x0a, 0x8a, 0x03, 0x20})
	b = encodeFuzzRecord(b, 1, 3, 0x00000400, [4]byte{0x0b, 0x8a, 0x03, 0x20})
	b = encodeFuzzRecord(b, 0, 4, 0x00000400, [4]byte{0x0b, 0x8a, 0x03, 0x20})
	seeds = append(seeds, b)
	b = nil
	b = encodeFuzzRecord(b, 1, 7, 8000, [4]byte{0x01, 0x0a, 0x00, 0xa0})
	b = encodeFuzzRecord(b, 4, 0, 8000+160+DefaultEventTimeout+1, [4]byte{})
	b = encodeFuzzRecord(b, 0, 8, 8000, [4]byte{0x01, 0x8a, 0x01, 0x40})
	b = encodeFuzzRecord(b, 0x18, 9, 9000, [4]byte{0x01, 0x8a, 0x01, 0x40})
	b = encodeFuzzRecord(b, 1, 11, 9600, [4]byte{0x10, 0x8a, 0x01, 0x40})
	b = encodeFuzzRecord(b, 1, 10, 9600, [4]byte{0x02, 0x0a, 0x00, 0x00})
	b = encodeFuzzRecord(b, 6, 0, 0, [4]byte{})
	seeds = append(seeds, b)
	return seeds
}

// FuzzEventDecoder drives one decoder with arbitrary packets, Advance and
// Flush calls. It never panics; every key is valid with End ≥ Start; each
// call appends no more keys than it may; refused packets leave the state
// unchanged; and no more keys come out than DTMF packets went in.
//
// A second decoder in early mode takes the same calls. It reports keys only
// from Decode, at most one per packet, and in all exactly the keys of the
// first (key and Start, in order), each no later than the first reports
// it and with an End no later than the first's.
func FuzzEventDecoder(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d EventDecoder
		early := NewEventDecoder(EventDecoderConfig{Early: true})
		var clk Clock32
		dst := make([]Event, 0, 4)
		var packets int
		// Every key reported, and the call that reported it.
		type reported struct {
			Event
			call int
		}
		var all, eall []reported
		calls := 0
		add := func(to *[]reported, evs []Event) {
			for _, e := range evs {
				*to = append(*to, reported{e, calls})
			}
		}
		for ; len(data) >= fuzzRecordLen; data = data[fuzzRecordLen:] {
			r := data[:fuzzRecordLen]
			flags, seq := r[0], uint16(r[1])<<8|uint16(r[2])
			ts32 := uint32(r[3])<<24 | uint32(r[4])<<16 | uint32(r[5])<<8 | uint32(r[6])
			payload := r[7:11]
			if flags&8 != 0 {
				payload = payload[:flags>>4&3]
			}
			var limit, elimit int
			var edst []Event
			switch flags >> 1 & 3 {
			case 0, 1:
				before := d
				ts := clk.Extend(ts32)
				var err, eerr error
				dst, err = d.Decode(dst[:0], seq, ts, flags&1 != 0, payload)
				edst, eerr = early.Decode(nil, seq, ts, flags&1 != 0, payload)
				limit, elimit = 2, 1
				if err != nil {
					if !errors.Is(err, ErrShortPayload) || len(payload) >= EventPayloadLen {
						t.Fatalf("Decode(%x): unexpected error %v", payload, err)
					}
					if d != before {
						t.Fatalf("refused packet changed the state:\n%+v\n%+v", before, d)
					}
				} else if payload[0] < 16 {
					packets++
				}
				if eerr != err {
					t.Fatalf("Decode(%x): early mode error %v, normal %v", payload, eerr, err)
				}
			case 2:
				c := clk
				now := c.Extend(ts32)
				dst = d.Advance(dst[:0], now)
				edst = early.Advance(nil, now)
				limit = 1
			case 3:
				dst = d.Flush(dst[:0])
				edst = early.Flush(nil)
				limit = 1
			}
			if len(dst) > limit || len(edst) > elimit {
				t.Fatalf("one call appended %d keys: %v (early mode: %v)", len(dst), dst, edst)
			}
			for _, e := range dst {
				if !e.Key.Valid() || e.Source != SourceRFC4733 || e.End < e.Start {
					t.Fatalf("bad key %v", e)
				}
			}
			add(&all, dst)
			add(&eall, edst)
			calls++
		}
		add(&all, d.Flush(dst[:0]))
		add(&eall, early.Flush(nil))
		if len(all) > packets {
			t.Fatalf("%d keys from %d DTMF packets", len(all), packets)
		}
		if len(eall) != len(all) {
			t.Fatalf("early mode: %d keys %v, normal %d %v", len(eall), eall, len(all), all)
		}
		for i, n := range all {
			e := eall[i]
			if e.Key != n.Key || e.Start != n.Start || e.End < e.Start || e.End > n.End || e.call > n.call {
				t.Fatalf("key %d: early %v (call %d), normal %v (call %d)", i, e.Event, e.call, n.Event, n.call)
			}
		}
	})
}

// FuzzEventRoundTrip generates one press, loses and reorders its packets
// as the fuzzer says, and decodes them. Without loss the key comes back
// exactly. With loss, a press of one segment still gives at most one key,
// starting at the press; its End is exact when an END packet survived.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add(uint8(11), uint32(8000), uint32(800), uint16(160), []byte{})
	f.Add(uint8(5), uint32(0xFFFFF000), uint32(0x2FFFF), uint16(400), []byte{})
	f.Add(uint8(1), uint32(0), uint32(1000), uint16(160), []byte{0x81, 0x02, 0x83})
	f.Fuzz(func(t *testing.T, code uint8, start, dur uint32, interval uint16, edits []byte) {
		key, ok := KeyFromCode(code)
		if !ok || interval == 0 {
			return
		}
		duration := int64(dur % (4 * 0xFFFF))
		pkts, err := GenerateEvent(nil, key, int64(start), duration, EventGenConfig{Interval: int64(interval)})
		if err != nil {
			t.Fatal(err)
		}
		// Each edit byte: top bit set drops packet i, else swaps it with
		// the next one (i = the low 7 bits, modulo the count).
		lossy := false
		for _, e := range edits {
			if len(pkts) < 2 {
				break
			}
			i := int(e&0x7F) % len(pkts)
			if e&0x80 != 0 {
				pkts = append(pkts[:i], pkts[i+1:]...)
				lossy = true
			} else if i+1 < len(pkts) {
				pkts[i], pkts[i+1] = pkts[i+1], pkts[i]
				lossy = lossy || pkts[i].Payload != pkts[i+1].Payload
			}
		}
		var clk Clock32
		var d EventDecoder
		early := NewEventDecoder(EventDecoderConfig{Early: true})
		var got, egot []Event
		sawEnd := false
		firstAt := -1 // the packet the early decoder reported the key at
		for i, p := range pkts {
			var pl [4]byte
			p.Payload.MarshalTo(pl[:])
			ts := clk.Extend(uint32(p.Timestamp))
			got, err = d.Decode(got, uint16(i), ts, p.Marker, pl[:])
			if err != nil {
				t.Fatal(err)
			}
			n := len(egot)
			if egot, err = early.Decode(egot, uint16(i), ts, p.Marker, pl[:]); err != nil {
				t.Fatal(err)
			}
			if len(egot) > n && firstAt < 0 {
				firstAt = i
			}
			sawEnd = sawEnd || p.Payload.End
		}
		got = d.Flush(got)
		egot = early.Flush(egot)
		want := ev(key, int64(start), int64(start)+duration)
		// Early mode: the same keys, each reported by the first packet
		// that arrived of its event, with that packet's duration.
		if len(egot) != len(got) {
			t.Fatalf("early mode: got %v, normal %v", egot, got)
		}
		for i := range got {
			if egot[i].Key != got[i].Key || egot[i].Start != got[i].Start {
				t.Fatalf("early mode: got %v, normal %v", egot, got)
			}
		}
		if !lossy && (firstAt != 0 || egot[0].End != egot[0].Start+int64(pkts[0].Payload.Duration)) {
			t.Fatalf("early mode: %v at packet %d, want it at packet 0 %+v", egot, firstAt, pkts[0])
		}
		if !lossy {
			if len(got) != 1 || got[0] != want {
				t.Fatalf("got %v, want %v", got, want)
			}
			return
		}
		if duration > MaxSegmentDuration {
			return
		}
		if len(got) != 1 || got[0].Start != want.Start || got[0].End > want.End || got[0].Key != key {
			t.Fatalf("lossy: got %v, want one key within %v", got, want)
		}
		if sawEnd && got[0].End != want.End {
			t.Fatalf("lossy with an END: got %v, want %v", got, want)
		}
	})
}

// TestEventDecoderFixedSize: the decoder's state holds no slice, map,
// pointer or other growing storage, so its memory is O(1) per stream.
func TestEventDecoderFixedSize(t *testing.T) {
	typ := reflect.TypeFor[EventDecoder]()
	for i := range typ.NumField() {
		switch k := typ.Field(i).Type.Kind(); k {
		case reflect.Bool, reflect.Int64, reflect.Uint16, reflect.Uint8:
		default:
			t.Errorf("field %s is a %s", typ.Field(i).Name, k)
		}
	}
}
