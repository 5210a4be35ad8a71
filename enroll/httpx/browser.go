package httpx

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"net/http"
	"net/url"
	"strings"
)

// What the screens served to browsers (enroll/webui for users,
// enroll/console for operators) share: their security headers, the
// same-origin check of unsafe requests, token comparison, request IDs and
// the choice of language.

// CSP is the Content-Security-Policy of every page served to a browser:
// no inline script or style, nothing from elsewhere, no framing.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// SecurityHeaders sets, on every response of h, the Content-Security-Policy
// CSP, X-Frame-Options DENY, X-Content-Type-Options nosniff,
// Referrer-Policy no-referrer, Cross-Origin-Opener-Policy same-origin and
// Cache-Control no-store (a handler may replace the last, for static
// files).
func SecurityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", CSP)
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cross-Origin-Opener-Policy", "same-origin")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// SameOrigin reports whether r may come from our own pages: no
// cross-site fetch metadata (Sec-Fetch-Site), and an Origin, when sent,
// of the host r was sent to. It is the first check of an unsafe request;
// a CSRF token is the second.
func SameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
		return false
	}
	// With Referrer-Policy no-referrer, browsers send "Origin: null" on
	// form posts; the token and Sec-Fetch-Site still hold then.
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return false
		}
	}
	return true
}

// TokenEqual compares a token a client sent with the one expected, in
// time that does not depend on where they differ.
func TokenEqual(got, want string) bool {
	return len(got) == len(want) && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// ValidRequestID reports whether id is a request ID to keep: 1 to 64
// characters of [A-Za-z0-9._-].
func ValidRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// NewRequestID returns a random request ID (80 bits, 16 lower-case
// base32 characters); it is also a fine random nonce.
func NewRequestID() string {
	var b [10]byte
	rand.Read(b[:])
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// PickLanguage chooses the language of a page, "ja" or "en": ?lang=ja|en,
// then the cookie named cookie (which an earlier ?lang= set), then
// Accept-Language (the first of ja and en it names, by quality), then
// Japanese.
func PickLanguage(r *http.Request, cookie string) string {
	switch v := r.URL.Query().Get("lang"); v {
	case "en", "ja":
		return v
	}
	if c, err := r.Cookie(cookie); err == nil && (c.Value == "en" || c.Value == "ja") {
		return c.Value
	}
	best, bestQ := "ja", -1.0
	for part := range strings.SplitSeq(r.Header.Get("Accept-Language"), ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			q = parseQ(v)
		}
		var l string
		switch {
		case tag == "ja" || strings.HasPrefix(tag, "ja-"):
			l = "ja"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			l = "en"
		default:
			continue
		}
		if q > bestQ {
			best, bestQ = l, q
		}
	}
	return best
}

// parseQ reads a quality value ("0.8"); anything odd is 0.
func parseQ(s string) float64 {
	s = strings.TrimSpace(s)
	if s == "1" || strings.HasPrefix(s, "1.") {
		return 1
	}
	if !strings.HasPrefix(s, "0") {
		return 0
	}
	q, scale := 0.0, 0.1
	for _, c := range strings.TrimPrefix(strings.TrimPrefix(s, "0"), ".") {
		if c < '0' || c > '9' {
			return 0
		}
		q += float64(c-'0') * scale
		scale /= 10
	}
	return q
}
