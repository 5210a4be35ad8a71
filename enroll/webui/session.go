package webui

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"denwa/enroll/httpx"
)

// sessionCookie is the cookie that binds a redeemed link to the browser
// that redeemed it. Its Path is the link's own /e/{token}, so a browser
// holds one per link.
const sessionCookie = "denwa_session"

// startCookie holds the random nonce the 「続ける」 form's CSRF token is
// made of, before there is a session (double-submit: a request must bring
// the cookie and the matching form field).
const startCookie = "denwa_start"

// session is what the cookie carries, under an HMAC: the link it belongs
// to, its current ID (spent and replaced at each step, so a replayed
// cookie is refused), the enrollment the user works on (empty before
// step 1), and when it stops working.
type session struct {
	LinkID       string `json:"l"`
	ID           string `json:"s"`
	EnrollmentID string `json:"e,omitempty"`
	Expires      int64  `json:"x"`
}

const (
	macSession = "denwa webui session\x00"
	macCSRF    = "denwa webui csrf\x00"
	macStart   = "denwa webui start\x00"
)

func (s *Server) mac(purpose string, data []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(purpose))
	m.Write(data)
	return m.Sum(nil)
}

// encodeSession returns the cookie value: base64url(JSON) "." base64url(MAC).
func (s *Server) encodeSession(ss session) string {
	payload, _ := json.Marshal(ss) // plain strings and an int: cannot fail
	b64 := base64.RawURLEncoding
	return b64.EncodeToString(payload) + "." + b64.EncodeToString(s.mac(macSession, payload))
}

// decodeSession checks a cookie value; ok is false for anything not made
// by encodeSession with our key, or past its expiry.
func (s *Server) decodeSession(v string, now time.Time) (session, bool) {
	if len(v) > 1024 {
		return session{}, false
	}
	enc, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	b64 := base64.RawURLEncoding.Strict()
	payload, err1 := b64.DecodeString(enc)
	mac, err2 := b64.DecodeString(sig)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.mac(macSession, payload)) {
		return session{}, false
	}
	var ss session
	if json.Unmarshal(payload, &ss) != nil || ss.LinkID == "" || ss.ID == "" || now.Unix() >= ss.Expires {
		return session{}, false
	}
	return ss, true
}

// setSession writes the session cookie for the link page base
// ("/e/{token}").
func (s *Server) setSession(w http.ResponseWriter, base string, ss session) {
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: s.encodeSession(ss), Path: base,
		Expires: time.Unix(ss.Expires, 0), HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode,
	})
}

// startToken is the CSRF token of the 「続ける」 form: an HMAC of the link
// ID and the nonce of the browser's start cookie.
func (s *Server) startToken(linkID, nonce string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(macStart, []byte(linkID+"\x00"+nonce)))
}

// setStart gives the browser a new start cookie for the link page base
// and returns its nonce.
func (s *Server) setStart(w http.ResponseWriter, base string) string {
	nonce := httpx.NewRequestID()
	http.SetCookie(w, &http.Cookie{
		Name: startCookie, Value: nonce, Path: base, MaxAge: int(s.cfg.SessionTTL / time.Second),
		HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode,
	})
	return nonce
}

// checkStart reports whether the 「続ける」 POST may consume the link: the
// same request checks as checkCSRF, with the token made of the start
// cookie's nonce.
func (s *Server) checkStart(r *http.Request, linkID string) bool {
	c, err := r.Cookie(startCookie)
	if err != nil || c.Value == "" || len(c.Value) > 64 || !httpx.SameOrigin(r) {
		return false
	}
	return httpx.TokenEqual(r.PostFormValue("csrf"), s.startToken(linkID, c.Value))
}

// csrfToken is the anti-CSRF token of a link's session: an HMAC of the
// link ID, so valid only together with the session cookie of that link.
func (s *Server) csrfToken(linkID string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(macCSRF, []byte(linkID)))
}

// checkCSRF reports whether an unsafe request may proceed: no cross-site
// fetch metadata, an Origin (when sent) of this host, and the token of
// this link's session in the form field csrf or the X-CSRF-Token header.
func (s *Server) checkCSRF(r *http.Request, linkID string) bool {
	if !httpx.SameOrigin(r) {
		return false
	}
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return httpx.TokenEqual(got, s.csrfToken(linkID))
}
