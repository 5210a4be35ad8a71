package sip

import (
	"crypto/md5"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Digest access authentication for SIP (RFC 3261 §22.4, RFC 2617, RFC 7616,
// RFC 8760), written here rather than taken from sipgo so that the dialer
// controls the retry rule (at most one answer per realm) and can test it with
// the RFC's own vectors.
//
// A challenge arrives in WWW-Authenticate (401) or Proxy-Authenticate (407):
//
//	WWW-Authenticate: Digest realm="pbx", nonce="8f7d…", qop="auth,auth-int",
//	                  algorithm=SHA-256, opaque="x", stale=FALSE
//
// and is answered in Authorization or Proxy-Authorization:
//
//	Authorization: Digest username="denwa", realm="pbx", nonce="8f7d…",
//	               uri="sip:0312345678@pbx", response="…", algorithm=SHA-256,
//	               cnonce="…", nc=00000001, qop=auth, opaque="x"
//
//	HA1      = H(username ":" realm ":" password)
//	HA1-sess = H(HA1 ":" nonce ":" cnonce)                    (algorithm …-sess)
//	HA2      = H(method ":" uri)
//	response = H(HA1 ":" nonce ":" nc ":" cnonce ":" qop ":" HA2)   (qop=auth)
//	response = H(HA1 ":" nonce ":" HA2)                              (no qop, RFC 2069)
//
// Only qop=auth is answered (auth-int would hash the body; SIP servers that
// insist on it are rare). When a server offers several challenges, the
// strongest supported algorithm wins: SHA-512-256, SHA-256, then MD5.

// Challenge is one parsed Digest challenge.
type Challenge struct {
	Realm     string
	Nonce     string
	Opaque    string
	Algorithm string // as sent, upper-cased; "" means MD5
	QOP       []string
	Stale     bool
	UserHash  bool
}

// ParseChallenge parses the value of one WWW-Authenticate or
// Proxy-Authenticate header. It returns an error wrapping ErrBadChallenge for
// a scheme other than Digest, a missing nonce, or unbalanced quotes.
func ParseChallenge(value string) (Challenge, error) {
	var c Challenge
	v := strings.TrimSpace(value)
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Digest") {
		return c, fmt.Errorf("%w: scheme %q is not Digest", ErrBadChallenge, truncate(scheme, 32))
	}
	params, err := parseAuthParams(rest)
	if err != nil {
		return c, err
	}
	for k, val := range params {
		switch k {
		case "realm":
			c.Realm = val
		case "nonce":
			c.Nonce = val
		case "opaque":
			c.Opaque = val
		case "algorithm":
			c.Algorithm = strings.ToUpper(val)
		case "qop":
			for q := range strings.SplitSeq(val, ",") {
				if q = strings.TrimSpace(q); q != "" {
					c.QOP = append(c.QOP, strings.ToLower(q))
				}
			}
		case "stale":
			c.Stale = strings.EqualFold(val, "true")
		case "userhash":
			c.UserHash = strings.EqualFold(val, "true")
		}
	}
	if c.Nonce == "" {
		return c, fmt.Errorf("%w: no nonce", ErrBadChallenge)
	}
	if _, ok := digestHash(c.Algorithm); !ok {
		return c, fmt.Errorf("%w: algorithm %q not supported", ErrBadChallenge, truncate(c.Algorithm, 32))
	}
	return c, nil
}

// parseAuthParams reads `k=v, k="quoted, v"` lists (RFC 7235 §2.1). Keys are
// lower-cased; a repeated key keeps its first value.
func parseAuthParams(s string) (map[string]string, error) {
	out := make(map[string]string, 8)
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == ',' || s[i] == '\r' || s[i] == '\n') {
			i++
		}
		if i >= len(s) {
			break
		}
		eq := strings.IndexByte(s[i:], '=')
		if eq < 0 {
			return nil, fmt.Errorf("%w: parameter without '='", ErrBadChallenge)
		}
		key := strings.ToLower(strings.TrimSpace(s[i : i+eq]))
		i += eq + 1
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		var val string
		if i < len(s) && s[i] == '"' {
			i++
			var b strings.Builder
			closed := false
			for i < len(s) {
				ch := s[i]
				if ch == '\\' && i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				if ch == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(ch)
				i++
			}
			if !closed {
				return nil, fmt.Errorf("%w: unterminated quoted string", ErrBadChallenge)
			}
			val = b.String()
		} else {
			j := i
			for j < len(s) && s[j] != ',' {
				j++
			}
			val = strings.TrimSpace(s[i:j])
			i = j
		}
		if key == "" {
			return nil, fmt.Errorf("%w: empty parameter name", ErrBadChallenge)
		}
		if _, dup := out[key]; !dup {
			out[key] = val
		}
	}
	return out, nil
}

// digestHash returns the hash for an algorithm name (with or without -sess).
func digestHash(alg string) (func() hash.Hash, bool) {
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "", "MD5":
		return md5.New, true
	case "SHA-256":
		return sha256.New, true
	case "SHA-512-256":
		return sha512.New512_256, true
	}
	return nil, false
}

func algStrength(alg string) int {
	switch strings.TrimSuffix(strings.ToUpper(alg), "-SESS") {
	case "SHA-512-256":
		return 3
	case "SHA-256":
		return 2
	case "", "MD5":
		return 1
	}
	return 0
}

// Credentials answer a challenge. Password is used only to compute the
// response and is never formatted: Credentials.String redacts it.
type Credentials struct {
	Username string
	Password string
}

// String describes the credentials without the password.
func (c Credentials) String() string { return "user=" + c.Username + " password=<redacted>" }

// DigestRequest is what is being authorised.
type DigestRequest struct {
	Method string // "INVITE"
	URI    string // the Request-URI, as sent
	// CNonce and NC are normally left zero: CNonce is then random and NC 1.
	// Tests set them to reproduce published vectors.
	CNonce string
	NC     uint32
}

// Authorize computes the header value (after "Authorization: ") answering c.
func Authorize(c Challenge, cred Credentials, r DigestRequest) (string, error) {
	newHash, ok := digestHash(c.Algorithm)
	if !ok {
		return "", fmt.Errorf("%w: algorithm %q not supported", ErrBadChallenge, c.Algorithm)
	}
	h := func(parts ...string) string {
		hh := newHash()
		for i, p := range parts {
			if i > 0 {
				hh.Write([]byte{':'})
			}
			hh.Write([]byte(p))
		}
		return hex.EncodeToString(hh.Sum(nil))
	}
	qop := ""
	for _, q := range c.QOP {
		if q == "auth" {
			qop = "auth"
		}
	}
	if len(c.QOP) > 0 && qop == "" {
		return "", fmt.Errorf("%w: qop %v offers no \"auth\"", ErrBadChallenge, c.QOP)
	}
	cnonce := r.CNonce
	if cnonce == "" && (qop != "" || strings.HasSuffix(c.Algorithm, "-SESS")) {
		var b [16]byte
		_, _ = rand.Read(b[:])
		cnonce = hex.EncodeToString(b[:])
	}
	nc := r.NC
	if nc == 0 {
		nc = 1
	}
	ncs := fmt.Sprintf("%08x", nc)
	ha1 := h(cred.Username, c.Realm, cred.Password)
	if strings.HasSuffix(c.Algorithm, "-SESS") {
		ha1 = h(ha1, c.Nonce, cnonce)
	}
	ha2 := h(r.Method, r.URI)
	var resp string
	if qop != "" {
		resp = h(ha1, c.Nonce, ncs, cnonce, qop, ha2)
	} else {
		resp = h(ha1, c.Nonce, ha2)
	}
	user := cred.Username
	if c.UserHash {
		user = h(cred.Username, c.Realm)
	}
	var b strings.Builder
	b.WriteString("Digest username=")
	b.WriteString(quote(user))
	b.WriteString(", realm=")
	b.WriteString(quote(c.Realm))
	b.WriteString(", nonce=")
	b.WriteString(quote(c.Nonce))
	b.WriteString(", uri=")
	b.WriteString(quote(r.URI))
	b.WriteString(", response=")
	b.WriteString(quote(resp))
	if c.Algorithm != "" {
		b.WriteString(", algorithm=")
		b.WriteString(c.Algorithm)
	}
	if qop != "" {
		b.WriteString(", cnonce=")
		b.WriteString(quote(cnonce))
		b.WriteString(", nc=")
		b.WriteString(ncs)
		b.WriteString(", qop=")
		b.WriteString(qop)
	}
	if c.Opaque != "" {
		b.WriteString(", opaque=")
		b.WriteString(quote(c.Opaque))
	}
	if c.UserHash {
		b.WriteString(", userhash=true")
	}
	return b.String(), nil
}

// pickChallenge parses every challenge value and returns the strongest one
// this package can answer.
func pickChallenge(values []string) (Challenge, error) {
	var best Challenge
	var firstErr error
	found := false
	for _, v := range values {
		c, err := ParseChallenge(v)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !found || algStrength(c.Algorithm) > algStrength(best.Algorithm) {
			best, found = c, true
		}
	}
	if !found {
		if firstErr == nil {
			firstErr = fmt.Errorf("%w: no challenge header", ErrBadChallenge)
		}
		return Challenge{}, firstErr
	}
	return best, nil
}

func quote(s string) string {
	if !strings.ContainsAny(s, "\"\\") {
		return `"` + s + `"`
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
