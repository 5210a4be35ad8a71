package capture

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"
)

func TestParseInfoKey(t *testing.T) {
	info := func(ctype, body string) []byte {
		return []byte(fmt.Sprintf("INFO sip:a@b SIP/2.0\r\nCall-ID: c9\r\nCSeq: 7 INFO\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", ctype, len(body), body))
	}
	for _, tc := range []struct {
		name string
		msg  []byte
		want dtmf.InfoKey
		ok   bool
	}{
		{"dtmf-relay", info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), dtmf.InfoKey{Key: '5', Duration: 1280}, true},
		{"dtmf", info("Application/DTMF", "#"), dtmf.InfoKey{Key: '#'}, true},
		{"flash", info("application/dtmf-relay", "Signal=16\r\n"), dtmf.InfoKey{}, false},
		{"other body", info("application/media_control+xml", "<x/>"), dtmf.InfoKey{}, false},
		{"not INFO", []byte("MESSAGE sip:a@b SIP/2.0\r\nContent-Type: application/dtmf\r\n\r\n5"), dtmf.InfoKey{}, false},
		{"response", []byte("SIP/2.0 200 OK\r\nContent-Type: application/dtmf\r\n\r\n5"), dtmf.InfoKey{}, false},
		{"no blank line", []byte("INFO sip:a@b SIP/2.0\r\nContent-Type: application/dtmf\r\n"), dtmf.InfoKey{}, false},
	} {
		k, callID, cseq, ok := ParseInfoKey(tc.msg)
		if k != tc.want || ok != tc.ok || ok && (callID != "c9" || cseq != "7 INFO") {
			t.Errorf("%s: %+v %q %q %v", tc.name, k, callID, cseq, ok)
		}
	}
}

// infoCapture is the call in testdata/sip-info.pcap: a phone at
// 192.0.2.10 called by denwa at 192.0.2.20 presses # both as RFC 4733 and
// as SIP INFO (application/dtmf-relay), then 5 as INFO only (application/dtmf,
// its request retransmitted), and sends two INFOs that hold no key (a
// flash, an XML body).
func infoCapture(t *testing.T) ([]mediatest.Packet, []InfoKey) {
	t.Helper()
	phone, denwa := netip.MustParseAddrPort("192.0.2.10:5060"), netip.MustParseAddrPort("192.0.2.20:5060")
	rtpPhone, rtpDenwa := netip.MustParseAddrPort("192.0.2.10:40000"), netip.MustParseAddrPort("192.0.2.20:30000")
	st := mediatest.Stream{SSRC: 0x5150, Src: rtpPhone, Dst: rtpDenwa, Timestamp: 1000, Seq: 10,
		Start: 100 * time.Millisecond, Duration: 1500 * time.Millisecond,
		Presses: []mediatest.Press{{Key: '#', At: 300 * time.Millisecond, Mode: mediatest.RFC4733}}}
	pkts, err := st.Packets()
	if err != nil {
		t.Fatal(err)
	}
	sdp := func(ap netip.AddrPort) string {
		return fmt.Sprintf("v=0\r\no=- 1 1 IN IP4 %s\r\ns=-\r\nc=IN IP4 %s\r\nt=0 0\r\nm=audio %d RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n", ap.Addr(), ap.Addr(), ap.Port())
	}
	msg := func(first, cseq, ctype, body string) []byte {
		return []byte(fmt.Sprintf("%s\r\nVia: SIP/2.0/UDP x;branch=z9hG4bK-%s\r\nFrom: <sip:denwa@192.0.2.20>;tag=d\r\nTo: <sip:1000@192.0.2.10>;tag=p\r\n"+
			"Call-ID: info-call\r\nCSeq: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s",
			first, strings.ReplaceAll(cseq, " ", ""), cseq, ctype, len(body), body))
	}
	at := func(d time.Duration, src, dst netip.AddrPort, b []byte) {
		pkts = append(pkts, mediatest.Packet{At: d, Src: src, Dst: dst, Payload: b})
	}
	at(0, denwa, phone, msg("INVITE sip:1000@192.0.2.10 SIP/2.0", "1 INVITE", "application/sdp", sdp(rtpDenwa)))
	at(80*time.Millisecond, phone, denwa, msg("SIP/2.0 200 OK", "1 INVITE", "application/sdp", sdp(rtpPhone)))
	at(90*time.Millisecond, denwa, phone, msg("ACK sip:1000@192.0.2.10 SIP/2.0", "1 ACK", "application/sdp", ""))
	at(405*time.Millisecond, phone, denwa, msg("INFO sip:denwa@192.0.2.20 SIP/2.0", "2 INFO", "application/dtmf-relay", "Signal=#\r\nDuration=100\r\n"))
	at(407*time.Millisecond, denwa, phone, msg("SIP/2.0 200 OK", "2 INFO", "application/sdp", ""))
	at(900*time.Millisecond, phone, denwa, msg("INFO sip:denwa@192.0.2.20 SIP/2.0", "3 INFO", "application/dtmf", "5\r\n"))
	at(1400*time.Millisecond, phone, denwa, msg("INFO sip:denwa@192.0.2.20 SIP/2.0", "3 INFO", "application/dtmf", "5\r\n")) // its 200 was lost
	at(1402*time.Millisecond, denwa, phone, msg("SIP/2.0 200 OK", "3 INFO", "application/sdp", ""))
	at(1450*time.Millisecond, phone, denwa, msg("INFO sip:denwa@192.0.2.20 SIP/2.0", "4 INFO", "application/dtmf-relay", "Signal=16\r\nDuration=250\r\n"))
	at(1500*time.Millisecond, phone, denwa, msg("INFO sip:denwa@192.0.2.20 SIP/2.0", "5 INFO", "application/media_control+xml", "<media_control/>"))
	slices.SortStableFunc(pkts, func(a, b mediatest.Packet) int { return int(a.At - b.At) })
	ep := mediatest.DefaultEpoch
	return pkts, []InfoKey{
		{Time: ep.Add(405 * time.Millisecond), Src: phone, Dst: denwa, CallID: "info-call", Key: '#', Duration: 800},
		{Time: ep.Add(900 * time.Millisecond), Src: phone, Dst: denwa, CallID: "info-call", Key: '5'},
	}
}

// TestInfoCaptureGolden: testdata/sip-info.pcap is infoCapture written
// byte for byte (rewritten with -update), and Detect finds its INFO keys
// once each, the RTP stream's # apart.
func TestInfoCaptureGolden(t *testing.T) {
	pkts, want := infoCapture(t)
	var buf bytes.Buffer
	if err := mediatest.WriteCapture(&buf, mediatest.CaptureOptions{}, pkts); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("testdata", "sip-info.pcap")
	if *update {
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, buf.Bytes()) {
		t.Fatalf("%s differs from what infoCapture writes: go test ./media/capture -run TestInfoCaptureGolden -update", file)
	}
	res, err := Detect(bytes.NewReader(got), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(res.Info, want) {
		t.Errorf("Info\n got %+v\nwant %+v", res.Info, want)
	}
	if res.SIP.Info != 3 || res.SIP.Messages != 10 || len(res.Streams) != 1 {
		t.Errorf("SIP %+v, %d streams", res.SIP, len(res.Streams))
	}
	if s := res.Streams[0]; len(s.Keys) != 1 || s.Keys[0].Key != '#' || s.Keys[0].Source != dtmf.SourceRFC4733 || !s.FromSDP {
		t.Errorf("RTP stream %+v", s)
	}
}
