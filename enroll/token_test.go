package enroll

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func testKey(b byte) []byte { return bytes.Repeat([]byte{b}, MinLinkKeyLen) }

var t0 = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)

func TestLinkSignVerify(t *testing.T) {
	s, err := NewLinkSigner(testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	l, err := NewLink("enr_0123456789abcdefghij", "user@example.jp", t0.Add(15*time.Minute+500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if len(l.ID) != 22 {
		t.Fatalf("NewLink ID %q: want 22 characters", l.ID)
	}
	tok, err := s.Sign(l)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$`).MatchString(tok) {
		t.Fatalf("token %q is not two unpadded base64url parts", tok)
	}
	got, err := s.Verify(tok, t0)
	if err != nil {
		t.Fatal(err)
	}
	want := l
	want.Expires = t0.Add(15 * time.Minute) // to the second, UTC
	if got != want {
		t.Errorf("Verify = %+v; want %+v", got, want)
	}
	// Valid until the last instant before Expires.
	if _, err := s.Verify(tok, want.Expires.Add(-time.Nanosecond)); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	for _, now := range []time.Time{want.Expires, want.Expires.Add(time.Hour)} {
		if _, err := s.Verify(tok, now); !errors.Is(err, ErrTokenExpired) {
			t.Errorf("Verify at %v = %v; want ErrTokenExpired", now, err)
		}
	}
	// Two links for the same enrollment differ.
	l2, _ := NewLink(l.EnrollmentID, l.UserID, l.Expires)
	if l2.ID == l.ID {
		t.Error("NewLink repeated an ID")
	}
}

func TestLinkKeyRotation(t *testing.T) {
	oldS, _ := NewLinkSigner(testKey(1))
	newS, err := NewLinkSigner(testKey(2), testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	onlyNew, _ := NewLinkSigner(testKey(2))
	l := Link{ID: "id1", EnrollmentID: "e1", UserID: "u1", Expires: t0.Add(time.Hour)}
	oldTok, _ := oldS.Sign(l)
	newTok, _ := newS.Sign(l)
	if _, err := newS.Verify(oldTok, t0); err != nil {
		t.Errorf("rotated signer refuses a token of the previous key: %v", err)
	}
	if _, err := newS.Verify(newTok, t0); err != nil {
		t.Errorf("rotated signer refuses its own token: %v", err)
	}
	if _, err := onlyNew.Verify(newTok, t0); err != nil {
		t.Errorf("the new key alone refuses a token signed after rotation: %v", err)
	}
	if _, err := oldS.Verify(newTok, t0); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("old key accepts a token of the new key: %v", err)
	}
	if _, err := onlyNew.Verify(oldTok, t0); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("a retired key's token is accepted: %v", err)
	}
}

func TestNewLinkSignerConfig(t *testing.T) {
	short := bytes.Repeat([]byte("s3cr"), 7) // 28 bytes
	many := make([][]byte, maxLinkKeys)
	for i := range many {
		many[i] = testKey(byte(i))
	}
	for name, keys := range map[string][][]byte{
		"nil":          {nil},
		"short":        {short},
		"short old":    {testKey(1), short},
		"too many":     append([][]byte{testKey(9)}, many...),
		"empty second": {testKey(1), {}},
	} {
		_, err := NewLinkSigner(keys[0], keys[1:]...)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: NewLinkSigner = %v; want ErrInvalidConfig", name, err)
			continue
		}
		if strings.Contains(err.Error(), "s3cr") {
			t.Errorf("%s: error %q shows the key", name, err)
		}
	}
	// The signer copies its keys.
	k := testKey(7)
	s, _ := NewLinkSigner(k)
	l := Link{ID: "x", Expires: t0.Add(time.Hour)}
	tok, _ := s.Sign(l)
	k[0] ^= 0xff
	if _, err := s.Verify(tok, t0); err != nil {
		t.Errorf("changing the caller's key slice changed the signer: %v", err)
	}
}

func TestLinkSignerRedacted(t *testing.T) {
	key := []byte("THIS-IS-THE-LINK-KEY-0123456789abcdef")
	s, err := NewLinkSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	hexKey := hex.EncodeToString(key)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d", "%T %v"} {
		out := fmt.Sprintf(verb, s)
		if strings.Contains(out, "THIS-IS") || strings.Contains(strings.ToLower(out), hexKey[:16]) || strings.Contains(out, "84 72 73 83") {
			t.Errorf("fmt %s shows the key: %s", verb, out)
		}
	}
	// Inside a struct too.
	type cfg struct{ Signer *LinkSigner }
	if out := fmt.Sprintf("%+v %#v", cfg{s}, cfg{s}); strings.Contains(out, "THIS-IS") {
		t.Errorf("struct printing shows the key: %s", out)
	}
	// A copied value too.
	if out := fmt.Sprintf("%v %+v %#v %d %x", *s, *s, *s, *s, *s); strings.Contains(out, "THIS-IS") || strings.Contains(out, "84 72 73 83") {
		t.Errorf("printing a LinkSigner value shows the key: %s", out)
	}
	var nilS *LinkSigner
	if out := fmt.Sprintf("%v %+v %d", nilS, nilS, nilS); strings.Contains(out, "THIS-IS") {
		t.Errorf("nil signer: %s", out)
	}
}

func TestLinkSignRefused(t *testing.T) {
	s, _ := NewLinkSigner(testKey(1))
	long := strings.Repeat("a", maxLinkField+1)
	for name, l := range map[string]Link{
		"empty ID":          {Expires: t0},
		"zero expiry":       {ID: "x"},
		"long ID":           {ID: long, Expires: t0},
		"long enrollment":   {ID: "x", EnrollmentID: long, Expires: t0},
		"long user":         {ID: "x", UserID: long, Expires: t0},
		"invalid UTF-8 ID":  {ID: "x\xff", Expires: t0},
		"invalid UTF-8 usr": {ID: "x", UserID: "\xc3", Expires: t0},
	} {
		if tok, err := s.Sign(l); err == nil {
			t.Errorf("%s: Sign = %q; want an error", name, tok)
		}
	}
	// The longest fields still give a token Verify reads.
	longest := strings.Repeat("é", maxLinkField/2)
	tok, err := s.Sign(Link{ID: longest, EnrollmentID: longest, UserID: longest, Expires: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) > MaxLinkTokenLen {
		t.Fatalf("largest token is %d bytes, over MaxLinkTokenLen", len(tok))
	}
	if got, err := s.Verify(tok, t0); err != nil || got.UserID != longest {
		t.Errorf("Verify(largest) = %+v, %v", got, err)
	}
}

// signRaw signs any payload with the link MAC, to build authentic
// tokens that Sign would never make.
func signRaw(key, payload []byte) string {
	b := base64.RawURLEncoding
	return b.EncodeToString(payload) + "." + b.EncodeToString(linkMAC(key, payload))
}

func TestLinkVerifyRefused(t *testing.T) {
	key := testKey(1)
	s, _ := NewLinkSigner(key)
	l := Link{ID: "link-id-secretish", EnrollmentID: "e1", UserID: "u1", Expires: t0.Add(time.Hour)}
	tok, _ := s.Sign(l)
	enc, sig, _ := strings.Cut(tok, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(enc)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	v2 := bytes.Clone(payload)
	v2[0] = 2
	expiresLater := bytes.Clone(payload)
	binary.BigEndian.PutUint64(expiresLater[1:9], uint64(t0.Add(1000*time.Hour).Unix()))
	tooShortField := bytes.Clone(payload[:len(payload)-1])
	trailing := append(bytes.Clone(payload), 0)
	noID := []byte{linkVersion}
	noID = binary.BigEndian.AppendUint64(noID, uint64(t0.Add(time.Hour).Unix()))
	noID = append(noID, 0, 0, 0)
	hmacNoContext := func(p []byte) string {
		m := hmac.New(sha256.New, key)
		m.Write(p)
		return base64.RawURLEncoding.EncodeToString(p) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}

	cases := map[string]string{
		"empty":                   "",
		"dot":                     ".",
		"no dot":                  enc + sig,
		"no signature":            enc + ".",
		"no payload":              "." + sig,
		"two dots":                tok + ".x",
		"truncated signature":     tok[:len(tok)-1],
		"truncated payload":       enc[:len(enc)-2] + "." + sig,
		"signature bit flip":      enc + "." + flip(sig, 5),
		"payload bit flip":        flip(enc, 3) + "." + sig,
		"padding":                 enc + "." + sig + "=",
		"std base64 alphabet":     strings.NewReplacer("-", "+", "_", "/").Replace(enc) + "+." + sig,
		"non-canonical sig":       enc + "." + sig[:42] + "B",
		"short MAC":               enc + "." + sig[:22],
		"other key":               signRaw(testKey(2), payload),
		"expiry changed":          base64.RawURLEncoding.EncodeToString(expiresLater) + "." + sig,
		"MAC without context":     hmacNoContext(payload),
		"version 2 signed":        signRaw(key, v2),
		"field overruns":          signRaw(key, tooShortField),
		"trailing byte signed":    signRaw(key, trailing),
		"empty ID signed":         signRaw(key, noID),
		"only version signed":     signRaw(key, []byte{linkVersion}),
		"empty payload signed":    signRaw(key, nil),
		"too long":                tok + strings.Repeat("A", MaxLinkTokenLen),
		"huge":                    strings.Repeat("A", 10<<20) + "." + sig,
		"whitespace":              " " + tok,
		"newline":                 tok + "\n",
		"CR inside":               enc[:5] + "\r" + enc[5:] + "." + sig,
		"LF inside signature":     enc + "." + sig[:10] + "\n" + sig[10:],
		"NUL":                     enc + "\x00." + sig,
		"non-ASCII":               enc + "é." + sig,
		"JWT-like":                "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
		"token of another signer": mustSign(t, testKey(3), l),
	}
	for name, bad := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := s.Verify(bad, t0)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("Verify = %+v, %v; want ErrTokenInvalid", got, err)
			}
			if got != (Link{}) {
				t.Errorf("Verify returned %+v with its error", got)
			}
			msg := err.Error()
			if len(bad) > 8 && strings.Contains(msg, bad) || strings.Contains(msg, sig) || strings.Contains(msg, l.ID) {
				t.Errorf("error %q repeats the token", msg)
			}
		})
	}
	// An expired token with a bad signature is invalid, not expired: no
	// information about unauthenticated tokens.
	if _, err := s.Verify(enc+"."+flip(sig, 5), t0.Add(2*time.Hour)); !errors.Is(err, ErrTokenInvalid) {
		t.Errorf("expired forged token: %v; want ErrTokenInvalid", err)
	}
}

func mustSign(t *testing.T, key []byte, l Link) string {
	t.Helper()
	s, err := NewLinkSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Sign(l)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func FuzzLinkVerify(f *testing.F) {
	key := testKey(1)
	s, _ := NewLinkSigner(key)
	tok, _ := s.Sign(Link{ID: "i", EnrollmentID: "e", UserID: "u", Expires: t0.Add(time.Hour)})
	f.Add(tok)
	f.Add("")
	f.Add("a.b")
	f.Fuzz(func(t *testing.T, tok string) {
		l, err := s.Verify(tok, t0)
		if err != nil {
			if l != (Link{}) {
				t.Fatalf("Link %+v with error %v", l, err)
			}
			return
		}
		// Whatever verifies signs back to the same token.
		again, err := s.Sign(l)
		if err != nil || again != tok {
			t.Fatalf("Verify(%q) = %+v; Sign gives %q, %v", tok, l, again, err)
		}
	})
}

func TestAPIKey(t *testing.T) {
	plain, rec, err := NewAPIKey("mail-gateway")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^dnw_[a-z2-7]{16}_[a-z2-7]{52}$`).MatchString(plain) || len(plain) != APIKeyLen {
		t.Fatalf("NewAPIKey = %q", plain)
	}
	id, secret, err := ParseAPIKey(plain)
	if err != nil {
		t.Fatal(err)
	}
	if id != rec.ID || rec.Name != "mail-gateway" || len(rec.SecretHash) != 64 {
		t.Fatalf("ParseAPIKey id %q, record %+v", id, rec)
	}
	if strings.Contains(fmt.Sprintf("%+v", rec), secret) {
		t.Fatal("the record holds the secret")
	}
	if !rec.Verify(secret) {
		t.Fatal("Verify(own secret) = false")
	}
	if h, err := APIKeyHash(plain); err != nil || h != rec.SecretHash {
		t.Fatalf("APIKeyHash = %q, %v; want the record's %q", h, err, rec.SecretHash)
	}
	if h, err := APIKeyHash(plain + "x"); !errors.Is(err, ErrAPIKeyInvalid) || h != "" {
		t.Errorf("APIKeyHash(bad) = %q, %v", h, err)
	}
	// The hash binds the id: the secret under another id does not verify.
	moved := rec
	moved.ID = strings.Repeat("a", apiKeyIDLen)
	if moved.Verify(secret) {
		t.Error("the secret verifies under another id")
	}

	plain2, rec2, _ := NewAPIKey("radius")
	_, secret2, _ := ParseAPIKey(plain2)
	if rec2.ID == rec.ID || secret2 == secret {
		t.Fatal("two API keys share an id or a secret")
	}
	if rec.Verify(secret2) || rec2.Verify(secret) {
		t.Error("a record accepts another key's secret")
	}
	// The last character carries one bit of the secret: 'a' or 'q'.
	last := secret[:51] + map[byte]string{'a': "q", 'q': "a"}[secret[51]]
	if len(last) != len(secret) {
		t.Fatalf("unexpected last character in %q", secret)
	}
	for _, bad := range []string{"", secret[:51], secret + "a", strings.ToUpper(secret), last} {
		if rec.Verify(bad) {
			t.Errorf("Verify(%q) = true", bad)
		}
	}
	for _, r := range []APIKeyRecord{{ID: rec.ID}, {ID: rec.ID, SecretHash: "zz"}, {ID: rec.ID, SecretHash: rec.SecretHash[:62]}} {
		if r.Verify(secret) {
			t.Errorf("malformed record %+v verifies", r)
		}
	}
}

func TestParseAPIKeyRefused(t *testing.T) {
	plain, _, _ := NewAPIKey("x")
	_, secret, _ := ParseAPIKey(plain)
	idEnd := len(apiKeyPrefix) + apiKeyIDLen
	// base32 of 32 bytes leaves 4 unused bits in the last character: a
	// last character with them set decodes to the same bytes, and is
	// refused so that each key has one spelling.
	nonCanonical := plain[:len(plain)-1] + string(apiKeyB32Alphabet[strings.IndexByte(apiKeyB32Alphabet, plain[len(plain)-1])|1])
	for name, bad := range map[string]string{
		"empty":            "",
		"prefix only":      "dnw_",
		"other prefix":     "xyz_" + plain[4:],
		"upper case":       strings.ToUpper(plain),
		"truncated":        plain[:len(plain)-1],
		"extra":            plain + "a",
		"no separator":     plain[:idEnd] + "-" + plain[idEnd+1:],
		"bad alphabet":     plain[:10] + "1" + plain[11:],
		"padding":          plain[:len(plain)-1] + "=",
		"non-canonical":    nonCanonical,
		"bearer":           "Bearer " + plain,
		"huge":             plain + strings.Repeat("a", 1<<20),
		"newline":          plain[:len(plain)-1] + "\n",
		"newline inside":   plain[:30] + "\n" + plain[31:],
		"non-ASCII":        plain[:len(plain)-2] + "é",
		"secret only":      secret,
		"swapped sections": "dnw_" + secret + "_" + plain[4:idEnd],
	} {
		id, s, err := ParseAPIKey(bad)
		if !errors.Is(err, ErrAPIKeyInvalid) || id != "" || s != "" {
			t.Errorf("%s: ParseAPIKey = %q, %q, %v; want ErrAPIKeyInvalid", name, id, s, err)
		}
		if err != nil && strings.Contains(err.Error(), secret[:10]) {
			t.Errorf("%s: error %q shows the secret", name, err)
		}
	}
}

const apiKeyB32Alphabet = "abcdefghijklmnopqrstuvwxyz234567"

func TestNewAPIKeyName(t *testing.T) {
	for _, name := range []string{"", strings.Repeat("a", MaxAPIKeyNameLen+1), "a\nb", "a\x00", "\xff", "tab\t"} {
		if _, _, err := NewAPIKey(name); err == nil {
			t.Errorf("NewAPIKey(%q) succeeded", name)
		}
	}
	for _, name := range []string{"mail-gateway", "メールゲートウェイ", strings.Repeat("a", MaxAPIKeyNameLen)} {
		if _, rec, err := NewAPIKey(name); err != nil || rec.Name != name {
			t.Errorf("NewAPIKey(%q) = %+v, %v", name, rec, err)
		}
	}
}

func TestWebhookSignVerify(t *testing.T) {
	secret := []byte("whsec-THE-WEBHOOK-SECRET-0123456789")
	body := []byte(`{"event":"verified","enrollment":"e1"}`)
	h := SignWebhook(secret, t0, body)
	ts := strconv.FormatInt(t0.Unix(), 10)
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts + "." + string(body)))
	if want := "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("SignWebhook = %q; want %q", h, want)
	}
	for _, now := range []time.Time{t0, t0.Add(DefaultWebhookTolerance), t0.Add(-DefaultWebhookTolerance), t0.Add(time.Minute)} {
		if err := VerifyWebhook(secret, h, body, now, 0); err != nil {
			t.Errorf("VerifyWebhook at %v: %v", now.Sub(t0), err)
		}
	}
	// Replay window.
	for _, tt := range []struct {
		now time.Time
		tol time.Duration
	}{
		{t0.Add(DefaultWebhookTolerance + time.Second), 0},
		{t0.Add(-DefaultWebhookTolerance - time.Second), 0},
		{t0.Add(31 * time.Second), 30 * time.Second},
		{t0.Add(24 * time.Hour), time.Hour},
	} {
		if err := VerifyWebhook(secret, h, body, tt.now, tt.tol); !errors.Is(err, ErrWebhookExpired) {
			t.Errorf("VerifyWebhook at %v (tolerance %v) = %v; want ErrWebhookExpired", tt.now.Sub(t0), tt.tol, err)
		}
	}
	// Several signatures (the sender rotating its secret), extra fields,
	// spaces after commas.
	other := SignWebhook([]byte("another-secret"), t0, body)
	_, otherSig, _ := strings.Cut(other, ",")
	_, sig, _ := strings.Cut(h, ",")
	for _, hh := range []string{
		"t=" + ts + "," + otherSig + "," + sig,
		"t=" + ts + ", " + sig + ", v0=legacy",
		sig + ",t=" + ts,
	} {
		if err := VerifyWebhook(secret, hh, body, t0, 0); err != nil {
			t.Errorf("VerifyWebhook(%q): %v", hh, err)
		}
	}
}

func TestWebhookVerifyRefused(t *testing.T) {
	secret := []byte("whsec-THE-WEBHOOK-SECRET-0123456789")
	body := []byte(`{"event":"verified"}`)
	h := SignWebhook(secret, t0, body)
	ts := strconv.FormatInt(t0.Unix(), 10)
	_, sig, _ := strings.Cut(h, ",")
	later := SignWebhook(secret, t0.Add(time.Second), body)
	_, laterSig, _ := strings.Cut(later, ",")
	tests := map[string]struct {
		secret []byte
		header string
		body   []byte
	}{
		"tampered body":        {secret, h, []byte(`{"event":"failed"}`)},
		"body with space":      {secret, h, append(bytes.Clone(body), ' ')},
		"empty body":           {secret, h, nil},
		"wrong secret":         {[]byte("wrong"), h, body},
		"no secret":            {nil, h, body},
		"timestamp changed":    {secret, "t=" + strconv.FormatInt(t0.Unix()+1, 10) + "," + sig, body},
		"signature of other t": {secret, "t=" + ts + "," + laterSig, body},
		"empty header":         {secret, "", body},
		"no timestamp":         {secret, sig, body},
		"no signature":         {secret, "t=" + ts, body},
		"two timestamps":       {secret, "t=" + ts + ",t=" + ts + "," + sig, body},
		"negative timestamp":   {secret, "t=-" + ts + "," + sig, body},
		"plus timestamp":       {secret, "t=+" + ts + "," + sig, body},
		"leading zero":         {secret, "t=0" + ts + "," + sig, body},
		"huge timestamp":       {secret, "t=99999999999999999999," + sig, body},
		"float timestamp":      {secret, "t=" + ts + ".0," + sig, body},
		"short signature":      {secret, "t=" + ts + "," + sig[:len(sig)-2], body},
		"non-hex signature":    {secret, "t=" + ts + "," + sig[:len(sig)-1] + "g", body},
		"v2 only":              {secret, "t=" + ts + ",v2=" + sig[3:], body},
		"no equals":            {secret, "t=" + ts + "," + sig + ",garbage", body},
		"semicolons":           {secret, "t=" + ts + ";" + sig, body},
		"huge header":          {secret, h + strings.Repeat(",v0=x", 1<<16), body},
		"bit flip":             {secret, h[:len(h)-1] + string("01"[(h[len(h)-1]-'0'+1)%2]), body},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			err := VerifyWebhook(tt.secret, tt.header, tt.body, t0, 0)
			if !errors.Is(err, ErrWebhookSignature) {
				t.Fatalf("VerifyWebhook = %v; want ErrWebhookSignature", err)
			}
			if strings.Contains(err.Error(), string(secret)) || strings.Contains(err.Error(), sig[3:]) {
				t.Errorf("error %q shows the secret or the signature", err)
			}
		})
	}
	// A forged signature is a signature error even when also stale: no
	// hint about the timestamp without a valid MAC.
	if err := VerifyWebhook([]byte("wrong"), h, body, t0.Add(time.Hour), 0); !errors.Is(err, ErrWebhookSignature) {
		t.Errorf("stale forged webhook: %v; want ErrWebhookSignature", err)
	}
}

func FuzzVerifyWebhook(f *testing.F) {
	secret := []byte("fuzz-secret")
	f.Add(SignWebhook(secret, t0, []byte("{}")), []byte("{}"))
	f.Add("t=1,v1=00", []byte(nil))
	f.Fuzz(func(t *testing.T, header string, body []byte) {
		err := VerifyWebhook(secret, header, body, t0, time.Hour)
		if err == nil && !strings.Contains(header, "v1=") {
			t.Fatalf("accepted %q without a v1 signature", header)
		}
	})
}

func BenchmarkLinkVerify(b *testing.B) {
	s, _ := NewLinkSigner(testKey(1), testKey(2))
	tok, _ := s.Sign(Link{ID: "AAAAAAAAAAAAAAAAAAAAAA", EnrollmentID: "BBBBBBBBBBBBBBBBBBBBBB", UserID: "user@example.jp", Expires: t0.Add(time.Hour)})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Verify(tok, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAPIKeyVerify(b *testing.B) {
	plain, rec, _ := NewAPIKey("bench")
	b.ReportAllocs()
	for b.Loop() {
		_, secret, err := ParseAPIKey(plain)
		if err != nil || !rec.Verify(secret) {
			b.Fatal("no match")
		}
	}
}

func ExampleSignWebhook() {
	secret := []byte("an example webhook secret, 32 bytes or more")
	body := []byte(`{"event":"verified"}`)
	sent := time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
	header := SignWebhook(secret, sent, body)
	fmt.Println(header)
	// The receiver, 3 seconds later:
	fmt.Println(VerifyWebhook(secret, header, body, sent.Add(3*time.Second), 5*time.Minute))
	// Output:
	// t=1775034000,v1=bde3d79ddea775f14a94569dfb72e23bd9c16ee830aa342dfe0c40fe96d25b51
	// <nil>
}
