package media

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media/mediatest"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.NewReplacer(" ", "", "\n", "", "\t", "").Replace(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ulawSilence is 20 ms of μ-law silence.
var ulawSilence = func() []byte {
	b := make([]byte, 160)
	for i := range b {
		b[i] = 0xFF
	}
	return b
}()

type keyRecorder struct{ keys []Key }

func (k *keyRecorder) HandleKey(key Key) { k.keys = append(k.keys, key) }

func (k *keyRecorder) String() string {
	var b strings.Builder
	for _, key := range k.keys {
		b.WriteString(key.Key.String())
	}
	return b.String()
}

func newTestReceiver(t testing.TB, cfg ReceiverConfig) (*Receiver, *keyRecorder) {
	t.Helper()
	rec := &keyRecorder{}
	r, err := NewReceiver(cfg, rec)
	if err != nil {
		t.Fatal(err)
	}
	return r, rec
}

func TestHandlePacketParse(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		err  error
		want StreamStats
	}{
		{"PCMU 4 samples", "80 00 0001 00000010 11223344  ff ff ff ff", nil, StreamStats{Packets: 1, Bytes: 4, Audio: 1, Depth: 40 * time.Millisecond}},
		{"PCMA with marker", "80 88 0001 00000010 11223344  d5 d5", nil, StreamStats{Packets: 1, Bytes: 2, Audio: 1, Depth: 40 * time.Millisecond}},
		{"PCMU with 2 CSRCs", "82 00 0001 00000010 11223344 00000001 00000002  ff ff", nil, StreamStats{Packets: 1, Bytes: 2, Audio: 1, Depth: 40 * time.Millisecond}},
		{"PCMU with one-byte extension", "90 00 0001 00000010 11223344 bede0001 10aa0000  ff ff ff", nil, StreamStats{Packets: 1, Bytes: 3, Audio: 1, Depth: 40 * time.Millisecond}},
		{"PCMU with 3 padding bytes", "a0 00 0001 00000010 11223344  ff ff 00 00 03", nil, StreamStats{Packets: 1, Bytes: 2, Audio: 1, Depth: 40 * time.Millisecond}},
		{"event on 101 (SDP)", "80 e5 0001 00000010 11223344  0b 0a 00a0", nil, StreamStats{Packets: 1, Bytes: 4, Events: 1}},
		{"event guessed on 96", "80 60 0001 00000010 11223344  0b 8a 0320", nil, StreamStats{Packets: 1, Bytes: 4, Events: 1, Guessed: 1}},
		{"comfort noise ignored", "80 0d 0001 00000010 11223344  40", nil, StreamStats{Packets: 1, Bytes: 1, Ignored: 1}},
		{"dynamic PT with audio-sized payload ignored", "80 61 0001 00000010 11223344" + strings.Repeat("00", 20), nil, StreamStats{Packets: 1, Bytes: 20, Ignored: 1}},
		{"empty PCMU is bad", "80 00 0001 00000010 11223344", nil, StreamStats{Packets: 1, Bad: 1}},
		{"short event is bad", "80 e5 0001 00000010 11223344  0b 0a", dtmf.ErrShortPayload, StreamStats{Packets: 1, Bytes: 2, Bad: 1}},

		{"version 1", "40 00 0001 00000010 11223344  ff", ErrNotRTP, StreamStats{}},
		{"version 0 (STUN)", "00 01 0000 2112a442 00000000 00000000 00000000", ErrNotRTP, StreamStats{}},
		{"11 bytes", "80 00 0001 00000010 112233", ErrNotRTP, StreamStats{}},
		{"CSRC count beyond the packet", "8f 00 0001 00000010 11223344 00000001", ErrNotRTP, StreamStats{}},
		{"extension beyond the packet", "90 00 0001 00000010 11223344 bede0004 10aa0000", ErrNotRTP, StreamStats{}},
		{"padding longer than the payload", "a0 00 0001 00000010 11223344  ff 09", ErrNotRTP, StreamStats{}},
		{"padding of zero", "a0 00 0001 00000010 11223344  ff 00", ErrNotRTP, StreamStats{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pts := DefaultPayloadTypes()
			pts[101] = KindTelephoneEvent
			r, _ := newTestReceiver(t, ReceiverConfig{PayloadTypes: pts})
			err := r.HandlePacket(unhex(t, c.hex))
			if c.err != nil && !errors.Is(err, c.err) || c.err == nil && err != nil {
				t.Fatalf("err = %v, want %v", err, c.err)
			}
			var got StreamStats
			if st := r.Streams(); len(st) > 0 {
				got = st[0].Stats
				if st[0].ID.SSRC != 0x11223344 {
					t.Errorf("SSRC %#x", st[0].ID.SSRC)
				}
			}
			if got != c.want {
				t.Errorf("stats\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
	// dtmf.ErrShortPayload exists only once the decoder lands; until then
	// the stub accepts everything and the "short event" case fails.
}

func TestReceiverDemux(t *testing.T) {
	src := netip.MustParseAddrPort("192.0.2.1:4000")
	dst := netip.MustParseAddrPort("[2001:db8::2]:5000")
	r, _ := newTestReceiver(t, ReceiverConfig{Src: src, Dst: dst})
	for i := range 10 {
		for _, ssrc := range []uint32{0xB, 0xA, 0xC} {
			if err := r.HandlePacket(mediatest.RTP(ssrc, 0, uint16(100*ssrc)+uint16(i), uint32(1000*ssrc)+uint32(160*i), false, ulawSilence)); err != nil {
				t.Fatal(err)
			}
		}
	}
	st := r.Streams()
	if len(st) != 3 {
		t.Fatalf("%d streams, want 3", len(st))
	}
	for i, ssrc := range []uint32{0xB, 0xA, 0xC} {
		s := st[i]
		if s.ID != (StreamID{SSRC: ssrc, Src: src, Dst: dst}) {
			t.Errorf("stream %d: %v", i, s.ID)
		}
		if s.FirstTS != int64(1000*ssrc) {
			t.Errorf("stream %d: FirstTS %d", i, s.FirstTS)
		}
		want := StreamStats{Packets: 10, Bytes: 1600, Audio: 10, Depth: 40 * time.Millisecond}
		if s.Stats != want {
			t.Errorf("stream %d: %+v, want %+v", i, s.Stats, want)
		}
	}
	if got := st[0].ID.String(); got != "192.0.2.1:4000 → [2001:db8::2]:5000 ssrc=0x0000000b" {
		t.Errorf("StreamID.String() = %q", got)
	}
}

func TestReceiverMaxStreams(t *testing.T) {
	r, _ := newTestReceiver(t, ReceiverConfig{MaxStreams: 2})
	for ssrc := range uint32(5) {
		err := r.HandlePacket(mediatest.RTP(ssrc, 0, 1, 0, false, ulawSilence))
		if want := ssrc >= 2; want != errors.Is(err, ErrTooManyStreams) {
			t.Errorf("ssrc %d: err %v", ssrc, err)
		}
	}
	if len(r.Streams()) != 2 || r.Dropped() != 3 {
		t.Errorf("%d streams, %d dropped", len(r.Streams()), r.Dropped())
	}
	if _, err := NewReceiver(ReceiverConfig{MaxGap: -1}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("MaxGap -1: %v", err)
	}
	if _, err := NewReceiver(ReceiverConfig{MaxStreams: -1}, nil); !errors.Is(err, ErrConfig) {
		t.Errorf("MaxStreams -1: %v", err)
	}
	// A detector configuration out of range is refused here, not at the
	// first packet of a stream.
	_, err := NewReceiver(ReceiverConfig{Detector: dtmf.Config{MinLevel: 4}}, nil)
	if !errors.Is(err, ErrConfig) || !errors.Is(err, dtmf.ErrInvalidConfig) {
		t.Errorf("detector MinLevel 4: %v", err)
	}
}

// Loss, reordering, gaps and resyncs are counted from sequence numbers and
// RTP timestamps, across the 16- and 32-bit wraps.
func TestReceiverTimeline(t *testing.T) {
	type p struct {
		seq uint16
		ts  uint32
	}
	const T = 160
	base := uint32(math.MaxUint32 - 2*T + 1) // wraps after two packets
	cases := []struct {
		name string
		pkts []p
		want StreamStats
	}{
		{"in order across wraps", []p{{65534, base}, {65535, base + T}, {0, base + 2*T}, {1, base + 3*T}}, StreamStats{Packets: 4, Bytes: 640, Audio: 4, Depth: 40 * time.Millisecond}},
		{"one lost", []p{{1, 0}, {2, T}, {4, 3 * T}}, StreamStats{Packets: 3, Bytes: 480, Audio: 3, Lost: 1, Gaps: 1, Concealed: 1, Depth: 40 * time.Millisecond}},
		{"reordered within the depth: put back", []p{{1, 0}, {3, 2 * T}, {2, T}, {4, 3 * T}}, StreamStats{Packets: 4, Bytes: 640, Audio: 4, Reordered: 1, Depth: 40 * time.Millisecond}},
		// 2T's place goes to the detector when 6T arrives (older than
		// 6T − 40 ms): it is late, and the depth grows to the lag, up to
		// 60 ms.
		{"reordered beyond the depth: late, depth grows", []p{{1, 0}, {2, T}, {4, 3 * T}, {5, 4 * T}, {6, 5 * T}, {7, 6 * T}, {3, 2 * T}},
			StreamStats{Packets: 7, Bytes: 1120, Audio: 6, Late: 1, Gaps: 1, Concealed: 1, Depth: 60 * time.Millisecond}},
		{"duplicate dropped", []p{{1, 0}, {2, T}, {2, T}}, StreamStats{Packets: 3, Bytes: 480, Audio: 2, Duplicates: 1, Depth: 40 * time.Millisecond}},
		{"duplicate of a released packet dropped", []p{{1, 0}, {2, T}, {3, 2 * T}, {4, 3 * T}, {5, 4 * T}, {1, 0}},
			StreamStats{Packets: 6, Bytes: 960, Audio: 5, Duplicates: 1, Depth: 40 * time.Millisecond}},
		{"gap of 1 s, nothing lost: silence", []p{{1, 0}, {2, T + 8000}}, StreamStats{Packets: 2, Bytes: 320, Audio: 2, Gaps: 1, Depth: 40 * time.Millisecond}},
		{"gap of 1 s, 5 packets lost: 3 concealed", []p{{1, 0}, {7, T + 8000}}, StreamStats{Packets: 2, Bytes: 320, Audio: 2, Lost: 5, Gaps: 1, Concealed: 3, Depth: 40 * time.Millisecond}},
		{"gap over 1 s resyncs", []p{{1, 0}, {2, T + 8001}}, StreamStats{Packets: 2, Bytes: 320, Audio: 2, Resyncs: 1, Depth: 40 * time.Millisecond}},
		{"jump back within MaxGap: dropped as late", []p{{1, 100000}, {2, 100000 + T}, {3, 100000 - 40*T}}, StreamStats{Packets: 3, Bytes: 480, Audio: 2, Late: 1, Depth: 40 * time.Millisecond}},
		{"jump back beyond MaxGap: resync", []p{{1, 100000}, {2, 100000 - 60*T}, {3, 100000 - 59*T}}, StreamStats{Packets: 3, Bytes: 480, Audio: 3, Resyncs: 1, Depth: 40 * time.Millisecond}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, _ := newTestReceiver(t, ReceiverConfig{})
			for _, q := range c.pkts {
				if err := r.HandlePacket(mediatest.RTP(7, 0, q.seq, q.ts, false, ulawSilence)); err != nil {
					t.Fatal(err)
				}
			}
			r.Flush() // what the jitter buffer holds goes to the detector
			if got := r.Streams()[0].Stats; got != c.want {
				t.Errorf("\n got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestLooksLikeTelephoneEvent(t *testing.T) {
	cases := []struct {
		name string
		hex  string
		want bool
	}{
		{"# start", "0b0a00a0", true},
		{"# end", "0b8a0320", true},
		{"flash", "10 0a 0000", true},
		{"duration 0", "05000000", true},
		{"two blocks", "0b8a0320 0c0a00a0", true},
		{"event 17", "110a00a0", false},
		{"R bit set", "0b4a00a0", false},
		{"duration over 5 s", "0b0a9c41", false},
		{"3 bytes", "0b0a00", false},
		{"empty", "", false},
		{"20 bytes", strings.Repeat("0b0a00a0", 5), false},
		{"second block bad", "0b8a0320 ff0a00a0", false},
	}
	for _, c := range cases {
		if got := LooksLikeTelephoneEvent(unhex(t, c.hex)); got != c.want {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
	r, _ := newTestReceiver(t, ReceiverConfig{NoGuess: true})
	r.HandlePacket(unhex(t, "80 60 0001 00000010 11223344 0b8a0320"))
	if st := r.Streams()[0].Stats; st.Ignored != 1 || st.Events != 0 {
		t.Errorf("NoGuess: %+v", st)
	}
}

func TestPayloadTypes(t *testing.T) {
	p := DefaultPayloadTypes()
	p[101] = KindTelephoneEvent
	if got := p.String(); got != "0:PCMU 8:PCMA 101:telephone-event" {
		t.Errorf("String() = %q", got)
	}
	if IsDynamic(95) || !IsDynamic(96) || !IsDynamic(127) {
		t.Error("IsDynamic")
	}
}

// The packet path does not allocate: audio, silence filling and events.
func TestReceiverZeroAllocs(t *testing.T) {
	pts := DefaultPayloadTypes()
	pts[101] = KindTelephoneEvent
	r, err := NewReceiver(ReceiverConfig{PayloadTypes: pts}, KeySinkFunc(func(Key) {}))
	if err != nil {
		t.Fatal(err)
	}
	audioPkt := mediatest.RTP(1, 0, 0, 0, false, ulawSilence)
	evPkt := mediatest.RTP(1, 101, 0, 0, false, mediatest.Event('#', false, 160))
	endPkt := mediatest.RTP(1, 101, 0, 0, false, mediatest.Event('#', true, 800))
	guessPkt := mediatest.RTP(2, 96, 0, 0, false, mediatest.Event('5', true, 800))
	var seq uint16
	var ts uint32
	step := func() {
		seq++
		ts += 160
		binary.BigEndian.PutUint16(audioPkt[2:], seq)
		binary.BigEndian.PutUint32(audioPkt[4:], ts)
		if err := r.HandlePacket(audioPkt); err != nil {
			t.Fatal(err)
		}
		if seq%10 == 0 { // a key every 10 packets, and a lost packet
			seq++
			ts += 160
			for _, p := range [][]byte{evPkt, endPkt, guessPkt} {
				binary.BigEndian.PutUint16(p[2:], seq)
				binary.BigEndian.PutUint32(p[4:], ts)
				if err := r.HandlePacket(p); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	for range 100 { // warm up: buffers grow, streams appear
		step()
	}
	if allocs := testing.AllocsPerRun(500, step); allocs != 0 {
		t.Errorf("HandlePacket allocates %v times a packet", allocs)
	}
}

func BenchmarkReceiverAudio(b *testing.B) {
	r, _ := NewReceiver(ReceiverConfig{}, nil)
	p := mediatest.RTP(1, 0, 0, 0, false, ulawSilence)
	var seq uint16
	var ts uint32
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		seq++
		ts += 160
		binary.BigEndian.PutUint16(p[2:], seq)
		binary.BigEndian.PutUint32(p[4:], ts)
		r.HandlePacket(p)
	}
}

// tonePair writes n samples of the DTMF pair of k at amplitude 7000 per
// tone (about −10 dBm0), from sample offset at, as μ-law.
func tonePair(k dtmf.Key, n int) []int16 {
	freqs := map[dtmf.Key][2]float64{
		'1': {697, 1209}, '2': {697, 1336}, '3': {697, 1477}, 'A': {697, 1633},
		'4': {770, 1209}, '5': {770, 1336}, '6': {770, 1477}, 'B': {770, 1633},
		'7': {852, 1209}, '8': {852, 1336}, '9': {852, 1477}, 'C': {852, 1633},
		'*': {941, 1209}, '0': {941, 1336}, '#': {941, 1477}, 'D': {941, 1633},
	}[k]
	x := make([]int16, n)
	for i := range x {
		t := float64(i) / 8000
		x[i] = int16(7000*math.Sin(2*math.Pi*freqs[0]*t) + 7000*math.Sin(2*math.Pi*freqs[1]*t))
	}
	return x
}

// The detection tests need the real dtmf detector, decoder and merger;
// they fail against the stubs.
func TestReceiverDetectsRFC4733(t *testing.T) {
	for _, pt := range []uint8{101, 96, 100} {
		pts := DefaultPayloadTypes()
		if pt != 96 {
			pts[pt] = KindTelephoneEvent // 96 is left to the guess
		}
		r, rec := newTestReceiver(t, ReceiverConfig{PayloadTypes: pts})
		s := &mediatest.Synth{SSRC: 42, TS: 1000}
		s.Silence(200)
		s.Press(pt, '*', 100)
		s.Silence(300)
		s.Press(pt, '#', 120)
		s.Silence(200)
		for _, p := range s.Packets {
			if err := r.HandlePacket(p); err != nil {
				t.Fatal(err)
			}
		}
		r.Flush()
		if rec.String() != "*#" {
			t.Fatalf("PT %d: keys %q, want \"*#\" (%v)", pt, rec.String(), rec.keys)
		}
		for i, k := range rec.keys {
			if k.Source != dtmf.SourceRFC4733 || k.Stream.SSRC != 42 {
				t.Errorf("PT %d: key %d: %v", pt, i, k)
			}
		}
		if want := int64(1000 + 1600); rec.keys[0].Start != want || rec.keys[0].At.Milliseconds() != 200 {
			t.Errorf("PT %d: * starts at %d (%v), want %d (200ms)", pt, rec.keys[0].Start, rec.keys[0].At, want)
		}
	}
}

func TestReceiverDetectsInband(t *testing.T) {
	for _, kind := range []PayloadKind{KindPCMU, KindPCMA} {
		r, rec := newTestReceiver(t, ReceiverConfig{})
		s := &mediatest.Synth{SSRC: 9, TS: math.MaxUint32 - 8000} // wraps during the call
		s.Silence(200)
		s.Audio(tonePair('*', 800))
		s.Silence(200)
		s.Audio(tonePair('#', 800))
		s.Silence(300)
		for _, p := range s.Packets {
			if kind == KindPCMA { // transcode to PCMA
				p[1] = 8
				pcm := make([]int16, len(p)-12)
				audio.DecodeULawTo(pcm, p[12:])
				audio.EncodeALawTo(p[12:], pcm)
			}
			if err := r.HandlePacket(p); err != nil {
				t.Fatal(err)
			}
		}
		r.Flush()
		if rec.String() != "*#" {
			t.Fatalf("%v: keys %q, want \"*#\"", kind, rec.String())
		}
		for _, k := range rec.keys {
			if k.Source != dtmf.SourceInband {
				t.Errorf("%v: %v", kind, k)
			}
		}
		if at := rec.keys[0].At.Milliseconds(); at < 190 || at > 230 {
			t.Errorf("%v: * at %d ms, want about 200", kind, at)
		}
	}
}
