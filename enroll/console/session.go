package console

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// The console's cookies. Their Path is Prefix+"/", so the user's screens
// and the API never see them.
const (
	// sessionCookie holds the sealed session (HttpOnly, SameSite=Strict).
	sessionCookie = "denwa_console"
	// preCookie holds the nonce the sign-in form's CSRF token is made of,
	// before there is a session (double submit: a sign-in must bring the
	// cookie and the matching form field).
	preCookie = "denwa_console_signin"
	// langCookie keeps a language chosen with ?lang=.
	langCookie = "denwa_lang"
)

// session is what the session cookie carries, sealed (AES-GCM) under a
// key derived from Config.SessionKey: readable and writable by no one
// else, so the key's hash in it is not shown to the browser either.
type session struct {
	ID      string `json:"s"` // random; spent by sign-out (Service.UseSession)
	Name    string `json:"n"` // the API key's name
	Hash    string `json:"h"` // the API key's hash (enroll.APIKeyHash), to look it up again
	Expires int64  `json:"x"` // Unix seconds
}

// keys are the keys derived from Config.SessionKey, one per use.
type keys struct {
	seal cipher.AEAD // the session cookie
	mac  []byte      // CSRF tokens
}

func deriveKeys(secret []byte) keys {
	derive := func(purpose string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte("denwa console " + purpose))
		return m.Sum(nil)
	}
	block, _ := aes.NewCipher(derive("session cookie")) // 32 bytes: AES-256, cannot fail
	aead, _ := cipher.NewGCM(block)                     // cannot fail for AES
	return keys{seal: aead, mac: derive("csrf")}
}

// maxCookieLen bounds a session cookie we read (ours are under 600 bytes).
const maxCookieLen = 1024

func (s *Server) sealSession(ss session) string {
	payload, _ := json.Marshal(ss) // strings and an int: cannot fail
	nonce := make([]byte, s.keys.seal.NonceSize(), s.keys.seal.NonceSize()+len(payload)+s.keys.seal.Overhead())
	rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.keys.seal.Seal(nonce, nonce, payload, []byte(sessionCookie)))
}

// openSession reads a session cookie value; ok is false for anything not
// sealed by sealSession with our key, or past its expiry.
func (s *Server) openSession(v string, now time.Time) (session, bool) {
	if len(v) > maxCookieLen {
		return session{}, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(v)
	ns := s.keys.seal.NonceSize()
	if err != nil || len(b) < ns {
		return session{}, false
	}
	payload, err := s.keys.seal.Open(nil, b[:ns], b[ns:], []byte(sessionCookie))
	if err != nil {
		return session{}, false
	}
	var ss session
	if json.Unmarshal(payload, &ss) != nil || ss.ID == "" || ss.Hash == "" || now.Unix() >= ss.Expires {
		return session{}, false
	}
	return ss, true
}

func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name: name, Value: value, Path: Prefix + "/", MaxAge: maxAge,
		HttpOnly: true, Secure: s.cfg.SecureCookies || r.TLS != nil, SameSite: http.SameSiteStrictMode,
	}
}

func (s *Server) token(purpose, data string) string {
	m := hmac.New(sha256.New, s.keys.mac)
	m.Write([]byte(purpose + "\x00" + data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfToken is the anti-CSRF token of a session: an HMAC of its ID, so it
// is valid only together with that session's cookie, on any node that
// shares the session key.
func (s *Server) csrfToken(ss session) string { return s.token("csrf", ss.ID) }

// signInToken is the CSRF token of the sign-in form, made of the nonce in
// the browser's preCookie.
func (s *Server) signInToken(nonce string) string { return s.token("sign-in", nonce) }

// checkCSRF reports whether an unsafe request may proceed: it comes from
// our own pages (httpx.SameOrigin) and carries the session's token in the
// form field csrf.
func (s *Server) checkCSRF(q *req) bool {
	return httpx.SameOrigin(q.r) && httpx.TokenEqual(q.r.PostFormValue("csrf"), s.csrfToken(q.sess))
}

// errNoSession is why a request without a live session is refused.
var errNoSession = errors.New("console: no live session")

// loadSession finds the request's live session: a cookie we sealed, not
// expired, not signed out (on any node: Service.SessionUsed), whose API
// key is still there, unrevoked and admin-scoped. Revoking the key, or
// taking its admin scope away, ends every session made with it at the
// next request.
func (s *Server) loadSession(q *req) error {
	c, err := q.r.Cookie(sessionCookie)
	if err != nil {
		return errNoSession
	}
	ss, ok := s.openSession(c.Value, s.now())
	if !ok {
		return errNoSession
	}
	ctx := q.r.Context()
	spent, err := s.svc.SessionUsed(ctx, ss.ID)
	if err != nil {
		return fmt.Errorf("console: session lookup: %w", err)
	}
	if spent {
		return errNoSession
	}
	k, err := s.adminKey(ctx, ss.Hash)
	if err != nil {
		return err
	}
	if k.Name != ss.Name {
		return errNoSession
	}
	q.sess = ss
	return nil
}

// errNotAdmin is what adminKey returns for a key that may not use the
// console; the sign-in page shows one message for all of them.
var errNotAdmin = errors.New("console: no active admin API key")

// adminKey returns the API key stored under hash if it is active and has
// the admin scope; errNotAdmin otherwise (unknown, revoked, another
// scope), or the store's error.
func (s *Server) adminKey(ctx context.Context, hash string) (enroll.APIKey, error) {
	k, err := s.svc.APIKey(ctx, hash)
	switch {
	case errors.Is(err, enroll.ErrNotFound):
		return enroll.APIKey{}, errNotAdmin
	case err != nil:
		return enroll.APIKey{}, fmt.Errorf("console: API key lookup: %w", err)
	case !httpx.TokenEqual(k.Hash, hash), !k.RevokedAt.IsZero(), !k.Scopes.Has(enroll.ScopeAdmin):
		return enroll.APIKey{}, errNotAdmin
	}
	return k, nil
}

// newSession starts a session for the key k and sets its cookie.
func (s *Server) newSession(q *req, k enroll.APIKey) session {
	ss := session{ID: enroll.NewSessionID(), Name: k.Name, Hash: k.Hash, Expires: s.now().Add(s.cfg.SessionTTL).Unix()}
	http.SetCookie(q.w, s.cookie(q.r, sessionCookie, s.sealSession(ss), int(s.cfg.SessionTTL/time.Second)))
	return ss
}

// endSession spends the session's ID, so its cookie is refused on every
// node from now on, even if a copy of it survives, and clears the cookie.
func (s *Server) endSession(q *req) error {
	if err := s.svc.UseSession(q.r.Context(), q.sess.ID, time.Unix(q.sess.Expires, 0)); err != nil && !errors.Is(err, enroll.ErrTokenUsed) {
		return fmt.Errorf("console: sign-out: %w", err)
	}
	http.SetCookie(q.w, s.cookie(q.r, sessionCookie, "", -1))
	return nil
}
