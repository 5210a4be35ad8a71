package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"denwa/enroll"
)

// pageRoutes are the routes of the pages behind the sign-in.
func (s *Server) pageRoutes() map[string]http.Handler {
	return map[string]http.Handler{
		"GET " + Prefix + "/enrollments":           s.handle(s.getEnrollments, view),
		"GET " + Prefix + "/enrollments/{id}":      s.handle(s.getEnrollment, view),
		"GET " + Prefix + "/fraud":                 s.handle(s.getFraud, view),
		"POST " + Prefix + "/blocked/unblock":      s.handle(s.postUnblock, action),
		"GET " + Prefix + "/webhooks":              s.handle(s.getWebhooks, view),
		"POST " + Prefix + "/webhooks/redeliver":   s.handle(s.postRedeliver, action),
		"GET " + Prefix + "/keys":                  s.handle(s.getKeys, view),
		"POST " + Prefix + "/keys":                 s.handle(s.postKey, action),
		"POST " + Prefix + "/keys/revoke":          s.handle(s.postRevokeKey, action),
		"POST " + Prefix + "/app-passwords/revoke": s.handle(s.postRevokeAppPassword, action),
	}
}

type option struct {
	Value, Label string
	Selected     bool
}

type enrollmentRow struct {
	ID, Created, User, Phone, State, StateName, Outcome, OutcomeName string
	Attempts                                                         int
}

type enrollmentsView struct {
	User, Phone string
	States      []option
	Outcomes    []option
	Rows        []enrollmentRow
	Next        string // the URL of the next page, if any
	First       string // the URL of the first page, when this is not it
}

// getEnrollments lists the enrollments, newest first, searched by user,
// number, state and outcome, a page at a time (cursor).
func (s *Server) getEnrollments(q *req) error {
	in := q.r.URL.Query()
	eq := enroll.EnrollmentQuery{
		UserID: in.Get("user"), Phone: in.Get("phone"), State: in.Get("state"), Outcome: in.Get("outcome"),
		Page: enroll.Page{Cursor: in.Get("cursor")},
	}
	res, err := s.admin.Enrollments(q.r.Context(), eq)
	if err != nil {
		return s.serviceError(q, err)
	}
	v := enrollmentsView{User: eq.UserID, Phone: eq.Phone}
	v.States = append(v.States, option{"", q.t.Any, eq.State == ""})
	for _, st := range []enroll.State{enroll.StatePending, enroll.StateCalling, enroll.StateVerified,
		enroll.StateFailed, enroll.StateCompleted, enroll.StateExpired} {
		v.States = append(v.States, option{st.String(), q.t.stateText(st), eq.State == st.String()})
	}
	v.Outcomes = append(v.Outcomes, option{"", q.t.Any, eq.Outcome == ""})
	for _, o := range chartOrder {
		v.Outcomes = append(v.Outcomes, option{o.String(), q.t.outcomeText(o), eq.Outcome == o.String()})
	}
	for _, e := range res.Enrollments {
		v.Rows = append(v.Rows, enrollmentRow{
			ID: e.ID, Created: s.timeText(e.CreatedAt), User: e.UserID, Phone: phoneText(e.Phone),
			State: e.State.String(), StateName: q.t.stateText(e.State),
			Outcome: e.Outcome.String(), OutcomeName: q.t.outcomeText(e.Outcome), Attempts: e.Attempts,
		})
	}
	search := url.Values{}
	for k, val := range map[string]string{"user": eq.UserID, "phone": eq.Phone, "state": eq.State, "outcome": eq.Outcome} {
		if val != "" {
			search.Set(k, val)
		}
	}
	if eq.Cursor != "" {
		v.First = Prefix + "/enrollments?" + search.Encode()
	}
	if res.Next != "" {
		search.Set("cursor", res.Next)
		v.Next = Prefix + "/enrollments?" + search.Encode()
	}
	p := s.newPage(q, q.t.EnrollmentsTitle)
	p.Nav, p.Data = "enrollments", v
	s.render(q, http.StatusOK, "enrollments", p)
	return nil
}

type timelineRow struct {
	Time, Action, ActionName, Change, Outcome, OutcomeName, Cause, Keys, KeySource, Node, Actor, Request string
	Answered, KeyAt                                                                                      string // of a call's end, when known
}

type operatorRow struct {
	Time, Action, ActionName, Actor, Target, Reason, Request string
}

type enrollmentView struct {
	E                                         enroll.Enrollment
	Phone, State, Outcome                     string
	Created, Updated, Expires, Verified, Done string
	Timeline                                  []timelineRow
	Operator                                  *operatorTable // nil: none
	Blocked                                   bool
	BlockedSince                              string
	AppPasswords                              []appPasswordRow // the user's
}

type appPasswordRow struct {
	ID, Name, Created, LastUsed, Revoked string
	Active                               bool
}

// getEnrollment shows one enrollment with its call timeline: each state,
// call, keys heard and their source, outcome, cause and node.
func (s *Server) getEnrollment(q *req) error {
	d, err := s.admin.Enrollment(q.r.Context(), q.r.PathValue("id"))
	if err != nil {
		return s.serviceError(q, err)
	}
	e := d.Enrollment
	v := enrollmentView{E: e, Phone: phoneText(e.Phone), State: q.t.stateText(e.State), Outcome: q.t.outcomeText(e.Outcome),
		Created: s.timeText(e.CreatedAt), Updated: s.timeText(e.UpdatedAt), Expires: s.timeText(e.ExpiresAt),
		Verified: s.timeText(e.VerifiedAt), Done: s.timeText(e.CompletedAt)}
	for _, ev := range d.Audit {
		r := timelineRow{Time: s.timeText(ev.At), Action: ev.Action, ActionName: q.t.actionText(ev.Action),
			Cause: ev.Cause, Keys: ev.Keys, KeySource: ev.KeySource, Node: ev.Node, Actor: string(ev.Actor), Request: ev.RequestID}
		switch {
		case ev.From == enroll.StateUnknown:
			r.Change = "→ " + q.t.stateText(ev.To)
		case ev.From != ev.To:
			r.Change = q.t.stateText(ev.From) + " → " + q.t.stateText(ev.To)
		}
		if !ev.AnsweredAt.IsZero() {
			r.Answered = s.timeText(ev.AnsweredAt)
			if !ev.KeyAt.IsZero() {
				r.KeyAt = fmt.Sprintf(q.t.AfterAnswer, seconds(ev.KeyAt.Sub(ev.AnsweredAt)))
			}
		}
		if ev.Outcome != enroll.OutcomeUnknown {
			r.Outcome, r.OutcomeName = ev.Outcome.String(), q.t.outcomeText(ev.Outcome)
		}
		v.Timeline = append(v.Timeline, r)
	}
	v.Operator = s.operatorTable(q, d.Operator)
	if d.Block != nil {
		v.Blocked, v.BlockedSince = true, s.timeText(d.Block.At)
	}
	aps, err := s.admin.AppPasswords(q.r.Context(), e.UserID)
	if err != nil {
		return s.serviceError(q, err)
	}
	for _, ap := range aps {
		v.AppPasswords = append(v.AppPasswords, appPasswordRow{ID: ap.ID, Name: ap.Name, Created: s.timeText(ap.CreatedAt),
			LastUsed: s.timeText(ap.LastUsedAt), Revoked: s.timeText(ap.RevokedAt), Active: ap.RevokedAt.IsZero()})
	}
	p := s.newPage(q, q.t.Detail)
	if q.r.URL.Query().Get("revoked") != "" {
		p.Notice = q.t.AppPasswordRevoked
	}
	p.Nav, p.Data = "enrollments", v
	s.render(q, http.StatusOK, "enrollment", p)
	return nil
}

// operatorTable is what the "operator" template shows of evs; nil when
// there is none.
type operatorTable struct {
	T    *msgs
	Rows []operatorRow
}

func (s *Server) operatorTable(q *req, evs []enroll.OperatorEvent) *operatorTable {
	if len(evs) == 0 {
		return nil
	}
	t := &operatorTable{T: q.t}
	for _, ev := range evs {
		name := q.t.OpActions[ev.Action]
		if name == "" {
			name = ev.Action
		}
		t.Rows = append(t.Rows, operatorRow{Time: s.timeText(ev.At), Action: ev.Action, ActionName: name, Actor: string(ev.Actor),
			Target: ev.Target, Reason: ev.Reason, Request: ev.RequestID})
	}
	return t
}

// serviceError turns an error of the Service or its Admin into a page:
// what the operator asked wrong (400, with what is wrong), what is not
// there (404), what another request changed first (409), the rest 503.
func (s *Server) serviceError(q *req, err error) *HTTPError {
	switch {
	case errors.Is(err, enroll.ErrInvalidInput):
		return &HTTPError{Code: http.StatusBadRequest, Msg: fmt.Sprintf("%s (%v)", q.t.BadInput, err), Err: err}
	case errors.Is(err, enroll.ErrNotFound):
		return &HTTPError{Code: http.StatusNotFound, Msg: q.t.NotFound, Err: err}
	case errors.Is(err, enroll.ErrConflict), errors.Is(err, enroll.ErrOutboxNotDead):
		return &HTTPError{Code: http.StatusConflict, Msg: q.t.Conflict, Err: err}
	}
	return &HTTPError{Code: http.StatusServiceUnavailable, Msg: q.t.Internal, Err: err}
}

// postRevokeAppPassword is 「失効させる」 on an app password of the user
// of an enrollment (a lost phone, a departed user): the password stops
// working at once (Admin.RevokeAppPassword, recorded with the signed-in
// key), and the browser goes back to the enrollment.
func (s *Server) postRevokeAppPassword(q *req) error {
	f := q.r.PostForm
	if err := s.admin.RevokeAppPassword(q.r.Context(), f.Get("user"), f.Get("id"), strings.TrimSpace(f.Get("reason")), q.origin()); err != nil {
		return s.serviceError(q, err)
	}
	http.Redirect(q.w, q.r, Prefix+"/enrollments/"+url.PathEscape(f.Get("enrollment"))+"?revoked=1", http.StatusSeeOther)
	return nil
}
