package mediatest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"testing"
	"time"

	"denwa/dtmf"

	"github.com/pion/rtp"
	"github.com/zaf/g711"
)

var (
	src4 = netip.MustParseAddrPort("127.0.0.1:16004")
	dst4 = netip.MustParseAddrPort("127.0.0.1:16000")
	src6 = netip.MustParseAddrPort("[::1]:16004")
	dst6 = netip.MustParseAddrPort("[::1]:16000")
)

func mustPackets(t *testing.T, s Stream) []Packet {
	t.Helper()
	ps, err := s.Packets()
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func unmarshal(t *testing.T, p Packet) *rtp.Packet {
	t.Helper()
	var r rtp.Packet
	if err := r.Unmarshal(p.Payload); err != nil {
		t.Fatalf("packet at %v: %v", p.At, err)
	}
	return &r
}

type ev struct {
	code  uint8
	end   bool
	vol   uint8
	dur   uint16
	seq   uint16
	ts    uint32
	mark  bool
	at    time.Duration
	audio bool
}

func events(t *testing.T, ps []Packet, evPT uint8) (evs []ev, audio int) {
	t.Helper()
	for _, p := range ps {
		r := unmarshal(t, p)
		if r.PayloadType != evPT {
			audio++
			continue
		}
		if len(r.Payload) != 4 {
			t.Fatalf("event payload %x", r.Payload)
		}
		evs = append(evs, ev{
			code: r.Payload[0], end: r.Payload[1]&0x80 != 0, vol: r.Payload[1] & 0x3F,
			dur: uint16(r.Payload[2])<<8 | uint16(r.Payload[3]),
			seq: r.SequenceNumber, ts: r.Timestamp, mark: r.Marker, at: p.At,
		})
	}
	return evs, audio
}

func TestStreamRFC4733(t *testing.T) {
	s := Stream{
		SSRC: 0x11223344, Src: src4, Dst: dst4, AudioPT: PCMU,
		Seq: 1000, Timestamp: 50000, Start: 5 * time.Millisecond,
		Presses: []Press{{Key: '#', At: 200 * time.Millisecond, Dur: 100 * time.Millisecond}},
	}
	ps := mustPackets(t, s)
	// 600 ms: 30 frames; 5 of them carry the event instead of audio.
	evs, audio := events(t, ps, 101)
	if audio != 25 || len(evs) != 7 {
		t.Fatalf("audio %d events %d, want 25 and 7", audio, len(evs))
	}
	for i, e := range evs {
		if e.code != 11 || e.ts != 50000+10*160 || e.vol != 10 {
			t.Errorf("event %d: %+v", i, e)
		}
		if want := i == 0; e.mark != want {
			t.Errorf("event %d marker %v", i, e.mark)
		}
		wantDur := uint16(min(i+1, 5) * 160)
		if e.dur != wantDur || e.end != (i >= 4) {
			t.Errorf("event %d: duration %d end %v, want %d %v", i, e.dur, e.end, wantDur, i >= 4)
		}
		wantAt := s.Start + time.Duration(10+min(i, 4))*20*time.Millisecond
		if e.at != wantAt {
			t.Errorf("event %d arrives at %v, want %v", i, e.at, wantAt)
		}
	}
	// Sequence numbers run on without gaps across audio and events; the
	// three ENDs have consecutive numbers.
	for i, p := range ps {
		r := unmarshal(t, p)
		if r.SequenceNumber != uint16(1000+i) || r.SSRC != 0x11223344 || r.Version != 2 {
			t.Fatalf("packet %d: seq %d ssrc %x", i, r.SequenceNumber, r.SSRC)
		}
		if r.PayloadType == PCMU {
			if len(r.Payload) != 160 || r.Marker {
				t.Fatalf("audio packet %d: %d bytes marker %v", i, len(r.Payload), r.Marker)
			}
			if !bytes.Equal(r.Payload, bytes.Repeat([]byte{0xFF}, 160)) {
				t.Fatalf("audio packet %d is not μ-law silence", i)
			}
			frame := (p.At - s.Start) / (20 * time.Millisecond)
			if r.Timestamp != 50000+uint32(frame)*160 || (p.At-s.Start)%(20*time.Millisecond) != 0 {
				t.Fatalf("audio packet %d at %v has timestamp %d", i, p.At, r.Timestamp)
			}
		}
		if p.Src != src4 || p.Dst != dst4 {
			t.Fatalf("addresses %v -> %v", p.Src, p.Dst)
		}
	}
}

func TestEventQuirks(t *testing.T) {
	base := func(q EventQuirks) Stream {
		return Stream{
			Src: src4, Dst: dst4, AudioPT: PCMA, EventPT: 96, NoAudio: true,
			Presses: []Press{{Key: '5', At: 40 * time.Millisecond, Dur: 60 * time.Millisecond, Quirks: q}},
		}
	}
	cases := []struct {
		name string
		q    EventQuirks
		want []ev // code 5 throughout; ts 320
	}{
		{"default", EventQuirks{}, []ev{
			{dur: 160, mark: true, seq: 0}, {dur: 320, seq: 1},
			{dur: 480, end: true, seq: 2}, {dur: 480, end: true, seq: 3}, {dur: 480, end: true, seq: 4},
		}},
		{"sipp same seq", EventQuirks{EndSameSeq: true}, []ev{
			{dur: 160, mark: true, seq: 0}, {dur: 320, seq: 1},
			{dur: 480, end: true, seq: 2}, {dur: 480, end: true, seq: 2}, {dur: 480, end: true, seq: 2},
		}},
		{"end only once", EventQuirks{EndOnly: true, EndRepeats: 1}, []ev{{dur: 480, end: true, mark: true, seq: 0}}},
		{"no marker, zero duration", EventQuirks{NoMarker: true, ZeroDuration: true, EndRepeats: 2}, []ev{
			{seq: 0}, {seq: 1}, {end: true, seq: 2}, {end: true, seq: 3},
		}},
		{"lost ends", EventQuirks{LoseEnd: true}, []ev{{dur: 160, mark: true, seq: 0}, {dur: 320, seq: 1}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, audio := events(t, mustPackets(t, base(c.q)), 96)
			if audio != 0 {
				t.Errorf("%d audio packets in an events-only stream", audio)
			}
			if len(evs) != len(c.want) {
				t.Fatalf("got %d events, want %d: %+v", len(evs), len(c.want), evs)
			}
			for i, w := range c.want {
				g := evs[i]
				if g.code != 5 || g.ts != 320 || g.dur != w.dur || g.end != w.end || g.mark != w.mark || g.seq != w.seq {
					t.Errorf("event %d: got %+v, want %+v", i, g, w)
				}
			}
		})
	}
}

// goertzel returns the amplitude of frequency f in x.
func goertzel(x []float64, f float64) float64 {
	w := 2 * math.Pi * f / SampleRate
	c := 2 * math.Cos(w)
	var s1, s2 float64
	for _, v := range x {
		s1, s2 = v+c*s1-s2, s1
	}
	p := s1*s1 + s2*s2 - c*s1*s2
	return 2 * math.Sqrt(p) / float64(len(x))
}

func TestInbandTones(t *testing.T) {
	for _, pt := range []uint8{PCMU, PCMA} {
		for _, k := range dtmf.Keys {
			s := Stream{Src: src4, Dst: dst4, AudioPT: pt, Presses: []Press{{Key: k, At: 100 * time.Millisecond, Dur: 200 * time.Millisecond, Mode: Inband}}}
			ps := mustPackets(t, s)
			if len(ps) != 30 {
				t.Fatalf("%d packets", len(ps))
			}
			var x []float64
			for _, p := range ps[5:15] { // the press: 100–300 ms
				r := unmarshal(t, p)
				for _, b := range r.Payload {
					if pt == PCMU {
						x = append(x, float64(g711.DecodeUlawFrame(b)))
					} else {
						x = append(x, float64(g711.DecodeAlawFrame(b)))
					}
				}
			}
			lo, hi, _ := Freqs(k)
			want := Amplitude(DefaultLevel)
			for _, f := range []float64{lo, hi} {
				if a := goertzel(x, f); math.Abs(a-want) > want*0.05 {
					t.Errorf("pt %d key %c: %v Hz amplitude %.0f, want %.0f (−10 dBm0)", pt, k, f, a, want)
				}
			}
			for _, f := range append(LowFreqs[:], HighFreqs[:]...) {
				if f != lo && f != hi {
					if a := goertzel(x, f); a > want*0.05 {
						t.Errorf("pt %d key %c: %v Hz has amplitude %.0f", pt, k, f, a)
					}
				}
			}
			if r := unmarshal(t, ps[4]); r.Payload[0] != Silence(pt) || r.Payload[159] != Silence(pt) {
				t.Errorf("pt %d: frame before the press is not silence", pt)
			}
		}
	}
}

func TestBothWaysKeepsAudio(t *testing.T) {
	s := Stream{Src: src4, Dst: dst4, AudioPT: PCMU, Presses: []Press{{Key: '1', At: 100 * time.Millisecond, Mode: Both}}}
	evs, audio := events(t, mustPackets(t, s), 101)
	if audio != 25 || len(evs) != 7 {
		t.Fatalf("audio %d events %d, want 25 and 7", audio, len(evs))
	}
}

func TestWrap(t *testing.T) {
	s := Stream{
		Src: src4, Dst: dst4, AudioPT: PCMU, Seq: 65530, Timestamp: math.MaxUint32 - 799,
		Presses: []Press{{Key: '9', At: 60 * time.Millisecond}},
	}
	ps := mustPackets(t, s)
	var prev *rtp.Packet
	for i, p := range ps {
		r := unmarshal(t, p)
		if prev != nil && r.SequenceNumber != prev.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, r.SequenceNumber, prev.SequenceNumber)
		}
		prev = r
	}
	if r := unmarshal(t, ps[len(ps)-1]); r.Timestamp != uint32(22*160-800) || r.SequenceNumber != uint16(65530+len(ps)-1) {
		t.Errorf("last packet: seq %d ts %d", r.SequenceNumber, r.Timestamp)
	}
	if evs, _ := events(t, ps, 101); evs[0].ts != math.MaxUint32-799+3*160 {
		t.Errorf("event timestamp %d", evs[0].ts)
	}
}

func TestNetwork(t *testing.T) {
	s := Stream{Src: src4, Dst: dst4, AudioPT: PCMU, Duration: 2 * time.Second,
		Net: Network{Seed: 7, Loss: 0.1, Jitter: 45 * time.Millisecond}}
	a, b := mustPackets(t, s), mustPackets(t, s)
	if len(a) != len(b) || len(a) >= 100 || len(a) < 70 {
		t.Fatalf("lost to %d and %d packets of 100", len(a), len(b))
	}
	reordered := false
	for i := range a {
		if a[i].At != b[i].At || !bytes.Equal(a[i].Payload, b[i].Payload) {
			t.Fatal("not deterministic")
		}
		if i > 0 && a[i].At < a[i-1].At {
			t.Fatal("not in arrival order")
		}
		if i > 0 && unmarshal(t, a[i]).SequenceNumber < unmarshal(t, a[i-1]).SequenceNumber {
			reordered = true
		}
	}
	if !reordered {
		t.Error("45 ms of jitter reordered nothing")
	}

	s.Net = Network{Burst: 100 * time.Millisecond, BurstEvery: 500 * time.Millisecond,
		Drop: func(h *rtp.Header, _ []byte) bool { return h.SequenceNumber%10 == 3 }}
	ps := mustPackets(t, s)
	if len(ps) != 90 {
		t.Fatalf("Drop kept %d packets, want 90", len(ps))
	}
	for _, p := range ps {
		if phase := p.At % (500 * time.Millisecond); phase > 0 && phase < 100*time.Millisecond {
			t.Fatalf("packet arrives at %v, inside a burst hold", p.At)
		}
	}
	if ps[0].At != 100*time.Millisecond || ps[4].At != 100*time.Millisecond {
		t.Errorf("burst: first packets at %v, %v", ps[0].At, ps[4].At)
	}
}

func TestValidate(t *testing.T) {
	ok := Stream{Src: src4, Dst: dst4}
	cases := map[string]struct {
		s    Stream
		want error
	}{
		"ok":            {ok, nil},
		"g722":          {Stream{Src: src4, Dst: dst4, AudioPT: 9}, ErrBadStream},
		"mixed family":  {Stream{Src: src4, Dst: dst6}, ErrBadStream},
		"ptime 12.5ms":  {Stream{Src: src4, Dst: dst4, Ptime: 12500 * time.Microsecond}, ErrBadStream},
		"bad key":       {Stream{Src: src4, Dst: dst4, Presses: []Press{{Key: 'x'}}}, ErrBadPress},
		"overlap":       {Stream{Src: src4, Dst: dst4, Presses: []Press{{Key: '1'}, {Key: '2', At: 50 * time.Millisecond}}}, ErrBadPress},
		"event overlap": {Stream{Src: src4, Dst: dst4, Presses: []Press{{Key: '1', Dur: 90 * time.Millisecond}, {Key: '2', At: 95 * time.Millisecond}}}, ErrBadPress},
		"too short":     {Stream{Src: src4, Dst: dst4, Duration: time.Second, Presses: []Press{{Key: '1', At: time.Second}}}, ErrBadStream},
	}
	for name, c := range cases {
		if err := c.s.Validate(); !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", name, err, c.want)
		}
	}
}

// TestCaptureRoundTrip writes two calls with SIP in every format, link type
// and address family, and reads them back with pcapgo and pion/rtp.
func TestCaptureRoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, f := range []Format{PCAP, PCAPNG} {
			for _, l := range []Link{Ethernet, LinuxSLL, Raw} {
				t.Run(fmt.Sprintf("%v/%v/v6=%v", f, l, v6), func(t *testing.T) {
					a, b := src4, dst4
					if v6 {
						a, b = src6, dst6
					}
					c := Capture{SIP: true, Streams: []Stream{
						{SSRC: 1, Src: a, Dst: b, AudioPT: PCMU, Start: 100 * time.Millisecond,
							Presses: []Press{{Key: '#', At: 100 * time.Millisecond}}},
						{SSRC: 2, Src: netip.AddrPortFrom(a.Addr(), 16010), Dst: netip.AddrPortFrom(b.Addr(), 16012),
							AudioPT: PCMA, EventPT: 96, Start: 137 * time.Millisecond,
							Presses: []Press{{Key: '*', At: 60 * time.Millisecond, Mode: Inband}, {Key: '0', At: 300 * time.Millisecond}}},
					}}
					want, err := c.Packets()
					if err != nil {
						t.Fatal(err)
					}
					var buf bytes.Buffer
					if err := c.WriteTo(&buf, CaptureOptions{Format: f, Link: l}); err != nil {
						t.Fatal(err)
					}
					got, err := ReadCapture(&buf)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(want) {
						t.Fatalf("read %d packets, wrote %d", len(got), len(want))
					}
					var sip, rtpN, events int
					for i := range want {
						g, w := got[i], want[i]
						if g.At != w.At || g.Src != w.Src || g.Dst != w.Dst || !bytes.Equal(g.Payload, w.Payload) {
							t.Fatalf("packet %d: got %v %v->%v %d bytes, want %v %v->%v %d bytes",
								i, g.At, g.Src, g.Dst, len(g.Payload), w.At, w.Src, w.Dst, len(w.Payload))
						}
						if bytes.HasPrefix(g.Payload, []byte("INVITE ")) || bytes.HasPrefix(g.Payload, []byte("SIP/2.0 200")) {
							sip++
							continue
						}
						r := unmarshal(t, g)
						rtpN++
						if r.PayloadType == 101 || r.PayloadType == 96 {
							events++
						}
					}
					// Stream 1: 500 ms = 25 frames, 5 replaced by 7 events.
					// Stream 2: 700 ms = 35 frames, 5 replaced by 7 events.
					if sip != 4 || rtpN != 20+7+30+7 || events != 14 {
						t.Errorf("sip %d rtp %d events %d", sip, rtpN, events)
					}
					if !bytes.Contains(got[0].Payload, []byte("a=rtpmap:101 telephone-event/8000")) {
						t.Errorf("first packet is not the INVITE with SDP:\n%s", got[0].Payload)
					}
					if c.Digits() != "#\n*0\n" {
						t.Errorf("digits %q", c.Digits())
					}
				})
			}
		}
	}
}

func TestWriteStreamsMatchesCapture(t *testing.T) {
	streams := LoadStreams(7, 3*time.Second, 3, 42)
	var a, b bytes.Buffer
	n, err := WriteStreams(&a, CaptureOptions{Format: PCAPNG, Link: LinuxSLL}, streams)
	if err != nil {
		t.Fatal(err)
	}
	if err := (Capture{Streams: streams}).WriteTo(&b, CaptureOptions{Format: PCAPNG, Link: LinuxSLL}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("WriteStreams and Capture.WriteTo differ")
	}
	pkts, err := ReadCapture(&a)
	if err != nil || len(pkts) != n {
		t.Fatalf("read %d of %d packets: %v", len(pkts), n, err)
	}
	seen := map[uint32]bool{}
	var order []uint32
	for _, p := range pkts {
		r := unmarshal(t, p)
		if !seen[r.SSRC] {
			seen[r.SSRC] = true
			order = append(order, r.SSRC)
		}
	}
	for i, s := range streams {
		if order[i] != s.SSRC {
			t.Fatalf("stream %d first appears at position %d", i, slicesIndex(order, s.SSRC))
		}
	}
	if _, err := WriteStreams(io.Discard, CaptureOptions{}, []Stream{{Src: src4, Dst: dst4, Net: Network{Jitter: time.Millisecond}}}); !errors.Is(err, ErrBadStream) {
		t.Errorf("jitter accepted: %v", err)
	}
}

func slicesIndex(s []uint32, v uint32) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestLoadStreams(t *testing.T) {
	streams := LoadStreams(100, 60*time.Second, 4, 1)
	c := Capture{Streams: streams}
	sent := c.Sent()
	if len(sent) != 400 {
		t.Fatalf("%d presses", len(sent))
	}
	modes := map[Mode]int{}
	for _, s := range sent {
		modes[s.Mode]++
	}
	if modes[RFC4733] == 0 || modes[Inband] == 0 || modes[Both] == 0 {
		t.Errorf("modes %v", modes)
	}
	for i, s := range streams {
		if err := s.Validate(); err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
	}
}

// BenchmarkWriteStreams writes the big capture of the media benchmarks:
// 100 streams × 60 s, about 300,000 packets.
func BenchmarkWriteStreams(b *testing.B) {
	streams := LoadStreams(100, 60*time.Second, 4, 1)
	var cw countingWriter
	b.ReportAllocs()
	var n int
	for b.Loop() {
		cw = 0
		var err error
		n, err = WriteStreams(&cw, CaptureOptions{}, streams)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n), "packets/op")
	b.ReportMetric(float64(cw)/1e6, "MB/op")
}

type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}

func TestEncodeTo(t *testing.T) {
	src := []int16{0, 1000, -1000, 32767}
	dst := make([]byte, 4)
	if n, err := EncodeTo(dst[:3], src, PCMU); n != 0 || !errors.Is(err, io.ErrShortBuffer) {
		t.Errorf("short buffer: %d, %v", n, err)
	}
	for _, pt := range []uint8{PCMU, PCMA} {
		if n, err := EncodeTo(dst, src, pt); n != 4 || err != nil || dst[0] != Silence(pt) {
			t.Errorf("pt %d: %d, %v, % x", pt, n, err, dst)
		}
	}
	if a := testing.AllocsPerRun(100, func() { _, _ = EncodeTo(dst, src, PCMA) }); a != 0 {
		t.Errorf("EncodeTo allocates %v times", a)
	}
}
