package mediatest

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"denwa/dtmf"

	"github.com/pion/rtp"
)

// RTP marshals one RTP packet (RFC 3550 §5.1) without CSRCs, extension or
// padding.
func RTP(ssrc uint32, pt uint8, seq uint16, ts uint32, marker bool, payload []byte) []byte {
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: seq, Timestamp: ts, SSRC: ssrc, Marker: marker}, Payload: payload}
	b, err := p.Marshal()
	if err != nil { // a header without extensions always marshals
		panic(fmt.Sprintf("mediatest: RTP: %v", err))
	}
	return b
}

// Synth is one RTP stream written by hand, packet by packet, for tests
// that need every packet where they put it (Stream generates whole calls):
// 20 ms PCMU packets of audio or silence, and RFC 4733 presses sent in
// place of audio. Packets holds them in send order.
type Synth struct {
	SSRC    uint32
	Seq     uint16 // sequence number of the next packet
	TS      uint32 // timestamp of the next audio packet
	Packets [][]byte
}

// Audio sends x as PCMU packets of 160 samples, the last one filled up
// with silence.
func (s *Synth) Audio(x []int16) {
	for len(x) > 0 {
		n := min(160, len(x))
		b := make([]byte, 160)
		EncodeTo(b, x[:n], PCMU)
		for i := n; i < 160; i++ {
			b[i] = Silence(PCMU)
		}
		s.Packets = append(s.Packets, RTP(s.SSRC, PCMU, s.Seq, s.TS, false, b))
		s.Seq++
		s.TS += 160
		x = x[n:]
	}
}

// Silence sends ms milliseconds of silence.
func (s *Synth) Silence(ms int) { s.Audio(make([]int16, 8*ms)) }

// Press sends key k as telephone-events on payload type pt lasting ms
// milliseconds, audio pausing meanwhile as many senders do: an update
// every 20 ms, the first with the marker bit, then END three times.
func (s *Synth) Press(pt uint8, k dtmf.Key, ms int) {
	start := s.TS
	for d := 160; d < 8*ms; d += 160 {
		s.Packets = append(s.Packets, RTP(s.SSRC, pt, s.Seq, start, d == 160, Event(k, false, uint16(d))))
		s.Seq++
	}
	for range 3 {
		s.Packets = append(s.Packets, RTP(s.SSRC, pt, s.Seq, start, false, Event(k, true, uint16(8*ms))))
		s.Seq++
	}
	s.TS += uint32(8 * ms)
}

// Event returns the RFC 4733 payload of key k at volume 10 (−10 dBm0),
// with the E bit when end is set and a duration of dur timestamp units.
// It panics on a key that is not one of the 16.
func Event(k dtmf.Key, end bool, dur uint16) []byte {
	b, err := dtmf.AppendEventPayload(nil, k, end, 10, dur)
	if err != nil {
		panic(fmt.Sprintf("mediatest: Event: %v", err))
	}
	return b
}

// WriteFuzzCorpus writes seeds into testdata/fuzz/target of the package
// under test, one "go test fuzz v1" file of a []byte each, named by its
// key, so that plain `go test` replays them.
func WriteFuzzCorpus(t testing.TB, target string, seeds map[string][]byte) {
	t.Helper()
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
