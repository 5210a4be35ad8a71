package media

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"
)

// fixedCrypto returns a line whose key is 0, 1, 2, … (for seeds and
// golden values; real keys come from NewCrypto).
func fixedCrypto(tag int, suite CryptoSuite) Crypto {
	k := make([]byte, suite.keyLen())
	for i := range k {
		k[i] = byte(i + tag)
	}
	return Crypto{Tag: tag, Suite: suite, key: &masterKey{b: k}}
}

func TestParseCrypto(t *testing.T) {
	key30 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 30))
	key46 := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, 46))
	raw30 := base64.RawStdEncoding.EncodeToString(bytes.Repeat([]byte{0xfb}, 30))
	ok := []struct {
		name, in string
		tag      int
		suite    CryptoSuite
	}{
		{"128/80", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30, 1, SuiteAES128SHA1_80},
		{"lifetime 2^n", "2 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^31", 2, SuiteAES128SHA1_80},
		{"lifetime decimal", "3 AES_CM_128_HMAC_SHA1_32 inline:" + key30 + "|1048576", 3, SuiteAES128SHA1_32},
		{"256/80", "12 AES_256_CM_HMAC_SHA1_80 inline:" + key46, 12, SuiteAES256SHA1_80},
		{"256/32", "4 AES_256_CM_HMAC_SHA1_32 inline:" + key46, 4, SuiteAES256SHA1_32},
		{"lower case, tabs", "5\taes_cm_128_hmac_sha1_80\tINLINE:" + key30, 5, SuiteAES128SHA1_80},
		{"unpadded base64", "6 AES_CM_128_HMAC_SHA1_80 inline:" + raw30, 6, SuiteAES128SHA1_80},
		{"WSH", "7 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " WSH=64", 7, SuiteAES128SHA1_80},
		{"nine digits", "999999999 AES_CM_128_HMAC_SHA1_80 inline:" + key30, 999999999, SuiteAES128SHA1_80},
	}
	for _, c := range ok {
		got, err := ParseCrypto(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got.Tag != c.tag || got.Suite != c.suite || got.key == nil || len(got.key.b) != c.suite.keyLen() {
			t.Errorf("%s: got %v", c.name, got)
		}
	}
	bad := []struct{ name, in, want string }{
		{"empty", "", "0 fields"},
		{"two fields", "1 AES_CM_128_HMAC_SHA1_80", "fields"},
		{"tag zero", "0 AES_CM_128_HMAC_SHA1_80 inline:" + key30, "tag"},
		{"tag letters", "x AES_CM_128_HMAC_SHA1_80 inline:" + key30, "tag"},
		{"tag ten digits", "1000000000 AES_CM_128_HMAC_SHA1_80 inline:" + key30, "tag"},
		{"suite", "1 F8_128_HMAC_SHA1_80 inline:" + key30, "not supported"},
		{"GCM", "1 AEAD_AES_128_GCM inline:" + key30, "not supported"},
		{"method", "1 AES_CM_128_HMAC_SHA1_80 uri:" + key30, "not inline"},
		{"MKI", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:4", "MKI"},
		{"MKI alone", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|1:1", "MKI"},
		{"lifetime", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|forever", "lifetime"},
		{"too many", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + "|2^20|1:1|x", "too many"},
		{"two keys", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + ";inline:" + key30, "several keys"},
		{"short key", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30[:20], "bytes"},
		{"256 key for 128", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key46, "46 bytes"},
		{"not base64", "1 AES_CM_128_HMAC_SHA1_80 inline:!!!!" + key30[4:], "base64"},
		{"session param", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " UNENCRYPTED_SRTP", "UNENCRYPTED_SRTP"},
		{"KDR", "1 AES_CM_128_HMAC_SHA1_80 inline:" + key30 + " KDR=1", "KDR"},
	}
	for _, c := range bad {
		_, err := ParseCrypto(c.in)
		if !errors.Is(err, ErrCrypto) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrCrypto mentioning %q", c.name, err, c.want)
			continue
		}
		for _, k := range []string{key30, key46, raw30, key30[:20]} {
			if strings.Contains(err.Error(), k) {
				t.Errorf("%s: the error holds the key: %v", c.name, err)
			}
		}
	}
}

func TestCryptoRoundTrip(t *testing.T) {
	for _, s := range []CryptoSuite{SuiteAES128SHA1_80, SuiteAES256SHA1_80, SuiteAES128SHA1_32, SuiteAES256SHA1_32} {
		c, err := NewCrypto(3, s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseCrypto(c.attrValue())
		if err != nil {
			t.Fatalf("%v: %v", s, err)
		}
		if got.Tag != 3 || got.Suite != s || !bytes.Equal(got.key.b, c.key.b) {
			t.Errorf("%v: round trip gave %v", s, got)
		}
	}
	a, b := OfferCrypto(), OfferCrypto()
	if len(a) != 2 || a[0].Suite != SuiteAES128SHA1_80 || a[1].Suite != SuiteAES256SHA1_80 || a[0].Tag != 1 || a[1].Tag != 2 {
		t.Fatalf("OfferCrypto = %v", a)
	}
	if bytes.Equal(a[0].key.b, b[0].key.b) || bytes.Equal(a[0].key.b[:16], a[1].key.b[:16]) {
		t.Error("OfferCrypto repeats a key")
	}
	if _, err := NewCrypto(0, SuiteAES128SHA1_80); !errors.Is(err, ErrConfig) {
		t.Errorf("tag 0: %v", err)
	}
	if _, err := NewCrypto(1, 0); !errors.Is(err, ErrConfig) {
		t.Errorf("suite 0: %v", err)
	}
}

func TestParseSRTPMode(t *testing.T) {
	for in, want := range map[string]SRTPMode{"": SRTPOff, "off": SRTPOff, "Optional": SRTPOptional, " required ": SRTPRequired} {
		if got, err := ParseSRTPMode(in); err != nil || got != want {
			t.Errorf("%q: %v %v", in, got, err)
		}
		if want.String() != strings.ToLower(strings.TrimSpace(in)) && in != "" {
			t.Errorf("%v.String() = %q", want, want.String())
		}
	}
	if _, err := ParseSRTPMode("sdes"); !errors.Is(err, ErrConfig) {
		t.Errorf("sdes: %v", err)
	}
}

// exchange runs an SDES offer/answer: denwa offers in offerMode, the
// phone simulator answers in answerMode.
func exchange(t *testing.T, offerMode, answerMode SRTPMode) (offer, answer []byte, caller, callee Answer, callerErr, calleeErr error) {
	t.Helper()
	oc := OfferConfig{Addr: netip.MustParseAddr("192.0.2.1"), Port: 30000, SRTP: offerMode}
	if offerMode != SRTPOff {
		oc.Crypto = OfferCrypto()
	}
	offer, err := Offer(oc)
	if err != nil {
		t.Fatal(err)
	}
	answer, callee, calleeErr = AnswerOffer(offer, AnswerConfig{Addr: netip.MustParseAddr("192.0.2.2"), Port: 40000, SRTP: answerMode})
	if calleeErr != nil {
		return offer, nil, Answer{}, callee, nil, calleeErr
	}
	caller, callerErr = ParseAnswer(answer, oc)
	return offer, answer, caller, callee, callerErr, nil
}

func TestSRTPOfferAnswer(t *testing.T) {
	cases := []struct {
		offer, answer SRTPMode
		offerProto    string
		srtp          bool
		calleeErr     error // the answerer refuses (488)
	}{
		{SRTPOff, SRTPOff, "RTP/AVP", false, nil},
		{SRTPOff, SRTPOptional, "RTP/AVP", false, nil},
		{SRTPOff, SRTPRequired, "RTP/AVP", false, ErrSRTPRequired},
		{SRTPOptional, SRTPOff, "RTP/AVP", false, nil},
		{SRTPOptional, SRTPOptional, "RTP/AVP", true, nil},
		{SRTPOptional, SRTPRequired, "RTP/AVP", true, nil},
		{SRTPRequired, SRTPOff, "RTP/SAVP", false, ErrMediaRejected},
		{SRTPRequired, SRTPOptional, "RTP/SAVP", true, nil},
		{SRTPRequired, SRTPRequired, "RTP/SAVP", true, nil},
	}
	for _, c := range cases {
		name := c.offer.String() + "→" + c.answer.String()
		offer, answer, caller, callee, callerErr, calleeErr := exchange(t, c.offer, c.answer)
		if !strings.Contains(string(offer), "m=audio 30000 "+c.offerProto+" 0 8 101\r\n") {
			t.Errorf("%s: offer:\n%s", name, offer)
		}
		if n := strings.Count(string(offer), "a=crypto:"); (c.offer == SRTPOff) != (n == 0) || n != 0 && n != 2 {
			t.Errorf("%s: %d crypto lines in the offer", name, n)
		}
		if c.calleeErr != nil {
			if !errors.Is(calleeErr, c.calleeErr) {
				t.Errorf("%s: answerer: %v, want %v", name, calleeErr, c.calleeErr)
			}
			continue
		}
		if calleeErr != nil || callerErr != nil {
			t.Errorf("%s: %v / %v", name, calleeErr, callerErr)
			continue
		}
		if caller.SRTP.Enabled() != c.srtp || callee.SRTP.Enabled() != c.srtp {
			t.Errorf("%s: SRTP %v/%v, want %v", name, caller.SRTP, callee.SRTP, c.srtp)
		}
		if n := strings.Count(string(answer), "a=crypto:"); c.srtp != (n == 1) || n > 1 {
			t.Errorf("%s: %d crypto lines in the answer:\n%s", name, n, answer)
		}
		if !strings.Contains(string(answer), "m=audio 40000 "+c.offerProto+" ") {
			t.Errorf("%s: answer's proto:\n%s", name, answer)
		}
		if c.srtp {
			// Each side sends with its own key and receives with the other's.
			cp, ep := caller.SRTP.p, callee.SRTP.p
			if cp.suite != SuiteAES128SHA1_80 || ep.suite != cp.suite ||
				!bytes.Equal(cp.send.b, ep.recv.b) || !bytes.Equal(cp.recv.b, ep.send.b) || bytes.Equal(cp.send.b, cp.recv.b) {
				t.Errorf("%s: keys do not pair", name)
			}
			if !strings.Contains(caller.String(), "SRTP AES_CM_128_HMAC_SHA1_80") {
				t.Errorf("%s: %s", name, caller.String())
			}
		}
	}
}

// sdpAnswer is an answer to an offer from 192.0.2.1 with the given proto
// and attribute lines.
func sdpAnswer(proto string, attrs ...string) []byte {
	b := "v=0\r\no=- 1 1 IN IP4 192.0.2.2\r\ns=-\r\nc=IN IP4 192.0.2.2\r\nt=0 0\r\nm=audio 40000 " + proto + " 0 101\r\na=rtpmap:101 telephone-event/8000\r\n"
	for _, a := range attrs {
		b += a + "\r\n"
	}
	return []byte(b)
}

func TestSRTPParseAnswerErrors(t *testing.T) {
	offered := OfferConfig{SRTP: SRTPRequired, Crypto: []Crypto{fixedCrypto(1, SuiteAES128SHA1_80), fixedCrypto(2, SuiteAES256SHA1_80)}}
	optional := offered
	optional.SRTP = SRTPOptional
	k256 := fixedCrypto(2, SuiteAES256SHA1_80).attrValue()
	k128 := fixedCrypto(1, SuiteAES128SHA1_80).attrValue()
	cases := []struct {
		name    string
		offered OfferConfig
		body    []byte
		want    []error // nil: success
		srtp    bool
	}{
		{"256 chosen", offered, sdpAnswer("RTP/SAVP", "a=crypto:"+k256), nil, true},
		{"no crypto", offered, sdpAnswer("RTP/AVP"), []error{ErrSRTPRequired}, false},
		{"SAVP without crypto", offered, sdpAnswer("RTP/SAVP"), []error{ErrSRTPRequired}, false},
		{"tag not offered", offered, sdpAnswer("RTP/SAVP", "a=crypto:3 AES_CM_128_HMAC_SHA1_80 inline:"+k128[len("1 AES_CM_128_HMAC_SHA1_80 inline:"):]), []error{ErrSRTPRequired, ErrCrypto}, false},
		{"suite changed", offered, sdpAnswer("RTP/SAVP", "a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:"+k128[len("1 AES_CM_128_HMAC_SHA1_80 inline:"):]), []error{ErrSRTPRequired, ErrCrypto}, false},
		{"MKI", offered, sdpAnswer("RTP/SAVP", "a=crypto:"+k128+"|2^31|1:1"), []error{ErrSRTPRequired, ErrCrypto}, false},
		{"two lines", offered, sdpAnswer("RTP/SAVP", "a=crypto:"+k128, "a=crypto:"+k256), []error{ErrSRTPRequired, ErrCrypto}, false},
		{"optional, plain", optional, sdpAnswer("RTP/AVP"), nil, false},
		{"optional, SAVP without crypto", optional, sdpAnswer("RTP/SAVP"), []error{ErrCrypto}, false},
		{"optional, bad crypto", optional, sdpAnswer("RTP/AVP", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"), []error{ErrCrypto}, false},
		{"optional, SRTP", optional, sdpAnswer("RTP/AVP", "a=crypto:"+k128), nil, true},
		{"off ignores crypto", OfferConfig{}, sdpAnswer("RTP/AVP", "a=crypto:"+k128), nil, false},
		{"no Crypto offered", OfferConfig{SRTP: SRTPRequired}, sdpAnswer("RTP/SAVP", "a=crypto:"+k128), []error{ErrConfig}, false},
	}
	for _, c := range cases {
		a, err := ParseAnswer(c.body, c.offered)
		for _, w := range c.want {
			if !errors.Is(err, w) {
				t.Errorf("%s: %v, want %v", c.name, err, w)
			}
		}
		if c.want == nil && err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if err == nil && a.SRTP.Enabled() != c.srtp {
			t.Errorf("%s: SRTP %v", c.name, a.SRTP)
		}
		if err != nil && strings.Contains(err.Error(), "inline:") {
			t.Errorf("%s: the error shows a key: %v", c.name, err)
		}
	}
}

func TestSRTPAnswerOfferChoice(t *testing.T) {
	offer := func(proto string, lines ...string) []byte {
		b := "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 30000 " + proto + " 8 101\r\na=rtpmap:101 telephone-event/8000\r\n"
		for _, l := range lines {
			b += "a=crypto:" + l + "\r\n"
		}
		return []byte(b)
	}
	ac := AnswerConfig{Addr: netip.MustParseAddr("192.0.2.2"), Port: 40000, SRTP: SRTPRequired}
	// The first line ParseCrypto accepts wins: an MKI line and an unknown
	// suite are skipped, and the answer names the chosen tag and suite.
	body, a, err := AnswerOffer(offer("RTP/SAVP",
		fixedCrypto(1, SuiteAES128SHA1_80).attrValue()+"|2^31|1:1",
		"2 F8_128_HMAC_SHA1_80 inline:AAAA",
		fixedCrypto(3, SuiteAES256SHA1_32).attrValue(),
		fixedCrypto(4, SuiteAES128SHA1_80).attrValue()), ac)
	if err != nil {
		t.Fatal(err)
	}
	if a.SRTP.Suite() != SuiteAES256SHA1_32 || !strings.Contains(string(body), "a=crypto:3 AES_256_CM_HMAC_SHA1_32 inline:") {
		t.Errorf("chose %v:\n%s", a.SRTP, body)
	}
	if !bytes.Equal(a.SRTP.p.recv.b, fixedCrypto(3, SuiteAES256SHA1_32).key.b) {
		t.Error("the receive key is not the chosen line's")
	}
	// Nothing acceptable: ErrSRTPRequired with the first line's cause.
	_, _, err = AnswerOffer(offer("RTP/SAVP", fixedCrypto(1, SuiteAES128SHA1_80).attrValue()+"|1:1"), ac)
	if !errors.Is(err, ErrSRTPRequired) || !errors.Is(err, ErrCrypto) || !strings.Contains(err.Error(), "MKI") {
		t.Errorf("MKI only: %v", err)
	}
	ac.SRTP = SRTPOptional
	if _, _, err = AnswerOffer(offer("RTP/SAVP"), ac); !errors.Is(err, ErrSRTPRequired) {
		t.Errorf("SAVP without crypto, optional: %v", err)
	}
	// Optional accepts RTP/AVP with an unusable line as plain RTP.
	if body, a, err = AnswerOffer(offer("RTP/AVP", "1 F8_128_HMAC_SHA1_80 inline:AAAA"), ac); err != nil || a.SRTP.Enabled() || strings.Contains(string(body), "crypto") {
		t.Errorf("optional, unusable line: %v %v\n%s", err, a.SRTP, body)
	}
}

// sendTap records what a session sends; while tamper is positive, it
// flips one bit of each packet on its way (a payload bit, then a header
// bit) and counts tamper down.
type sendTap struct {
	PacketConn
	mu     sync.Mutex
	sent   [][]byte
	tamper int
}

func (c *sendTap) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	c.mu.Lock()
	c.sent = append(c.sent, bytes.Clone(b))
	if c.tamper > 0 {
		b = bytes.Clone(b)
		if c.tamper%2 == 0 {
			b[20] ^= 0x01 // a payload bit
		} else {
			b[1] ^= 0x01 // the payload type, in the authenticated header
		}
		c.tamper--
	}
	c.mu.Unlock()
	return c.PacketConn.WriteToUDPAddrPort(b, to)
}

func (c *sendTap) setTamper(n int) {
	c.mu.Lock()
	c.tamper = n
	c.mu.Unlock()
}

func (c *sendTap) packets() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sent)
}

// srtpPair negotiates SRTP (required on both sides) and starts the two
// sessions over a pipe: a is denwa, b the phone, b's sends recorded.
func srtpPair(t *testing.T) (a, b *Session, tap *sendTap) { return srtpPairShared(t, nil, false) }

// srtpPairShared is srtpPair with a's SRTPAuthFailed counter; with plain,
// b sends plain RTP as if it had not understood the keys.
func srtpPairShared(t *testing.T, authFailed *atomic.Int64, plain bool) (a, b *Session, tap *sendTap) {
	t.Helper()
	_, _, caller, callee, errA, errB := exchange(t, SRTPRequired, SRTPRequired)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if plain {
		callee.SRTP = SRTPKeys{}
	}
	ca, cb := mediatest.Pipe()
	tap = &sendTap{PacketConn: cb}
	sa := caller.SessionConfig()
	sa.Conn, sa.Remote, sa.MediaTimeout, sa.KeySink, sa.SRTPAuthFailed = ca, cb.LocalAddrPort(), -1, newKeyChan(), authFailed
	sb := callee.SessionConfig()
	sb.Conn, sb.Remote, sb.MediaTimeout, sb.KeySink = tap, ca.LocalAddrPort(), -1, newKeyChan()
	var err error
	if a, err = NewSession(sa); err != nil {
		t.Fatal(err)
	}
	if b, err = NewSession(sb); err != nil {
		t.Fatal(err)
	}
	return a, b, tap
}

// A key sent as RFC 4733 and one in-band cross SRTP both ways; what goes
// on the wire is not the plain G.711 silence, and carries the 80-bit tag.
func TestSessionSRTPKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, tap := srtpPair(t)
		time.Sleep(100 * time.Millisecond)
		mustSendKey(t, b, '#', RFC4733)
		time.Sleep(200 * time.Millisecond)
		mustSendKey(t, b, '5', Inband)
		time.Sleep(300 * time.Millisecond)
		if got := endPair(a, b); got != "#(4733)5(tone)" {
			t.Errorf("keys over SRTP: %s, want #(4733)5(tone)", got)
		}
		pkts := tap.packets()
		if len(pkts) < 10 {
			t.Fatalf("%d packets sent", len(pkts))
		}
		for i, p := range pkts {
			if len(p) == 12+FrameSamples+10 && bytes.Count(p[12:12+FrameSamples], []byte{0xFF}) > FrameSamples/2 {
				t.Fatalf("packet %d carries clear PCMU silence", i)
			}
			if len(p) != 12+FrameSamples+10 && len(p) != 12+4+10 {
				t.Fatalf("packet %d is %d bytes, want RTP with an 80-bit tag", i, len(p))
			}
		}
		st := a.Stats()
		if st.SRTPAuthFailed != 0 || st.SRTPReplayed != 0 || st.PacketsReceived == 0 || st.Garbage != 0 {
			t.Errorf("a: %+v", st)
		}
		if s := a.String(); !strings.HasSuffix(s, " SRTP AES_CM_128_HMAC_SHA1_80)") {
			t.Errorf("String = %s", s)
		}
		// The session and its config print no key.
		var out strings.Builder
		fmt.Fprintf(&out, "%v %+v %s %v %+v %#v", a, a, a, a.cfg, a.cfg, a.cfg)
		slog.New(slog.NewJSONHandler(&out, nil)).Info("s", "session", a, "config", a.cfg)
		for _, k := range [][]byte{a.cfg.SRTP.p.send.b, a.cfg.SRTP.p.recv.b} {
			for _, enc := range []string{base64.StdEncoding.EncodeToString(k), hex.EncodeToString(k), fmt.Sprint(k)} {
				if strings.Contains(out.String(), enc) {
					t.Fatalf("a key was printed: %s", out.String())
				}
			}
		}
	})
}

// A tampered SRTP packet and a replayed one are dropped and counted, and
// the call goes on: a key sent afterwards still arrives.
func TestSessionSRTPTamperedAndReplayed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var rejected atomic.Int64
		a, b, tap := srtpPairShared(t, &rejected, false)
		time.Sleep(100 * time.Millisecond)
		tap.setTamper(2) // the next two packets arrive with a bit flipped
		time.Sleep(100 * time.Millisecond)
		pkts := tap.packets()
		orig := pkts[len(pkts)-1]
		// A replay of a packet received, one too short for its tag, one
		// too short for RTP (garbage).
		for _, p := range [][]byte{orig, orig[:20], orig[:8]} {
			if _, err := tap.PacketConn.WriteToUDPAddrPort(p, a.LocalAddr()); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(100 * time.Millisecond)
		st := a.Stats()
		if st.SRTPAuthFailed != 2 || st.SRTPReplayed != 2 || st.Garbage != 1 {
			t.Errorf("stats %+v, want 2 auth failures, 2 replayed/short, 1 garbage", st)
		}
		if rejected.Load() != 2 {
			t.Errorf("shared count %d, want the 2 auth failures", rejected.Load())
		}
		mustSendKey(t, b, '#', RFC4733)
		time.Sleep(200 * time.Millisecond)
		if got := endPair(a, b); got != "#(4733)" {
			t.Errorf("keys %s, want #(4733)", got)
		}
	})
}

// A session whose far end sends plain RTP while SRTP was negotiated hears
// nothing: every packet fails authentication.
func TestSessionSRTPRefusesPlain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b, _ := srtpPairShared(t, nil, true)
		time.Sleep(50 * time.Millisecond)
		mustSendKey(t, b, '#', RFC4733)
		time.Sleep(100 * time.Millisecond)
		b.Close()
		a.Close()
		st := a.Stats()
		if len(collectKeys(a)) != 0 || st.PacketsReceived != 0 || st.SRTPAuthFailed+st.SRTPReplayed == 0 {
			t.Errorf("plain RTP got through: %+v", st)
		}
	})
}

// No formatter and no log line shows a key: not the inline base64, not
// its bytes in hex.
func TestSRTPKeysNeverPrinted(t *testing.T) {
	offer, answer, caller, callee, errA, errB := exchange(t, SRTPRequired, SRTPRequired)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	var secrets []string
	for _, body := range [][]byte{offer, answer} {
		for _, l := range strings.Split(string(body), "\r\n") {
			if _, v, ok := strings.Cut(l, "inline:"); ok {
				secrets = append(secrets, v)
			}
		}
	}
	if len(secrets) != 3 {
		t.Fatalf("%d keys in the bodies", len(secrets))
	}
	for _, s := range []SRTPKeys{caller.SRTP, callee.SRTP} {
		secrets = append(secrets, hex.EncodeToString(s.p.send.b), hex.EncodeToString(s.p.recv.b), fmt.Sprint(s.p.send.b), string(s.p.send.b))
	}
	oc := OfferConfig{SRTP: SRTPRequired, Crypto: OfferCrypto()}
	for _, c := range oc.Crypto {
		secrets = append(secrets, base64.StdEncoding.EncodeToString(c.key.b), hex.EncodeToString(c.key.b))
	}
	sc := caller.SessionConfig()
	values := []any{caller, &caller, callee, caller.SRTP, sc, &sc, oc, oc.Crypto, oc.Crypto[0], &oc.Crypto[0]}
	var out strings.Builder
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
	}
	log := slog.New(slog.NewJSONHandler(&out, nil))
	log.Info("x", "answer", caller, "keys", caller.SRTP, "crypto", oc.Crypto[0], "offer", oc, "session", sc)
	slog.New(slog.NewTextHandler(&out, nil)).Info("x", "answer", caller, "keys", caller.SRTP, "crypto", oc.Crypto, "offer", oc)
	for _, s := range secrets {
		if strings.Contains(out.String(), s) {
			t.Fatalf("a key was printed:\n%s", out.String())
		}
	}
	if !strings.Contains(out.String(), "inline:<redacted>") || !strings.Contains(out.String(), "SRTP AES_CM_128_HMAC_SHA1_80") {
		t.Errorf("the redacted forms are missing:\n%s", out.String())
	}
}

// Protecting a packet and unprotecting it allocate nothing.
func TestSRTPAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under -race")
	}
	send, recv := srtpStreams(t)
	pkt := plainPacket()
	buf := make([]byte, 0, 256)
	allocs := testing.AllocsPerRun(200, func() {
		out, err := send.protect(pkt)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf[:0], out...)
		if _, err := recv.unprotect(buf); err != nil {
			t.Fatal(err)
		}
		pkt[2]++ // next sequence number
		if pkt[2] == 0 {
			pkt[3]++
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet", allocs)
	}
}

// srtpStreams returns a sender and the matching receiver.
func srtpStreams(t testing.TB) (send, recv *srtpStream) {
	c := fixedCrypto(1, SuiteAES128SHA1_80)
	k := newSRTPKeys(c, c)
	send, err := newSRTPStream(k)
	if err != nil {
		t.Fatal(err)
	}
	recv, err = newSRTPStream(k)
	if err != nil {
		t.Fatal(err)
	}
	return send, recv
}

// plainPacket is a PCMU RTP packet of one 20 ms frame.
func plainPacket() []byte {
	p := make([]byte, 12+FrameSamples)
	p[0], p[1], p[8] = 0x80, 0, 0x42
	for i := 12; i < len(p); i++ {
		p[i] = 0xFF
	}
	return p
}

// BenchmarkSRTP measures protecting one 20 ms PCMU packet (what the
// pacer's walk adds per packet sent) and unprotecting it (what the reader
// adds per packet received).
func BenchmarkSRTP(b *testing.B) {
	b.Run("protect", func(b *testing.B) {
		send, _ := srtpStreams(b)
		pkt := plainPacket()
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		for b.Loop() {
			if _, err := send.protect(pkt); err != nil {
				b.Fatal(err)
			}
			pkt[3]++
			if pkt[3] == 0 {
				pkt[2]++
			}
		}
	})
	b.Run("unprotect", func(b *testing.B) {
		send, recv := srtpStreams(b)
		pkt := plainPacket()
		// Protected packets in sequence, copied for each run (unprotect
		// decrypts in place).
		const n = 1024
		wire := make([][]byte, n)
		for i := range wire {
			out, err := send.protect(pkt)
			if err != nil {
				b.Fatal(err)
			}
			wire[i] = bytes.Clone(out)
			pkt[3]++
			if pkt[3] == 0 {
				pkt[2]++
			}
		}
		buf := make([]byte, 0, 256)
		b.ReportAllocs()
		b.SetBytes(int64(len(pkt)))
		i := 0
		for b.Loop() {
			if i == n {
				// Start over with fresh state: the receiver has seen these.
				b.StopTimer()
				_, recv = srtpStreams(b)
				i = 0
				b.StartTimer()
			}
			buf = append(buf[:0], wire[i]...)
			if _, err := recv.unprotect(buf); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// mustSendKey presses key on s for 100 ms.
func mustSendKey(t *testing.T, s *Session, key dtmf.Key, mode KeyMode) {
	t.Helper()
	if err := s.SendKey(t.Context(), key, mode, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
}

// endPair closes b, then a, and returns the keys a received (keyString).
func endPair(a, b *Session) string {
	b.Close()
	a.Close()
	return keyString(collectKeys(a))
}
