package enroll

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Three kinds of credentials, all checked without a secret ever reaching
// an error string, a log line or fmt output:
//
//   - one-time enrollment links, signed and expiring ([LinkSigner]);
//   - API keys for systems, stored only as a hash ([NewAPIKey]);
//   - webhook signatures, HMAC-SHA256 over timestamp and body
//     ([SignWebhook], [VerifyWebhook]).

// ---------------------------------------------------------------------
// One-time enrollment links

// MinLinkKeyLen is the shortest key [NewLinkSigner] accepts: 32 bytes,
// the output size of SHA-256 (RFC 2104 §3: shorter keys weaken HMAC).
const MinLinkKeyLen = 32

// MaxLinkTokenLen bounds the tokens [LinkSigner.Verify] reads; longer
// input is refused before it is decoded.
const MaxLinkTokenLen = 1024

// maxLinkField bounds each ID in a link. IDs are short (NewID makes 22
// characters); the bound keeps tokens under MaxLinkTokenLen.
const maxLinkField = 128

// maxLinkKeys bounds the keys a signer holds: each failed verification
// tries every key.
const maxLinkKeys = 8

// linkVersion is the first byte of every payload. A token of another
// version is invalid, even when correctly signed.
const linkVersion = 1

// linkContext prefixes the MAC input, so that a link MAC can never be
// mistaken for a MAC made with the same key for another purpose (an
// operator who reuses the webhook secret as the link key, say).
const linkContext = "denwa enrollment link\x00"

// Link is what an enrollment link carries. Every field is covered by the
// signature.
type Link struct {
	// ID is random and unique per link ([NewLink] makes 128 bits). It is
	// the one-time-use key: when the link is redeemed the store records
	// ID and refuses it a second time (ErrTokenUsed), so a signed,
	// unexpired token still works only once. Signing and verifying do
	// not enforce that; only the store can.
	ID           string
	EnrollmentID string
	UserID       string
	// Expires is when the link stops working, to the second (Sign
	// drops the fraction; Verify returns it in UTC).
	Expires time.Time
}

// NewLink returns a Link with a fresh random ID.
func NewLink(enrollmentID, userID string, expires time.Time) (Link, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Link{}, fmt.Errorf("enroll: link ID: %w", err)
	}
	return Link{ID: base64.RawURLEncoding.EncodeToString(b[:]), EnrollmentID: enrollmentID, UserID: userID, Expires: expires}, nil
}

// LinkSigner signs and verifies enrollment link tokens with HMAC-SHA256.
// It holds one or more keys: the first signs, every one verifies, so a
// key can be rotated by putting the new key first and dropping the old
// one once the longest-lived link it signed has expired. A LinkSigner is
// safe for concurrent use. Printing it with fmt shows no key.
type LinkSigner struct {
	keys [][]byte
}

// NewLinkSigner returns a signer that signs with key and also accepts
// tokens signed with any of previous (oldest last). Each key must be at
// least [MinLinkKeyLen] bytes of secret random data; at most 8 keys in
// all. The keys are copied. Errors wrap [ErrInvalidConfig] and name no
// key material.
func NewLinkSigner(key []byte, previous ...[]byte) (*LinkSigner, error) {
	all := append([][]byte{key}, previous...)
	if len(all) > maxLinkKeys {
		return nil, fmt.Errorf("%w: link signer: %d keys, at most %d", ErrInvalidConfig, len(all), maxLinkKeys)
	}
	s := &LinkSigner{keys: make([][]byte, len(all))}
	for i, k := range all {
		if len(k) < MinLinkKeyLen {
			return nil, fmt.Errorf("%w: link signer: key %d is %d bytes, need at least %d", ErrInvalidConfig, i, len(k), MinLinkKeyLen)
		}
		s.keys[i] = append([]byte(nil), k...)
	}
	return s, nil
}

// String, GoString and Format keep the keys out of fmt output and logs,
// for a *LinkSigner and for a copied LinkSigner value alike.
func (s LinkSigner) String() string {
	return "enroll.LinkSigner{keys: " + strconv.Itoa(len(s.keys)) + " (redacted)}"
}

// GoString implements [fmt.GoStringer].
func (s LinkSigner) GoString() string { return s.String() }

// Format implements [fmt.Formatter]: every verb prints String.
func (s LinkSigner) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// Sign returns the token for l:
//
//	token   = base64url(payload) "." base64url(mac)       (no padding)
//	mac     = HMAC-SHA256(key, "denwa enrollment link\x00" || payload)
//	payload:
//	+---------+----------------------+-----+------+-----+------------+-----+--------+
//	| version | expires (Unix s, BE) | len |  ID  | len | Enrollment | len | UserID |
//	| 1 byte  | 8 bytes, int64       | 1 B |      | 1 B |     ID     | 1 B |        |
//	+---------+----------------------+-----+------+-----+------------+-----+--------+
//
// The token is URL-safe and opaque; it is signed, not encrypted, so the
// IDs in it are readable by whoever holds the link. Sign fails when ID
// is empty, an ID is longer than 128 bytes or not UTF-8, or Expires is
// zero.
func (s *LinkSigner) Sign(l Link) (string, error) {
	if l.ID == "" {
		return "", fmt.Errorf("enroll: sign link: empty ID")
	}
	if l.Expires.IsZero() {
		return "", fmt.Errorf("enroll: sign link: no expiry")
	}
	p := make([]byte, 0, 1+8+3+len(l.ID)+len(l.EnrollmentID)+len(l.UserID))
	p = append(p, linkVersion)
	p = binary.BigEndian.AppendUint64(p, uint64(l.Expires.Unix()))
	for _, f := range [...]struct{ name, v string }{{"ID", l.ID}, {"EnrollmentID", l.EnrollmentID}, {"UserID", l.UserID}} {
		if len(f.v) > maxLinkField || !utf8.ValidString(f.v) {
			return "", fmt.Errorf("enroll: sign link: %s longer than %d bytes or not UTF-8", f.name, maxLinkField)
		}
		p = append(p, byte(len(f.v)))
		p = append(p, f.v...)
	}
	b64 := base64.RawURLEncoding
	return b64.EncodeToString(p) + "." + b64.EncodeToString(linkMAC(s.keys[0], p)), nil
}

func linkMAC(key, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(linkContext))
	m.Write(payload)
	return m.Sum(nil)
}

// Verify checks a token made by [LinkSigner.Sign] with any of the
// signer's keys and returns its Link. It returns an error wrapping
// [ErrTokenInvalid] for anything malformed, too long, of another version
// or not signed by our keys (MACs are compared in constant time, and
// nothing in the payload is read before the MAC matches), and
// [ErrTokenExpired] when now is at or past Expires. Verify does not
// know whether the link was already used: the caller must redeem
// Link.ID in the store, which refuses a second use.
func (s *LinkSigner) Verify(token string, now time.Time) (Link, error) {
	invalid := func(why string) (Link, error) {
		return Link{}, fmt.Errorf("%w: %s", ErrTokenInvalid, why)
	}
	if len(token) > MaxLinkTokenLen {
		return invalid("too long")
	}
	// Only the base64url alphabet and one dot: the decoder would skip
	// CR and LF, so that "token\n" would otherwise verify.
	for i := 0; i < len(token); i++ {
		if c := token[i]; !isBase64URL(c) && c != '.' {
			return invalid("malformed")
		}
	}
	enc, sig, ok := strings.Cut(token, ".")
	if !ok || enc == "" || sig == "" {
		return invalid("malformed")
	}
	b64 := base64.RawURLEncoding.Strict()
	payload, err := b64.DecodeString(enc)
	if err != nil {
		return invalid("malformed")
	}
	mac, err := b64.DecodeString(sig)
	if err != nil || len(mac) != sha256.Size {
		return invalid("malformed")
	}
	good := 0
	for _, k := range s.keys {
		good |= subtle.ConstantTimeCompare(mac, linkMAC(k, payload))
	}
	if good != 1 {
		return invalid("bad signature")
	}

	// Authentic from here on; still parse strictly.
	if len(payload) < 1+8 || payload[0] != linkVersion {
		return invalid("unknown version")
	}
	var l Link
	l.Expires = time.Unix(int64(binary.BigEndian.Uint64(payload[1:9])), 0).UTC()
	rest := payload[9:]
	for _, f := range []*string{&l.ID, &l.EnrollmentID, &l.UserID} {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return invalid("malformed payload")
		}
		*f, rest = string(rest[1:1+int(rest[0])]), rest[1+int(rest[0]):]
	}
	if len(rest) != 0 || l.ID == "" {
		return invalid("malformed payload")
	}
	if !now.Before(l.Expires) {
		return Link{}, ErrTokenExpired
	}
	return l, nil
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

// ---------------------------------------------------------------------
// API keys

// An API key, as a system presents it in "Authorization: Bearer …":
//
//	dnw_<id>_<secret>
//	id:     10 random bytes, 16 characters of lower-case base32 (RFC 4648, no padding)
//	secret: 32 random bytes, 52 characters of lower-case base32
//
// The id names the key, so that a server can find its record with one
// lookup instead of trying every key; it is not secret. Only a SHA-256
// of the whole key is stored ([APIKeyRecord].SecretHash, also what
// [APIKeyHash] returns), so a store may look the record up either by id
// or by that hash. A fast hash is enough here, and argon2 would be
// wrong: the secret is 256 bits from crypto/rand, so a stolen hash
// cannot be reversed by guessing however fast the hash is (a slow hash
// only helps secrets a person chose), and API keys are checked on every
// request, where a deliberately slow hash would hand anyone with a
// made-up key an easy way to burn our CPU. (Looking a hash up in a
// database index leaks nothing useful either: nobody can aim at a hash
// prefix without the key itself.)
const (
	apiKeyPrefix    = "dnw_"
	apiKeyIDBytes   = 10
	apiKeyIDLen     = 16 // base32 of 10 bytes
	apiKeySecretLen = 52 // base32 of 32 bytes, 4 padding bits
	// APIKeyLen is the length of every API key.
	APIKeyLen = len(apiKeyPrefix) + apiKeyIDLen + 1 + apiKeySecretLen
	// MaxAPIKeyNameLen bounds the name given to NewAPIKey, in bytes.
	MaxAPIKeyNameLen = 100
)

var apiKeyB32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// APIKeyRecord is what the store keeps for an API key: never the key.
type APIKeyRecord struct {
	ID   string // the <id> part of the key: the lookup key
	Name string // who the key is for, as given to NewAPIKey ("mail-gateway")
	// SecretHash is the hex SHA-256 of the whole key ("dnw_<id>_<secret>"),
	// 64 characters, what APIKeyHash returns for the key. It is not
	// secret in itself (see above), but there is no reason to show it.
	SecretHash string
}

// NewAPIKey makes a new API key for the system called name (1 to 100
// bytes of printable UTF-8, no control characters). It returns the key
// to hand over once and the record to store.
func NewAPIKey(name string) (plain string, record APIKeyRecord, err error) {
	if name == "" || len(name) > MaxAPIKeyNameLen || !utf8.ValidString(name) || strings.ContainsFunc(name, isControl) {
		return "", APIKeyRecord{}, fmt.Errorf("enroll: API key name must be 1 to %d bytes of printable UTF-8", MaxAPIKeyNameLen)
	}
	var b [apiKeyIDBytes + 32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", APIKeyRecord{}, fmt.Errorf("enroll: API key: %w", err)
	}
	id := apiKeyB32.EncodeToString(b[:apiKeyIDBytes])
	plain = apiKeyPrefix + id + "_" + apiKeyB32.EncodeToString(b[apiKeyIDBytes:])
	return plain, APIKeyRecord{ID: id, Name: name, SecretHash: apiKeySum(plain)}, nil
}

func apiKeySum(plain string) string {
	sum := sha256.Sum256([]byte(plain))
	return hex.EncodeToString(sum[:])
}

// APIKeyHash returns the hash stored for the API key plain (the
// SecretHash of its record), for a store that looks keys up by hash, or
// [ErrAPIKeyInvalid] for text that is no API key.
func APIKeyHash(plain string) (string, error) {
	if _, _, err := ParseAPIKey(plain); err != nil {
		return "", err
	}
	return apiKeySum(plain), nil
}

func isControl(r rune) bool { return r < 0x20 || (r >= 0x7f && r < 0xa0) }

// ParseAPIKey splits an API key into its id and secret, or returns
// [ErrAPIKeyInvalid] (which never contains the input). Only the exact
// form NewAPIKey makes is accepted: prefix, lengths, alphabet, and a
// canonical last character.
func ParseAPIKey(plain string) (id, secret string, err error) {
	if len(plain) != APIKeyLen || !strings.HasPrefix(plain, apiKeyPrefix) || plain[len(apiKeyPrefix)+apiKeyIDLen] != '_' {
		return "", "", ErrAPIKeyInvalid
	}
	id = plain[len(apiKeyPrefix) : len(apiKeyPrefix)+apiKeyIDLen]
	secret = plain[len(apiKeyPrefix)+apiKeyIDLen+1:]
	if _, ok := decodeAPIKeyPart(id, apiKeyIDBytes); !ok {
		return "", "", ErrAPIKeyInvalid
	}
	if _, ok := decodeAPIKeyPart(secret, 32); !ok {
		return "", "", ErrAPIKeyInvalid
	}
	return id, secret, nil
}

// decodeAPIKeyPart decodes s and checks that it is the one encoding of
// n bytes (base32 ignores set padding bits, so two strings could
// otherwise decode to the same key).
func decodeAPIKeyPart(s string, n int) ([]byte, bool) {
	b, err := apiKeyB32.DecodeString(s)
	if err != nil || len(b) != n || apiKeyB32.EncodeToString(b) != s {
		return nil, false
	}
	return b, true
}

// Verify reports whether secret (the part ParseAPIKey returns) is the
// secret of this record's key, comparing hashes in constant time. A
// malformed secret or record is false.
func (r APIKeyRecord) Verify(secret string) bool {
	plain := apiKeyPrefix + r.ID + "_" + secret
	if _, _, err := ParseAPIKey(plain); err != nil {
		return false
	}
	want, err := hex.DecodeString(r.SecretHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	sum := sha256.Sum256([]byte(plain))
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}

// ---------------------------------------------------------------------
// Webhook signatures

// WebhookSignatureHeader is the HTTP header that carries [SignWebhook]'s
// value.
const WebhookSignatureHeader = "Denwa-Signature"

// DefaultWebhookTolerance is the replay window [VerifyWebhook] uses when
// given none.
const DefaultWebhookTolerance = 5 * time.Minute

// maxWebhookHeaderLen bounds the header VerifyWebhook reads (room for a
// timestamp and several v1 signatures during a secret rotation).
const maxWebhookHeaderLen = 1024

// SignWebhook returns the signature header value for a webhook body sent
// at timestamp:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<unix seconds>.<body>")>
//
// The receiver recomputes the MAC over the timestamp and the raw body it
// received and refuses old timestamps, so a captured request cannot be
// replayed later than the tolerance. secret should be at least 32 random
// bytes; configuration checks that, not this function.
func SignWebhook(secret []byte, timestamp time.Time, body []byte) string {
	ts := strconv.FormatInt(timestamp.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(webhookMAC(secret, ts, body))
}

func webhookMAC(secret []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyWebhook checks a [SignWebhook] header against the raw body: it
// returns nil when one of the header's v1 signatures (a sender rotating
// its secret may send several) is the MAC of body with secret and the
// timestamp is within tolerance of now (either way; tolerance <= 0 means
// [DefaultWebhookTolerance]). Otherwise it returns an error wrapping
// [ErrWebhookSignature] (malformed header, empty secret, no matching
// signature) or [ErrWebhookExpired]. Fields other than t and v1 are
// ignored, for later schemes. Within the window a request can still be
// replayed; receivers that must act once dedupe on the event's ID.
func VerifyWebhook(secret []byte, header string, body []byte, now time.Time, tolerance time.Duration) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrWebhookSignature, why) }
	if len(secret) == 0 {
		return bad("no secret configured")
	}
	if len(header) > maxWebhookHeaderLen {
		return bad("header too long")
	}
	if tolerance <= 0 {
		tolerance = DefaultWebhookTolerance
	}
	var ts string
	var sigs [][]byte
	for field := range strings.SplitSeq(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return bad("malformed header")
		}
		switch k {
		case "t":
			if ts != "" {
				return bad("two timestamps")
			}
			if !isUnixSeconds(v) {
				return bad("malformed timestamp")
			}
			ts = v
		case "v1":
			mac, err := hex.DecodeString(v)
			if err != nil || len(mac) != sha256.Size {
				return bad("malformed v1 signature")
			}
			sigs = append(sigs, mac)
		}
	}
	if ts == "" || len(sigs) == 0 {
		return bad("missing t or v1")
	}
	want := webhookMAC(secret, ts, body)
	good := 0
	for _, s := range sigs {
		good |= subtle.ConstantTimeCompare(s, want)
	}
	if good != 1 {
		return bad("no matching signature")
	}
	sec, _ := strconv.ParseInt(ts, 10, 64)
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return ErrWebhookExpired
	}
	return nil
}

// isUnixSeconds accepts 1 to 18 ASCII digits without a leading zero (a
// time far beyond any real one, yet one that never overflows int64).
func isUnixSeconds(s string) bool {
	if len(s) == 0 || len(s) > 18 || (s[0] == '0' && len(s) > 1) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
