package media

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"
)

// theirSDP is the far end's description: version v, at addr:port, with
// extra lines (direction, formats) in the m= section.
func theirSDP(v, addr string, port string, formats string, extra ...string) []byte {
	s := "v=0\r\no=- 77 " + v + " IN IP4 " + addr + "\r\ns=-\r\nc=IN IP4 " + addr + "\r\nt=0 0\r\n" +
		"m=audio " + port + " RTP/AVP " + formats + "\r\n" +
		"a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:96 telephone-event/8000\r\n"
	for _, e := range extra {
		s += e + "\r\n"
	}
	return []byte(s)
}

// reofferFixture is a call denwa offered (PCMU, PCMA, 101) and the far
// end answered with PCMU and telephone-event 96 at 192.0.2.7:4000.
func reofferFixture(t testing.TB) ReofferConfig {
	t.Helper()
	local, err := Offer(OfferConfig{Addr: netip.MustParseAddr("192.0.2.10"), Port: 30000, SessionID: 42, SessionVersion: 1})
	if err != nil {
		t.Fatal(err)
	}
	remote := theirSDP("1", "192.0.2.7", "4000", "0 96", "a=sendrecv")
	cur, err := ParseAnswer(remote, OfferConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Direction = SendRecv
	return ReofferConfig{Local: local, Remote: remote, Current: cur}
}

func originVersion(t *testing.T, body []byte) string {
	t.Helper()
	for line := range strings.SplitSeq(string(body), "\r\n") {
		if o, ok := strings.CutPrefix(line, "o="); ok {
			return strings.Fields(o)[2]
		}
	}
	t.Fatalf("no o= in %q", body)
	return ""
}

func TestAnswerReoffer(t *testing.T) {
	tests := []struct {
		name    string
		offer   []byte
		dir     string // our direction in the answer
		remote  string
		codec   PayloadKind
		pt, ev  uint8
		version string // of our answer
		changed bool
	}{
		{name: "refresh, identical", offer: theirSDP("1", "192.0.2.7", "4000", "0 96", "a=sendrecv"),
			dir: SendRecv, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "1"},
		{name: "hold sendonly", offer: theirSDP("2", "192.0.2.7", "4000", "0 96", "a=sendonly"),
			dir: RecvOnly, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "hold inactive", offer: theirSDP("2", "192.0.2.7", "4000", "0 8 96", "a=inactive"),
			dir: Inactive, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "hold RFC 2543", offer: theirSDP("2", "0.0.0.0", "4000", "0 96"),
			dir: Inactive, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "they want to listen only", offer: theirSDP("2", "192.0.2.7", "4000", "0 96", "a=recvonly"),
			dir: SendOnly, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "moved", offer: theirSDP("2", "192.0.2.8", "5000", "0 8 96", "a=sendrecv"),
			dir: SendRecv, remote: "192.0.2.8:5000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "codec kept while offered second", offer: theirSDP("2", "192.0.2.7", "4000", "8 0 96"),
			dir: SendRecv, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 96, version: "2", changed: true},
		{name: "codec must change", offer: theirSDP("2", "192.0.2.7", "4000", "8 96"),
			dir: SendRecv, remote: "192.0.2.7:4000", codec: KindPCMA, pt: 8, ev: 96, version: "2", changed: true},
		{name: "no events any more", offer: theirSDP("2", "192.0.2.7", "4000", "0 8"),
			dir: SendRecv, remote: "192.0.2.7:4000", codec: KindPCMU, pt: 0, ev: 0, version: "2", changed: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := reofferFixture(t)
			r, err := AnswerReoffer(tt.offer, cfg)
			if err != nil {
				t.Fatal(err)
			}
			m := r.Media
			if m.Direction != tt.dir || m.Remote.String() != tt.remote || m.Codec != tt.codec || m.PayloadType != tt.pt || m.EventPT != tt.ev {
				t.Errorf("media %s, want %s %s %s/%d te=%d", m.String(), tt.remote, tt.dir, tt.codec, tt.pt, tt.ev)
			}
			if r.Changed != tt.changed || originVersion(t, r.Body) != tt.version {
				t.Errorf("changed %v version %s, want %v %s", r.Changed, originVersion(t, r.Body), tt.changed, tt.version)
			}
			if !r.Changed && !bytes.Equal(r.Body, cfg.Local) {
				t.Error("unchanged answer is not Local")
			}
			// Our side never moves.
			ours, err := ParseSDPAudio(r.Body)
			if err != nil || ours[0].Addr.String() != "192.0.2.10:30000" {
				t.Errorf("answer's address %v (%v)", ours, err)
			}
			if !strings.Contains(string(r.Body), "o=denwa 42 ") {
				t.Errorf("session ID not kept:\n%s", r.Body)
			}
			if tt.dir != SendRecv && !strings.Contains(string(r.Body), "a="+tt.dir) {
				t.Errorf("answer lacks a=%s:\n%s", tt.dir, r.Body)
			}
			// Answered again, the same offer gives the same answer, unchanged.
			cfg2 := cfg
			cfg2.Local, cfg2.Remote, cfg2.Current = r.Body, tt.offer, r.Media
			r2, err := AnswerReoffer(tt.offer, cfg2)
			if err != nil || r2.Changed || !bytes.Equal(r2.Body, r.Body) {
				t.Errorf("the same offer again: changed %v (%v)", r2.Changed, err)
			}
			// The same offer with its version bumped but nothing else: our
			// answer says the same, so keeps its version. (The refresh
			// case's Local is still our first offer, which an answer
			// changes.)
			if !tt.changed {
				return
			}
			bumped := bytes.Replace(tt.offer, []byte("o=- 77 "+originVersion(t, tt.offer)), []byte("o=- 77 9"), 1)
			r3, err := AnswerReoffer(bumped, cfg2)
			if err != nil || r3.Changed || !bytes.Equal(r3.Body, r.Body) {
				t.Errorf("a bumped but equal offer: changed %v (%v)\n%s\n%s", r3.Changed, err, r3.Body, r.Body)
			}
		})
	}
}

func TestAnswerReofferRefused(t *testing.T) {
	cfg := reofferFixture(t)
	for name, tc := range map[string]struct {
		offer []byte
		want  error
	}{
		"no common codec": {theirSDP("2", "192.0.2.7", "4000", "18 96", "a=rtpmap:18 G729/8000"), ErrNoCommonCodec},
		"audio removed":   {theirSDP("2", "192.0.2.7", "0", "0 96"), ErrMediaRejected},
		"garbage":         {[]byte("hello"), ErrSDP},
	} {
		if _, err := AnswerReoffer(tc.offer, cfg); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", name, err, tc.want)
		}
	}
	bad := cfg
	bad.Local = []byte("v=0\r\n")
	if _, err := AnswerReoffer(theirSDP("2", "192.0.2.7", "4000", "0"), bad); !errors.Is(err, ErrConfig) {
		t.Errorf("unusable Local: %v", err)
	}
}

// An offer with video and two audio lines: the first audio line is
// answered, the rest rejected with port 0, in order.
func TestAnswerReofferOtherLines(t *testing.T) {
	cfg := reofferFixture(t)
	offer := []byte("v=0\r\no=- 77 2 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n" +
		"m=video 6000 RTP/AVP 31\r\nm=audio 4000 RTP/AVP 0\r\nm=audio 4002 RTP/AVP 8\r\n")
	r, err := AnswerReoffer(offer, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := string(r.Body)
	for _, want := range []string{"m=video 0 RTP/AVP 31", "m=audio 30000 RTP/AVP 0", "m=audio 0 RTP/AVP 8"} {
		if !strings.Contains(s, want) {
			t.Errorf("answer lacks %q:\n%s", want, s)
		}
	}
	if r.Media.Remote.String() != "192.0.2.7:4000" {
		t.Errorf("remote %v", r.Media.Remote)
	}
}

// Reoffer: our full offer for a re-INVITE without SDP, the answer to it
// read back.
func TestReoffer(t *testing.T) {
	cfg := reofferFixture(t)
	body, oc, err := Reoffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(body, cfg.Local) {
		t.Errorf("Reoffer of our own unchanged offer differs:\n%s\n%s", body, cfg.Local)
	}
	// After an answer with fewer codecs and recvonly, the offer is full
	// again and sendrecv, with the version bumped; telephone-event keeps
	// the number our answer used.
	r, err := AnswerReoffer(theirSDP("2", "192.0.2.7", "4000", "0 96", "a=sendonly"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Local = r.Body
	body, oc, err = Reoffer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := originVersion(t, body); v != "3" || !strings.Contains(string(body), "a=sendrecv") || !strings.Contains(string(body), "RTP/AVP 0 8 96") {
		t.Errorf("reoffer after hold (version %s):\n%s", v, body)
	}
	a, err := ParseAnswer(theirSDP("3", "192.0.2.7", "4000", "8 96", "a=sendrecv"), oc)
	if err != nil || a.Codec != KindPCMA || a.EventPT != 96 {
		t.Errorf("answer to the reoffer: %v %v", a.String(), err)
	}
	if AnswerDirection(a.Direction) != SendRecv {
		t.Errorf("AnswerDirection(%q)", a.Direction)
	}
}

// On an SRTP session (the phone's side here: it answered an SRTP offer),
// a re-offer that keeps the far end's key is answered with our key
// unchanged; one with a new key (a rekey) or without SRTP is refused.
func TestAnswerReofferSRTP(t *testing.T) {
	oc := OfferConfig{Addr: netip.MustParseAddr("192.0.2.7"), Port: 4000, SessionID: 77, SessionVersion: 1,
		SRTP: SRTPRequired, Crypto: OfferCrypto()}
	offer, err := Offer(oc)
	if err != nil {
		t.Fatal(err)
	}
	ac := AnswerConfig{Addr: netip.MustParseAddr("192.0.2.10"), Port: 30000, SessionID: 42, SRTP: SRTPRequired}
	local, neg, err := AnswerOffer(offer, ac)
	if err != nil || !neg.SRTP.Enabled() {
		t.Fatalf("answer: %v %v", neg.String(), err)
	}
	cfg := ReofferConfig{Local: local, Remote: offer, Current: neg}
	held := bytes.Replace(offer, []byte("a=sendrecv"), []byte("a=sendonly"), 1)
	held = bytes.Replace(held, []byte("o=denwa 77 1 "), []byte("o=denwa 77 2 "), 1)
	r, err := AnswerReoffer(held, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if r.Media.Direction != RecvOnly || !r.Media.SRTP.Equal(neg.SRTP) || !strings.Contains(string(r.Body), "RTP/SAVP") {
		t.Errorf("SRTP hold: %s\n%s", r.Media.String(), r.Body)
	}
	ourLine := func(b []byte) string {
		for l := range strings.SplitSeq(string(b), "\r\n") {
			if strings.HasPrefix(l, "a=crypto:") {
				return l
			}
		}
		return ""
	}
	if ourLine(r.Body) == "" || ourLine(r.Body) != ourLine(local) {
		t.Errorf("our key changed in the re-answer")
	}
	oc.Crypto, oc.SessionVersion = OfferCrypto(), 3
	rekey, _ := Offer(oc)
	if _, err := AnswerReoffer(rekey, cfg); !errors.Is(err, ErrSRTPRequired) {
		t.Errorf("rekey: %v", err)
	}
	if _, err := AnswerReoffer(theirSDP("4", "192.0.2.7", "4000", "0"), cfg); !errors.Is(err, ErrSRTPRequired) {
		t.Errorf("plain re-offer on an SRTP session: %v", err)
	}
}
