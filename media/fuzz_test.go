package media

import (
	"bytes"
	"flag"
	"testing"

	"denwa/media/mediatest"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// splitPackets cuts fuzz input into packets: each is a length byte and
// that many bytes (the last one takes what is left).
func splitPackets(in []byte, f func([]byte)) {
	for len(in) > 0 {
		n := int(in[0])
		in = in[1:]
		n = min(n, len(in))
		f(in[:n])
		in = in[n:]
	}
}

func joinPackets(pkts [][]byte) []byte {
	var b []byte
	for _, p := range pkts {
		if len(p) > 255 {
			p = p[:255]
		}
		b = append(b, byte(len(p)))
		b = append(b, p...)
	}
	return b
}

// receiverSeeds are RTP packet sequences: a synthesized call with audio,
// tones and events on a negotiated and a guessed payload type, and broken
// variants.
func receiverSeeds(t testing.TB) map[string][]byte {
	s := &mediatest.Synth{SSRC: 5, TS: 0xFFFFFF00, Seq: 65530}
	s.Silence(40)
	s.Press(101, '*', 60)
	s.Audio(tonePair('#', 480))
	s.Press(96, '9', 40)
	s.Silence(40)
	// 80-byte audio payloads so that every packet fits a length byte.
	var pkts [][]byte
	for _, p := range s.Packets {
		if len(p) > 255 {
			p = p[:12+80]
		}
		pkts = append(pkts, p)
	}
	seeds := map[string][]byte{"call": joinPackets(pkts)}
	var bad [][]byte
	for i, p := range pkts[:8] {
		q := bytes.Clone(p)
		switch i % 4 {
		case 0:
			q[0] |= 0x2f // padding, extension, CSRCs beyond the packet
		case 1:
			q = q[:len(q)/2]
		case 2:
			q[8] ^= byte(i) // another SSRC
		case 3:
			q[0] = 0x40 // version 1
		}
		bad = append(bad, q)
	}
	seeds["broken"] = joinPackets(bad)
	return seeds
}

// FuzzReceiver feeds arbitrary bytes as RTP packets into a Receiver: it
// must not panic, must keep to MaxStreams, and its buffers must not grow
// beyond the largest packet.
func FuzzReceiver(f *testing.F) {
	for _, s := range receiverSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		pts := DefaultPayloadTypes()
		pts[101] = KindTelephoneEvent
		var keys int
		r, err := NewReceiver(ReceiverConfig{PayloadTypes: pts, MaxStreams: 4}, KeySinkFunc(func(k Key) {
			keys++
			if !k.Key.Valid() || k.End < k.Start {
				t.Fatalf("bad key %v", k)
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		splitPackets(in, func(p []byte) {
			n++
			r.HandlePacket(p)
		})
		r.Flush()
		st := r.Streams()
		if len(st) > 4 {
			t.Fatalf("%d streams", len(st))
		}
		var total int64
		for _, s := range st {
			total += s.Stats.Packets
		}
		if total > int64(n) || keys > n+len(st) {
			t.Fatalf("%d packets counted, %d keys, from %d packets", total, keys, n)
		}
		for _, s := range r.order {
			if cap(s.pcm) > 255 || cap(s.evs) > 64 || cap(s.keys) > 64 {
				t.Fatalf("buffers grew: pcm %d evs %d keys %d", cap(s.pcm), cap(s.evs), cap(s.keys))
			}
		}
	})
}

// TestWriteFuzzSeeds writes the seeds above into testdata/fuzz so that
// plain `go test` replays them: go test ./media -run WriteFuzzSeeds -update
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	mediatest.WriteFuzzCorpus(t, "FuzzReceiver", receiverSeeds(t))
}
