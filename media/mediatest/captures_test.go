package mediatest

import (
	"bytes"
	"encoding/binary"
	"flag"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/rtp"
)

var update = flag.Bool("update", false, "rewrite the generated files in testdata/sipp and testdata/captures")

const (
	capturesDir = "../../testdata/captures"
	sippDir     = "../../testdata/sipp"
)

const ms = time.Millisecond

// Addresses in the sipp input pcaps do not matter (play_pcap_audio keeps
// only the RTP), but they are loopback like the recordings.
var (
	inSrc  = netip.MustParseAddrPort("127.0.0.1:16004")
	inDst  = netip.MustParseAddrPort("127.0.0.1:16000")
	inSrc6 = netip.MustParseAddrPort("[::1]:16004")
	inDst6 = netip.MustParseAddrPort("[::1]:16000")
)

// sippInputs are the RTP streams that testdata/sipp/record.sh replays with
// play_pcap_audio; each recording's .digits and .keys come from them.
var sippInputs = []struct {
	file       string // in testdata/sipp
	recordings []string
	s          Stream
}{
	{"in-rfc4733-hash.pcap", []string{"sipp-rfc4733-hash.pcap", "sipp-pcapng-named.pcap"}, Stream{
		SSRC: 0x64656e01, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 4000, Timestamp: 160000, Duration: 1200 * ms,
		Presses: []Press{{Key: '#', At: 400 * ms, Dur: 160 * ms}},
	}},
	{"in-inband-star-hash.pcap", []string{"sipp-inband-star-hash.pcap"}, Stream{
		SSRC: 0x64656e02, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 12000, Timestamp: 8000, Duration: 1400 * ms,
		Presses: []Press{
			{Key: '*', At: 300 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '#', At: 800 * ms, Dur: 120 * ms, Mode: Inband},
		},
	}},
	{"in-pcma-inband.pcap", []string{"sipp-pcma-inband.pcap"}, Stream{
		SSRC: 0x64656e03, Src: inSrc, Dst: inDst, AudioPT: PCMA, Seq: 300, Timestamp: 99999, Duration: 1700 * ms,
		Presses: []Press{
			{Key: '2', At: 300 * ms, Dur: 100 * ms, Mode: Inband},
			{Key: '5', At: 600 * ms, Dur: 100 * ms, Mode: Inband, Twist: 4},
			{Key: '8', At: 900 * ms, Dur: 100 * ms, Mode: Inband, Level: -20},
			{Key: '#', At: 1200 * ms, Dur: 100 * ms, Mode: Inband},
		},
	}},
	{"in-pt96-events.pcap", []string{"sipp-pt96-events.pcap"}, Stream{
		SSRC: 0x64656e04, Src: inSrc, Dst: inDst, AudioPT: PCMU, EventPT: 96, Seq: 65000, Timestamp: 1 << 31, Duration: 1200 * ms,
		Presses: []Press{
			{Key: '3', At: 300 * ms, Dur: 100 * ms, Quirks: EventQuirks{EndOnly: true}},
			{Key: '#', At: 700 * ms, Dur: 100 * ms, Quirks: EventQuirks{NoMarker: true, EndSameSeq: true}},
		},
	}},
	{"in-both-ways.pcap", []string{"sipp-both-ways.pcap"}, Stream{
		SSRC: 0x64656e05, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 777, Timestamp: 4242, Duration: 1200 * ms,
		Presses: []Press{
			{Key: '*', At: 300 * ms, Dur: 120 * ms, Mode: Both},
			{Key: '#', At: 700 * ms, Dur: 120 * ms, Mode: Both},
		},
	}},
	{"in-call-a.pcap", []string{"sipp-two-calls.pcap"}, Stream{
		SSRC: 0x64656e0a, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 100, Timestamp: 1000, Duration: 1500 * ms,
		Presses: []Press{
			{Key: '1', At: 300 * ms, Dur: 100 * ms},
			{Key: '2', At: 600 * ms, Dur: 100 * ms},
			{Key: '#', At: 900 * ms, Dur: 100 * ms},
		},
	}},
	{"in-call-b.pcap", []string{"sipp-two-calls.pcap"}, Stream{
		SSRC: 0x64656e0b, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 50000, Timestamp: 7777777, Duration: 1500 * ms,
		Presses: []Press{
			{Key: '*', At: 200 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '0', At: 500 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '#', At: 800 * ms, Dur: 120 * ms, Mode: Inband},
		},
	}},
	{"in-ipv6.pcap", []string{"sipp-ipv6.pcapng"}, Stream{
		SSRC: 0x64656e06, Src: inSrc6, Dst: inDst6, AudioPT: PCMU, Seq: 1, Timestamp: 1, Duration: 1200 * ms,
		Presses: []Press{
			{Key: '*', At: 300 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '#', At: 700 * ms, Dur: 120 * ms},
		},
	}},
}

// synthetic are the edge-case captures written by mediatest alone.
var synthetic = []struct {
	file string
	opt  CaptureOptions
	c    Capture
	// damage rewrites the written bytes; errNote, when set, is the
	// expected failure written to FILE.error.
	damage  func([]byte) []byte
	errNote string
	// unreadable: the damage leaves no packet, so no key is expected.
	unreadable bool
}{
	{file: "truncated.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000001, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 10, Timestamp: 10, Start: 100 * ms, Duration: 800 * ms,
		Presses: []Press{{Key: '#', At: 300 * ms, Dur: 100 * ms}},
	}}}, damage: func(b []byte) []byte {
		// Cut the last record (an audio packet after the key) in half.
		return b[:len(b)-(12+160)/2]
	}, errNote: "the last record is cut in half: a reader reports an unexpected end of file after the keys"},
	{file: "not-a-capture.pcap", damage: func([]byte) []byte {
		return []byte("This is not a packet capture: it is a text file named .pcap.\nA reader must reject it by its first bytes.\n")
	}, errNote: "not a pcap or pcapng file (text): a reader rejects it before any packet", unreadable: true},
	{file: "corrupt-start.pcap", c: Capture{Streams: []Stream{{
		SSRC: 0x7e000002, Src: inSrc, Dst: inDst, AudioPT: PCMU, Duration: 400 * ms,
		Presses: []Press{{Key: '1', At: 100 * ms}},
	}}}, damage: func(b []byte) []byte {
		// The first record header says it holds 0x7FFFFFF0 bytes: nothing
		// after the file header can be read.
		binary.LittleEndian.PutUint32(b[24+8:], 0x7FFFFFF0)
		binary.LittleEndian.PutUint32(b[24+12:], 0x7FFFFFF0)
		return b
	}, errNote: "the first record's length is 0x7FFFFFF0: a reader fails at the first record and finds no keys", unreadable: true},
	{file: "wrap.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000003, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 65530, Timestamp: math.MaxUint32 - 10*160 + 1, Start: 100 * ms, Duration: 1000 * ms,
		Presses: []Press{
			{Key: '*', At: 120 * ms, Dur: 140 * ms, Mode: Inband}, // the timestamp wraps at 200 ms, mid-tone
			{Key: '#', At: 400 * ms, Dur: 100 * ms},
			{Key: '#', At: 700 * ms, Dur: 100 * ms},
		},
	}}}},
	{file: "lost-end.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000004, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 2000, Timestamp: 320000, Start: 100 * ms, Duration: 2000 * ms,
		Presses: []Press{
			{Key: '1', At: 200 * ms, Dur: 100 * ms, Quirks: EventQuirks{LoseEnd: true}},
			{Key: '1', At: 600 * ms, Dur: 100 * ms, Quirks: EventQuirks{LoseEnd: true}},
			{Key: '#', At: 1000 * ms, Dur: 100 * ms, Quirks: EventQuirks{LoseEnd: true}},
			{Key: '#', At: 1400 * ms, Dur: 100 * ms},
		},
	}}}},
	{file: "quirks.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000005, Src: inSrc, Dst: inDst, AudioPT: PCMA, EventPT: 100, Seq: 1, Timestamp: 0, Start: 100 * ms, Duration: 2300 * ms,
		Presses: []Press{
			{Key: '1', At: 200 * ms, Quirks: EventQuirks{NoMarker: true}},
			{Key: '2', At: 600 * ms, Quirks: EventQuirks{EndOnly: true}},
			{Key: '3', At: 1000 * ms, Quirks: EventQuirks{ZeroDuration: true}},
			{Key: '4', At: 1400 * ms, Quirks: EventQuirks{EndSameSeq: true}},
			{Key: '5', At: 1800 * ms, Quirks: EventQuirks{EndRepeats: 1, Volume: 30}},
		},
	}}}},
	{file: "jitter-burst.pcap", opt: CaptureOptions{Nanos: true}, c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000006, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 9000, Timestamp: 90000, Start: 100 * ms, Duration: 2000 * ms,
		Presses: []Press{
			{Key: '*', At: 300 * ms, Dur: 120 * ms},
			{Key: '0', At: 800 * ms, Dur: 160 * ms, Mode: Inband},
			{Key: '#', At: 1300 * ms, Dur: 120 * ms},
		},
		Net: Network{Seed: 1, Jitter: 35 * ms, Burst: 120 * ms, BurstEvery: 700 * ms},
	}}}},
	{file: "lost-audio.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000007, Src: inSrc, Dst: inDst, AudioPT: PCMU, Seq: 31000, Timestamp: 5, Start: 100 * ms, Duration: 1500 * ms,
		Presses: []Press{
			{Key: '*', At: 300 * ms, Dur: 160 * ms, Mode: Inband},
			{Key: '#', At: 800 * ms, Dur: 160 * ms, Mode: Inband},
		},
		// Every seventh audio packet is lost, some of them inside the tones.
		Net: Network{Drop: func(h *rtp.Header, _ []byte) bool { return h.SequenceNumber%7 == 3 }},
	}}}},
	{file: "pcma-30ms.pcap", c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000008, Src: inSrc, Dst: inDst, AudioPT: PCMA, Ptime: 30 * ms, Seq: 5, Timestamp: 240, Start: 100 * ms, Duration: 1500 * ms,
		Presses: []Press{
			{Key: '9', At: 300 * ms, Dur: 120 * ms, Mode: Inband},
			{Key: '#', At: 750 * ms, Dur: 120 * ms},
		},
	}}}},
	{file: "three-calls-sll.pcapng", opt: CaptureOptions{Format: PCAPNG, Link: LinuxSLL}, c: Capture{SIP: true, Streams: []Stream{
		{SSRC: 0x7e000011, Src: netip.MustParseAddrPort("192.0.2.10:20000"), Dst: netip.MustParseAddrPort("198.51.100.5:30000"),
			AudioPT: PCMU, Seq: 1, Timestamp: 1, Start: 100 * ms, Duration: 1200 * ms,
			Presses: []Press{{Key: '#', At: 400 * ms}}},
		{SSRC: 0x7e000012, Src: netip.MustParseAddrPort("192.0.2.11:20002"), Dst: netip.MustParseAddrPort("198.51.100.5:30002"),
			AudioPT: PCMA, EventPT: 96, Seq: 2, Timestamp: 2, Start: 250 * ms, Duration: 1200 * ms,
			Presses: []Press{{Key: '*', At: 200 * ms, Mode: Inband}, {Key: '#', At: 600 * ms}}},
		{SSRC: 0x7e000013, Src: netip.MustParseAddrPort("192.0.2.12:20004"), Dst: netip.MustParseAddrPort("198.51.100.5:30004"),
			AudioPT: PCMU, EventPT: 100, Seq: 3, Timestamp: 3, Start: 400 * ms, Duration: 1200 * ms,
			Presses: []Press{{Key: '0', At: 200 * ms, Mode: Both}, {Key: '#', At: 500 * ms, Mode: Both}}},
	}}},
	{file: "raw-ipv6.pcap", opt: CaptureOptions{Link: Raw}, c: Capture{SIP: true, Streams: []Stream{{
		SSRC: 0x7e000009, Src: netip.MustParseAddrPort("[2001:db8::10]:40000"), Dst: netip.MustParseAddrPort("[2001:db8::20]:40002"),
		AudioPT: PCMU, Seq: 100, Timestamp: 100, Start: 100 * ms, Duration: 1000 * ms,
		Presses: []Press{{Key: '*', At: 200 * ms, Mode: Inband}, {Key: '#', At: 500 * ms}},
	}}}},
}

// shippedDigits is the truth of sipp's own dtmf_2833_1.pcap replayed by
// record.sh: one RFC 4733 "1" (event packets only, END 3× under one
// sequence number).
const (
	shippedName = "sipp-shipped-dtmf-2833-1.pcap"
	shippedKeys = "# stream seconds key mode\n0 0.000 1 rfc4733\n"
)

type golden struct {
	path string
	data []byte
}

// generated returns every file the generator owns, path and contents.
func generated(t *testing.T) []golden {
	t.Helper()
	var out []golden
	for _, in := range sippInputs {
		var buf bytes.Buffer
		if err := (Capture{Streams: []Stream{in.s}}).WriteTo(&buf, CaptureOptions{}); err != nil {
			t.Fatalf("%s: %v", in.file, err)
		}
		out = append(out, golden{filepath.Join(sippDir, in.file), buf.Bytes()})
	}
	// The recordings' expectations, from what was sent.
	byRecording := map[string][]Stream{}
	var order []string
	for _, in := range sippInputs {
		for _, r := range in.recordings {
			s := in.s
			s.Start = time.Duration(len(byRecording[r])) * time.Second // call b starts after call a
			if byRecording[r] == nil {
				order = append(order, r)
			}
			byRecording[r] = append(byRecording[r], s)
		}
	}
	for _, r := range order {
		c := Capture{Streams: byRecording[r]}
		out = append(out,
			golden{filepath.Join(capturesDir, r+".digits"), []byte(c.Digits())},
			golden{filepath.Join(capturesDir, r+".keys"), []byte(c.Keys())})
	}
	out = append(out,
		golden{filepath.Join(capturesDir, shippedName+".digits"), []byte("1\n")},
		golden{filepath.Join(capturesDir, shippedName+".keys"), []byte(shippedKeys)})

	for _, sy := range synthetic {
		var buf bytes.Buffer
		if len(sy.c.Streams) > 0 {
			if err := sy.c.WriteTo(&buf, sy.opt); err != nil {
				t.Fatalf("%s: %v", sy.file, err)
			}
		}
		data := buf.Bytes()
		if sy.damage != nil {
			data = sy.damage(data)
		}
		p := filepath.Join(capturesDir, sy.file)
		truth := sy.c
		if sy.unreadable {
			truth = Capture{}
		}
		out = append(out, golden{p, data},
			golden{p + ".digits", []byte(truth.Digits())},
			golden{p + ".keys", []byte(truth.Keys())})
		if sy.errNote != "" {
			out = append(out, golden{p + ".error", []byte(sy.errNote + "\n")})
		}
	}
	return out
}

// TestGenerateCaptures checks that the generated testdata files are byte
// for byte what the specs above produce; with -update it rewrites them:
//
//	go test ./media/mediatest -run TestGenerateCaptures -update
func TestGenerateCaptures(t *testing.T) {
	for _, g := range generated(t) {
		if *update {
			if err := os.MkdirAll(filepath.Dir(g.path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(g.path, g.data, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		have, err := os.ReadFile(g.path)
		if err != nil {
			t.Errorf("%v (run: go test ./media/mediatest -run TestGenerateCaptures -update)", err)
			continue
		}
		if !bytes.Equal(have, g.data) {
			t.Errorf("%s differs from what mediatest generates (%d bytes, want %d); rerun with -update if the change is intended", g.path, len(have), len(g.data))
		}
	}
}

// TestSyntheticCapturesReadBack reads every committed synthetic capture with
// the reference reader and checks the damaged ones fail as their .error
// files say.
func TestSyntheticCapturesReadBack(t *testing.T) {
	for _, sy := range synthetic {
		t.Run(sy.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join(capturesDir, sy.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := ReadCapture(f)
			want, werr := sy.c.Packets()
			if werr != nil {
				t.Fatal(werr)
			}
			switch sy.file {
			case "truncated.pcap":
				if err == nil || len(got) != len(want)-1 {
					t.Errorf("read %d of %d packets, err %v; want all but the last and an error", len(got), len(want), err)
				}
				return
			case "not-a-capture.pcap", "corrupt-start.pcap":
				if err == nil || len(got) != 0 {
					t.Errorf("read %d packets, err %v; want none and an error", len(got), err)
				}
				return
			}
			if err != nil || len(got) != len(want) {
				t.Fatalf("read %d of %d packets: %v", len(got), len(want), err)
			}
			for i := range got {
				w := want[i]
				if !bytes.Equal(got[i].Payload, w.Payload) || got[i].Src != w.Src || got[i].Dst != w.Dst {
					t.Fatalf("packet %d differs", i)
				}
				if d := got[i].At - (w.At - want[0].At); d < -time.Microsecond || d > time.Microsecond {
					t.Fatalf("packet %d at %v, want %v", i, got[i].At, w.At-want[0].At)
				}
			}
		})
	}
}

func TestShippedKeysFormat(t *testing.T) {
	c := Capture{Streams: []Stream{{Src: inSrc, Dst: inDst, Presses: []Press{{Key: '1'}}}}}
	if got := c.Keys(); got != shippedKeys {
		t.Errorf("Keys() = %q, want the format of %q", got, shippedKeys)
	}
}
