package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"denwa/enroll"
)

// The operators' view: the lists of the admin API, their filters and
// cursors, and the operator events.

// ids returns the IDs of es, in order.
func ids(es []enroll.Enrollment) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func testListEnrollments(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	// Six enrollments: two users, two numbers, created a minute apart
	// except the last two, created at the same time (a tie the cursor
	// must break by ID).
	var all []enroll.Enrollment
	for i := range 6 {
		e := NewEnrollment(fmt.Sprintf("user-%d", i%2), fmt.Sprintf("+8131234567%d", i%3))
		e.ID = fmt.Sprintf("e%d", i)
		e.CreatedAt = T0.Add(time.Duration(min(i, 4)) * time.Minute)
		e.UpdatedAt = e.CreatedAt
		mustCreate(t, st, e)
		all = append(all, e)
	}
	// e3 is failed with fraud-reported, e1 calling.
	e3 := all[3]
	e3.State, e3.Outcome, e3.Version = enroll.StateFailed, enroll.OutcomeFraudReported, 2
	must(t, "UpdateEnrollment e3", st.UpdateEnrollment(ctx, e3, nil, nil))
	all[3] = e3
	e1 := all[1]
	e1.State, e1.Version = enroll.StateCalling, 2
	must(t, "UpdateEnrollment e1", st.UpdateEnrollment(ctx, e1, nil, nil))
	all[1] = e1

	cases := []struct {
		name string
		f    enroll.EnrollmentFilter
		want []string
	}{
		{"all, newest first, ties by ID descending", enroll.EnrollmentFilter{}, []string{"e5", "e4", "e3", "e2", "e1", "e0"}},
		{"user", enroll.EnrollmentFilter{UserID: "user-1"}, []string{"e5", "e3", "e1"}},
		{"phone", enroll.EnrollmentFilter{Phone: "+81312345670"}, []string{"e3", "e0"}},
		{"state", enroll.EnrollmentFilter{State: enroll.StateCalling}, []string{"e1"}},
		{"outcome", enroll.EnrollmentFilter{Outcome: enroll.OutcomeFraudReported}, []string{"e3"}},
		{"created window", enroll.EnrollmentFilter{CreatedFrom: T0.Add(time.Minute), CreatedTo: T0.Add(3 * time.Minute)}, []string{"e2", "e1"}},
		{"user and phone", enroll.EnrollmentFilter{UserID: "user-0", Phone: "+81312345672"}, []string{"e2"}},
		{"nothing", enroll.EnrollmentFilter{UserID: "nobody"}, []string{}},
		{"limit", enroll.EnrollmentFilter{Limit: 2}, []string{"e5", "e4"}},
		{"after a tie", enroll.EnrollmentFilter{AfterCreated: T0.Add(4 * time.Minute), AfterID: "e5", Limit: 2}, []string{"e4", "e3"}},
		{"after, filtered", enroll.EnrollmentFilter{UserID: "user-1", AfterCreated: all[3].CreatedAt, AfterID: "e3"}, []string{"e1"}},
	}
	for _, tc := range cases {
		got, err := st.ListEnrollments(ctx, tc.f)
		must(t, "ListEnrollments "+tc.name, err)
		if g := ids(got); !slices.Equal(g, tc.want) {
			t.Errorf("ListEnrollments %s = %v, want %v", tc.name, g, tc.want)
		}
	}
	got, err := st.ListEnrollments(ctx, enroll.EnrollmentFilter{State: enroll.StateFailed})
	must(t, "ListEnrollments failed", err)
	if len(got) != 1 || got[0] != all[3] {
		t.Fatalf("ListEnrollments failed = %+v, want %+v as stored", got, all[3])
	}
	// Paging through one at a time visits every enrollment once.
	var seen []string
	f := enroll.EnrollmentFilter{Limit: 1}
	for range 10 {
		page, err := st.ListEnrollments(ctx, f)
		must(t, "ListEnrollments page", err)
		if len(page) == 0 {
			break
		}
		seen = append(seen, page[0].ID)
		f.AfterCreated, f.AfterID = page[0].CreatedAt, page[0].ID
	}
	if want := []string{"e5", "e4", "e3", "e2", "e1", "e0"}; !slices.Equal(seen, want) {
		t.Fatalf("paging = %v, want %v", seen, want)
	}
}

func testListAuditEvents(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	e := NewEnrollment("user-1", "+81312345678")
	mustCreate(t, st, e) // its create event is at T0
	end := func(id string, at time.Duration, o enroll.Outcome) enroll.AuditEvent {
		return enroll.AuditEvent{
			ID: id, EnrollmentID: e.ID, At: T0.Add(at), Actor: enroll.ActorSystem, Action: enroll.ActionCallEnd,
			From: enroll.StateCalling, To: enroll.StateFailed, Outcome: o, Node: "node-a",
			AnsweredAt: T0.Add(at - 10*time.Second), KeyAt: T0.Add(at - time.Second), KeySource: "rfc4733",
		}
	}
	a := end("a", time.Minute, enroll.OutcomeVerified)
	b := end("b", 2*time.Minute, enroll.OutcomeFraudReported)
	c := end("c", 2*time.Minute, enroll.OutcomeNoAnswer) // the same time as b
	blk := b
	blk.ID, blk.Action = "d", enroll.ActionBlock
	must(t, "AppendAudit", st.AppendAudit(ctx, a, b, c, blk))
	cases := []struct {
		name string
		f    enroll.AuditFilter
		want []string
	}{
		{"call ends, newest first, ties by ID descending", enroll.AuditFilter{Action: enroll.ActionCallEnd}, []string{"c", "b", "a"}},
		{"outcome", enroll.AuditFilter{Outcome: enroll.OutcomeFraudReported}, []string{"d", "b"}},
		{"action and outcome", enroll.AuditFilter{Action: enroll.ActionCallEnd, Outcome: enroll.OutcomeFraudReported}, []string{"b"}},
		{"window", enroll.AuditFilter{Action: enroll.ActionCallEnd, From: T0.Add(time.Minute), To: T0.Add(2 * time.Minute)}, []string{"a"}},
		{"limit", enroll.AuditFilter{Action: enroll.ActionCallEnd, Limit: 1}, []string{"c"}},
		{"after", enroll.AuditFilter{Action: enroll.ActionCallEnd, AfterAt: T0.Add(2 * time.Minute), AfterID: "c"}, []string{"b", "a"}},
	}
	for _, tc := range cases {
		got, err := st.ListAuditEvents(ctx, tc.f)
		must(t, "ListAuditEvents "+tc.name, err)
		g := []string{}
		for _, ev := range got {
			g = append(g, ev.ID)
		}
		if !slices.Equal(g, tc.want) {
			t.Errorf("ListAuditEvents %s = %v, want %v", tc.name, g, tc.want)
		}
	}
	got, err := st.ListAuditEvents(ctx, enroll.AuditFilter{Action: enroll.ActionCallEnd, Outcome: enroll.OutcomeVerified})
	must(t, "ListAuditEvents verified", err)
	if len(got) != 1 || got[0] != a {
		t.Fatalf("ListAuditEvents verified = %+v, want %+v as appended", got, a)
	}
	all, err := st.ListAuditEvents(ctx, enroll.AuditFilter{})
	must(t, "ListAuditEvents all", err)
	if len(all) != 5 || all[4].Action != enroll.ActionCreate {
		t.Fatalf("ListAuditEvents all = %+v, want 5 events ending with the create", all)
	}
}

func testListBlocked(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	bs := []enroll.BlockedNumber{
		{Phone: "+81311111111", Reason: "fraud-reported", EnrollmentID: "e1", At: T0},
		{Phone: "+81322222222", Reason: "fraud-reported", EnrollmentID: "e2", At: T0.Add(time.Minute)},
		{Phone: "+81333333333", Reason: "fraud-reported", At: T0.Add(time.Minute)},
	}
	for _, b := range bs {
		must(t, "BlockNumber", st.BlockNumber(ctx, b))
	}
	got, err := st.ListBlockedNumbers(ctx, enroll.BlockedFilter{})
	must(t, "ListBlockedNumbers", err)
	if want := []enroll.BlockedNumber{bs[2], bs[1], bs[0]}; !slices.Equal(got, want) {
		t.Fatalf("ListBlockedNumbers = %+v, want %+v", got, want)
	}
	got, err = st.ListBlockedNumbers(ctx, enroll.BlockedFilter{AfterAt: bs[2].At, AfterPhone: bs[2].Phone, Limit: 1})
	must(t, "ListBlockedNumbers after", err)
	if len(got) != 1 || got[0] != bs[1] {
		t.Fatalf("ListBlockedNumbers after the first = %+v, want %+v", got, bs[1])
	}

	ev := enroll.OperatorEvent{
		ID: enroll.NewID(), At: T0.Add(time.Hour), Actor: enroll.ActorAPIKey("ops"), Action: enroll.OpUnblock,
		Target: bs[1].Phone, Reason: "pressed 0# by mistake", RequestID: "req-9",
	}
	lifted, err := st.LiftBlock(ctx, bs[1].Phone, ev)
	if err != nil || lifted != bs[1] {
		t.Fatalf("LiftBlock = %+v, %v; want %+v", lifted, err, bs[1])
	}
	_, err = st.BlockedNumber(ctx, bs[1].Phone)
	wantErr(t, "BlockedNumber after LiftBlock", err, enroll.ErrNotFound)
	evs, err := st.ListOperatorEvents(ctx, enroll.OperatorEventFilter{})
	must(t, "ListOperatorEvents", err)
	want := ev
	want.EnrollmentID = "e2" // the block's
	if len(evs) != 1 || evs[0] != want {
		t.Fatalf("ListOperatorEvents after LiftBlock = %+v, want %+v", evs, want)
	}
	again := ev
	again.ID = enroll.NewID()
	_, err = st.LiftBlock(ctx, bs[1].Phone, again)
	wantErr(t, "LiftBlock again", err, enroll.ErrNotFound)
	evs, err = st.ListOperatorEvents(ctx, enroll.OperatorEventFilter{})
	must(t, "ListOperatorEvents", err)
	if len(evs) != 1 {
		t.Fatalf("a LiftBlock that found no block recorded an event: %+v", evs)
	}
}

func testOperatorEvents(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	mk := func(id string, at time.Duration, action, target, enrollment string) enroll.OperatorEvent {
		return enroll.OperatorEvent{ID: id, At: T0.Add(at), Actor: enroll.ActorLocal, Action: action,
			Target: target, EnrollmentID: enrollment}
	}
	evs := []enroll.OperatorEvent{
		mk("a", 0, enroll.OpAPIKeyCreate, "crm", ""),
		mk("b", time.Minute, enroll.OpAPIKeyRevoke, "crm", ""),
		mk("c", time.Minute, enroll.OpUnblock, "+81311111111", "e1"),
	}
	for _, ev := range evs {
		must(t, "AppendOperatorEvent", st.AppendOperatorEvent(ctx, ev))
	}
	wantErr(t, "AppendOperatorEvent with a used ID", st.AppendOperatorEvent(ctx, evs[0]), enroll.ErrConflict)
	cases := []struct {
		name string
		f    enroll.OperatorEventFilter
		want []enroll.OperatorEvent
	}{
		{"all", enroll.OperatorEventFilter{}, []enroll.OperatorEvent{evs[2], evs[1], evs[0]}},
		{"target", enroll.OperatorEventFilter{Target: "crm"}, []enroll.OperatorEvent{evs[1], evs[0]}},
		{"enrollment", enroll.OperatorEventFilter{EnrollmentID: "e1"}, []enroll.OperatorEvent{evs[2]}},
		{"after", enroll.OperatorEventFilter{AfterAt: evs[2].At, AfterID: "c", Limit: 1}, []enroll.OperatorEvent{evs[1]}},
	}
	for _, tc := range cases {
		got, err := st.ListOperatorEvents(ctx, tc.f)
		must(t, "ListOperatorEvents "+tc.name, err)
		if !slices.Equal(got, tc.want) {
			t.Errorf("ListOperatorEvents %s = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}
