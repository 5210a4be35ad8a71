package console

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// getSignIn shows the sign-in form: one field, the admin API key. A
// browser with a live session goes straight on.
func (s *Server) getSignIn(q *req) error {
	if s.loadSession(q) == nil {
		http.Redirect(q.w, q.r, nextPage(q.r.URL.Query().Get("next")), http.StatusSeeOther)
		return nil
	}
	return s.signInForm(q, http.StatusOK, "")
}

// signInForm renders the form with a fresh CSRF token (and the nonce
// cookie it is made of, unless the browser has one already).
func (s *Server) signInForm(q *req, status int, problem string) error {
	nonce := ""
	if c, err := q.r.Cookie(preCookie); err == nil && httpx.ValidRequestID(c.Value) {
		nonce = c.Value // another tab's form stays valid
	} else {
		nonce = httpx.NewRequestID()
		http.SetCookie(q.w, s.cookie(q.r, preCookie, nonce, int(time.Hour/time.Second)))
	}
	p := s.newPage(q, q.t.SignInTitle)
	p.CSRF = s.signInToken(nonce)
	p.Next = nextPage(q.r.FormValue("next"))
	p.Message = problem
	s.render(q, status, "signin", p)
	return nil
}

// postSignIn checks the key typed in. Only an active key with the admin
// scope signs in; an unknown, revoked, malformed or other-scoped key gets
// one message that does not say which. Every answer takes at least
// Config.SignInDelay, and an address with too many failures in the window
// is refused before any lookup.
func (s *Server) postSignIn(q *req) error {
	began := time.Now()
	defer func() {
		if d := s.cfg.SignInDelay - time.Since(began); d > 0 {
			select {
			case <-time.After(d):
			case <-q.r.Context().Done():
			}
		}
	}()
	addr := clientAddr(q.r)
	if !s.fails.allowed(addr, s.now()) {
		s.log.LogAttrs(q.r.Context(), slog.LevelWarn, "console sign-in refused: too many failures",
			slog.String("client", addr), slog.String("request_id", q.id))
		return &HTTPError{Code: http.StatusTooManyRequests, Msg: q.t.TooManyTries, Err: errors.New("sign-in failures over the limit")}
	}
	c, err := q.r.Cookie(preCookie)
	if err != nil || !httpx.ValidRequestID(c.Value) || !httpx.SameOrigin(q.r) ||
		!httpx.TokenEqual(q.r.PostFormValue("csrf"), s.signInToken(c.Value)) {
		return s.signInForm(q, http.StatusForbidden, q.t.Forbidden)
	}
	plain := strings.TrimSpace(q.r.PostFormValue("key"))
	k, err := s.keyOf(q, plain)
	if errors.Is(err, errNotAdmin) {
		s.fails.fail(addr, s.now())
		s.log.LogAttrs(q.r.Context(), slog.LevelWarn, "console sign-in failed",
			slog.String("client", addr), slog.String("request_id", q.id))
		return s.signInForm(q, http.StatusUnauthorized, q.t.SignInFailed)
	}
	if err != nil {
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	q.sess = s.newSession(q, k)
	http.SetCookie(q.w, s.cookie(q.r, preCookie, "", -1))
	s.log.LogAttrs(q.r.Context(), slog.LevelInfo, "console sign-in", slog.String("api_key", k.Name),
		slog.String("client", addr), slog.String("request_id", q.id))
	http.Redirect(q.w, q.r, nextPage(q.r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

// keyOf returns the admin key plain is, or errNotAdmin.
func (s *Server) keyOf(q *req, plain string) (enroll.APIKey, error) {
	hash, err := enroll.APIKeyHash(plain)
	if err != nil {
		return enroll.APIKey{}, errNotAdmin
	}
	return s.adminKey(q.r.Context(), hash)
}

// postSignOut ends the session on every node and goes to the sign-in
// page.
func (s *Server) postSignOut(q *req) error {
	if err := s.endSession(q); err != nil {
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	s.log.LogAttrs(q.r.Context(), slog.LevelInfo, "console sign-out", slog.String("api_key", q.sess.Name), slog.String("request_id", q.id))
	http.Redirect(q.w, q.r, Prefix+"/signin", http.StatusSeeOther)
	return nil
}

// nextPage is where to go after signing in: next when it is a page of the
// console (a path, no host, no scheme), else the overview.
func nextPage(next string) string {
	u, err := url.Parse(next)
	if err != nil || next == "" || u.Scheme != "" || u.Host != "" || u.User != nil ||
		!strings.HasPrefix(u.Path, Prefix+"/") || strings.HasPrefix(u.Path, Prefix+"/signin") ||
		strings.ContainsAny(next, "\\\r\n") || strings.Contains(u.Path, "..") || strings.HasPrefix(next, "//") || len(next) > 512 {
		return Prefix + "/"
	}
	return u.RequestURI()
}
