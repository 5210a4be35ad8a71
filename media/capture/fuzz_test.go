package capture

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"testing"

	"denwa/media"
	"denwa/media/mediatest"

	"github.com/gopacket/gopacket/layers"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpus in testdata/fuzz")

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

// FuzzReader reads arbitrary bytes as a capture and runs the whole
// Detect pipeline on them: no panic, only the documented errors,
// datagrams never larger than the input.
func FuzzReader(f *testing.F) {
	for _, s := range captureSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		cr, err := NewReader(bytes.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, ErrLinkType) {
				t.Fatalf("NewReader: undocumented error %v", err)
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
		res, err := Detect(bytes.NewReader(in), Options{Workers: 1})
		if err == nil && res == nil {
			t.Fatal("nil result without error")
		}
	})
}

// FuzzSIPSDP: SIP body extraction, SDP reading and INFO key reading never
// panic, every m=audio line they return has a valid address, and every
// INFO key is a valid key.
func FuzzSIPSDP(f *testing.F) {
	f.Add(sipMessage("INVITE sip:a@b SIP/2.0", sdpFor(a4, "0 8 101", "a=rtpmap:101 telephone-event/8000")))
	f.Add(sipMessage("SIP/2.0 200 OK", sdpFor(b6, "8 96", "a=rtpmap:96 telephone-event/8000")))
	f.Add([]byte("INVITE x SIP/2.0\nc: application/sdp\nl: 30\n\nv=0\nc=IN IP4 1.2.3.4\nm=audio 1 RTP/AVP 0\n"))
	f.Add([]byte("INFO x SIP/2.0\r\ni: c\r\nCSeq: 2 INFO\r\nc: application/dtmf-relay\r\nl: 21\r\n\r\nSignal=5\r\nDuration=160\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		LooksLikeSIP(in)
		if k, _, _, ok := ParseInfoKey(in); ok != k.Key.Valid() {
			t.Fatalf("ParseInfoKey: %+v, %v", k, ok)
		}
		for _, body := range [][]byte{SIPBody(in), in} {
			audio, err := media.ParseSDPAudio(body)
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
// plain `go test` replays them: go test ./media/capture -run WriteFuzzSeeds -update
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	mediatest.WriteFuzzCorpus(t, "FuzzReader", captureSeeds(t))
}
