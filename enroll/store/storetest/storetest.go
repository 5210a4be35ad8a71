// Package storetest is the conformance suite of enroll.Store: every Store
// implementation (enroll/store/sqlite, a PostgreSQL store) runs it from
// its own tests, so that they all keep the same contract:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) enroll.Store {
//			st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "denwa.db"), sqlite.Options{})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// Each subtest asks for a new, empty store.
//
// RunNodes runs the cases where nodes race (compare-and-set, limits,
// one-time tokens, outbox claims) against several stores sharing one
// database, as the nodes of one deployment do; Run runs the same cases
// with one store.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
)

// T0 is the time the suite's records start at: UTC, microsecond precision.
var T0 = time.Date(2025, 4, 1, 9, 0, 0, 123456000, time.UTC)

// Run runs the suite; open returns a new, empty store for one subtest and
// arranges its closing with t.Cleanup.
func Run(t *testing.T, open func(t *testing.T) enroll.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, st enroll.Store)
	}{
		{"Enrollment", testEnrollment},
		{"CompareAndSet", testCompareAndSet},
		{"ConcurrentCompareAndSet", oneNode(testConcurrentCAS)},
		{"Audit", testAudit},
		{"RecoverCalling", testRecoverCalling},
		{"CallingEnrollments", testCallingEnrollments},
		{"AppPasswords", testAppPasswords},
		{"APIKeys", testAPIKeys},
		{"BlockedNumbers", testBlocked},
		{"Counters", testCounters},
		{"CountersTakenTogether", testAddCounters},
		{"ConcurrentLimitedCounters", oneNode(testConcurrentAddCounters)},
		{"Outbox", testOutbox},
		{"OutboxDeadAndRedeliver", testOutboxDead},
		{"Tokens", testTokens},
		{"ConcurrentTokenUse", oneNode(testConcurrentTokenUse)},
		{"ConcurrentOutboxClaims", oneNode(testConcurrentClaims)},
		{"ConcurrentAppPasswords", oneNode(testConcurrentAppPasswords)},
		{"ConcurrentRecovery", oneNode(testConcurrentRecovery)},
		{"NodeLeases", testNodeLeases},
		{"LostNodes", testLostNodes},
		{"Ping", testPing},
		{"CancelledContext", testCancelled},
		{"ListEnrollments", testListEnrollments},
		{"ListAuditEvents", testListAuditEvents},
		{"ListBlockedNumbersAndLiftBlock", testListBlocked},
		{"OperatorEvents", testOperatorEvents},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t)) })
	}
}

// RunNodes runs the cases where nodes race against several stores on one
// database: open returns n stores sharing a new, empty database (the
// nodes), and arranges their closing with t.Cleanup.
func RunNodes(t *testing.T, open func(t *testing.T, n int) []enroll.Store) {
	tests := []struct {
		name string
		f    func(t *testing.T, nodes []enroll.Store)
	}{
		{"ConcurrentCompareAndSet", testConcurrentCAS},
		{"ConcurrentLimitedCounters", testConcurrentAddCounters},
		{"ConcurrentTokenUse", testConcurrentTokenUse},
		{"ConcurrentOutboxClaims", testConcurrentClaims},
		{"ConcurrentAppPasswords", testConcurrentAppPasswords},
		{"ConcurrentRecovery", testConcurrentRecovery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open(t, 2)) })
	}
}

// oneNode runs a case of RunNodes with one store.
func oneNode(f func(*testing.T, []enroll.Store)) func(*testing.T, enroll.Store) {
	return func(t *testing.T, st enroll.Store) { f(t, []enroll.Store{st}) }
}

// NewEnrollment returns a pending enrollment (version 1) created at T0,
// for tests.
func NewEnrollment(user, phone string) enroll.Enrollment {
	return enroll.Enrollment{
		ID: enroll.NewID(), UserID: user, Phone: phone, Country: "JP", ClientIP: "192.0.2.7",
		State: enroll.StatePending, Version: 1,
		CreatedAt: T0, UpdatedAt: T0, ExpiresAt: T0.Add(15 * time.Minute),
	}
}

func event(e enroll.Enrollment, action string, from, to enroll.State) enroll.AuditEvent {
	return enroll.AuditEvent{
		ID: enroll.NewID(), EnrollmentID: e.ID, At: e.UpdatedAt, Actor: enroll.ActorAPIKey("crm"),
		Action: action, From: from, To: to, RequestID: "req-1", Attempt: e.Attempts,
	}
}

func mustCreate(t *testing.T, st enroll.Store, e enroll.Enrollment) {
	t.Helper()
	if err := st.CreateEnrollment(t.Context(), e, []enroll.AuditEvent{event(e, enroll.ActionCreate, 0, e.State)}); err != nil {
		t.Fatalf("CreateEnrollment: %v", err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func testEnrollment(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	e := NewEnrollment("user-1", "+81312345678")
	e.Outcome, e.Cause, e.KeySource, e.Node = enroll.OutcomeBusy, "cause", "rfc4733", "node-a"
	e.VerifiedAt, e.CompletedAt = T0.Add(time.Second), T0.Add(2*time.Second)
	mustCreate(t, st, e)
	got, err := st.GetEnrollment(ctx, e.ID)
	must(t, "GetEnrollment", err)
	if got != e {
		t.Fatalf("GetEnrollment:\n got %+v\nwant %+v", got, e)
	}
	wantErr(t, "CreateEnrollment again", st.CreateEnrollment(ctx, e, nil), enroll.ErrConflict)
	_, err = st.GetEnrollment(ctx, "no-such-id")
	wantErr(t, "GetEnrollment unknown", err, enroll.ErrNotFound)

	// A failed create stores nothing, its audit events neither.
	e2 := NewEnrollment("user-2", "+81312345679")
	bad := event(e2, enroll.ActionCreate, 0, enroll.StatePending)
	bad.ID = ""
	if err := st.CreateEnrollment(ctx, e2, []enroll.AuditEvent{bad}); err == nil {
		t.Fatal("CreateEnrollment with an invalid audit event succeeded")
	}
	_, err = st.GetEnrollment(ctx, e2.ID)
	wantErr(t, "GetEnrollment after a failed create", err, enroll.ErrNotFound)
}

func testCompareAndSet(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	e := NewEnrollment("user-1", "+81312345678")
	mustCreate(t, st, e)

	next := e
	next.State, next.Version, next.Attempts, next.UpdatedAt = enroll.StateCalling, 2, 1, T0.Add(time.Second)
	must(t, "UpdateEnrollment v2", st.UpdateEnrollment(ctx, next, []enroll.AuditEvent{event(next, enroll.ActionCallStart, e.State, next.State)}, nil))
	got, err := st.GetEnrollment(ctx, e.ID)
	must(t, "GetEnrollment", err)
	if got != next {
		t.Fatalf("after update:\n got %+v\nwant %+v", got, next)
	}

	// The same version again: the stored one is 2 now, not 1.
	stale := next
	stale.State = enroll.StateExpired
	msg := enroll.OutboxMessage{Event: "x", EnrollmentID: e.ID, Payload: []byte("{}"), CreatedAt: T0, NextAttemptAt: T0}
	err = st.UpdateEnrollment(ctx, stale, []enroll.AuditEvent{event(stale, enroll.ActionExpire, 0, 0)}, []enroll.OutboxMessage{msg})
	wantErr(t, "UpdateEnrollment stale", err, enroll.ErrConflict)
	got, _ = st.GetEnrollment(ctx, e.ID)
	if got != next {
		t.Fatalf("a lost compare-and-set changed the enrollment: %+v", got)
	}
	evs, err := st.ListAudit(ctx, e.ID)
	must(t, "ListAudit", err)
	if len(evs) != 2 {
		t.Fatalf("a lost compare-and-set appended audit events: %d events, want 2", len(evs))
	}
	if ms, _ := st.ClaimOutbox(ctx, T0.Add(time.Hour), time.Minute, 10); len(ms) != 0 {
		t.Fatalf("a lost compare-and-set queued outbox messages: %v", ms)
	}

	// A version from the future conflicts too.
	future := next
	future.Version = 5
	wantErr(t, "UpdateEnrollment future", st.UpdateEnrollment(ctx, future, nil, nil), enroll.ErrConflict)

	unknown := NewEnrollment("u", "+81312345670")
	unknown.Version = 2
	wantErr(t, "UpdateEnrollment unknown", st.UpdateEnrollment(ctx, unknown, nil, nil), enroll.ErrNotFound)
}

// Of 50 concurrent compare-and-sets from one version, spread over the
// nodes, exactly one wins.
func testConcurrentCAS(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	st := nodes[0]
	e := NewEnrollment("user-1", "+81312345678")
	mustCreate(t, st, e)
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		st := nodes[i%len(nodes)]
		wg.Go(func() {
			next := e
			next.State, next.Version, next.Attempts, next.Node = enroll.StateCalling, 2, 1, fmt.Sprint("node-", i)
			errs[i] = st.UpdateEnrollment(ctx, next, []enroll.AuditEvent{event(next, enroll.ActionCallStart, e.State, next.State)}, nil)
		})
	}
	wg.Wait()
	won := -1
	for i, err := range errs {
		switch {
		case err == nil:
			if won >= 0 {
				t.Fatalf("goroutines %d and %d both won the compare-and-set", won, i)
			}
			won = i
		case !errors.Is(err, enroll.ErrConflict):
			t.Fatalf("goroutine %d: %v, want ErrConflict", i, err)
		}
	}
	if won < 0 {
		t.Fatal("no goroutine won the compare-and-set")
	}
	got, _ := st.GetEnrollment(ctx, e.ID)
	if got.Node != fmt.Sprint("node-", won) || got.Version != 2 {
		t.Fatalf("stored %+v, want the winner node-%d's version 2", got, won)
	}
	evs, _ := st.ListAudit(ctx, e.ID)
	if len(evs) != 2 {
		t.Fatalf("%d audit events, want 2 (create and the winner's)", len(evs))
	}
}

func testAudit(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	e := NewEnrollment("user-1", "+81312345678")
	mustCreate(t, st, e)
	ev := enroll.AuditEvent{
		ID: enroll.NewID(), EnrollmentID: e.ID, At: T0.Add(time.Minute), Actor: enroll.ActorSystem,
		Action: enroll.ActionCallEnd, From: enroll.StateCalling, To: enroll.StateFailed,
		Outcome: enroll.OutcomeFraudReported, Cause: "c", KeySource: "inband", Keys: "0#", RequestID: "r", Attempt: 2,
		Node: "node-a", AnsweredAt: T0.Add(40 * time.Second), KeyAt: T0.Add(50 * time.Second),
	}
	ev2 := ev
	ev2.ID, ev2.Action, ev2.At = enroll.NewID(), enroll.ActionBlock, T0 // earlier time, appended later
	must(t, "AppendAudit", st.AppendAudit(ctx, ev, ev2))
	evs, err := st.ListAudit(ctx, e.ID)
	must(t, "ListAudit", err)
	if len(evs) != 3 || evs[1] != ev || evs[2] != ev2 || evs[0].Action != enroll.ActionCreate {
		t.Fatalf("ListAudit = %+v, want create, %+v, %+v in append order", evs, ev, ev2)
	}
	evs, err = st.ListAudit(ctx, "no-such-id")
	if err != nil || len(evs) != 0 {
		t.Fatalf("ListAudit unknown = %v, %v; want empty, nil", evs, err)
	}
	orphan := ev
	orphan.ID, orphan.EnrollmentID = enroll.NewID(), "no-such-id"
	wantErr(t, "AppendAudit for an unknown enrollment", st.AppendAudit(ctx, orphan), enroll.ErrNotFound)
	dup := ev
	wantErr(t, "AppendAudit with a used ID", st.AppendAudit(ctx, dup), enroll.ErrConflict)
}

func testRecoverCalling(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	calling := func(node string) enroll.Enrollment {
		e := NewEnrollment("user-"+node, "+8131234567"+fmt.Sprint(len(node)))
		mustCreate(t, st, e)
		e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, node
		must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, e, nil, nil))
		return e
	}
	a, b := calling("a"), calling("bb")
	pending := NewEnrollment("user-p", "+81312345600")
	mustCreate(t, st, pending)

	now := T0.Add(time.Hour)
	got, err := st.RecoverCalling(ctx, "a", now)
	must(t, "RecoverCalling a", err)
	want, wantEv, _ := enroll.RecoveredCall(a, now)
	if len(got) != 1 || got[0] != want {
		t.Fatalf("RecoverCalling(a) = %+v, want [%+v]", got, want)
	}
	stored, _ := st.GetEnrollment(ctx, a.ID)
	if stored != want {
		t.Fatalf("stored %+v, want %+v", stored, want)
	}
	evs, _ := st.ListAudit(ctx, a.ID)
	last := evs[len(evs)-1]
	if last.Action != enroll.ActionRecover || last.To != enroll.StateFailed || last.Cause != enroll.CauseInterrupted ||
		last.Actor != enroll.ActorSystem || last.At != wantEv.At {
		t.Fatalf("recovery audit event %+v", last)
	}
	ms, err := st.ClaimOutbox(ctx, now, time.Minute, 10)
	must(t, "ClaimOutbox", err)
	if len(ms) != 1 || ms[0].Event != enroll.EventFailed || ms[0].EnrollmentID != a.ID || !bytes.Contains(ms[0].Payload, []byte(enroll.CauseInterrupted)) {
		t.Fatalf("outbox after recovery: %+v", ms)
	}
	if s, _ := st.GetEnrollment(ctx, b.ID); s.State != enroll.StateCalling {
		t.Fatalf("another node's call was recovered: %+v", s)
	}
	got, err = st.RecoverCalling(ctx, "", now)
	must(t, "RecoverCalling all", err)
	if len(got) != 1 || got[0].ID != b.ID {
		t.Fatalf("RecoverCalling(\"\") = %+v, want only %s", got, b.ID)
	}
	if s, _ := st.GetEnrollment(ctx, pending.ID); s != pending {
		t.Fatalf("a pending enrollment was touched: %+v", s)
	}
	if got, err := st.RecoverCalling(ctx, "", now); err != nil || len(got) != 0 {
		t.Fatalf("RecoverCalling again = %v, %v; want none", got, err)
	}
}

func testCallingEnrollments(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	calling := func(user, node string, at time.Duration) enroll.Enrollment {
		e := NewEnrollment(user, "+81312345678")
		e.CreatedAt = T0.Add(at)
		mustCreate(t, st, e)
		e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, node
		must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, e, nil, nil))
		return e
	}
	a2 := calling("u2", "a", 2*time.Second)
	a1 := calling("u1", "a", time.Second)
	calling("u3", "b", 0)
	unnamed := calling("u4", "", 0)
	mustCreate(t, st, NewEnrollment("u5", "+81312345678")) // pending
	got, err := st.CallingEnrollments(ctx, "a")
	must(t, "CallingEnrollments a", err)
	if len(got) != 2 || got[0] != a1 || got[1] != a2 {
		t.Fatalf("CallingEnrollments(a) = %+v, want [%+v %+v] (oldest first)", got, a1, a2)
	}
	got, err = st.CallingEnrollments(ctx, "")
	must(t, "CallingEnrollments \"\"", err)
	if len(got) != 1 || got[0] != unnamed {
		t.Fatalf("CallingEnrollments(\"\") = %+v, want only the unnamed node's %s", got, unnamed.ID)
	}
	ended := a1
	ended.State, ended.Version = enroll.StateFailed, 3
	must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, ended, nil, nil))
	if got, err := st.CallingEnrollments(ctx, "a"); err != nil || len(got) != 1 || got[0].ID != a2.ID {
		t.Fatalf("CallingEnrollments(a) after one ended = %+v, %v", got, err)
	}
	if got, err := st.CallingEnrollments(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("CallingEnrollments(nobody) = %+v, %v; want none", got, err)
	}
}

func testAppPasswords(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	mk := func(user string, i int) enroll.AppPassword {
		return enroll.AppPassword{ID: enroll.NewID(), UserID: user, Name: fmt.Sprint("pw", i),
			Hash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", CreatedAt: T0.Add(time.Duration(i) * time.Second)}
	}
	var ps []enroll.AppPassword
	for i := range 3 {
		p := mk("u1", i)
		must(t, "CreateAppPassword", st.CreateAppPassword(ctx, p, 3))
		ps = append(ps, p)
	}
	wantErr(t, "CreateAppPassword over the cap", st.CreateAppPassword(ctx, mk("u1", 9), 3), enroll.ErrLimit)
	must(t, "another user's", st.CreateAppPassword(ctx, mk("u2", 0), 3))
	wantErr(t, "CreateAppPassword same ID", st.CreateAppPassword(ctx, ps[0], 10), enroll.ErrConflict)
	if n, err := st.CountAppPasswords(ctx, "u1"); err != nil || n != 3 {
		t.Fatalf("CountAppPasswords = %d, %v; want 3", n, err)
	}
	wantErr(t, "RevokeAppPassword by another user", st.RevokeAppPassword(ctx, "u2", ps[1].ID, T0), enroll.ErrNotFound)
	must(t, "RevokeAppPassword", st.RevokeAppPassword(ctx, "u1", ps[1].ID, T0.Add(time.Hour)))
	must(t, "RevokeAppPassword again", st.RevokeAppPassword(ctx, "u1", ps[1].ID, T0.Add(2*time.Hour)))
	wantErr(t, "RevokeAppPassword unknown", st.RevokeAppPassword(ctx, "u1", "nope", T0), enroll.ErrNotFound)
	if n, _ := st.CountAppPasswords(ctx, "u1"); n != 2 {
		t.Fatalf("CountAppPasswords after revoke = %d, want 2", n)
	}
	must(t, "CreateAppPassword after revoke", st.CreateAppPassword(ctx, mk("u1", 5), 3))
	must(t, "TouchAppPassword", st.TouchAppPassword(ctx, ps[0].ID, T0.Add(3*time.Hour)))
	wantErr(t, "TouchAppPassword unknown", st.TouchAppPassword(ctx, "nope", T0), enroll.ErrNotFound)
	list, err := st.ListAppPasswords(ctx, "u1")
	must(t, "ListAppPasswords", err)
	if len(list) != 4 {
		t.Fatalf("ListAppPasswords: %d, want 4", len(list))
	}
	ps[0].LastUsedAt = T0.Add(3 * time.Hour)
	ps[1].RevokedAt = T0.Add(time.Hour)
	for i := range 3 {
		if list[i] != ps[i] {
			t.Fatalf("ListAppPasswords[%d] = %+v, want %+v", i, list[i], ps[i])
		}
	}
	if list, _ := st.ListAppPasswords(ctx, "nobody"); len(list) != 0 {
		t.Fatalf("ListAppPasswords(nobody) = %v", list)
	}
}

func testAPIKeys(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	k := enroll.APIKey{Name: "crm", Hash: "sha256:aa", Scopes: enroll.ScopeEnroll | enroll.ScopeCheck, CreatedAt: T0}
	must(t, "CreateAPIKey", st.CreateAPIKey(ctx, k))
	wantErr(t, "CreateAPIKey same name", st.CreateAPIKey(ctx, enroll.APIKey{Name: "crm", Hash: "sha256:bb", Scopes: enroll.ScopeAdmin, CreatedAt: T0}), enroll.ErrConflict)
	wantErr(t, "CreateAPIKey same hash", st.CreateAPIKey(ctx, enroll.APIKey{Name: "other", Hash: "sha256:aa", Scopes: enroll.ScopeAdmin, CreatedAt: T0}), enroll.ErrConflict)
	wantErr(t, "CreateAPIKey no scope", st.CreateAPIKey(ctx, enroll.APIKey{Name: "none", Hash: "sha256:dd", CreatedAt: T0}), enroll.ErrInvalidInput)
	must(t, "CreateAPIKey b", st.CreateAPIKey(ctx, enroll.APIKey{Name: "billing", Hash: "sha256:cc", Scopes: enroll.ScopeAdmin, CreatedAt: T0}))
	got, err := st.APIKeyByHash(ctx, "sha256:aa")
	if err != nil || got != k {
		t.Fatalf("APIKeyByHash = %+v, %v; want %+v", got, err, k)
	}
	_, err = st.APIKeyByHash(ctx, "sha256:zz")
	wantErr(t, "APIKeyByHash unknown", err, enroll.ErrNotFound)
	must(t, "RevokeAPIKey", st.RevokeAPIKey(ctx, "crm", T0.Add(time.Hour)))
	must(t, "RevokeAPIKey again", st.RevokeAPIKey(ctx, "crm", T0.Add(2*time.Hour)))
	wantErr(t, "RevokeAPIKey unknown", st.RevokeAPIKey(ctx, "nope", T0), enroll.ErrNotFound)
	list, err := st.ListAPIKeys(ctx)
	must(t, "ListAPIKeys", err)
	if len(list) != 2 || list[0].Name != "billing" || list[1].Name != "crm" || !list[1].RevokedAt.Equal(T0.Add(time.Hour)) ||
		list[0].Scopes != enroll.ScopeAdmin || list[1].Scopes != k.Scopes {
		t.Fatalf("ListAPIKeys = %+v", list)
	}
}

func testBlocked(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	b := enroll.BlockedNumber{Phone: "+81312345678", Reason: "fraud-reported", EnrollmentID: "e1", At: T0}
	_, err := st.BlockedNumber(ctx, b.Phone)
	wantErr(t, "BlockedNumber before", err, enroll.ErrNotFound)
	must(t, "BlockNumber", st.BlockNumber(ctx, b))
	must(t, "BlockNumber again", st.BlockNumber(ctx, enroll.BlockedNumber{Phone: b.Phone, Reason: "other", At: T0.Add(time.Hour)}))
	got, err := st.BlockedNumber(ctx, b.Phone)
	if err != nil || got != b {
		t.Fatalf("BlockedNumber = %+v, %v; want the first block %+v", got, err, b)
	}
	must(t, "UnblockNumber", st.UnblockNumber(ctx, b.Phone))
	wantErr(t, "UnblockNumber again", st.UnblockNumber(ctx, b.Phone), enroll.ErrNotFound)
	_, err = st.BlockedNumber(ctx, b.Phone)
	wantErr(t, "BlockedNumber after unblock", err, enroll.ErrNotFound)
}

func testCounters(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	w1, w2 := T0.Truncate(time.Hour), T0.Truncate(time.Hour).Add(time.Hour)
	if n, err := st.AddCounter(ctx, "calls:number:+81", w1, 1); err != nil || n != 1 {
		t.Fatalf("AddCounter = %d, %v; want 1", n, err)
	}
	if n, _ := st.AddCounter(ctx, "calls:number:+81", w1, 2); n != 3 {
		t.Fatalf("AddCounter +2 = %d, want 3", n)
	}
	if n, _ := st.AddCounter(ctx, "calls:number:+81", w1, -1); n != 2 {
		t.Fatalf("AddCounter -1 = %d, want 2", n)
	}
	if n, _ := st.AddCounter(ctx, "calls:number:+81", w2, 1); n != 1 {
		t.Fatalf("AddCounter next window = %d, want 1", n)
	}
	if n, _ := st.AddCounter(ctx, "calls:user:u", w1, 1); n != 1 {
		t.Fatalf("AddCounter other bucket = %d, want 1", n)
	}

	const n = 40
	seen := make([]int64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			v, err := st.AddCounter(ctx, "calls:global:all", w1, 1)
			if err != nil {
				t.Errorf("AddCounter: %v", err)
			}
			seen[i] = v
		})
	}
	wg.Wait()
	got := map[int64]bool{}
	for _, v := range seen {
		if v < 1 || v > n || got[v] {
			t.Fatalf("concurrent AddCounter values %v: want each of 1..%d once", seen, n)
		}
		got[v] = true
	}

	must(t, "PruneCounters", st.PruneCounters(ctx, w2))
	if n, _ := st.AddCounter(ctx, "calls:number:+81", w1, 1); n != 1 {
		t.Fatalf("AddCounter after prune = %d, want 1 (pruned)", n)
	}
	if n, _ := st.AddCounter(ctx, "calls:number:+81", w2, 1); n != 2 {
		t.Fatalf("AddCounter on a kept window = %d, want 2", n)
	}
}

// AddCounters changes several counters together, or none when one
// would pass its Max.
func testAddCounters(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	w := T0.Truncate(time.Minute)
	take := func(maxA, maxB int64) ([]int64, bool) {
		t.Helper()
		counts, ok, err := st.AddCounters(ctx, []enroll.CounterChange{
			{Bucket: "a", Window: w, Delta: 1, Max: maxA},
			{Bucket: "b", Window: w, Delta: 1, Max: maxB},
		})
		must(t, "AddCounters", err)
		return counts, ok
	}
	if counts, ok := take(2, 0); !ok || !slices.Equal(counts, []int64{1, 1}) {
		t.Fatalf("first take = %v, %v; want [1 1], true", counts, ok)
	}
	if counts, ok := take(2, 1); ok || !slices.Equal(counts, []int64{2, 2}) {
		t.Fatalf("take over b's max = %v, %v; want [2 2], false", counts, ok)
	}
	if counts, ok := take(1, 0); ok || !slices.Equal(counts, []int64{2}) {
		t.Fatalf("take over a's max = %v, %v; want [2] (b not tried), false", counts, ok)
	}
	// The refused takes changed nothing.
	if n, _ := st.AddCounter(ctx, "a", w, 0); n != 1 {
		t.Fatalf("a = %d after refused takes, want 1", n)
	}
	if n, _ := st.AddCounter(ctx, "b", w, 0); n != 1 {
		t.Fatalf("b = %d after refused takes, want 1", n)
	}
	// Giving back: negative deltas, no max.
	counts, ok, err := st.AddCounters(ctx, []enroll.CounterChange{{Bucket: "a", Window: w, Delta: -1}, {Bucket: "b", Window: w, Delta: -1}})
	if err != nil || !ok || !slices.Equal(counts, []int64{0, 0}) {
		t.Fatalf("give back = %v, %v, %v", counts, ok, err)
	}
	if counts, ok, err := st.AddCounters(ctx, nil); err != nil || !ok || len(counts) != 0 {
		t.Fatalf("AddCounters(nil) = %v, %v, %v", counts, ok, err)
	}
	// One counter twice: each change sees the ones before it.
	twice := func(max int64) ([]int64, bool) {
		t.Helper()
		counts, ok, err := st.AddCounters(ctx, []enroll.CounterChange{
			{Bucket: "a", Window: w, Delta: 1},
			{Bucket: "b", Window: w, Delta: 5},
			{Bucket: "a", Window: w, Delta: 1, Max: max},
		})
		must(t, "AddCounters", err)
		return counts, ok
	}
	if counts, ok := twice(1); ok || !slices.Equal(counts, []int64{1, 5, 2}) {
		t.Fatalf("one counter twice over its max = %v, %v; want [1 5 2], false", counts, ok)
	}
	if counts, ok := twice(2); !ok || !slices.Equal(counts, []int64{1, 5, 2}) {
		t.Fatalf("one counter twice = %v, %v; want [1 5 2], true", counts, ok)
	}
}

// Of many concurrent takes from a counter limited to 10, spread over the
// nodes, exactly 10 are taken: the check and the increment are one step.
// Some take the two counters in the other order, which must not deadlock
// (or the store must resolve it).
func testConcurrentAddCounters(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	w := T0.Truncate(time.Minute)
	const n, max = 30, 10
	var wg sync.WaitGroup
	var mu sync.Mutex
	taken := 0
	for i := range n {
		st := nodes[i%len(nodes)]
		changes := []enroll.CounterChange{
			{Bucket: "global", Window: w, Delta: 1, Max: 1000},
			{Bucket: "limited", Window: w, Delta: 1, Max: max},
		}
		if i%3 == 0 {
			changes[0], changes[1] = changes[1], changes[0]
		}
		wg.Go(func() {
			_, ok, err := st.AddCounters(ctx, changes)
			if err != nil {
				t.Errorf("AddCounters: %v", err)
			}
			if ok {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if taken != max {
		t.Fatalf("%d of %d concurrent takes succeeded, want %d", taken, n, max)
	}
	if g, _ := nodes[0].AddCounter(ctx, "global", w, 0); g != max {
		t.Fatalf("global = %d, want %d (refused takes leave it alone)", g, max)
	}
}

func testOutbox(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	id1, err := st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: "a", EnrollmentID: "e1", Payload: []byte(`{"a":1}`), CreatedAt: T0, NextAttemptAt: T0})
	must(t, "EnqueueOutbox", err)
	id2, err := st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: "b", Payload: []byte(`{"b":2}`), CreatedAt: T0, NextAttemptAt: T0.Add(time.Minute)})
	must(t, "EnqueueOutbox", err)
	if id1 == id2 {
		t.Fatalf("two messages with ID %d", id1)
	}
	ms, err := st.ClaimOutbox(ctx, T0, 30*time.Second, 10)
	must(t, "ClaimOutbox", err)
	if len(ms) != 1 || ms[0].ID != id1 || ms[0].Event != "a" || string(ms[0].Payload) != `{"a":1}` ||
		ms[0].EnrollmentID != "e1" || !ms[0].CreatedAt.Equal(T0) || !ms[0].NextAttemptAt.Equal(T0.Add(30*time.Second)) {
		t.Fatalf("ClaimOutbox = %+v", ms)
	}
	if ms, _ := st.ClaimOutbox(ctx, T0.Add(10*time.Second), 30*time.Second, 10); len(ms) != 0 {
		t.Fatalf("a leased message was claimed again: %+v", ms)
	}
	ms, _ = st.ClaimOutbox(ctx, T0.Add(time.Minute), 30*time.Second, 10)
	if len(ms) != 2 || ms[0].ID != id1 || ms[1].ID != id2 {
		t.Fatalf("after the lease: %+v, want both, oldest first", ms)
	}
	must(t, "MarkOutboxDelivered", st.MarkOutboxDelivered(ctx, id1, T0.Add(time.Minute)))
	must(t, "MarkOutboxFailed", st.MarkOutboxFailed(ctx, id2, T0.Add(5*time.Minute), "HTTP 503"))
	wantErr(t, "MarkOutboxDelivered unknown", st.MarkOutboxDelivered(ctx, 999999, T0), enroll.ErrNotFound)
	wantErr(t, "MarkOutboxFailed unknown", st.MarkOutboxFailed(ctx, 999999, T0, ""), enroll.ErrNotFound)
	if ms, _ := st.ClaimOutbox(ctx, T0.Add(4*time.Minute), time.Minute, 10); len(ms) != 0 {
		t.Fatalf("claimed before the next attempt: %+v", ms)
	}
	ms, _ = st.ClaimOutbox(ctx, T0.Add(time.Hour), time.Minute, 10)
	if len(ms) != 1 || ms[0].ID != id2 || ms[0].Attempts != 1 || ms[0].LastError != "HTTP 503" {
		t.Fatalf("after a failed attempt: %+v", ms)
	}
	// limit
	for range 5 {
		_, err := st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: "c", Payload: []byte("{}"), CreatedAt: T0, NextAttemptAt: T0})
		must(t, "EnqueueOutbox", err)
	}
	if ms, _ := st.ClaimOutbox(ctx, T0.Add(2*time.Hour), time.Minute, 3); len(ms) != 3 {
		t.Fatalf("ClaimOutbox limit 3 gave %d", len(ms))
	}
}

// A message whose last attempt failed is dead: never claimed, listed and
// counted as dead with its attempts, error and time of death, until a
// redelivery makes it pending again (attempts 0, same ID). Redelivering
// an unknown, pending or delivered message is refused.
func testOutboxDead(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	enqueue := func(event string) int64 {
		id, err := st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: event, EnrollmentID: "e-" + event, Payload: []byte(`{}`), CreatedAt: T0, NextAttemptAt: T0})
		must(t, "EnqueueOutbox", err)
		return id
	}
	count := func(wantPending, wantDead int64) {
		t.Helper()
		p, d, err := st.CountOutbox(ctx)
		if err != nil || p != wantPending || d != wantDead {
			t.Fatalf("CountOutbox = %d pending, %d dead, %v; want %d, %d", p, d, err, wantPending, wantDead)
		}
	}
	list := func(state enroll.OutboxState) []int64 {
		t.Helper()
		ms, err := st.ListOutbox(ctx, state, 0)
		must(t, "ListOutbox "+state.String(), err)
		ids := []int64{}
		for _, m := range ms {
			if state != enroll.OutboxAny && m.State() != state {
				t.Errorf("ListOutbox(%s) gave a message in state %s: %+v", state, m.State(), m)
			}
			ids = append(ids, m.ID)
		}
		return ids
	}
	count(0, 0)
	dead, delivered, pending := enqueue("dead"), enqueue("delivered"), enqueue("pending")
	count(3, 0)
	ms, err := st.ClaimOutbox(ctx, T0, time.Minute, 10)
	if err != nil || len(ms) != 3 {
		t.Fatalf("ClaimOutbox = %+v, %v", ms, err)
	}
	must(t, "MarkOutboxFailed", st.MarkOutboxFailed(ctx, dead, T0.Add(time.Minute), "answered 503"))
	diedAt := T0.Add(2 * time.Minute)
	must(t, "MarkOutboxDead", st.MarkOutboxDead(ctx, dead, diedAt, "answered 500"))
	must(t, "MarkOutboxDelivered", st.MarkOutboxDelivered(ctx, delivered, T0.Add(time.Minute)))
	wantErr(t, "MarkOutboxDead unknown", st.MarkOutboxDead(ctx, 999999, T0, ""), enroll.ErrNotFound)
	count(1, 1)

	if ms, _ := st.ClaimOutbox(ctx, T0.AddDate(300, 0, 0), time.Minute, 10); len(ms) != 1 || ms[0].ID != pending {
		t.Fatalf("ClaimOutbox long after = %+v, want only the pending message", ms)
	}
	ms, err = st.ListOutbox(ctx, enroll.OutboxDead, 0)
	must(t, "ListOutbox dead", err)
	if len(ms) != 1 || ms[0].ID != dead || ms[0].State() != enroll.OutboxDead || ms[0].Attempts != 2 ||
		ms[0].LastError != "answered 500" || !ms[0].DeadAt.Equal(diedAt) || !ms[0].NextAttemptAt.IsZero() ||
		!ms[0].DeliveredAt.IsZero() || ms[0].Event != "dead" || ms[0].EnrollmentID != "e-dead" || string(ms[0].Payload) != "{}" {
		t.Fatalf("ListOutbox(dead) = %+v", ms)
	}
	if got := list(enroll.OutboxAny); !slices.Equal(got, []int64{dead, delivered, pending}) {
		t.Errorf("ListOutbox(all) = %v, want %v oldest first", got, []int64{dead, delivered, pending})
	}
	if got := list(enroll.OutboxDelivered); !slices.Equal(got, []int64{delivered}) {
		t.Errorf("ListOutbox(delivered) = %v", got)
	}
	if got := list(enroll.OutboxPending); !slices.Equal(got, []int64{pending}) {
		t.Errorf("ListOutbox(pending) = %v", got)
	}
	if ms, err := st.ListOutbox(ctx, enroll.OutboxAny, 2); err != nil || len(ms) != 2 || ms[0].ID != dead {
		t.Errorf("ListOutbox(all, limit 2) = %+v, %v", ms, err)
	}

	wantErr(t, "RedeliverOutbox unknown", st.RedeliverOutbox(ctx, 999999, T0), enroll.ErrNotFound)
	wantErr(t, "RedeliverOutbox pending", st.RedeliverOutbox(ctx, pending, T0), enroll.ErrOutboxNotDead)
	wantErr(t, "RedeliverOutbox delivered", st.RedeliverOutbox(ctx, delivered, T0), enroll.ErrOutboxNotDead)
	count(1, 1)
	again := T0.Add(time.Hour)
	must(t, "RedeliverOutbox", st.RedeliverOutbox(ctx, dead, again))
	count(2, 0)
	wantErr(t, "RedeliverOutbox twice", st.RedeliverOutbox(ctx, dead, again), enroll.ErrOutboxNotDead)
	if ms, _ := st.ClaimOutbox(ctx, again.Add(-time.Second), time.Minute, 10); len(ms) != 0 {
		t.Fatalf("a redelivered message was claimed before its time: %+v", ms)
	}
	ms, err = st.ClaimOutbox(ctx, again, time.Minute, 10)
	must(t, "ClaimOutbox", err)
	if len(ms) != 1 || ms[0].ID != dead || ms[0].Attempts != 0 || ms[0].State() != enroll.OutboxPending || ms[0].Event != "dead" {
		t.Fatalf("ClaimOutbox after redelivery = %+v, want the message again with 0 attempts", ms)
	}
	must(t, "MarkOutboxDelivered", st.MarkOutboxDelivered(ctx, dead, again))
	count(1, 0)
	if got := list(enroll.OutboxDelivered); !slices.Equal(got, []int64{dead, delivered}) {
		t.Errorf("ListOutbox(delivered) after redelivery = %v", got)
	}
}

func testTokens(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	exp := T0.Add(time.Hour)
	if used, err := st.TokenUsed(ctx, "tok-1"); err != nil || used {
		t.Fatalf("TokenUsed before use: %v, %v", used, err)
	}
	must(t, "UseToken", st.UseToken(ctx, "tok-1", exp, T0))
	if used, err := st.TokenUsed(ctx, "tok-1"); err != nil || !used {
		t.Fatalf("TokenUsed after use: %v, %v", used, err)
	}
	wantErr(t, "UseToken again", st.UseToken(ctx, "tok-1", exp, T0.Add(time.Second)), enroll.ErrTokenUsed)
	must(t, "PruneTokens", st.PruneTokens(ctx, exp.Add(time.Second)))
	if used, err := st.TokenUsed(ctx, "tok-1"); err != nil || used {
		t.Fatalf("TokenUsed after prune: %v, %v", used, err)
	}
	must(t, "UseToken after prune", st.UseToken(ctx, "tok-1", exp, T0))
}

func testCancelled(t *testing.T, st enroll.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	e := NewEnrollment("u", "+81312345678")
	if err := st.CreateEnrollment(ctx, e, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateEnrollment with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := st.GetEnrollment(ctx, e.ID); !errors.Is(err, context.Canceled) {
		t.Fatalf("GetEnrollment with a cancelled context: %v, want context.Canceled", err)
	}
}

// A lease is created by the first renewal and replaced by each later
// one, even with an earlier time; an empty name is refused.
func testNodeLeases(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	wantErr(t, "RenewNodeLease without a name", st.RenewNodeLease(ctx, "", T0), enroll.ErrInvalidInput)
	e := NewEnrollment("user-1", "+81312345678")
	mustCreate(t, st, e)
	e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, "a"
	must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, e, nil, nil))
	lost := func(now time.Time) []string {
		t.Helper()
		names, err := st.LostNodes(ctx, now)
		must(t, "LostNodes", err)
		return names
	}

	must(t, "RenewNodeLease", st.RenewNodeLease(ctx, "a", T0.Add(15*time.Second)))
	if got := lost(T0.Add(14 * time.Second)); len(got) != 0 {
		t.Fatalf("LostNodes before the lease ends = %v, want none", got)
	}
	if got := lost(T0.Add(15 * time.Second)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("LostNodes when the lease ends = %v, want [a] (at or before now)", got)
	}
	must(t, "RenewNodeLease later", st.RenewNodeLease(ctx, "a", T0.Add(time.Minute)))
	if got := lost(T0.Add(59 * time.Second)); len(got) != 0 {
		t.Fatalf("LostNodes after a renewal = %v, want none", got)
	}
	// A renewal replaces the lease even with an earlier time.
	must(t, "RenewNodeLease earlier", st.RenewNodeLease(ctx, "a", T0.Add(5*time.Second)))
	if got := lost(T0.Add(5 * time.Second)); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("LostNodes after a renewal to an earlier time = %v, want [a]", got)
	}
}

// LostNodes lists, by name, only the nodes whose lease lapsed and that
// still have calls in calling.
func testLostNodes(t *testing.T, st enroll.Store) {
	ctx := t.Context()
	calling := func(node string) enroll.Enrollment {
		e := NewEnrollment("user-"+node, "+81312345678")
		mustCreate(t, st, e)
		e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, node
		must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, e, nil, nil))
		return e
	}
	now := T0.Add(time.Hour)
	if got, err := st.LostNodes(ctx, now); err != nil || len(got) != 0 {
		t.Fatalf("LostNodes with no node = %v, %v; want none", got, err)
	}
	calling("c")
	calling("a")
	calling("a")
	ended := calling("b")
	calling("never-leased")
	calling("") // an unnamed node's call
	mustCreate(t, st, NewEnrollment("user-p", "+81312345679"))
	for _, n := range []string{"a", "b", "c"} {
		must(t, "RenewNodeLease "+n, st.RenewNodeLease(ctx, n, now.Add(-time.Second)))
	}
	must(t, "RenewNodeLease alive", st.RenewNodeLease(ctx, "alive", now.Add(time.Second)))
	calling("alive")
	must(t, "RenewNodeLease idle", st.RenewNodeLease(ctx, "idle", now.Add(-time.Minute))) // lapsed, no calls

	// b's only call ends: b is lapsed but has nothing left in calling.
	ended.State, ended.Version = enroll.StateFailed, 3
	must(t, "UpdateEnrollment", st.UpdateEnrollment(ctx, ended, nil, nil))

	got, err := st.LostNodes(ctx, now)
	must(t, "LostNodes", err)
	if !slices.Equal(got, []string{"a", "c"}) {
		t.Fatalf("LostNodes = %v, want [a c]", got)
	}
	// Once their calls are recovered, the lapsed nodes are no longer lost.
	for _, n := range got {
		if _, err := st.RecoverCalling(ctx, n, now); err != nil {
			t.Fatalf("RecoverCalling %s: %v", n, err)
		}
	}
	if got, err := st.LostNodes(ctx, now); err != nil || len(got) != 0 {
		t.Fatalf("LostNodes after recovery = %v, %v; want none", got, err)
	}
}

// Ping succeeds on an open store and fails with the context's error once
// the context ended.
func testPing(t *testing.T, st enroll.Store) {
	must(t, "Ping", st.Ping(t.Context()))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := st.Ping(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with a cancelled context: %v, want context.Canceled", err)
	}
}

// Of 20 concurrent uses of one token, spread over the nodes, exactly one
// succeeds and the others give ErrTokenUsed.
func testConcurrentTokenUse(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		st := nodes[i%len(nodes)]
		wg.Go(func() { errs[i] = st.UseToken(ctx, "tok-2", T0.Add(time.Hour), T0) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, enroll.ErrTokenUsed) {
			t.Fatalf("UseToken: %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d concurrent uses of one token succeeded, want 1", ok)
	}
}

// Deliverers on every node claiming the outbox at once never get one
// message both, and together get every message.
func testConcurrentClaims(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	const n = 100
	for i := range n {
		_, err := nodes[i%len(nodes)].EnqueueOutbox(ctx, enroll.OutboxMessage{Event: "e", Payload: []byte(fmt.Sprint(i)),
			CreatedAt: T0, NextAttemptAt: T0})
		must(t, "EnqueueOutbox", err)
	}
	var mu sync.Mutex
	claimedBy := map[int64]int{}
	var wg sync.WaitGroup
	for d := range 6 {
		st := nodes[d%len(nodes)]
		wg.Go(func() {
			for {
				ms, err := st.ClaimOutbox(ctx, T0, time.Hour, 7)
				if err != nil {
					t.Errorf("ClaimOutbox: %v", err)
					return
				}
				if len(ms) == 0 {
					return
				}
				mu.Lock()
				for _, m := range ms {
					if prev, ok := claimedBy[m.ID]; ok {
						t.Errorf("message %d claimed by deliverers %d and %d", m.ID, prev, d)
					}
					claimedBy[m.ID] = d
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(claimedBy) != n {
		t.Fatalf("%d messages claimed, want all %d", len(claimedBy), n)
	}
}

// Of 12 concurrent creations of one user's app passwords with a cap of 3,
// spread over the nodes, exactly 3 succeed and the others give ErrLimit.
func testConcurrentAppPasswords(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	const n, max = 12, 3
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		st := nodes[i%len(nodes)]
		wg.Go(func() {
			errs[i] = st.CreateAppPassword(ctx, enroll.AppPassword{ID: enroll.NewID(), UserID: "u1", Name: fmt.Sprint("pw", i),
				Hash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA", CreatedAt: T0}, max)
		})
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, enroll.ErrLimit) {
			t.Fatalf("CreateAppPassword: %v", err)
		}
	}
	if c, err := nodes[0].CountAppPasswords(ctx, "u1"); ok != max || err != nil || c != max {
		t.Fatalf("%d of %d concurrent creations succeeded, %d stored (%v); want %d", ok, n, c, err, max)
	}
}

// Every node recovering the same calls at once recovers each exactly once:
// one failed state, one recovery audit event, one webhook per call.
func testConcurrentRecovery(t *testing.T, nodes []enroll.Store) {
	ctx := t.Context()
	const calls = 5
	ids := map[string]bool{}
	for i := range calls {
		e := NewEnrollment(fmt.Sprint("user-", i), "+81312345678")
		mustCreate(t, nodes[0], e)
		e.State, e.Version, e.Attempts, e.Node = enroll.StateCalling, 2, 1, "lost"
		must(t, "UpdateEnrollment", nodes[0].UpdateEnrollment(ctx, e, nil, nil))
		ids[e.ID] = true
	}
	now := T0.Add(time.Hour)
	const racers = 6
	got := make([][]enroll.Enrollment, racers)
	var wg sync.WaitGroup
	for r := range racers {
		st := nodes[r%len(nodes)]
		wg.Go(func() {
			var err error
			if got[r], err = st.RecoverCalling(ctx, "lost", now); err != nil {
				t.Errorf("RecoverCalling: %v", err)
			}
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for _, es := range got {
		for _, e := range es {
			seen[e.ID]++
		}
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("enrollment %s recovered %d times, want once", id, seen[id])
		}
		evs, err := nodes[0].ListAudit(ctx, id)
		must(t, "ListAudit", err)
		recovered := 0
		for _, ev := range evs {
			if ev.Action == enroll.ActionRecover {
				recovered++
			}
		}
		if recovered != 1 {
			t.Errorf("enrollment %s has %d recovery audit events, want 1", id, recovered)
		}
	}
	if ms, err := nodes[0].ListOutbox(ctx, enroll.OutboxAny, 0); err != nil || len(ms) != calls {
		t.Errorf("%d webhooks queued (%v), want one per call: %d", len(ms), err, calls)
	}
}
