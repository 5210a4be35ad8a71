package webui

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"denwa/enroll"
	"denwa/enroll/httpx"
)

// HTTPError is a handler's failure: Code is the status, Msg the text shown
// to the user (already in the page's language), Err the cause that is
// logged and never shown.
type HTTPError = httpx.Error

// req is one request's view: its language, request ID and, once loaded,
// the link, the session and the enrollment.
type req struct {
	r    *http.Request
	w    http.ResponseWriter
	lang lang
	t    *msgs
	id   string // request ID
	base string // "/e/{token}"
	link enroll.Link
	sess session
	// stale: the browser sent our session cookie of this link with a
	// spent ID (q.sess is then empty).
	stale bool
	enr   *enroll.Enrollment // nil before step 1
}

type ctxKey struct{}

// MaxBodyBytes bounds every request body (the forms are a few hundred
// bytes); the rest of a larger one is not read.
const MaxBodyBytes = 16 << 10

// RequestIDHeader carries the request ID: taken from the request when it
// is a plausible one, made up otherwise, and sent back.
const RequestIDHeader = "X-Request-ID"

// withRequest gives each request an ID (in the context, the response
// header and the log record) and logs it once it is served.
func (s *Server) withRequest(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !httpx.ValidRequestID(id) {
			id = httpx.NewRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		sw := httpx.NewStatusRecorder(w)
		r.Body = http.MaxBytesReader(sw, r.Body, MaxBodyBytes)
		start := time.Now()
		h.ServeHTTP(sw, r.WithContext(context.WithValue(r.Context(), ctxKey{}, id)))
		route := r.Pattern
		if route == "" {
			route = "(none)"
		}
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "webui request", attrs(
			"method", r.Method, "route", route, "status", sw.Status(),
			"duration_ms", time.Since(start).Milliseconds(), "request_id", id)...)
	})
}

// RequestID returns the request ID withRequest gave ctx's request, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// handle adapts a handler that returns an error: an *HTTPError becomes a
// page with its message (or JSON, for fetch), anything else a 500 page.
// The cause is logged, never shown.
func (s *Server) handle(f func(q *req) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := pickLang(r)
		if v := r.URL.Query().Get("lang"); v == "ja" || v == "en" {
			http.SetCookie(w, &http.Cookie{Name: langCookie, Value: v, Path: "/", MaxAge: 86400 * 365,
				HttpOnly: true, Secure: s.cfg.SecureCookies, SameSite: http.SameSiteLaxMode})
		}
		q := &req{r: r, w: w, lang: l, t: l.msgs(), id: RequestID(r.Context()), base: "/e/" + r.PathValue("token")}
		err := f(q)
		if err == nil {
			return
		}
		he := httpx.ErrorOf(err, q.t.Internal)
		s.log.LogAttrs(r.Context(), he.Level(), "webui error", attrs("route", r.Pattern, "status", he.Code,
			"request_id", q.id, "error", fmt.Sprint(he.Err))...)
		if wantsJSON(r) {
			writeJSON(w, he.Code, map[string]string{"error": he.Msg})
			return
		}
		s.render(w, r, he.Code, "message", &page{T: q.t, Heading: q.t.ErrTitle, Body: he.Msg, Error: true})
	})
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// loadLink verifies the token in the path and finds the browser's live
// session of the link, if it has one (q.sess.ID is empty otherwise). A
// session cookie that is ours but whose ID was spent (the same request
// sent twice, or a replayed cookie) sets q.stale. Loading never consumes
// the link: only the 「続ける」 POST does (postStart).
func (s *Server) loadLink(q *req) error {
	now := s.now()
	l, err := s.cfg.Links.Verify(q.r.PathValue("token"), now)
	switch {
	case errors.Is(err, enroll.ErrTokenExpired):
		return &HTTPError{Code: http.StatusGone, Msg: q.t.LinkExpired, Err: err}
	case err != nil:
		return &HTTPError{Code: http.StatusNotFound, Msg: q.t.LinkInvalid, Err: err}
	}
	q.link = l
	c, err := q.r.Cookie(sessionCookie)
	if err != nil {
		return nil
	}
	ss, ok := s.decodeSession(c.Value, now)
	if !ok || ss.LinkID != l.ID {
		return nil
	}
	spent, err := s.svc.SessionUsed(q.r.Context(), ss.ID)
	if err != nil {
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	if spent {
		q.stale = true
		return nil
	}
	q.sess = ss
	return s.loadEnrollment(q)
}

// needSession is loadLink for the routes that need the browser's live
// session of the link.
func (s *Server) needSession(q *req) error {
	if err := s.loadLink(q); err != nil {
		return err
	}
	if q.sess.ID == "" {
		return &HTTPError{Code: http.StatusGone, Msg: q.t.LinkOtherBrowser, Err: errors.New("no live session for the link")}
	}
	return nil
}

// step checks a step's POST (live session, CSRF) and moves the session on
// to a new ID. ok is false when the request must not go on: err is then
// the answer, or nil when a stale session was answered already.
func (s *Server) step(q *req) (ok bool, err error) {
	if err := s.loadLink(q); err != nil {
		return false, err
	}
	if q.sess.ID == "" {
		if q.stale {
			return false, s.answerStale(q)
		}
		return false, &HTTPError{Code: http.StatusGone, Msg: q.t.LinkOtherBrowser, Err: errors.New("no live session for the link")}
	}
	if !s.checkCSRF(q.r, q.link.ID) {
		return false, &HTTPError{Code: http.StatusForbidden, Msg: q.t.Forbidden, Err: errors.New("CSRF check failed")}
	}
	err = s.svc.UseSession(q.r.Context(), q.sess.ID, time.Unix(q.sess.Expires, 0))
	switch {
	case errors.Is(err, enroll.ErrTokenUsed): // another request with this ID won
		return false, s.answerStale(q)
	case err != nil:
		return false, &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	q.sess.ID = enroll.NewSessionID()
	s.setSession(q.w, q.base, q.sess)
	return true, nil
}

// answerStale answers a POST made with a spent session ID: nothing is
// done. A form goes back to the link's page, which shows the step the
// enrollment is at (with the browser's newer cookie); fetch gets 409.
func (s *Server) answerStale(q *req) error {
	if wantsJSON(q.r) {
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Busy, Err: errors.New("spent session ID")}
	}
	http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
	return nil
}

// startPage is what a browser without a session of the link gets: one
// button, 「続ける」, whose POST consumes the link (postStart). Mail
// scanners and link previews that fetch the link never press it.
func (s *Server) startPage(q *req) error {
	used, err := s.svc.LinkUsed(q.r.Context(), q.link)
	switch {
	case err != nil:
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	case used:
		return &HTTPError{Code: http.StatusGone, Msg: q.t.LinkUsed, Err: enroll.ErrTokenUsed}
	}
	var nonce string
	if c, err := q.r.Cookie(startCookie); err == nil && httpx.ValidRequestID(c.Value) {
		nonce = c.Value // another tab's form stays valid
	} else {
		nonce = s.setStart(q.w, q.base)
	}
	p := &page{T: q.t, Base: q.base, CSRF: s.startToken(q.link.ID, nonce)}
	s.render(q.w, q.r, http.StatusOK, "start", p)
	return nil
}

// postStart is 「続ける」: it consumes the link (Service.UseLink, shared
// with the API: a link consumed here is refused there too) and binds it
// to this browser with a new session.
func (s *Server) postStart(q *req) error {
	if err := s.loadLink(q); err != nil {
		return err
	}
	if q.sess.ID != "" { // this browser has started already
		http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
		return nil
	}
	if !s.checkStart(q.r, q.link.ID) {
		return &HTTPError{Code: http.StatusForbidden, Msg: q.t.Forbidden, Err: errors.New("CSRF check of the start form failed")}
	}
	err := s.svc.UseLink(q.r.Context(), q.link)
	switch {
	case errors.Is(err, enroll.ErrTokenUsed):
		return &HTTPError{Code: http.StatusGone, Msg: q.t.LinkUsed, Err: err}
	case err != nil:
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	exp := s.now().Add(s.cfg.SessionTTL)
	q.sess = session{LinkID: q.link.ID, ID: enroll.NewSessionID(), EnrollmentID: q.link.EnrollmentID, Expires: exp.Unix()}
	s.setSession(q.w, q.base, q.sess)
	http.SetCookie(q.w, &http.Cookie{Name: startCookie, Path: q.base, MaxAge: -1, HttpOnly: true,
		Secure: s.cfg.SecureCookies, SameSite: http.SameSiteStrictMode})
	s.log.LogAttrs(q.r.Context(), slog.LevelInfo, "webui link redeemed", attrs("request_id", q.id, "enrollment", q.link.EnrollmentID)...)
	http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
	return nil
}

// loadEnrollment reads the session's enrollment, if it has one, and checks
// it belongs to the link's user.
func (s *Server) loadEnrollment(q *req) error {
	if q.sess.EnrollmentID == "" {
		return nil
	}
	e, err := s.svc.Get(q.r.Context(), q.sess.EnrollmentID)
	if err != nil {
		return s.serviceError(q, err)
	}
	if e.UserID != q.link.UserID {
		return &HTTPError{Code: http.StatusForbidden, Msg: q.t.LinkInvalid, Err: errors.New("the enrollment belongs to another user")}
	}
	q.enr = &e
	return nil
}

// origin is who asks, for the audit trail.
func (q *req) origin() enroll.Origin {
	return enroll.Origin{Actor: enroll.ActorUserLink, RequestID: q.id}
}

// serviceError turns an error of the Service into a page.
func (s *Server) serviceError(q *req, err error) error {
	var le *enroll.LimitError
	switch {
	case errors.As(err, &le):
		if s.cfg.OnLimit != nil {
			s.cfg.OnLimit(le)
		}
		mins := int(le.RetryAfter/time.Minute) + 1
		return &HTTPError{Code: http.StatusTooManyRequests, Msg: q.t.LimitReached + " " + fmt.Sprintf(q.t.LimitRetryAfter, mins), Err: err}
	case errors.Is(err, enroll.ErrBlocked):
		return &HTTPError{Code: http.StatusForbidden, Msg: q.t.Blocked, Err: err}
	case errors.Is(err, enroll.ErrExpired):
		return &HTTPError{Code: http.StatusGone, Msg: q.t.Expired, Err: err}
	case errors.Is(err, enroll.ErrNotFound):
		return &HTTPError{Code: http.StatusNotFound, Msg: q.t.LinkInvalid, Err: err}
	case errors.Is(err, enroll.ErrConflict), errors.Is(err, enroll.ErrInvalidTransition):
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Busy, Err: err}
	case errors.Is(err, enroll.ErrLimit):
		return &HTTPError{Code: http.StatusTooManyRequests, Msg: q.t.TooManyPasswords, Err: err}
	case errors.Is(err, enroll.ErrClosed):
		return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
	}
	return &HTTPError{Code: http.StatusInternalServerError, Msg: q.t.Internal, Err: err}
}
