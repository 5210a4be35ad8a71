package capture

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media"
	"denwa/media/mediatest"

	"github.com/gopacket/gopacket/layers"
)

func sipMessage(first string, sdp []byte) []byte {
	return []byte(fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK1\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", first, len(sdp), sdp))
}

func crlf(lines ...string) []byte { return []byte(strings.Join(lines, "\r\n") + "\r\n") }

// fromHex decodes hex written with spaces.
func fromHex(s string) []byte {
	b, _ := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	return b
}

// tone returns n samples of the DTMF pair of k, each tone at −10 dBm0.
func tone(k dtmf.Key, n int) []int16 {
	x := make([]int16, n)
	mediatest.ToneTo(x, 0, k, mediatest.DefaultLevel, mediatest.DefaultLevel)
	return x
}

func sdpFor(ap netip.AddrPort, fmts string, attrs ...string) []byte {
	ipv := "IP4"
	if !ap.Addr().Is4() {
		ipv = "IP6"
	}
	lines := []string{"v=0", "o=- 1 1 IN " + ipv + " " + ap.Addr().String(), "s=-", "c=IN " + ipv + " " + ap.Addr().String(), "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP %s", ap.Port(), fmts)}
	return crlf(append(lines, attrs...)...)
}

// testCall builds a capture of two calls and some noise:
//
//	call 1 (IPv4, SIP seen): a4→b4 PCMU with RFC 4733 "*#" on PT 100 (from
//	the 200 OK's SDP); b4→a4 PCMA silence, events would be PT 96.
//	call 2 (IPv6, no SIP): a6→b6 PCMU with in-band "1", then RFC 4733 "0"
//	on PT 101 (guessed).
//	noise: RTCP, DNS, STUN, a SIP OPTIONS without body, a SIP message with
//	broken SDP.
func testCall(t testing.TB) []tpkt {
	sipA := netip.AddrPortFrom(a4.Addr(), 5060)
	sipB := netip.AddrPortFrom(b4.Addr(), 5060)
	var pkts []tpkt
	add := func(at time.Duration, src, dst netip.AddrPort, payload []byte) {
		pkts = append(pkts, tpkt{at: at, src: src, dst: dst, payload: payload})
	}
	add(0, sipA, sipB, sipMessage("INVITE sip:1000@198.51.100.20 SIP/2.0", sdpFor(a4, "0 8 96", "a=rtpmap:96 telephone-event/8000")))
	add(5*time.Millisecond, sipB, sipA, []byte("SIP/2.0 100 Trying\r\nContent-Length: 0\r\n\r\n"))
	add(10*time.Millisecond, sipB, sipA, sipMessage("SIP/2.0 200 OK", sdpFor(b4, "0 100", "a=rtpmap:100 telephone-event/8000")))
	add(15*time.Millisecond, sipB, sipA, sipMessage("SIP/2.0 200 OK", []byte("v=0\r\nm=audio nope\r\n")))

	s1 := &mediatest.Synth{SSRC: 0x1111, TS: 5000, Seq: 100}
	s1.Silence(200)
	s1.Press(100, '*', 100)
	s1.Silence(300)
	s1.Press(100, '#', 100)
	s1.Silence(200)
	s2 := &mediatest.Synth{SSRC: 0x2222, TS: 7000, Seq: 9}
	s2.Silence(1200)
	for _, p := range s2.Packets {
		p[1] = 8 // PCMA silence: 0xFF is a small value in A-law too
	}
	s3 := &mediatest.Synth{SSRC: 0x3333, TS: 0xFFFFF000, Seq: 65500}
	s3.Silence(100)
	s3.Audio(tone('1', 800))
	s3.Silence(300)
	s3.Press(101, '0', 100)
	s3.Silence(200)
	for i, p := range s3.Packets {
		add(30*time.Millisecond+time.Duration(i)*20*time.Millisecond, a6, b6, p)
	}
	for i, p := range s1.Packets {
		add(40*time.Millisecond+time.Duration(i)*20*time.Millisecond, a4, b4, p)
	}
	for i, p := range s2.Packets {
		add(50*time.Millisecond+time.Duration(i)*20*time.Millisecond, b4, a4, p)
	}
	add(500*time.Millisecond, netip.AddrPortFrom(a4.Addr(), 40001), netip.AddrPortFrom(b4.Addr(), 50001),
		fromHex("80c8 0006 00001111 00000000 00000000 00000000 00000000 00000000")) // RTCP SR
	add(510*time.Millisecond, a4, netip.MustParseAddrPort("192.0.2.53:53"), fromHex("8180 0001 0000 0000 0000 0000 0000")) // DNS
	add(520*time.Millisecond, a4, b4, fromHex("0001 0000 2112a442 000000000000000000000000"))                              // STUN
	add(530*time.Millisecond, sipA, sipB, []byte("OPTIONS sip:b SIP/2.0\r\nContent-Length: 0\r\n\r\n"))
	return sortPkts(pkts)
}

func sortPkts(p []tpkt) []tpkt {
	for i := 1; i < len(p); i++ { // insertion sort, stable
		for j := i; j > 0 && p[j].at < p[j-1].at; j-- {
			p[j], p[j-1] = p[j-1], p[j]
		}
	}
	return p
}

// The mechanics of Detect, independent of key detection: streams,
// their order, payload types learned from SDP, counters.
func TestDetectStreams(t *testing.T) {
	pkts := testCall(t)
	for _, v := range []struct {
		name string
		in   []byte
	}{
		{"pcap ethernet", writePcap(t, layers.LinkTypeEthernet, pkts)},
		{"pcapng sll2", writePcapng(t, layers.LinkTypeLinuxSLL2, pkts)},
		{"pcap loopback", writePcap(t, layers.LinkTypeNull, pkts)},
	} {
		t.Run(v.name, func(t *testing.T) {
			res, err := Detect(bytes.NewReader(v.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Streams) != 3 {
				t.Fatalf("%d streams, want 3", len(res.Streams))
			}
			wantIDs := []media.StreamID{{SSRC: 0x3333, Src: a6, Dst: b6}, {SSRC: 0x1111, Src: a4, Dst: b4}, {SSRC: 0x2222, Src: b4, Dst: a4}}
			wantPT := []string{"0:PCMU 8:PCMA", "0:PCMU 100:telephone-event", "0:PCMU 8:PCMA 96:telephone-event"}
			wantSDP := []bool{false, true, true}
			for i, s := range res.Streams {
				if s.ID != wantIDs[i] || s.PayloadTypes.String() != wantPT[i] || s.FromSDP != wantSDP[i] {
					t.Errorf("stream %d: %v pts %q sdp %v; want %v %q %v", i, s.ID, s.PayloadTypes.String(), s.FromSDP, wantIDs[i], wantPT[i], wantSDP[i])
				}
			}
			if st := res.Streams[1].Stats; st.Audio != 35 || st.Events != 2*(4+3) || st.Lost != 0 || st.Bad != 0 || st.Guessed != 0 {
				t.Errorf("call 1 stats %+v", st)
			}
			if st := res.Streams[0].Stats; st.Events != 4+3 || st.Guessed != 7 || st.Audio != 5+5+15+10 {
				t.Errorf("call 2 stats %+v", st)
			}
			if !res.Streams[1].FirstSeen.Equal(epoch.Add(40*time.Millisecond)) || !res.Streams[0].FirstSeen.Equal(epoch.Add(30*time.Millisecond)) {
				t.Errorf("first seen %v, %v", res.Streams[1].FirstSeen, res.Streams[0].FirstSeen)
			}
			if res.SIP != (SIPStats{Messages: 5, SDP: 2, BadSDP: 1}) || res.RTCP != 1 || res.NotRTP != 2 {
				t.Errorf("sip %+v rtcp %d notRTP %d", res.SIP, res.RTCP, res.NotRTP)
			}
		})
	}
}

// Workers change nothing but speed.
func TestDetectWorkers(t *testing.T) {
	in := writePcap(t, layers.LinkTypeEthernet, testCall(t))
	one, err1 := Detect(bytes.NewReader(in), Options{Workers: 1})
	many, err2 := Detect(bytes.NewReader(in), Options{Workers: 8})
	if err1 != nil || err2 != nil {
		t.Fatal(err1, err2)
	}
	if !reflect.DeepEqual(one, many) {
		t.Error("results differ between 1 and 8 workers")
	}
}

// A capture cut in its last record keeps every stream before the cut.
func TestDetectTruncated(t *testing.T) {
	in := writePcap(t, layers.LinkTypeEthernet, testCall(t))
	res, err := Detect(bytes.NewReader(in[:len(in)-5]), Options{})
	if !errors.Is(err, ErrTruncated) || res == nil || len(res.Streams) != 3 {
		t.Fatalf("err %v, result %v", err, res)
	}
	if _, err := Detect(bytes.NewReader([]byte("hello")), Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("text: %v", err)
	}
	if _, err := Detect(bytes.NewReader(in), Options{Receiver: media.ReceiverConfig{MaxGap: -5}}); !errors.Is(err, media.ErrConfig) {
		t.Errorf("bad config: %v", err)
	}
}

// The keys of testCall; needs the real dtmf package.
func TestDetectKeys(t *testing.T) {
	res, err := Detect(bytes.NewReader(writePcapng(t, layers.LinkTypeEthernet, testCall(t))), Options{})
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		k   dtmf.Key
		src dtmf.Source
		ms  int64
	}
	want := [][]key{
		{{'1', dtmf.SourceInband, 100}, {'0', dtmf.SourceRFC4733, 500}},
		{{'*', dtmf.SourceRFC4733, 200}, {'#', dtmf.SourceRFC4733, 600}},
		nil,
	}
	for i, s := range res.Streams {
		var got []key
		for _, k := range s.Keys {
			got = append(got, key{k.Key, k.Source, k.At.Milliseconds()})
			if k.Stream != s.ID {
				t.Errorf("key %v names stream %v", k, k.Stream)
			}
		}
		if len(got) != len(want[i]) {
			t.Errorf("stream %d: keys %v, want %v", i, got, want[i])
			continue
		}
		for j := range got {
			w, g := want[i][j], got[j]
			if g.k != w.k || g.src != w.src || g.ms < w.ms-15 || g.ms > w.ms+30 {
				t.Errorf("stream %d key %d: %v, want %v", i, j, g, w)
			}
		}
	}
}
