package console

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"denwa/enroll"
)

type fraudRow struct {
	Time, Phone, User, EnrollmentID, KeySource, Keys string
	Blocked                                          bool
}

type blockedRow struct {
	E164, Phone, Since, Reason, EnrollmentID string
}

type fraudView struct {
	Reports  []fraudRow
	Blocked  []blockedRow
	Operator *operatorTable
	// NextReports and NextBlocked are the URLs of the lists' next pages.
	NextReports, NextBlocked string
}

// getFraud lists the fraud reports (calls that ended with 0#) and the
// numbers blocked now, each with a 「ブロック解除」 form, and the
// operators' recent actions.
func (s *Server) getFraud(q *req) error {
	in := q.r.URL.Query()
	ctx := q.r.Context()
	reports, err := s.admin.FraudReports(ctx, enroll.FraudQuery{Page: enroll.Page{Cursor: in.Get("reports")}})
	if err != nil {
		return s.serviceError(q, err)
	}
	blocked, err := s.admin.BlockedNumbers(ctx, enroll.Page{Cursor: in.Get("blocked")})
	if err != nil {
		return s.serviceError(q, err)
	}
	ops, err := s.admin.OperatorEvents(ctx, "", enroll.Page{Limit: 20})
	if err != nil {
		return s.serviceError(q, err)
	}
	var v fraudView
	for _, r := range reports.Reports {
		v.Reports = append(v.Reports, fraudRow{Time: s.timeText(r.At), Phone: phoneText(r.Enrollment.Phone),
			User: r.Enrollment.UserID, EnrollmentID: r.Enrollment.ID, KeySource: r.KeySource, Keys: r.Keys, Blocked: r.Blocked})
	}
	for _, b := range blocked.Blocked {
		reason := b.Reason
		if reason == enroll.OutcomeFraudReported.String() {
			reason = q.t.outcomeText(enroll.OutcomeFraudReported)
		}
		v.Blocked = append(v.Blocked, blockedRow{E164: b.Phone, Phone: phoneText(b.Phone), Since: s.timeText(b.At),
			Reason: reason, EnrollmentID: b.EnrollmentID})
	}
	var unblocks []enroll.OperatorEvent
	for _, ev := range ops.Events {
		if ev.Action == enroll.OpUnblock {
			unblocks = append(unblocks, ev)
		}
	}
	v.Operator = s.operatorTable(q, unblocks)
	if reports.Next != "" {
		v.NextReports = Prefix + "/fraud?" + url.Values{"reports": {reports.Next}, "blocked": {in.Get("blocked")}}.Encode()
	}
	if blocked.Next != "" {
		v.NextBlocked = Prefix + "/fraud?" + url.Values{"reports": {in.Get("reports")}, "blocked": {blocked.Next}}.Encode()
	}
	p := s.newPage(q, q.t.FraudTitle)
	p.Nav, p.Data = "fraud", v
	if n := in.Get("unblocked"); enroll.IsE164(n) {
		p.Notice = fmt.Sprintf(q.t.Unblocked, phoneText(n))
	}
	s.render(q, http.StatusOK, "fraud", p)
	return nil
}

// postUnblock is 「ブロック解除」: it lifts the block on the number in the
// form, with the optional reason, recorded with the signed-in key as the
// actor (Admin.Unblock), and goes back to the fraud page.
func (s *Server) postUnblock(q *req) error {
	phone := q.r.PostFormValue("phone")
	reason := strings.TrimSpace(q.r.PostFormValue("reason"))
	b, err := s.admin.Unblock(q.r.Context(), phone, reason, q.origin())
	if err != nil {
		return s.serviceError(q, err)
	}
	s.log.LogAttrs(q.r.Context(), slog.LevelInfo, "console unblock", slog.String("api_key", q.sess.Name),
		slog.String("enrollment", b.EnrollmentID), slog.String("request_id", q.id))
	http.Redirect(q.w, q.r, Prefix+"/fraud?unblocked="+url.QueryEscape(b.Phone), http.StatusSeeOther)
	return nil
}

type webhookRow struct {
	ID                                                         int64
	Event, EnrollmentID, Created, Next, Dead, LastError, State string
	Attempts                                                   int
}

type webhooksView struct {
	State  string
	States []option
	Rows   []webhookRow
	Next   string
}

// getWebhooks lists the webhooks not delivered: dead ones (the default,
// each with 「再送」) or pending ones.
func (s *Server) getWebhooks(q *req) error {
	in := q.r.URL.Query()
	state := in.Get("state")
	if state == "" {
		state = "dead"
	}
	res, err := s.admin.Webhooks(q.r.Context(), enroll.WebhookQuery{State: state, Page: enroll.Page{Cursor: in.Get("cursor")}})
	if err != nil {
		return s.serviceError(q, err)
	}
	v := webhooksView{State: state, States: []option{
		{"dead", q.t.Dead, state == "dead"}, {"pending", q.t.Pending, state == "pending"},
	}}
	for _, m := range res.Messages {
		v.Rows = append(v.Rows, webhookRow{ID: m.ID, Event: m.Event, EnrollmentID: m.EnrollmentID,
			Created: s.timeText(m.CreatedAt), Next: s.timeText(m.NextAttemptAt), Dead: s.timeText(m.DeadAt),
			LastError: m.LastError, State: m.State().String(), Attempts: m.Attempts})
	}
	if res.Next != "" {
		v.Next = Prefix + "/webhooks?" + url.Values{"state": {state}, "cursor": {res.Next}}.Encode()
	}
	p := s.newPage(q, q.t.WebhooksTitle)
	p.Nav, p.Data = "webhooks", v
	if id, err := strconv.ParseInt(in.Get("redelivered"), 10, 64); err == nil && id > 0 {
		p.Notice = fmt.Sprintf(q.t.Redelivered, id)
	}
	s.render(q, http.StatusOK, "webhooks", p)
	return nil
}

// postRedeliver is 「再送」: the dead webhook goes back to pending, due
// now (Admin.Redeliver, recorded with the signed-in key).
func (s *Server) postRedeliver(q *req) error {
	id, err := strconv.ParseInt(q.r.PostFormValue("id"), 10, 64)
	if err != nil || id <= 0 {
		return &HTTPError{Code: http.StatusBadRequest, Msg: q.t.BadInput, Err: fmt.Errorf("webhook id %q", q.r.PostFormValue("id"))}
	}
	if err := s.admin.Redeliver(q.r.Context(), id, q.origin()); err != nil {
		return s.serviceError(q, err)
	}
	http.Redirect(q.w, q.r, Prefix+"/webhooks?state=pending&redelivered="+strconv.FormatInt(id, 10), http.StatusSeeOther)
	return nil
}
