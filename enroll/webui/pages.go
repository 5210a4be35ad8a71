package webui

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"denwa/enroll"
)

// attrs turns key, value pairs into slog attributes.
func attrs(kv ...any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// page is what every template gets.
type page struct {
	T       *msgs
	Base    string // "/e/{token}"
	CSRF    string
	Heading string
	Body    string
	Error   bool
	Script  string // a static script to load, if any

	// step 1
	Countries []country
	Country   string
	Number    string
	Fixed     string // the number, when the enrollment already names one
	Errors    []string

	// step 2
	Display   string
	Challenge bool // challenge mode: the call reads out a code to enter

	// failed
	Outcome    string
	RetryLeft  int
	CanRetry   bool
	FailReason string

	// password
	Password string
}

type country struct {
	Code, Label string
	Selected    bool
}

// render executes the named page into a buffer first, so a template error
// never leaves half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout.html", p); err != nil {
		s.log.Error("webui template", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (s *Server) newPage(q *req) *page {
	return &page{T: q.t, Base: q.base, CSRF: s.csrfToken(q.link.ID)}
}

func (s *Server) countryList(t *msgs, chosen string) []country {
	out := make([]country, 0, len(s.countries))
	for _, c := range s.countries {
		name := t.Countries[c]
		if name == "" {
			name = c
		}
		out = append(out, country{Code: c, Label: fmt.Sprintf("%s (+%d)", name, callingCode(c)), Selected: c == chosen})
	}
	return out
}

// getPage shows the step the enrollment is at.
// A browser without a session of the link gets the 「続ける」 page.
func (s *Server) getPage(q *req) error {
	if err := s.loadLink(q); err != nil {
		return err
	}
	if q.sess.ID == "" {
		return s.startPage(q)
	}
	p := s.newPage(q)
	e := q.enr
	if e == nil {
		p.Countries = s.countryList(q.t, s.countries[0])
		s.render(q.w, q.r, http.StatusOK, "step1", p)
		return nil
	}
	switch e.State {
	case enroll.StatePending:
		p.Fixed = display(e.Phone)
		s.render(q.w, q.r, http.StatusOK, "step1", p)
	case enroll.StateCalling, enroll.StateVerified:
		// A verified enrollment shows step 2 too: its event stream
		// says "verified" at once and the page fetches the password.
		p.Display = display(e.Phone)
		p.Challenge = s.svc.Config().Dialogue.ChallengeDigits > 0
		p.Script = "app.js"
		s.render(q.w, q.r, http.StatusOK, "step2", p)
	case enroll.StateFailed:
		s.fillFailed(p, e)
		s.render(q.w, q.r, http.StatusOK, "failed", p)
	case enroll.StateCompleted:
		p.Heading, p.Body = q.t.CompletedTitle, q.t.CompletedBody
		s.render(q.w, q.r, http.StatusOK, "completed", p)
	default: // expired
		return &HTTPError{Code: http.StatusGone, Msg: q.t.Expired, Err: fmt.Errorf("enrollment %s", e.State)}
	}
	return nil
}

func (s *Server) fillFailed(p *page, e *enroll.Enrollment) {
	p.Heading, p.Body = p.T.outcomeText(e.Outcome)
	p.Outcome = e.Outcome.String()
	max := s.svc.Config().MaxAttempts
	p.CanRetry = e.Retryable(max)
	p.RetryLeft = max - e.Attempts
}

// display is an E.164 number as the user reads it.
func display(e164 string) string {
	n, err := enroll.ParseE164(e164)
	if err != nil {
		return e164
	}
	return n.Display
}

// postNumber is step 1's 「次へ」: check the number, create the enrollment
// and start its call. A session creates one enrollment at most: the
// session moves to a new ID first (step), so the same form sent again, or
// with a replayed cookie, creates nothing.
func (s *Server) postNumber(q *req) error {
	if ok, err := s.step(q); !ok {
		return err
	}
	if q.enr != nil {
		// The number is already chosen (the API created the
		// enrollment, or this form was sent before): go on with it.
		return s.call(q)
	}
	country := q.r.PostFormValue("country")
	number := q.r.PostFormValue("phone")
	p := s.newPage(q)
	known := false
	for _, c := range s.countries {
		known = known || c == country
	}
	if !known {
		country = s.countries[0]
	}
	p.Countries = s.countryList(q.t, country)
	p.Number = number
	if q.r.PostFormValue("method") != "phone" || q.r.PostFormValue("action") != "call" {
		p.Errors = append(p.Errors, q.t.Forbidden)
		s.render(q.w, q.r, http.StatusUnprocessableEntity, "step1", p)
		return nil
	}
	ctx := q.r.Context()
	e, err := s.svc.Create(ctx, enroll.CreateRequest{UserID: q.link.UserID, Phone: number, Country: country,
		ClientIP: clientIP(q.r), Origin: q.origin()})
	var pe *enroll.PhoneError
	if errors.As(err, &pe) { // the Service refused the number: say why, in the user's language
		p.Errors = append(p.Errors, phoneErrorText(q.lang, pe))
		s.render(q.w, q.r, http.StatusUnprocessableEntity, "step1", p)
		return nil
	}
	if err != nil {
		return s.serviceError(q, err)
	}
	q.sess.EnrollmentID = e.ID
	s.setSession(q.w, q.base, q.sess)
	q.enr = &e
	return s.call(q)
}

// postCall is 「もう一度」 after a failed call.
func (s *Server) postCall(q *req) error {
	if ok, err := s.step(q); !ok {
		return err
	}
	return s.call(q)
}

// call starts the enrollment's call (the first, or another after a failed
// one) and sends the browser to step 2.
func (s *Server) call(q *req) error {
	if q.enr == nil {
		http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
		return nil
	}
	switch q.enr.State {
	case enroll.StatePending, enroll.StateFailed:
		if _, err := s.svc.StartCall(q.r.Context(), q.enr.ID, q.origin()); err != nil && !errors.Is(err, enroll.ErrConflict) {
			// ErrConflict: another request started it; step 2 shows it.
			return s.serviceError(q, err)
		}
	}
	http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
	return nil
}

// passwordJSON is what the page's script gets from /password.
type passwordJSON struct {
	Password string `json:"password"` // grouped: "abcd efgh ijkl mnop"
}

// postPassword issues the app password of a verified enrollment, once:
// generated here, stored only as its hash, the enrollment completed before
// the answer is written. A completed enrollment gets 410.
func (s *Server) postPassword(q *req) error {
	if ok, err := s.step(q); !ok {
		return err
	}
	if q.enr == nil {
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Busy, Err: errors.New("no enrollment yet")}
	}
	e := q.enr
	switch e.State {
	case enroll.StateVerified:
	case enroll.StateCompleted:
		return &HTTPError{Code: http.StatusGone, Msg: q.t.CompletedBody, Err: errors.New("app password already shown")}
	case enroll.StatePending, enroll.StateCalling:
		if !wantsJSON(q.r) { // the no-script button, pressed early
			http.Redirect(q.w, q.r, q.base, http.StatusSeeOther)
			return nil
		}
		fallthrough
	default:
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Busy, Err: fmt.Errorf("enrollment is %s", e.State)}
	}
	ctx := q.r.Context()
	plain, ap, err := s.svc.IssueAppPassword(ctx, e.ID, s.cfg.AppPasswordName, q.origin())
	if err != nil {
		// Another request completed it first (or it expired): the
		// Service revoked the password it made, which no one will see.
		if errors.Is(err, enroll.ErrConflict) || errors.Is(err, enroll.ErrInvalidTransition) {
			return &HTTPError{Code: http.StatusGone, Msg: q.t.CompletedBody, Err: err}
		}
		return s.serviceError(q, err)
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "webui app password issued", attrs("request_id", q.id, "enrollment", e.ID, "app_password_id", ap.ID)...)
	q.w.Header().Set("Cache-Control", "no-store")
	q.w.Header().Set("Pragma", "no-cache")
	shown := enroll.FormatAppPassword(plain)
	if wantsJSON(q.r) {
		writeJSON(q.w, http.StatusOK, passwordJSON{Password: shown})
		return nil
	}
	p := s.newPage(q)
	p.Password = shown
	p.Script = "app.js"
	s.render(q.w, q.r, http.StatusOK, "password", p)
	return nil
}

// stateJSON is one event of the stream.
type stateJSON struct {
	State     string `json:"state"`
	Outcome   string `json:"outcome,omitempty"`
	Title     string `json:"title,omitempty"`
	Message   string `json:"message,omitempty"`
	Retry     bool   `json:"retry,omitempty"`
	RetryText string `json:"retry_text,omitempty"`
}

func (s *Server) stateOf(t *msgs, e *enroll.Enrollment) stateJSON {
	st := stateJSON{State: e.State.String()}
	switch e.State {
	case enroll.StateFailed:
		p := &page{T: t}
		s.fillFailed(p, e)
		st.Outcome, st.Title, st.Message, st.Retry = p.Outcome, p.Heading, p.Body, p.CanRetry
		if p.CanRetry {
			st.RetryText = fmt.Sprintf(t.RetryLeft, p.RetryLeft)
		} else {
			st.RetryText = t.NoRetry
		}
	case enroll.StateCompleted:
		st.Title, st.Message = t.CompletedTitle, t.CompletedBody
	case enroll.StateExpired:
		st.Title, st.Message = t.ErrTitle, t.Expired
	}
	return st
}

// events streams the enrollment's state as Server-Sent Events until it
// reaches a state the page does not wait past (verified, failed,
// completed, expired), the client leaves, or the server shuts down.
func (s *Server) events(q *req) error {
	if err := s.needSession(q); err != nil {
		return err
	}
	if q.enr == nil {
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Busy, Err: errors.New("no enrollment yet")}
	}
	ctx := q.r.Context()
	ch, cancel, err := s.svc.Subscribe(ctx, q.enr.ID)
	if err != nil {
		return s.serviceError(q, err)
	}
	defer cancel()
	rc := http.NewResponseController(q.w)
	h := q.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	q.w.WriteHeader(http.StatusOK)
	fmt.Fprint(q.w, "retry: 2000\n\n")
	rc.Flush()
	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.done:
			return nil
		case <-beat.C:
			if _, err := fmt.Fprint(q.w, ": keep-alive\n\n"); err != nil {
				return nil
			}
			rc.Flush()
		case e, ok := <-ch:
			if !ok {
				return nil
			}
			b, _ := json.Marshal(s.stateOf(q.t, &e))
			if _, err := fmt.Fprintf(q.w, "event: state\nid: %d\ndata: %s\n\n", e.Version, b); err != nil {
				return nil
			}
			rc.Flush()
			if e.State != enroll.StatePending && e.State != enroll.StateCalling {
				return nil
			}
		}
	}
}
