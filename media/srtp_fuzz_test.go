package media

import (
	"bytes"
	"errors"
	"net/netip"
	"strings"
	"testing"

	"denwa/media/mediatest"
)

// cryptoSeeds are a=crypto values: each suite, lifetimes, WSH, and the
// refused forms (MKI, two keys, a short key, an unknown suite).
func cryptoSeeds() map[string][]byte {
	k128 := fixedCrypto(1, SuiteAES128SHA1_80).attrValue()
	k256 := fixedCrypto(2, SuiteAES256SHA1_80).attrValue()
	return map[string][]byte{
		"aes128":    []byte(k128),
		"aes256":    []byte(k256),
		"aes128-32": []byte(fixedCrypto(3, SuiteAES128SHA1_32).attrValue() + "|2^20"),
		"wsh":       []byte(k128 + "|1048576 WSH=64"),
		"mki":       []byte(k128 + "|2^31|1:4"),
		"two-keys":  []byte(k128 + ";" + k128[len("1 AES_CM_128_HMAC_SHA1_80 "):]),
		"short":     []byte("1 AES_CM_128_HMAC_SHA1_80 inline:AAAA"),
		"suite":     []byte("1 F8_128_HMAC_SHA1_80 inline:AAAA UNENCRYPTED_SRTP"),
	}
}

// FuzzParseCrypto: ParseCrypto never panics; what it accepts marshals back
// to a line it reads the same, and no error quotes the inline key.
func FuzzParseCrypto(f *testing.F) {
	for _, s := range cryptoSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := ParseCrypto(string(in))
		if err != nil {
			if !errors.Is(err, ErrCrypto) {
				t.Fatalf("error %v does not wrap ErrCrypto", err)
			}
			if _, rest, ok := strings.Cut(string(in), "inline:"); ok {
				key, _, _ := strings.Cut(rest, "|")
				if key, _, _ = strings.Cut(key, " "); len(key) >= 8 && strings.Count(string(in), key) == 1 &&
					!strings.Contains(strings.Join(suiteNames(), ", "), key) && strings.Contains(err.Error(), key) {
					t.Fatalf("error quotes the key: %v", err)
				}
			}
			return
		}
		again, err := ParseCrypto(c.attrValue())
		if err != nil || again.Tag != c.Tag || again.Suite != c.Suite || !bytes.Equal(again.key.b, c.key.b) {
			t.Fatalf("round trip of %q: %v %v", in, again, err)
		}
	})
}

// srtpOfferSeeds are SDP offers with SRTP: RTP/SAVP with denwa's two
// lines, RTP/AVP with a line (best effort), one with an MKI line first,
// and a plain offer.
func srtpOfferSeeds(t testing.TB) map[string][]byte {
	body := func(mode SRTPMode, cs ...Crypto) []byte {
		b, err := Offer(OfferConfig{Addr: netip.MustParseAddr("192.0.2.1"), Port: 30000, SRTP: mode, Crypto: cs})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	required := body(SRTPRequired, fixedCrypto(1, SuiteAES128SHA1_80), fixedCrypto(2, SuiteAES256SHA1_80))
	mki := bytes.Replace(required, []byte("a=crypto:1"), []byte("a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA|2^31|1:1\r\na=crypto:1"), 1)
	return map[string][]byte{
		"savp":  required,
		"avp":   body(SRTPOptional, fixedCrypto(5, SuiteAES256SHA1_80)),
		"mki":   mki,
		"plain": body(SRTPOff),
	}
}

// FuzzSRTPOfferAnswer answers arbitrary offers as the phone simulator does
// with SRTP required and optional, then reads the answer back as the
// offerer would, with the offer's own crypto lines: the two sides must
// agree on SRTP and their keys must pair (each sends with the key the
// other receives with).
func FuzzSRTPOfferAnswer(f *testing.F) {
	for _, s := range srtpOfferSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, offer []byte) {
		for _, mode := range []SRTPMode{SRTPOptional, SRTPRequired} {
			answer, callee, err := AnswerOffer(offer, AnswerConfig{Addr: netip.MustParseAddr("192.0.2.2"), Port: 40000, SRTP: mode})
			if err != nil {
				continue
			}
			if mode == SRTPRequired && !callee.SRTP.Enabled() {
				t.Fatalf("required, answered without SRTP:\n%s", answer)
			}
			// The offerer's view: its crypto lines are the offer's.
			ms, err := readMedia(offer)
			if err != nil {
				t.Fatalf("AnswerOffer took an offer readMedia refuses: %v", err)
			}
			m, err := firstAudio(ms)
			if err != nil {
				continue // the answer took a later m= line: not what an offerer of one stream does
			}
			oc := OfferConfig{SRTP: SRTPOptional, Crypto: nil}
			seen := map[int]bool{}
			for _, v := range m.crypto {
				if c, err := ParseCrypto(v); err == nil && !seen[c.Tag] {
					seen[c.Tag] = true
					oc.Crypto = append(oc.Crypto, c)
				}
			}
			if len(oc.Crypto) == 0 {
				oc.SRTP = SRTPOff
			}
			caller, err := ParseAnswer(answer, oc)
			if err != nil {
				continue // e.g. the offer's first audio line was not the one answered
			}
			if caller.SRTP.Enabled() != callee.SRTP.Enabled() {
				t.Fatalf("SRTP %v vs %v for\n%s", caller.SRTP, callee.SRTP, offer)
			}
			if callee.SRTP.Enabled() && caller.SRTP.Suite() == callee.SRTP.Suite() &&
				!bytes.Equal(caller.SRTP.p.recv.b, callee.SRTP.p.send.b) {
				t.Fatalf("keys do not pair for\n%s", offer)
			}
		}
	})
}

// TestWriteSRTPFuzzSeeds writes the seeds above into testdata/fuzz:
// go test ./media -run WriteSRTPFuzzSeeds -update
func TestWriteSRTPFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("run with -update to rewrite testdata/fuzz")
	}
	mediatest.WriteFuzzCorpus(t, "FuzzParseCrypto", cryptoSeeds())
	mediatest.WriteFuzzCorpus(t, "FuzzSRTPOfferAnswer", srtpOfferSeeds(t))
}
