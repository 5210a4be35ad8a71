package enroll_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
)

var ops = enroll.Origin{Actor: enroll.ActorAPIKey("ops"), RequestID: "req-ops"}

func newAdmin(t *testing.T, e *env) *enroll.Admin {
	t.Helper()
	a, err := enroll.NewAdmin(enroll.AdminConfig{Store: e.st, Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A 0# report is listed as a fraud report, its enrollment's timeline
// shows the call (node, keys and their source, answer and key times), the
// number is listed as blocked; an operator's unblock lifts it, is
// recorded with the reason and the key that did it, and the number can be
// enrolled again.
func TestAdminFraudAndUnblock(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceRFC4733, "0#")
	s := e.service(func(c *enroll.ServiceConfig) { c.Node = "node-a" })
	a := s.Admin()
	ctx := t.Context()
	_, got := callUntil(t, s, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeFraudReported {
		t.Fatalf("outcome %v, want fraud-reported", got.Outcome)
	}

	fp, err := a.FraudReports(ctx, enroll.FraudQuery{})
	if err != nil || len(fp.Reports) != 1 || fp.Next != "" {
		t.Fatalf("FraudReports = %+v, %v; want one report", fp, err)
	}
	r := fp.Reports[0]
	if r.Enrollment.ID != got.ID || !r.Blocked || r.KeySource != "rfc4733" || r.Keys != "0#" || !r.At.Equal(e.clock.Now()) {
		t.Fatalf("fraud report %+v", r)
	}

	d, err := a.Enrollment(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := actions(d.Audit), "create:unknown>pending call.start:pending>calling call.end:calling>failed block:failed>failed"; g != w {
		t.Fatalf("timeline\n got %s\nwant %s", g, w)
	}
	start, end := d.Audit[1], d.Audit[2]
	if start.Node != "node-a" || end.Node != "node-a" || end.KeySource != "rfc4733" || end.Keys != "0#" ||
		end.AnsweredAt.IsZero() || end.KeyAt.Before(end.AnsweredAt) {
		t.Fatalf("call events: start %+v, end %+v", start, end)
	}
	if d.Block == nil || d.Block.EnrollmentID != got.ID || len(d.Operator) != 0 {
		t.Fatalf("detail block %+v, operator events %+v", d.Block, d.Operator)
	}

	bp, err := a.BlockedNumbers(ctx, enroll.Page{})
	if err != nil || len(bp.Blocked) != 1 || bp.Blocked[0].Phone != phone {
		t.Fatalf("BlockedNumbers = %+v, %v", bp, err)
	}

	if _, err := a.Unblock(ctx, "not a number", "", ops); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("Unblock of no number: %v, want ErrInvalidInput", err)
	}
	if _, err := a.Unblock(ctx, phone, string(make([]byte, enroll.MaxReasonLen+1)), ops); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("Unblock with a long reason: %v, want ErrInvalidInput", err)
	}
	e.clock.Advance(time.Minute)
	b, err := a.Unblock(ctx, "03-1234-5678", "pressed 0# by mistake", ops) // national form, read for JP
	if err != nil || b.Phone != phone || b.EnrollmentID != got.ID {
		t.Fatalf("Unblock = %+v, %v", b, err)
	}
	if _, err := a.Unblock(ctx, phone, "", ops); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Unblock again: %v, want ErrNotFound", err)
	}
	d, err = a.Enrollment(ctx, got.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := enroll.OperatorEvent{
		ID: d.Operator[0].ID, At: e.clock.Now(), Actor: ops.Actor, Action: enroll.OpUnblock, Target: phone,
		Reason: "pressed 0# by mistake", EnrollmentID: got.ID, RequestID: ops.RequestID,
	}
	if d.Block != nil || len(d.Operator) != 1 || d.Operator[0] != want {
		t.Fatalf("after unblock: block %+v, operator events %+v; want %+v", d.Block, d.Operator, want)
	}
	log, err := a.OperatorEvents(ctx, phone, enroll.Page{})
	if err != nil || len(log.Events) != 1 || log.Events[0] != want {
		t.Fatalf("OperatorEvents(%s) = %+v, %v", phone, log, err)
	}
	fp, err = a.FraudReports(ctx, enroll.FraudQuery{})
	if err != nil || len(fp.Reports) != 1 || fp.Reports[0].Blocked {
		t.Fatalf("FraudReports after unblock = %+v, %v; want the report, no longer blocked", fp, err)
	}
	if _, err := s.Create(ctx, enroll.CreateRequest{UserID: "user-1", Phone: phone, Origin: origin}); err != nil {
		t.Fatalf("Create after unblock: %v", err)
	}
}

func TestAdminEnrollments(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	a := newAdmin(t, e)
	ctx := t.Context()
	var made []enroll.Enrollment
	for _, u := range []string{"user-1", "user-2", "user-1", "user-3", "user-1"} {
		made = append(made, create(t, s, u))
		e.clock.Advance(time.Minute)
	}
	other, err := s.Create(ctx, enroll.CreateRequest{UserID: "user-1", Phone: "+819012345678", Origin: origin})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(es []enroll.Enrollment) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.ID)
		}
		return out
	}
	cases := []struct {
		name string
		q    enroll.EnrollmentQuery
		want []enroll.Enrollment
	}{
		{"user", enroll.EnrollmentQuery{UserID: "user-1"}, []enroll.Enrollment{other, made[4], made[2], made[0]}},
		{"phone, national form", enroll.EnrollmentQuery{Phone: "090-1234-5678"}, []enroll.Enrollment{other}},
		{"state", enroll.EnrollmentQuery{State: "pending", UserID: "user-2"}, []enroll.Enrollment{made[1]}},
		{"outcome", enroll.EnrollmentQuery{Outcome: "verified"}, nil},
		{"window", enroll.EnrollmentQuery{From: made[1].CreatedAt, To: made[3].CreatedAt}, []enroll.Enrollment{made[2], made[1]}},
	}
	for _, tc := range cases {
		p, err := a.Enrollments(ctx, tc.q)
		if err != nil || !slices.Equal(ids(p.Enrollments), ids(tc.want)) || p.Next != "" {
			t.Errorf("%s: %v, next %q, %v; want %v", tc.name, ids(p.Enrollments), p.Next, err, ids(tc.want))
		}
	}
	// Two at a time, following the cursor, visits all six once.
	var seen []string
	q := enroll.EnrollmentQuery{Page: enroll.Page{Limit: 2}}
	for range 5 {
		p, err := a.Enrollments(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		seen = append(seen, ids(p.Enrollments)...)
		if p.Next == "" {
			break
		}
		q.Cursor = p.Next
	}
	if want := ids([]enroll.Enrollment{other, made[4], made[3], made[2], made[1], made[0]}); !slices.Equal(seen, want) {
		t.Fatalf("paging = %v, want %v", seen, want)
	}

	bad := []enroll.EnrollmentQuery{
		{State: "sleeping"},
		{State: "unknown"},
		{Outcome: "maybe"},
		{Phone: "12"},
		{From: made[2].CreatedAt, To: made[1].CreatedAt},
		{Page: enroll.Page{Limit: -1}},
		{Page: enroll.Page{Limit: enroll.MaxPageSize + 1}},
		{Page: enroll.Page{Cursor: "!!"}},
		{Page: enroll.Page{Cursor: "bm8tZG90"}}, // "no-dot"
	}
	for _, q := range bad {
		if _, err := a.Enrollments(ctx, q); !errors.Is(err, enroll.ErrInvalidInput) {
			t.Errorf("Enrollments(%+v): %v, want ErrInvalidInput", q, err)
		}
	}
	if _, err := a.Enrollment(ctx, "no-such-id"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Enrollment(unknown): %v, want ErrNotFound", err)
	}
}

func TestAdminSummary(t *testing.T) {
	e := newEnv(t)
	s := e.service(func(c *enroll.ServiceConfig) { c.Limits.PerNumber = 10; c.Limits.PerUser = 10 })
	a := s.Admin()
	ctx := t.Context()
	t0 := e.clock.Now()
	e.press(dtmf.SourceInband, "*#")
	callUntil(t, s, enroll.StateVerified)
	e.clock.Advance(2 * time.Hour)
	e.dialer.Fail(enroll.OutcomeFailed, errors.New("trunk down"))
	callUntil(t, s, enroll.StateFailed)
	e.clock.Advance(time.Hour)
	e.dialer.Fail(enroll.OutcomeBusy, nil)
	callUntil(t, s, enroll.StateFailed)

	sum, err := a.Summary(ctx, enroll.SummaryQuery{From: t0, To: t0.Add(4 * time.Hour), Bucket: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Calls != 3 || sum.Outcomes[enroll.OutcomeVerified] != 1 || sum.Outcomes[enroll.OutcomeFailed] != 1 ||
		sum.Outcomes[enroll.OutcomeBusy] != 1 || len(sum.Outcomes) != 3 {
		t.Fatalf("calls %d, outcomes %v", sum.Calls, sum.Outcomes)
	}
	if len(sum.KeySources) != 1 || sum.KeySources["inband"] != 1 {
		t.Fatalf("key sources %v", sum.KeySources)
	}
	if len(sum.Causes) != 1 || sum.Causes[0].Count != 1 || sum.Causes[0].Cause == "" {
		t.Fatalf("causes %+v", sum.Causes)
	}
	if sum.AnswerToKey.Count != 1 || sum.AnswerToKey.Median <= 0 || sum.AnswerToKey.Median != sum.AnswerToKey.P95 {
		t.Fatalf("answer to key %+v", sum.AnswerToKey)
	}
	if sum.InProgress != 0 || sum.Bucket != time.Hour || len(sum.Series) != 4 {
		t.Fatalf("in progress %d, bucket %v, %d buckets", sum.InProgress, sum.Bucket, len(sum.Series))
	}
	perBucket := []int{1, 0, 1, 1}
	for i, b := range sum.Series {
		if b.Calls != perBucket[i] || !b.Start.Equal(t0.Add(time.Duration(i)*time.Hour)) {
			t.Errorf("bucket %d: %+v, want %d calls", i, b, perBucket[i])
		}
	}
	if sum.Series[0].Outcomes[enroll.OutcomeVerified] != 1 || sum.Series[3].Outcomes[enroll.OutcomeBusy] != 1 {
		t.Fatalf("series %+v", sum.Series)
	}

	// Defaults: the last day up to now, cut into at most 48 buckets.
	e.clock.Advance(time.Second) // the window ends before To
	sum, err = a.Summary(ctx, enroll.SummaryQuery{})
	if err != nil || sum.Calls != 3 || !sum.To.Equal(e.clock.Now()) || sum.Bucket != 30*time.Minute || len(sum.Series) != 48 {
		t.Fatalf("default summary: %d calls, to %v, bucket %v, %d buckets, %v", sum.Calls, sum.To, sum.Bucket, len(sum.Series), err)
	}
	for _, q := range []enroll.SummaryQuery{
		{From: t0, To: t0},
		{From: t0, To: t0.Add(-time.Hour)},
		{From: t0, To: t0.Add(enroll.MaxSummaryWindow + time.Hour)},
		{From: t0, To: t0.Add(time.Hour), Bucket: time.Second},
		{From: t0, To: t0.Add(30 * 24 * time.Hour), Bucket: time.Minute},
	} {
		if _, err := a.Summary(ctx, q); !errors.Is(err, enroll.ErrInvalidInput) {
			t.Errorf("Summary(%+v): %v, want ErrInvalidInput", q, err)
		}
	}
}

func TestAdminKeysPasswordsWebhooks(t *testing.T) {
	e := newEnv(t)
	a := newAdmin(t, e)
	ctx := t.Context()

	if _, _, err := a.CreateAPIKey(ctx, "bad name", enroll.ScopeEnroll, ops); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("CreateAPIKey with a bad name: %v", err)
	}
	if _, _, err := a.CreateAPIKey(ctx, "crm", 0, ops); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("CreateAPIKey with no scope: %v", err)
	}
	plain, k, err := a.CreateAPIKey(ctx, "crm", enroll.ScopeEnroll|enroll.ScopeCheck, ops)
	if err != nil || k.Name != "crm" || k.Hash != "" || k.Scopes != enroll.ScopeEnroll|enroll.ScopeCheck {
		t.Fatalf("CreateAPIKey = %+v, %v", k, err)
	}
	hash, _ := enroll.APIKeyHash(plain)
	if stored, err := e.st.APIKeyByHash(ctx, hash); err != nil || stored.Name != "crm" {
		t.Fatalf("the key made is not the key stored: %+v, %v", stored, err)
	}
	if _, _, err := a.CreateAPIKey(ctx, "crm", enroll.ScopeEnroll, ops); !errors.Is(err, enroll.ErrConflict) {
		t.Fatalf("CreateAPIKey twice: %v, want ErrConflict", err)
	}
	if err := a.RevokeAPIKey(ctx, "crm", "rotated", ops); err != nil {
		t.Fatal(err)
	}
	if err := a.RevokeAPIKey(ctx, "nobody", "", ops); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("RevokeAPIKey unknown: %v", err)
	}
	ks, err := a.APIKeys(ctx)
	if err != nil || len(ks) != 1 || ks[0].Hash != "" || ks[0].RevokedAt.IsZero() {
		t.Fatalf("APIKeys = %+v, %v", ks, err)
	}

	ap := enroll.AppPassword{ID: "ap1", UserID: "user-1", Name: "mail", Hash: "$argon2id$x", CreatedAt: e.clock.Now()}
	if err := e.st.CreateAppPassword(ctx, ap, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AppPasswords(ctx, ""); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("AppPasswords of no user: %v", err)
	}
	ps, err := a.AppPasswords(ctx, "user-1")
	if err != nil || len(ps) != 1 || ps[0].Hash != "" || ps[0].Name != "mail" {
		t.Fatalf("AppPasswords = %+v, %v", ps, err)
	}
	if err := a.RevokeAppPassword(ctx, "user-2", "ap1", "", ops); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("RevokeAppPassword of another user's: %v", err)
	}
	if err := a.RevokeAppPassword(ctx, "user-1", "ap1", "lost phone", ops); err != nil {
		t.Fatal(err)
	}

	m1, err := e.st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: enroll.EventVerified, Payload: []byte("{}"), CreatedAt: e.clock.Now(), NextAttemptAt: e.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	var dead []int64
	for range 3 {
		id, err := e.st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: enroll.EventFailed, Payload: []byte("{}"), CreatedAt: e.clock.Now(), NextAttemptAt: e.clock.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if err := e.st.MarkOutboxDead(ctx, id, e.clock.Now(), "HTTP 500"); err != nil {
			t.Fatal(err)
		}
		dead = append(dead, id)
	}
	wp, err := a.Webhooks(ctx, enroll.WebhookQuery{Page: enroll.Page{Limit: 2}})
	if err != nil || len(wp.Messages) != 2 || wp.Messages[0].ID != dead[0] || wp.Next == "" {
		t.Fatalf("Webhooks dead, first page = %+v, %v", wp, err)
	}
	wp, err = a.Webhooks(ctx, enroll.WebhookQuery{Page: enroll.Page{Limit: 2, Cursor: wp.Next}})
	if err != nil || len(wp.Messages) != 1 || wp.Messages[0].ID != dead[2] || wp.Next != "" {
		t.Fatalf("Webhooks dead, second page = %+v, %v", wp, err)
	}
	wp, err = a.Webhooks(ctx, enroll.WebhookQuery{State: "undelivered"})
	if err != nil || len(wp.Messages) != 4 || wp.Messages[0].ID != m1 {
		t.Fatalf("Webhooks undelivered = %+v, %v", wp, err)
	}
	if _, err := a.Webhooks(ctx, enroll.WebhookQuery{State: "delivered"}); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Fatalf("Webhooks delivered: %v, want ErrInvalidInput", err)
	}
	if err := a.Redeliver(ctx, m1, ops); !errors.Is(err, enroll.ErrOutboxNotDead) {
		t.Fatalf("Redeliver a pending message: %v", err)
	}
	if err := a.Redeliver(ctx, dead[0], ops); err != nil {
		t.Fatal(err)
	}
	wp, _ = a.Webhooks(ctx, enroll.WebhookQuery{State: "pending"})
	if len(wp.Messages) != 2 || wp.Messages[1].ID != dead[0] {
		t.Fatalf("pending after redelivery = %+v", wp.Messages)
	}

	log, err := a.OperatorEvents(ctx, "", enroll.Page{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range log.Events {
		if ev.Actor != ops.Actor {
			t.Errorf("event %+v: actor %v", ev, ev.Actor)
		}
		got = append(got, ev.Action+" "+ev.Target+" "+ev.Reason)
	}
	slices.Sort(got) // the clock stood still: the order among equal times is by ID
	want := []string{"api-key.create crm ", "api-key.revoke crm rotated", "app-password.revoke user-1/ap1 lost phone", "webhook.redeliver 2 "}
	if !slices.Equal(got, want) {
		t.Fatalf("operator events\n got %q\nwant %q", got, want)
	}
}
