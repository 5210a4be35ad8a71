package httpapi

import (
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
)

// adminGet GETs path with the harness's key and decodes a 200 into v.
func (h *harness) adminGet(path string, v any) {
	h.t.Helper()
	r := h.do("GET", path, h.key, nil)
	want(h.t, r, 200, "")
	reflect.ValueOf(v).Elem().SetZero() // no field left from an earlier answer
	r.decode(h.t, v)
}

// Every admin route refuses a key without the admin scope (403
// insufficient_scope) and a request without a key (401).
func TestAdminScopeRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	enrollKey := h.newKey("only-enroll", enroll.ScopeEnroll)
	checkKey := h.newKey("only-check", enroll.ScopeCheck)
	n := 0
	for _, rt := range h.srv.adminRoutes() {
		path := strings.NewReplacer("{id}", "AAAAAAAAAAAAAAAAAAAAAA", "{user}", "u-1", "{e164}", "+81312345678", "{name}", "crm").Replace(rt.path)
		for _, key := range []string{enrollKey, checkKey} {
			r := h.do(rt.method, path, key, nil)
			want(t, r, 403, CodeInsufficientScope)
			if !strings.Contains(string(r.body), "(admin)") {
				t.Errorf("%s %s: 403 body %s does not name the admin scope", rt.method, path, r.body)
			}
		}
		want(t, h.do(rt.method, path, "", nil), 401, CodeUnauthorized)
		n++
	}
	if n != 14 {
		t.Fatalf("%d admin routes, want 14", n)
	}
	// The refusals changed nothing: the key named crm is not revoked.
	var ks APIKeys
	h.adminGet("/v1/admin/api-keys", &ks)
	for _, k := range ks.APIKeys {
		if !k.RevokedAt.IsZero() {
			t.Errorf("key %s revoked by a refused request", k.Name)
		}
	}
}

func TestAdminEnrollments(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: enroll.Limits{PerNumber: 100, PerUser: 100}})
	var made []enrollmentJSON
	for i, u := range []string{"u-1", "u-2", "u-1", "u-3", "u-1"} {
		e, _ := h.create(u, fmt.Sprintf("03-1234-567%d", i%2))
		made = append(made, e)
		h.clock.Advance(time.Second) // distinct creation times
	}
	// One of u-1's is called and verified.
	want(t, h.do("POST", "/v1/enrollments/"+made[2].ID+"/call", h.key, nil), 202, "")
	h.waitState(made[2].ID, enroll.StateVerified)

	ids := func(r AdminEnrollments) []string {
		out := []string{}
		for _, e := range r.Enrollments {
			out = append(out, e.ID)
		}
		return out
	}
	cases := []struct {
		query string
		want  []enrollmentJSON
	}{
		{"", []enrollmentJSON{made[4], made[3], made[2], made[1], made[0]}},
		{"user=u-1", []enrollmentJSON{made[4], made[2], made[0]}},
		{"phone=%2B81312345671", []enrollmentJSON{made[3], made[1]}},
		{"phone=03-1234-5671&user=u-2", []enrollmentJSON{made[1]}},
		{"state=verified", []enrollmentJSON{made[2]}},
		{"outcome=verified&user=u-1", []enrollmentJSON{made[2]}},
		{"state=pending&user=u-1", []enrollmentJSON{made[4], made[0]}},
		{"from=" + url.QueryEscape(made[1].CreatedAt.Format(time.RFC3339Nano)) + "&to=" + url.QueryEscape(made[3].CreatedAt.Format(time.RFC3339Nano)),
			[]enrollmentJSON{made[2], made[1]}},
		{"user=nobody", nil},
	}
	for _, tc := range cases {
		var got AdminEnrollments
		h.adminGet("/v1/admin/enrollments?"+tc.query, &got)
		var w []string
		for _, e := range tc.want {
			w = append(w, e.ID)
		}
		if !slices.Equal(ids(got), append([]string{}, w...)) || got.NextCursor != "" {
			t.Errorf("?%s: %v (next %q), want %v", tc.query, ids(got), got.NextCursor, w)
		}
	}

	// Pages of two, following next_cursor, visit all five once.
	var seen []string
	path := "/v1/admin/enrollments?limit=2"
	for range 5 {
		var got AdminEnrollments
		h.adminGet(path, &got)
		seen = append(seen, ids(got)...)
		if got.NextCursor == "" {
			break
		}
		path = "/v1/admin/enrollments?limit=2&cursor=" + url.QueryEscape(got.NextCursor)
	}
	if w := []string{made[4].ID, made[3].ID, made[2].ID, made[1].ID, made[0].ID}; !slices.Equal(seen, w) {
		t.Fatalf("pages: %v, want %v", seen, w)
	}

	// Bad filters: 400 invalid_query, saying what is wrong.
	for query, says := range map[string]string{
		"state=sleeping": "state",
		"outcome=maybe":  "outcome",
		"phone=12":       "phone",
		"limit=0":        "limit",
		"limit=501":      "limit",
		"limit=ten":      "limit",
		"cursor=%21%21":  "cursor",
		"from=yesterday": "from",
		"usr=u-1":        "usr",
		"user=a&user=b":  "user",
		"from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z": "before",
	} {
		r := h.do("GET", "/v1/admin/enrollments?"+query, h.key, nil)
		want(t, r, 400, CodeInvalidQuery)
		var e errorBody
		r.decode(t, &e)
		if !strings.Contains(e.Error.MessageEN, says) {
			t.Errorf("?%s: message %q does not say %q", query, e.Error.MessageEN, says)
		}
	}

	// One enrollment with its timeline.
	var d AdminEnrollmentDetail
	h.adminGet("/v1/admin/enrollments/"+made[2].ID, &d)
	if d.Enrollment.ID != made[2].ID || d.Enrollment.State != enroll.StateVerified || d.Block != nil || len(d.OperatorEvents) != 0 {
		t.Fatalf("detail %+v", d)
	}
	var acts []string
	for _, ev := range d.Timeline {
		acts = append(acts, ev.Action)
	}
	if w := []string{enroll.ActionCreate, enroll.ActionCallStart, enroll.ActionCallEnd}; !slices.Equal(acts, w) {
		t.Fatalf("timeline actions %v, want %v", acts, w)
	}
	end := d.Timeline[2]
	if end.Outcome != enroll.OutcomeVerified || end.KeySource == "" || end.Keys != "#" || end.AnsweredAt.IsZero() || end.KeyAt.Before(end.AnsweredAt) {
		t.Fatalf("call end %+v", end)
	}
	want(t, h.do("GET", "/v1/admin/enrollments/AAAAAAAAAAAAAAAAAAAAAA", h.key, nil), 404, CodeNotFound)
	want(t, h.do("GET", "/v1/admin/enrollments/short", h.key, nil), 400, CodeInvalidID)
	want(t, h.do("GET", "/v1/admin/enrollments/"+made[2].ID+"?x=1", h.key, nil), 400, CodeInvalidQuery)
}

// A 0# report is on the fraud page and its number blocked; the unblock
// lifts it, is recorded as an operator event naming the key and the
// reason, and a new enrollment for the number is called and verified.
func TestAdminFraudAndUnblock(t *testing.T) {
	h := newHarness(t, harnessOpts{limits: enroll.Limits{PerNumber: 100, PerUser: 100}})
	ops := h.newKey("ops", enroll.ScopeAdmin)
	answerVerified(h.dialer, "0#")
	e, _ := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil), 202, "")
	h.waitState(e.ID, enroll.StateFailed)

	var fr FraudReports
	h.adminGet("/v1/admin/fraud-reports", &fr)
	if len(fr.Reports) != 1 || fr.Reports[0].Enrollment.ID != e.ID || !fr.Reports[0].Blocked || fr.Reports[0].Keys != "0#" ||
		fr.Reports[0].Enrollment.Outcome != enroll.OutcomeFraudReported {
		t.Fatalf("fraud reports %+v", fr)
	}
	var none FraudReports
	h.adminGet("/v1/admin/fraud-reports?to="+url.QueryEscape(fr.Reports[0].At.Format(time.RFC3339Nano)), &none)
	if len(none.Reports) != 0 {
		t.Fatalf("fraud reports before the report: %+v", none)
	}
	want(t, h.do("GET", "/v1/admin/fraud-reports?from=soon", h.key, nil), 400, CodeInvalidQuery)

	var bl BlockedNumbers
	h.adminGet("/v1/admin/blocked-numbers", &bl)
	if len(bl.BlockedNumbers) != 1 || bl.BlockedNumbers[0].Phone != "+81312345678" || bl.BlockedNumbers[0].EnrollmentID != e.ID {
		t.Fatalf("blocked numbers %+v", bl)
	}
	want(t, h.do("POST", "/v1/enrollments", h.key, map[string]string{"user_id": "u-1", "phone": "03-1234-5678"}), 403, CodeNumberBlocked)

	want(t, h.do("DELETE", "/v1/admin/blocked-numbers/0312345678", ops, nil), 400, CodeInvalidID)
	want(t, h.do("DELETE", "/v1/admin/blocked-numbers/%2B81312345678", ops, map[string]string{"reason": strings.Repeat("x", enroll.MaxReasonLen+1)}), 422, CodeInvalidField)
	want(t, h.do("DELETE", "/v1/admin/blocked-numbers/%2B81312345678", ops, map[string]string{"why": "x"}), 400, CodeUnknownField)
	r := h.do("DELETE", "/v1/admin/blocked-numbers/%2B81312345678", ops, map[string]string{"reason": "pressed 0# by mistake"}, "X-Request-ID", "unblock-1")
	want(t, r, 200, "")
	var ub Unblocked
	r.decode(t, &ub)
	ev := ub.OperatorEvent
	if ub.Unblocked.Phone != "+81312345678" || ev.Actor != "api-key:ops" || ev.Action != enroll.OpUnblock ||
		ev.Target != "+81312345678" || ev.Reason != "pressed 0# by mistake" || ev.EnrollmentID != e.ID || ev.RequestID != "unblock-1" {
		t.Fatalf("unblock answer %+v", ub)
	}
	want(t, h.do("DELETE", "/v1/admin/blocked-numbers/+81312345678", ops, nil), 404, CodeNotFound)

	// The audit of the unblock: on the operator events and on the
	// enrollment that reported the number.
	var oe OperatorEvents
	h.adminGet("/v1/admin/operator-events?target=%2B81312345678", &oe)
	if len(oe.Events) != 1 || oe.Events[0] != ev {
		t.Fatalf("operator events %+v, want %+v", oe, ev)
	}
	var d AdminEnrollmentDetail
	h.adminGet("/v1/admin/enrollments/"+e.ID, &d)
	if d.Block != nil || len(d.OperatorEvents) != 1 || d.OperatorEvents[0] != ev {
		t.Fatalf("detail after unblock: block %+v, operator events %+v", d.Block, d.OperatorEvents)
	}
	h.adminGet("/v1/admin/blocked-numbers", &bl)
	if len(bl.BlockedNumbers) != 0 {
		t.Fatalf("blocked numbers after unblock %+v", bl)
	}
	h.adminGet("/v1/admin/fraud-reports", &fr)
	if len(fr.Reports) != 1 || fr.Reports[0].Blocked {
		t.Fatalf("fraud report after unblock %+v", fr)
	}

	// The number is called again.
	answerVerified(h.dialer, "#")
	e2, _ := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e2.ID+"/call", h.key, nil), 202, "")
	h.waitState(e2.ID, enroll.StateVerified)
}

func TestAdminBlockedPages(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	var phones []string
	for i := range 5 {
		p := fmt.Sprintf("+8131234560%d", i)
		phones = append(phones, p)
		if err := h.st.BlockNumber(t.Context(), enroll.BlockedNumber{Phone: p, Reason: "fraud-reported", At: enroll.Now(time.Now()).Add(time.Duration(i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	path := "/v1/admin/blocked-numbers?limit=2"
	for range 5 {
		var bl BlockedNumbers
		h.adminGet(path, &bl)
		for _, b := range bl.BlockedNumbers {
			seen = append(seen, b.Phone)
		}
		if bl.NextCursor == "" {
			break
		}
		path = "/v1/admin/blocked-numbers?limit=2&cursor=" + url.QueryEscape(bl.NextCursor)
	}
	slices.Reverse(phones)
	if !slices.Equal(seen, phones) {
		t.Fatalf("pages %v, want %v (newest first)", seen, phones)
	}
	want(t, h.do("GET", "/v1/admin/blocked-numbers?limit=-1", h.key, nil), 400, CodeInvalidQuery)
	want(t, h.do("GET", "/v1/admin/blocked-numbers?state=x", h.key, nil), 400, CodeInvalidQuery)
}

func TestAdminAPIKeysAndAppPasswords(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	r := h.do("POST", "/v1/admin/api-keys", h.key, map[string]any{"name": "portal", "scopes": []string{"enroll", "check"}})
	want(t, r, 201, "")
	var created CreatedAPIKey
	r.decode(t, &created)
	if created.APIKey.Name != "portal" || !slices.Equal(created.APIKey.Scopes, []string{"check", "enroll"}) || !strings.HasPrefix(created.Key, "dnw_") {
		t.Fatalf("created %+v", created.APIKey)
	}
	// The new key works, within its scopes.
	want(t, h.do("POST", "/v1/enrollments", created.Key, map[string]string{"user_id": "u-9", "phone": "03-1234-5678"}), 201, "")
	want(t, h.do("GET", "/v1/admin/api-keys", created.Key, nil), 403, CodeInsufficientScope)

	want(t, h.do("POST", "/v1/admin/api-keys", h.key, map[string]any{"name": "portal", "scopes": []string{"enroll"}}), 409, CodeNameTaken)
	want(t, h.do("POST", "/v1/admin/api-keys", h.key, map[string]any{"name": "portal 2", "scopes": []string{"enroll"}}), 422, CodeInvalidField)
	want(t, h.do("POST", "/v1/admin/api-keys", h.key, map[string]any{"name": "p2", "scopes": []string{"root"}}), 422, CodeInvalidField)
	want(t, h.do("POST", "/v1/admin/api-keys", h.key, map[string]any{"name": "p2"}), 422, CodeInvalidField)

	r = h.do("GET", "/v1/admin/api-keys", h.key, nil)
	want(t, r, 200, "")
	if strings.Contains(string(r.body), created.Key) || strings.Contains(string(r.body), "hash") {
		t.Fatalf("the key list shows a key or a hash: %s", r.body)
	}
	var ks APIKeys
	r.decode(t, &ks)
	if len(ks.APIKeys) != 2 || ks.APIKeys[1].Name != "portal" {
		t.Fatalf("keys %+v", ks)
	}

	want(t, h.do("DELETE", "/v1/admin/api-keys/portal", h.key, map[string]string{"reason": "rotated"}), 204, "")
	want(t, h.do("DELETE", "/v1/admin/api-keys/portal", h.key, nil), 204, "")
	want(t, h.do("DELETE", "/v1/admin/api-keys/nobody", h.key, nil), 404, CodeNotFound)
	want(t, h.do("DELETE", "/v1/admin/api-keys/a%20b", h.key, nil), 400, CodeInvalidID)
	want(t, h.do("POST", "/v1/enrollments", created.Key, map[string]string{"user_id": "u-9", "phone": "03-1234-5678"}), 401, CodeUnauthorized)

	// App passwords: listed without hashes, revoked with a reason.
	h.issue("u-1")
	var aps listResponse
	h.adminGet("/v1/admin/users/u-1/app-passwords", &aps)
	if len(aps.AppPasswords) != 1 || aps.Active != 1 {
		t.Fatalf("app passwords %+v", aps)
	}
	id := aps.AppPasswords[0].ID
	want(t, h.do("DELETE", "/v1/admin/users/u-2/app-passwords/"+id, h.key, nil), 404, CodeNotFound)
	want(t, h.do("DELETE", "/v1/admin/users/u-1/app-passwords/"+id, h.key, map[string]string{"reason": "lost phone"}), 204, "")
	h.adminGet("/v1/admin/users/u-1/app-passwords", &aps)
	if aps.Active != 0 || aps.AppPasswords[0].RevokedAt.IsZero() {
		t.Fatalf("after revoke %+v", aps)
	}

	var oe OperatorEvents
	h.adminGet("/v1/admin/operator-events", &oe)
	var got []string
	for _, ev := range oe.Events {
		got = append(got, ev.Actor+" "+ev.Action+" "+ev.Target+" "+ev.Reason)
	}
	w := []string{
		"api-key:crm app-password.revoke u-1/" + id + " lost phone",
		"api-key:crm api-key.revoke portal ",
		"api-key:crm api-key.revoke portal rotated",
		"api-key:crm api-key.create portal ",
	}
	if !slices.Equal(got, w) {
		t.Fatalf("operator events\n got %q\nwant %q", got, w)
	}
	var page OperatorEvents
	h.adminGet("/v1/admin/operator-events?limit=3", &page)
	var rest OperatorEvents
	h.adminGet("/v1/admin/operator-events?limit=3&cursor="+url.QueryEscape(page.NextCursor), &rest)
	if len(page.Events) != 3 || len(rest.Events) != 1 || rest.Events[0] != oe.Events[3] || rest.NextCursor != "" {
		t.Fatalf("operator event pages: %d then %+v", len(page.Events), rest)
	}
}

func TestAdminWebhooks(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	ctx := t.Context()
	now := enroll.Now(time.Now())
	var dead []int64
	for range 3 {
		id, err := h.st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: enroll.EventFailed, EnrollmentID: "e1", Payload: []byte(`{"secret":"no"}`), CreatedAt: now, NextAttemptAt: now})
		if err != nil {
			t.Fatal(err)
		}
		if err := h.st.MarkOutboxDead(ctx, id, now, "HTTP 500"); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, id)
	}
	pending, err := h.st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: enroll.EventVerified, Payload: []byte("{}"), CreatedAt: now, NextAttemptAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}

	r := h.do("GET", "/v1/admin/webhooks?limit=2", h.key, nil)
	want(t, r, 200, "")
	if strings.Contains(string(r.body), "secret") {
		t.Fatalf("the webhook list shows a payload: %s", r.body)
	}
	var wh Webhooks
	r.decode(t, &wh)
	if len(wh.Webhooks) != 2 || wh.Webhooks[0].ID != dead[0] || wh.Webhooks[0].State != "dead" || wh.Webhooks[0].LastError != "HTTP 500" || wh.NextCursor == "" {
		t.Fatalf("first page %+v", wh)
	}
	h.adminGet("/v1/admin/webhooks?limit=2&cursor="+url.QueryEscape(wh.NextCursor), &wh)
	if len(wh.Webhooks) != 1 || wh.Webhooks[0].ID != dead[2] || wh.NextCursor != "" {
		t.Fatalf("second page %+v", wh)
	}
	h.adminGet("/v1/admin/webhooks?state=pending", &wh)
	if len(wh.Webhooks) != 1 || wh.Webhooks[0].ID != pending {
		t.Fatalf("pending %+v", wh)
	}
	want(t, h.do("GET", "/v1/admin/webhooks?state=delivered", h.key, nil), 400, CodeInvalidQuery)

	path := func(id int64) string { return fmt.Sprintf("/v1/admin/webhooks/%d/redeliver", id) }
	want(t, h.do("POST", path(dead[1]), h.key, nil), 204, "")
	want(t, h.do("POST", path(dead[1]), h.key, nil), 409, CodeNotDead)
	want(t, h.do("POST", path(pending), h.key, nil), 409, CodeNotDead)
	want(t, h.do("POST", path(9999), h.key, nil), 404, CodeNotFound)
	want(t, h.do("POST", "/v1/admin/webhooks/x/redeliver", h.key, nil), 400, CodeInvalidID)
	h.adminGet("/v1/admin/webhooks?state=undelivered", &wh)
	var states []string
	for _, m := range wh.Webhooks {
		states = append(states, fmt.Sprint(m.ID, m.State))
	}
	if w := []string{fmt.Sprint(dead[0], "dead"), fmt.Sprint(dead[1], "pending"), fmt.Sprint(dead[2], "dead"), fmt.Sprint(pending, "pending")}; !slices.Equal(states, w) {
		t.Fatalf("undelivered %v, want %v", states, w)
	}
	var oe OperatorEvents
	h.adminGet(fmt.Sprintf("/v1/admin/operator-events?target=%d", dead[1]), &oe)
	if len(oe.Events) != 1 || oe.Events[0].Action != enroll.OpWebhookRedeliver || oe.Events[0].Actor != "api-key:crm" {
		t.Fatalf("the redelivery's operator event %+v", oe)
	}
}

func TestAdminSummary(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, _ := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)

	var s Summary
	h.adminGet("/v1/admin/summary", &s)
	if s.Calls != 1 || s.Outcomes["verified"] != 1 || len(s.Outcomes) != 1 || len(s.KeySources) != 1 ||
		s.AnswerToKey.Count != 1 || s.AnswerToKey.MedianMS <= 0 || s.InProgress != 0 ||
		s.Bucket != 1800 || len(s.Series) != 48 || s.To.Sub(s.From) != 24*time.Hour {
		t.Fatalf("summary %+v", s)
	}
	calls := 0
	for _, b := range s.Series {
		calls += b.Calls
		if b.Calls == 1 && b.Outcomes["verified"] != 1 {
			t.Errorf("bucket %+v", b)
		}
	}
	if calls != 1 {
		t.Fatalf("the series counts %d calls, want 1", calls)
	}
	to := s.To.Add(time.Minute)
	from, until := url.QueryEscape(to.Add(-time.Hour).Format(time.RFC3339Nano)), url.QueryEscape(to.Format(time.RFC3339Nano))
	h.adminGet("/v1/admin/summary?from="+from+"&to="+until+"&bucket=5m", &s)
	if s.Bucket != 300 || len(s.Series) != 12 || s.Calls != 1 {
		t.Fatalf("an hour by 5 minutes: %+v", s)
	}
	for _, q := range []string{"bucket=5", "bucket=1s", "from=today", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z", "window=1h",
		"from=2026-01-01T00:00:00Z&to=2026-12-01T00:00:00Z"} {
		want(t, h.do("GET", "/v1/admin/summary?"+q, h.key, nil), 400, CodeInvalidQuery)
	}
}
