package media

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/gopacket/gopacket/layers"
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
	s := &synth{t: t, ssrc: 5, ts: 0xFFFFFF00, seq: 65530}
	s.silence(40)
	s.press(101, '*', 60)
	s.audio(tonePair('#', 480))
	s.press(96, '9', 40)
	s.silence(40)
	// 80-byte audio payloads so that every packet fits a length byte.
	var pkts [][]byte
	for _, p := range s.pkts {
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

// captureSeeds are small captures of testCall in several formats, cut and
// damaged.
func captureSeeds(t testing.TB) map[string][]byte {
	pkts := testCall(t)[:12] // SIP, then the start of each stream
	ng := writePcapng(t, layers.LinkTypeLinuxSLL, pkts)
	pc := writePcap(t, layers.LinkTypeEthernet, pkts)
	v6 := writePcap(t, layers.LinkTypeRaw, pkts[4:9])
	be := toBigEndian(t, writePcap(t, layers.LinkTypeNull, pkts[:6]), true)
	damaged := bytes.Clone(pc)
	damaged[24+8] = 0xff // first record's length
	return map[string][]byte{
		"pcap-ethernet":  pc,
		"pcapng-sll":     ng,
		"pcap-raw":       v6,
		"pcap-be-nanos":  be,
		"pcap-truncated": pc[:len(pc)-30],
		"pcapng-cut":     ng[:len(ng)/2],
		"pcap-damaged":   damaged,
		"garbage":        []byte("\xd4\xc3\xb2\xa1garbage garbage garbage"),
	}
}

// FuzzCaptureReader reads arbitrary bytes as a capture and runs the whole
// DetectCapture pipeline on them: no panic, only the documented errors,
// datagrams never larger than the input.
func FuzzCaptureReader(f *testing.F) {
	for _, s := range captureSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cr, err := NewCaptureReader(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrNotCapture) && !errors.Is(err, ErrLinkType) {
				t.Fatalf("NewCaptureReader: undocumented error %v", err)
			}
		} else {
			for {
				d, err := cr.Next()
				if err != nil {
					if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
						t.Fatalf("Next: undocumented error %v", err)
					}
					break
				}
				if len(in) < 1<<12 && len(d.Payload) > len(in) { // gzip may expand
					t.Fatalf("%d-byte datagram from %d bytes", len(d.Payload), len(in))
				}
			}
		}
		res, err := DetectCapture(bytes.NewReader(in), DetectOptions{Workers: 1})
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
	})
}

// FuzzSIPSDP: SIP body extraction and SDP reading never panic, and every
// m=audio line they return has a valid address.
func FuzzSIPSDP(f *testing.F) {
	f.Add(sipMessage("INVITE sip:a@b SIP/2.0", sdpFor(a4, "0 8 101", "a=rtpmap:101 telephone-event/8000")))
	f.Add(sipMessage("SIP/2.0 200 OK", sdpFor(b6, "8 96", "a=rtpmap:96 telephone-event/8000")))
	f.Add([]byte("INVITE x SIP/2.0\nc: application/sdp\nl: 30\n\nv=0\nc=IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		LooksLikeSIP(in)
		for _, body := range [][]byte{SIPBody(in), in} {
			audio, err := ParseSDPAudio(body)
			if err == nil && len(audio) == 0 {
				t.Fatal("no error and no audio")
			}
			for _, a := range audio {
				if !a.Addr.IsValid() || a.Addr.Port() == 0 {
					t.Fatalf("invalid address %v", a.Addr)
				}
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
	write := func(target string, seeds map[string][]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, b := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
			if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzReceiver", receiverSeeds(t))
	write("FuzzCaptureReader", captureSeeds(t))
}
