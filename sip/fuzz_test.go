package sip_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

var update = flag.Bool("update", false, "rewrite the fuzz seed corpora in testdata/fuzz")

// dialAnswerSeeds are SDP bodies for the 2xx of FuzzDialAnswer; "@PORT@"
// stands for the port of the fuzz target's RTP sink.
var dialAnswerSeeds = map[string]string{
	"pcmu-te": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio @PORT@ RTP/AVP 0 101\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
	"pcma-pt96-lf": "v=0\no=- 2 2 IN IP4 127.0.0.1\ns=-\nc=IN IP4 127.0.0.1\nt=0 0\nm=audio @PORT@ RTP/AVP 8 96\na=rtpmap:8 PCMA/8000\na=rtpmap:96 telephone-event/8000\na=recvonly\n",
	"g729-only":    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio @PORT@ RTP/AVP 18\r\na=rtpmap:18 G729/8000\r\n",
	"port-zero":    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
	"video-first": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\nc=IN IP4 127.0.0.1\r\na=rtpmap:96 H264/90000\r\n" +
		"m=audio @PORT@ RTP/AVP 0\r\nc=IN IP4 127.0.0.1\r\n",
	"static-no-rtpmap": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio @PORT@ RTP/AVP 8 0\r\n",
	"garbage":          "v=banana\r\n\x00\xff m=audio lots RTP/AVP x\r\nc=IN IP9 ::::\r\n",
	"empty":            "",
}

// parseChallengeSeeds extend digest_test.go's f.Add seeds for package
// sip's FuzzParseChallenge (the corpus files are read by that target).
var parseChallengeSeeds = map[string]string{
	"rfc7616":        `Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=SHA-256, nonce="7ypf", opaque="FQhe"`,
	"escaped-quote":  `Digest realm="x\"y", nonce="n", stale=true`,
	"unbalanced":     `Digest realm="x, nonce=n`,
	"rfc2617":        `Digest realm="testrealm@host.com", qop="auth,auth-int", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"`,
	"userhash-sess":  `Digest realm="r", nonce="n", algorithm=SHA-256-sess, userhash=true, qop=auth`,
	"basic":          `Basic realm="r"`,
	"no-nonce":       `Digest realm="r", qop="auth"`,
	"comma-in-quote": `Digest realm="a, b=c", nonce="n,,", opaque=""`,
	"empty":          ``,
}

// FuzzDialAnswer places a call whose 2xx carries the fuzzed bytes as its
// SDP answer, through the whole of the dialer's answer handling: ACK,
// media.ParseAnswer, starting media or, for an unusable answer, BYE and a
// CallError. The outcome must agree with media.ParseAnswer on the same
// bytes: a call whose negotiated media is what ParseAnswer reads, or a
// *sip.CallError for the 200 that wraps ParseAnswer's error class; never
// a panic, a hang, another outcome or a port left taken.
//
// To keep RTP on loopback and off other tests' ports, a body that
// ParseAnswer accepts is dialled only when it sends RTP to the target's
// own sink socket; other accepted bodies are skipped (media's FuzzSIPSDP
// covers address parsing).
func FuzzDialAnswer(f *testing.F) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { sink.Close() })
	sinkAddr := sink.LocalAddr().(*net.UDPAddr).AddrPort()
	port := fmt.Sprint(sinkAddr.Port())

	var mu sync.Mutex
	var body []byte
	uas := siptest.NewScriptedUAS(f, func(req *siptest.Request) [][]byte {
		if req.Method != "INVITE" {
			return siptest.Polite(req)
		}
		mu.Lock()
		b := string(body)
		mu.Unlock()
		return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, ToTag: "fuzz", Body: b, ContentType: "application/sdp"})}
	})
	first, last := extRange()
	d, err := sip.NewDialer(sip.Config{Trunk: uas.URI(), Bind: "127.0.0.1:0", RTPPortFirst: first, RTPPortLast: last,
		InviteTimeout: 2 * time.Second, RingTimeout: 2 * time.Second, Logger: quietLogger()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { d.Close() })
	offered := media.OfferConfig{} // the dialer's defaults: PCMU, PCMA, telephone-event 101

	for _, name := range slices.Sorted(maps.Keys(dialAnswerSeeds)) {
		f.Add([]byte(dialAnswerSeeds[name]))
	}
	f.Fuzz(func(t *testing.T, sdp []byte) {
		sdp = []byte(strings.ReplaceAll(string(sdp), "@PORT@", port))
		want, wantErr := media.ParseAnswer(sdp, offered)
		if wantErr == nil && want.Remote != sinkAddr {
			t.Skipf("answer sends RTP to %v, not to the sink", want.Remote)
		}
		mu.Lock()
		body = sdp
		mu.Unlock()
		acks := uas.Count("ACK")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		call, err := d.Dial(ctx, "+81312345678", nil, nil)
		if !uas.Wait("ACK", acks+1, 2*time.Second) {
			t.Errorf("the 2xx was not ACKed")
		}
		switch {
		case wantErr == nil && err != nil:
			t.Fatalf("ParseAnswer accepts the answer (%v) but Dial failed: %v", &want, err)
		case wantErr == nil:
			if got := call.Media(); got.String() != want.String() || got.Codec != want.Codec {
				t.Errorf("call negotiated %v, ParseAnswer %v", &got, &want)
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
		case err == nil:
			call.Hangup(ctx)
			t.Fatalf("ParseAnswer refuses the answer (%v) but Dial returned a call", wantErr)
		default:
			var ce *sip.CallError
			if !errors.As(err, &ce) || ce.Status != 200 {
				t.Fatalf("err %v, want a *sip.CallError for the 200", err)
			}
			switch {
			case errors.Is(wantErr, media.ErrNoCommonCodec):
				if ce.Kind != sip.NoCommonCodec || !errors.Is(err, media.ErrNoCommonCodec) {
					t.Errorf("err %v (kind %v), want NoCommonCodec", err, ce.Kind)
				}
			case ce.Kind != sip.Failed || !errors.Is(err, sip.ErrBadResponse):
				t.Errorf("err %v (kind %v), want Failed wrapping ErrBadResponse (ParseAnswer: %v)", err, ce.Kind, wantErr)
			}
		}
		if n := sip.RTPPortsInUse(d); n != 0 {
			t.Errorf("%d RTP ports in use after the call", n)
		}
	})
}

// TestWriteFuzzSeeds rewrites testdata/fuzz/{FuzzDialAnswer,
// FuzzParseChallenge} from the seed tables above when run with -update.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite the seed corpora")
	}
	write := func(target string, seeds map[string]string, typ string) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, s := range seeds {
			v := fmt.Sprintf("%q", s)
			if typ == "[]byte" {
				v = "[]byte(" + v + ")"
			} else {
				v = "string(" + v + ")"
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+v+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzDialAnswer", dialAnswerSeeds, "[]byte")
	write("FuzzParseChallenge", parseChallengeSeeds, "string")
}
