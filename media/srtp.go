package media

import (
	"cmp"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/srtp/v3"
)

// SDES-SRTP: keys exchanged in the SDP (RFC 4568), packets protected per
// RFC 3711 with github.com/pion/srtp/v3. One a=crypto attribute:
//
//	a=crypto:<tag> <crypto-suite> inline:<base64(master key || master salt)>[|<lifetime>][|<MKI>:<length>] [<session-param> ...]
//	a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20
//
// The offerer lists one line per suite, each with a key of its own; the
// answerer picks one line, answers with its tag, the same suite and a key
// of its own. Each end protects what it sends with its own key and
// unprotects what it receives with the other's (RFC 4568 §6.1): two keys
// per call, one per direction, drawn from crypto/rand for every call.
//
// Keys never leave this file in clear except into an SDP body: Crypto and
// SRTPKeys hold them behind a pointer (fmt prints a nested pointer as an
// address) and redact them in String, GoString and LogValue, so that no
// verb of fmt and no slog handler shows one.

// SRTPMode says whether a call's media is protected with SRTP.
type SRTPMode uint8

const (
	// SRTPOff offers and accepts plain RTP only (RTP/AVP, no a=crypto).
	SRTPOff SRTPMode = iota
	// SRTPOptional offers RTP/AVP with a=crypto lines ("best-effort
	// SRTP"): a far end that answers with a=crypto gets SRTP, one that
	// ignores them plain RTP. As the answerer, it accepts either.
	SRTPOptional
	// SRTPRequired offers RTP/SAVP with a=crypto lines and fails the call
	// when the far end does not answer with an acceptable one. As the
	// answerer, it refuses an offer without one.
	SRTPRequired
)

var srtpModeNames = [...]string{SRTPOff: "off", SRTPOptional: "optional", SRTPRequired: "required"}

// String returns "off", "optional" or "required".
func (m SRTPMode) String() string {
	if int(m) < len(srtpModeNames) {
		return srtpModeNames[m]
	}
	return fmt.Sprintf("SRTPMode(%d)", uint8(m))
}

// ParseSRTPMode reads "off", "optional" or "required" (any case); the
// empty string is off.
func ParseSRTPMode(s string) (SRTPMode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "off":
		return SRTPOff, nil
	case "optional":
		return SRTPOptional, nil
	case "required":
		return SRTPRequired, nil
	}
	return SRTPOff, fmt.Errorf("%w: SRTP mode %q (want off, optional or required)", ErrConfig, s)
}

// CryptoSuite is an SRTP crypto suite of RFC 4568 §6.2 and RFC 6188.
type CryptoSuite uint8

const (
	// AES_CM_128_HMAC_SHA1_80 (RFC 4568 §6.2.1), the suite every SDES
	// peer has; offered first.
	SuiteAES128SHA1_80 CryptoSuite = iota + 1
	// AES_256_CM_HMAC_SHA1_80 (RFC 6188 §7.1); offered second.
	SuiteAES256SHA1_80
	// AES_CM_128_HMAC_SHA1_32 (RFC 4568 §6.2.2), with a 32-bit tag:
	// accepted from a far end, not offered.
	SuiteAES128SHA1_32
	// AES_256_CM_HMAC_SHA1_32 (RFC 6188 §7.1): accepted, not offered.
	SuiteAES256SHA1_32
)

// suites describes each CryptoSuite: its SDP name, pion's profile, and
// the master key and salt lengths in bytes.
var suites = [...]struct {
	name    string
	profile srtp.ProtectionProfile
	key     int
	salt    int
}{
	SuiteAES128SHA1_80: {"AES_CM_128_HMAC_SHA1_80", srtp.ProtectionProfileAes128CmHmacSha1_80, 16, 14},
	SuiteAES256SHA1_80: {"AES_256_CM_HMAC_SHA1_80", srtp.ProtectionProfileAes256CmHmacSha1_80, 32, 14},
	SuiteAES128SHA1_32: {"AES_CM_128_HMAC_SHA1_32", srtp.ProtectionProfileAes128CmHmacSha1_32, 16, 14},
	SuiteAES256SHA1_32: {"AES_256_CM_HMAC_SHA1_32", srtp.ProtectionProfileAes256CmHmacSha1_32, 32, 14},
}

// OfferedSuites are the suites denwa offers, in order of preference.
var OfferedSuites = []CryptoSuite{SuiteAES128SHA1_80, SuiteAES256SHA1_80}

func (s CryptoSuite) valid() bool { return s > 0 && int(s) < len(suites) }

// String returns the suite's SDP name, e.g. "AES_CM_128_HMAC_SHA1_80".
func (s CryptoSuite) String() string {
	if s.valid() {
		return suites[s].name
	}
	return fmt.Sprintf("CryptoSuite(%d)", uint8(s))
}

// keyLen is the length of the inline key: master key and salt.
func (s CryptoSuite) keyLen() int { return suites[s].key + suites[s].salt }

func suiteByName(name string) (CryptoSuite, bool) {
	for i := 1; i < len(suites); i++ {
		if strings.EqualFold(name, suites[i].name) {
			return CryptoSuite(i), true
		}
	}
	return 0, false
}

// masterKey is an SRTP master key and salt, concatenated. It is only
// ever reached through a pointer, so that fmt, printing a struct that
// holds one, prints an address and never the bytes.
type masterKey struct{ b []byte }

// newMasterKey draws a fresh key for suite from crypto/rand.
func newMasterKey(suite CryptoSuite) *masterKey {
	k := &masterKey{b: make([]byte, suite.keyLen())}
	rand.Read(k.b) // never fails (crypto/rand)
	return k
}

// Crypto is one a=crypto attribute (RFC 4568 §9.1): a tag, a suite and a
// key. Its key is private, behind a pointer, and String, GoString and
// LogValue redact it.
type Crypto struct {
	// Tag is the attribute's tag, 1–999999999: the answer names the
	// offer's line it accepts by it.
	Tag int
	// Suite is the crypto suite.
	Suite CryptoSuite
	key   *masterKey
}

// NewCrypto returns an a=crypto line for tag and suite with a fresh key
// from crypto/rand.
func NewCrypto(tag int, suite CryptoSuite) (Crypto, error) {
	if !suite.valid() {
		return Crypto{}, fmt.Errorf("%w: crypto suite %d", ErrConfig, uint8(suite))
	}
	if tag < 1 || tag > 999999999 {
		return Crypto{}, fmt.Errorf("%w: crypto tag %d (want 1–999999999)", ErrConfig, tag)
	}
	return Crypto{Tag: tag, Suite: suite, key: newMasterKey(suite)}, nil
}

// OfferCrypto returns the a=crypto lines an SRTP offer carries, one per
// OfferedSuites entry, tags 1, 2, …, each with a fresh key. Draw them for
// every call.
func OfferCrypto() []Crypto {
	out := make([]Crypto, len(OfferedSuites))
	for i, s := range OfferedSuites {
		out[i], _ = NewCrypto(i+1, s) // valid by construction
	}
	return out
}

// String returns the line with its key redacted, e.g.
// "1 AES_CM_128_HMAC_SHA1_80 inline:<redacted>".
func (c Crypto) String() string {
	return fmt.Sprintf("%d %s inline:<redacted>", c.Tag, c.Suite)
}

// GoString is String: %#v redacts the key too.
func (c Crypto) GoString() string { return "media.Crypto{" + c.String() + "}" }

// LogValue keeps the key out of structured logs.
func (c Crypto) LogValue() slog.Value { return slog.StringValue(c.String()) }

// attrValue returns the a=crypto value with the key, for an SDP body only.
func (c Crypto) attrValue() string {
	return strconv.Itoa(c.Tag) + " " + c.Suite.String() + " inline:" + base64.StdEncoding.EncodeToString(c.key.b)
}

// ParseCrypto reads the value of an a=crypto attribute (what follows
// "a=crypto:"), as RFC 4568 §9.1 has it:
//
//	1*9DIGIT SP suite SP "inline:" base64(key||salt) ["|" lifetime] ["|" MKI ":" length] *(SP session-param)
//
// It accepts the suites of CryptoSuite and a lifetime (decimal or 2^n;
// denwa's calls stay far below any), and refuses, with an error that
// wraps ErrCrypto and never holds the key: an unknown suite, a key of the
// wrong length or not base64, several keys in one line, an MKI, and any
// session parameter but WSH (a window-size hint).
func ParseCrypto(v string) (Crypto, error) {
	bad := func(format string, a ...any) (Crypto, error) {
		return Crypto{}, fmt.Errorf("%w: "+format, append([]any{ErrCrypto}, a...)...)
	}
	f := strings.Fields(v)
	if len(f) < 3 {
		return bad("want tag, suite and key parameters, got %d fields", len(f))
	}
	tag, err := strconv.Atoi(f[0])
	if err != nil || tag < 1 || tag > 999999999 || len(f[0]) > 9 {
		return bad("tag %s is not 1–9 digits", shown(f[0]))
	}
	suite, ok := suiteByName(f[1])
	if !ok {
		return bad("crypto suite %s is not supported (want %s)", shown(f[1]), strings.Join(suiteNames(), ", "))
	}
	kp := f[2]
	if strings.Contains(kp, ";") {
		return bad("tag %d: several keys in one line are not supported", tag)
	}
	method, rest, ok := strings.Cut(kp, ":")
	if !ok || !strings.EqualFold(method, "inline") {
		return bad("tag %d: key method is not inline", tag)
	}
	parts := strings.Split(rest, "|")
	if len(parts) > 3 {
		return bad("tag %d: too many key parameters", tag)
	}
	for _, p := range parts[1:] {
		if strings.Contains(p, ":") {
			return bad("tag %d: MKI is not supported", tag)
		}
		if !validLifetime(p) {
			return bad("tag %d: lifetime %s is not a number or 2^n", tag, shown(p))
		}
	}
	key, err := base64.StdEncoding.DecodeString(parts[0])
	if err != nil {
		if key, err = base64.RawStdEncoding.DecodeString(parts[0]); err != nil {
			return bad("tag %d: inline key is not base64", tag)
		}
	}
	if len(key) != suite.keyLen() {
		return bad("tag %d: inline key is %d bytes, %s needs %d", tag, len(key), suite, suite.keyLen())
	}
	for _, sp := range f[3:] {
		if name, _, _ := strings.Cut(sp, "="); !strings.EqualFold(name, "WSH") {
			return bad("tag %d: session parameter %s is not supported", tag, shown(name))
		}
	}
	return Crypto{Tag: tag, Suite: suite, key: &masterKey{b: key}}, nil
}

// shown quotes a field of an a=crypto line for an error message if it
// cannot be a key, or a piece of one: short, and without the characters
// of a key's method or its base64 beyond what suite and parameter names
// use. Anything else is "(not shown)".
func shown(s string) string {
	if len(s) > 24 || strings.ContainsAny(s, ":+/|;") {
		return "(not shown)"
	}
	return strconv.Quote(s)
}

func suiteNames() []string {
	out := make([]string, 0, len(suites)-1)
	for i := 1; i < len(suites); i++ {
		out = append(out, suites[i].name)
	}
	return out
}

// validLifetime reads a key lifetime: decimal digits, or "2^" and digits
// (RFC 4568 §6.1).
func validLifetime(s string) bool {
	s = strings.TrimPrefix(s, "2^")
	if s == "" || len(s) > 20 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// SRTPKeys is what an SDES exchange negotiated for one call: the suite,
// the key that protects what we send (ours) and the key that unprotects
// what we receive (the far end's). The zero value means plain RTP.
// String, GoString and LogValue print the suite only; other verbs print
// the address of the keys, never the keys.
type SRTPKeys struct{ p *srtpKeys }

type srtpKeys struct {
	suite      CryptoSuite
	send, recv *masterKey
}

// newSRTPKeys pairs our a=crypto line with the far end's.
func newSRTPKeys(ours, theirs Crypto) SRTPKeys {
	return SRTPKeys{&srtpKeys{suite: ours.Suite, send: ours.key, recv: theirs.key}}
}

// Enabled reports whether SRTP was negotiated.
func (k SRTPKeys) Enabled() bool { return k.p != nil }

// Suite returns the negotiated suite; zero for plain RTP.
func (k SRTPKeys) Suite() CryptoSuite {
	if k.p == nil {
		return 0
	}
	return k.p.suite
}

// Equal reports whether k and o hold the same suite and keys.
func (k SRTPKeys) Equal(o SRTPKeys) bool {
	if k.p == nil || o.p == nil {
		return k.p == o.p
	}
	return k.p.suite == o.p.suite && string(k.p.send.b) == string(o.p.send.b) && string(k.p.recv.b) == string(o.p.recv.b)
}

// String returns "RTP" or "SRTP <suite>".
func (k SRTPKeys) String() string {
	if k.p == nil {
		return "RTP"
	}
	return "SRTP " + k.p.suite.String()
}

// GoString is String: %#v prints no key either.
func (k SRTPKeys) GoString() string { return "media.SRTPKeys{" + k.String() + "}" }

// LogValue keeps the keys out of structured logs.
func (k SRTPKeys) LogValue() slog.Value { return slog.StringValue(k.String()) }

// srtpReplayWindow is the replay window, in packets (RFC 3711 §3.3.2 asks
// for at least 64; libsrtp uses 128).
const srtpReplayWindow = 128

// maxSRTPTag is the longest authentication tag of the suites: 80 bits.
const maxSRTPTag = 10

// srtpStream protects one session's RTP. send is used by the pacer's walk
// only, recv by the session's reader only (under rxMu): pion's contexts
// are not safe for concurrent use, and each has one user.
type srtpStream struct {
	send, recv *srtp.Context
	out        []byte     // the protected packet; one buffer for the session's life
	sendHdr    rtp.Header // the sender's, like out
	recvHdr    rtp.Header // the reader's
}

func newSRTPStream(k SRTPKeys) (*srtpStream, error) {
	p := k.p
	sd := suites[p.suite]
	send, err := srtp.CreateContext(p.send.b[:sd.key], p.send.b[sd.key:], sd.profile)
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP send context: %v", ErrConfig, err)
	}
	recv, err := srtp.CreateContext(p.recv.b[:sd.key], p.recv.b[sd.key:], sd.profile, srtp.SRTPReplayProtection(srtpReplayWindow))
	if err != nil {
		return nil, fmt.Errorf("%w: SRTP receive context: %v", ErrConfig, err)
	}
	return &srtpStream{send: send, recv: recv, out: make([]byte, 0, 12+FrameSamples+maxSRTPTag)}, nil
}

// protect returns pkt, an RTP packet, encrypted and authenticated, in the
// stream's buffer (valid until the next call). Pacer goroutine only.
func (t *srtpStream) protect(pkt []byte) ([]byte, error) {
	out, err := t.send.EncryptRTP(t.out[:0], pkt, &t.sendHdr)
	if err == nil && cap(out) > cap(t.out) {
		t.out = out[:0] // grown once for a longer packet: keep it
	}
	return out, err
}

// unprotect authenticates and decrypts an SRTP packet in place and
// returns the RTP packet (b without its tag). A packet that fails
// authentication, or that the replay window has seen, is an error; the
// stream's state is unchanged by it. Reader only.
func (t *srtpStream) unprotect(b []byte) ([]byte, error) {
	return t.recv.DecryptRTP(b, b, &t.recvHdr)
}

// isAuthFailure tells an SRTP packet that failed authentication from one
// refused for another reason (replayed, too short).
func isAuthFailure(err error) bool { return errors.Is(err, srtp.ErrFailedToVerifyAuthTag) }

// The SDP side of SDES (see offer.go).

// isRTPProto reports whether an m= line's proto is one denwa answers:
// RTP/AVP, or RTP/SAVP (SRTP with SDES keys).
func isRTPProto(p string) bool {
	return strings.EqualFold(p, "RTP/AVP") || strings.EqualFold(p, "RTP/SAVP")
}

// offerProto returns the m= proto of an offer and checks its crypto lines.
func offerProto(cfg OfferConfig) (string, error) {
	switch cfg.SRTP {
	case SRTPOff:
		return "RTP/AVP", nil
	case SRTPOptional, SRTPRequired:
	default:
		return "", fmt.Errorf("%w: SRTP mode %v", ErrConfig, cfg.SRTP)
	}
	if len(cfg.Crypto) == 0 {
		return "", fmt.Errorf("%w: an SRTP offer needs Crypto lines (OfferCrypto)", ErrConfig)
	}
	for i, c := range cfg.Crypto {
		if c.key == nil || !c.Suite.valid() || len(c.key.b) != c.Suite.keyLen() {
			return "", fmt.Errorf("%w: Crypto[%d] has no key (make it with NewCrypto or OfferCrypto)", ErrConfig, i)
		}
		for _, d := range cfg.Crypto[:i] {
			if d.Tag == c.Tag {
				return "", fmt.Errorf("%w: crypto tag %d used twice", ErrConfig, c.Tag)
			}
		}
	}
	if cfg.SRTP == SRTPRequired {
		return "RTP/SAVP", nil
	}
	return "RTP/AVP", nil
}

// addCrypto appends a=crypto lines to md.
func addCrypto(md *sdp.MediaDescription, cs ...Crypto) {
	for _, c := range cs {
		md.Attributes = append(md.Attributes, sdp.NewAttribute("crypto", c.attrValue()))
	}
}

// answeredSRTP pairs the answer's a=crypto line with the offered one of
// the same tag and suite (RFC 4568 §7.1.3). Offered without SRTP, the
// answer's crypto lines are ignored, as before SRTP existed. Offered with
// it: an answer without a crypto line is plain RTP when SRTP was optional
// and the answer is RTP/AVP, and ErrSRTPRequired otherwise; a crypto line
// that names no offered tag and suite, or that ParseCrypto refuses, fails
// (ErrCrypto; and ErrSRTPRequired when SRTP was required).
func answeredSRTP(m *sdpAudio, offered OfferConfig) (SRTPKeys, error) {
	if offered.SRTP == SRTPOff {
		return SRTPKeys{}, nil
	}
	if _, err := offerProto(offered); err != nil {
		return SRTPKeys{}, err
	}
	fail := func(err error) (SRTPKeys, error) {
		if offered.SRTP == SRTPRequired {
			return SRTPKeys{}, fmt.Errorf("%w: answer: %w", ErrSRTPRequired, err)
		}
		return SRTPKeys{}, fmt.Errorf("media: SDP answer: %w", err)
	}
	if len(m.crypto) == 0 {
		if offered.SRTP == SRTPRequired {
			return SRTPKeys{}, fmt.Errorf("%w: the %s answer has no a=crypto line", ErrSRTPRequired, m.proto)
		}
		if !strings.EqualFold(m.proto, "RTP/AVP") {
			return SRTPKeys{}, fmt.Errorf("%w: the %s answer has no a=crypto line", ErrCrypto, m.proto)
		}
		return SRTPKeys{}, nil // best effort: the far end chose plain RTP
	}
	if len(m.crypto) > 1 {
		return fail(fmt.Errorf("%w: %d a=crypto lines (an answer has one)", ErrCrypto, len(m.crypto)))
	}
	theirs, err := ParseCrypto(m.crypto[0])
	if err != nil {
		return fail(err)
	}
	for _, ours := range offered.Crypto {
		if ours.Tag == theirs.Tag {
			if ours.Suite != theirs.Suite {
				return fail(fmt.Errorf("%w: tag %d answered with %s, offered with %s", ErrCrypto, theirs.Tag, theirs.Suite, ours.Suite))
			}
			return newSRTPKeys(ours, theirs), nil
		}
	}
	return fail(fmt.Errorf("%w: tag %d was not offered", ErrCrypto, theirs.Tag))
}

// offeredSRTP chooses, for the answerer in mode, the first a=crypto line
// of an offered m= line that ParseCrypto accepts, and returns it with a
// fresh line of ours for the answer; both zero for plain RTP. An RTP/SAVP
// line needs one (and SRTP on), and so does any line when SRTP is
// required: the error then wraps ErrSRTPRequired, or ErrMediaRejected
// when SRTP is off, with the first refused line's cause.
func offeredSRTP(m *sdpAudio, mode SRTPMode) (ours, theirs Crypto, err error) {
	savp := strings.EqualFold(m.proto, "RTP/SAVP")
	if mode == SRTPOff {
		if savp {
			return Crypto{}, Crypto{}, fmt.Errorf("%w: the offer is RTP/SAVP (SRTP) and SRTP is off", ErrMediaRejected)
		}
		return Crypto{}, Crypto{}, nil
	}
	var cause error
	for _, v := range m.crypto {
		c, err := ParseCrypto(v)
		if err != nil {
			cause = cmp.Or(cause, err)
			continue
		}
		ours, _ := NewCrypto(c.Tag, c.Suite)
		return ours, c, nil
	}
	if !savp && mode == SRTPOptional {
		return Crypto{}, Crypto{}, nil
	}
	if cause == nil {
		cause = fmt.Errorf("the %s offer has no a=crypto line", m.proto)
	}
	return Crypto{}, Crypto{}, fmt.Errorf("%w: offer: %w", ErrSRTPRequired, cause)
}
