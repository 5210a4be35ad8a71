package enroll_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
)

// errDiskFull is what modernc's SQLite answers a write on a full disk.
var errDiskFull = errors.New("database or disk is full (13)")

// flakyStore refuses the writes of the Store it wraps as a full disk does
// while refusing is set. lostCommits makes the next n call ends be written
// and then reported as failed, as when a commit's answer is lost.
type flakyStore struct {
	enroll.Store
	refusing    atomic.Bool
	refused     atomic.Int64 // writes refused so far
	lostCommits atomic.Int64
}

func (f *flakyStore) refuses(what string) error {
	if !f.refusing.Load() {
		return nil
	}
	f.refused.Add(1)
	return fmt.Errorf("sqlite: %s: %w", what, errDiskFull)
}

func (f *flakyStore) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	if err := f.refuses("update enrollment " + e.ID); err != nil {
		return err
	}
	if err := f.Store.UpdateEnrollment(ctx, e, audit, outbox); err != nil {
		return err
	}
	if len(audit) > 0 && audit[0].Action == enroll.ActionCallEnd && f.lostCommits.Add(-1) >= 0 {
		return fmt.Errorf("sqlite: update enrollment %s: commit: %w", e.ID, errDiskFull)
	}
	return nil
}

func (f *flakyStore) BlockNumber(ctx context.Context, b enroll.BlockedNumber) error {
	if err := f.refuses("block number"); err != nil {
		return err
	}
	return f.Store.BlockNumber(ctx, b)
}

func (f *flakyStore) AppendAudit(ctx context.Context, evs ...enroll.AuditEvent) error {
	if err := f.refuses("append audit"); err != nil {
		return err
	}
	return f.Store.AppendAudit(ctx, evs...)
}

func (f *flakyStore) AddCounters(ctx context.Context, cs []enroll.CounterChange) ([]int64, bool, error) {
	if err := f.refuses("add counters"); err != nil {
		return nil, false, err
	}
	return f.Store.AddCounters(ctx, cs)
}

func (f *flakyStore) PruneCounters(ctx context.Context, before time.Time) error {
	if err := f.refuses("prune counters"); err != nil {
		return err
	}
	return f.Store.PruneCounters(ctx, before)
}

// eventually polls cond every 10 ms until it holds, failing after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s: %s", what)
		}
	}
}

// gatedCalls makes every call ring until release is called (any number
// of times); then a number ending in an even digit is busy, one ending in
// 5 answers and reports fraud (0#), and every other one answers and
// presses #.
func (e *env) gatedCalls() (release func()) {
	gate, open := context.WithCancel(context.Background())
	e.dialer.SetAnswer(func(ctx context.Context, _ int, e164 string) (enroll.Line, error) {
		select {
		case <-gate.Done():
		case <-ctx.Done():
			return nil, &enroll.OutcomeError{Outcome: enroll.OutcomeFailed, Cause: context.Cause(ctx)}
		}
		if (e164[len(e164)-1]-'0')%2 == 0 {
			return nil, &enroll.OutcomeError{Outcome: enroll.OutcomeBusy}
		}
		l := enrolltest.NewFakeLine()
		for _, p := range enroll.Prompts() {
			l.SetPromptLength(p, 10*time.Millisecond)
		}
		keys := "#"
		if strings.HasSuffix(e164, "5") {
			keys = "0#"
		}
		l.OnPlay(enroll.PromptGreeting, 1, 5*time.Millisecond, func() { l.Press(keys) })
		return l, nil
	})
	return open
}

// ringing is a Service on a flakyStore with five calls ringing (see
// gatedCalls), for +81312345671 to …75.
type ringing struct {
	*env
	flaky   *flakyStore
	s       *enroll.Service
	ens     []enroll.Enrollment
	release func() // the calls are answered
}

// fiveRinging starts a Service on a flakyStore over the env's store,
// with cfg changed by mod, and five calls that ring until release.
func fiveRinging(t *testing.T, mod func(*enroll.ServiceConfig)) *ringing {
	t.Helper()
	r := &ringing{env: newEnv(t)}
	r.flaky = &flakyStore{Store: r.st}
	r.cfg.Store = r.flaky
	r.release = r.gatedCalls()
	t.Cleanup(r.release)
	r.s = r.service(mod)
	for i := 1; i <= 5; i++ {
		en, err := r.s.Create(t.Context(), enroll.CreateRequest{UserID: fmt.Sprint("user-", i), Phone: fmt.Sprint("+8131234567", i), Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := r.s.StartCall(t.Context(), en.ID, origin); err != nil {
			t.Fatal(err)
		}
		r.ens = append(r.ens, en)
	}
	if err := r.dialer.WaitCalls(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	return r
}

// wantOnce checks that each enrollment's trail has exactly one call.end of
// its first call and that the outbox holds exactly one webhook each.
func wantOnce(t *testing.T, e *env, ens []enroll.Enrollment) {
	t.Helper()
	ctx := t.Context()
	ms, err := e.st.ClaimOutbox(ctx, e.clock.Now().Add(time.Hour), time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]int{}
	for _, m := range ms {
		hooks[m.EnrollmentID]++
	}
	for _, en := range ens {
		evs, err := e.st.ListAudit(ctx, en.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a, want := actions(evs), "create:unknown>pending call.start:pending>calling call.end:calling>"; !strings.HasPrefix(a, want) || strings.Count(a, "call.end") != 1 {
			t.Errorf("%s: audit %s, want one call.end", en.Phone, a)
		}
		if hooks[en.ID] != 1 {
			t.Errorf("%s: %d webhooks, want 1", en.Phone, hooks[en.ID])
		}
	}
	if len(ms) != len(ens) {
		t.Errorf("%d webhooks, want %d", len(ms), len(ens))
	}
}

// Five calls end while the store refuses every write: their ends wait in
// memory, the service reports it, the enrollments take no second call;
// when the store takes writes again each end is recorded exactly once,
// with no restart, and a failed one may be called again.
func TestStoreRefusesCallEnds(t *testing.T) {
	r := fiveRinging(t, func(*enroll.ServiceConfig) {})
	e, flaky, s, ens := r.env, r.flaky, r.s, r.ens
	ctx := t.Context()
	if err := s.WriteHealth(); err != nil {
		t.Fatalf("WriteHealth before any failure: %v", err)
	}
	flaky.refusing.Store(true)
	r.release()
	eventually(t, "five call ends pending", func() bool { return s.PendingResults() == 5 })
	err := s.WriteHealth()
	if !errors.Is(err, errDiskFull) || !strings.Contains(err.Error(), "5 call results wait") || strings.Contains(err.Error(), ens[0].ID) {
		t.Fatalf("WriteHealth = %v; want the 5 waiting and the store's answer, no enrollment ID", err)
	}
	for _, en := range ens {
		if got, err := s.Get(ctx, en.ID); err != nil || got.State != enroll.StateCalling {
			t.Fatalf("while pending: %+v, %v; want calling", got, err)
		}
		if _, err := s.StartCall(ctx, en.ID, origin); !errors.Is(err, enroll.ErrConflict) {
			t.Fatalf("second call while pending: %v, want ErrConflict", err)
		}
	}
	if ended, err := s.Sweep(ctx); err != nil || len(ended) != 0 {
		t.Fatalf("Sweep while pending = %v, %v; want none ended", ended, err)
	}
	// Tries go on with backoff meanwhile.
	before := flaky.refused.Load()
	eventually(t, "the service to try again", func() bool { return flaky.refused.Load() > before })

	flaky.refusing.Store(false)
	for _, en := range ens {
		want := map[byte]enroll.Outcome{'2': enroll.OutcomeBusy, '4': enroll.OutcomeBusy, '5': enroll.OutcomeFraudReported}[en.Phone[len(en.Phone)-1]]
		state := enroll.StateFailed
		if want == enroll.OutcomeUnknown {
			want, state = enroll.OutcomeVerified, enroll.StateVerified
		}
		if got := waitState(t, s, en.ID, state); got.Outcome != want {
			t.Errorf("%s: %+v, want %s", en.Phone, got, want)
		}
	}
	if b, err := e.st.BlockedNumber(ctx, ens[4].Phone); err != nil || b.EnrollmentID != ens[4].ID {
		t.Errorf("the fraud report's block: %+v, %v", b, err)
	}
	if err := s.WriteHealth(); err != nil || s.PendingResults() != 0 {
		t.Fatalf("after the store recovered: WriteHealth %v, %d pending", err, s.PendingResults())
	}
	wantOnce(t, e, ens)

	// A failed one takes its next call at once (busy again).
	if _, err := s.StartCall(ctx, ens[1].ID, origin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second call's end recorded", func() bool {
		got, err := s.Get(ctx, ens[1].ID)
		return err == nil && got.Attempts == 2 && got.State == enroll.StateFailed && got.Outcome == enroll.OutcomeBusy
	})
}

// A call's end whose commit succeeded but was reported as failed is not
// written twice: the retry sees its own audit event.
func TestLostCommitWrittenOnce(t *testing.T) {
	r := fiveRinging(t, func(*enroll.ServiceConfig) {})
	e, s, ens := r.env, r.s, r.ens
	r.flaky.lostCommits.Store(5)
	r.release()
	for _, en := range ens {
		eventually(t, "the end of "+en.Phone+" recorded", func() bool {
			got, err := e.st.GetEnrollment(t.Context(), en.ID)
			return err == nil && got.State != enroll.StateCalling
		})
	}
	eventually(t, "no end pending", func() bool { return s.PendingResults() == 0 })
	wantOnce(t, e, ens)
	if _, err := s.StartCall(t.Context(), ens[3].ID, origin); err != nil {
		t.Fatalf("next call after a lost commit: %v", err)
	}
}

// Stopping while the store still refuses: Close tries once more, logs
// each end it could not write, and the next start records it failed.
func TestCloseLogsUnwrittenEnds(t *testing.T) {
	// slog's handler serializes the writes; the buffer is read once
	// Close has stopped every goroutine of the Service.
	var log bytes.Buffer
	r := fiveRinging(t, func(c *enroll.ServiceConfig) { c.Logger = slog.New(slog.NewTextHandler(&log, nil)) })
	e, s, ens := r.env, r.s, r.ens
	r.flaky.refusing.Store(true)
	r.release()
	eventually(t, "the ends pending", func() bool { return s.PendingResults() == 5 })
	if err := s.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	l := log.String()
	for _, en := range ens {
		if !strings.Contains(l, "LOST") || !strings.Contains(l, "enrollment="+en.ID) {
			t.Fatalf("the log does not tell the lost end of %s:\n%s", en.ID, l)
		}
	}
	if !strings.Contains(l, "outcome=verified") || !strings.Contains(l, "outcome=busy") {
		t.Fatalf("the log does not tell the outcomes lost:\n%s", l)
	}
	next := e.service() // the next run, on the store that works again
	rec, err := next.Recover(t.Context())
	if err != nil || len(rec) != 5 || rec[0].Cause != enroll.CauseInterrupted {
		t.Fatalf("Recover = %+v, %v; want the five calls failed", rec, err)
	}
}

// The sweep fails this node's enrollments left in calling with no call
// here, once each, and leaves live calls and other nodes' alone.
func TestSweep(t *testing.T) {
	r := fiveRinging(t, func(c *enroll.ServiceConfig) { c.Node, c.SweepInterval = "n1", 20*time.Millisecond })
	e, s := r.env, r.s
	ctx := t.Context()
	// Left in calling: by this node (its call lost), and by another node.
	stuck := func(user, node string) enroll.Enrollment {
		en := create(t, s, user)
		en.State, en.Version, en.Attempts, en.Node = enroll.StateCalling, 2, 1, node
		if err := e.st.UpdateEnrollment(ctx, en, nil, nil); err != nil {
			t.Fatal(err)
		}
		return en
	}
	mine, theirs := stuck("user-lost", "n1"), stuck("user-other", "n2")

	got := waitState(t, s, mine.ID, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeFailed || got.Cause != enroll.CauseLost || !got.Retryable(enroll.DefaultMaxAttempts) {
		t.Fatalf("swept %+v", got)
	}
	// Sweeping again writes nothing more.
	for range 3 {
		if ended, err := s.Sweep(ctx); err != nil || len(ended) != 0 {
			t.Fatalf("Sweep again = %v, %v; want none", ended, err)
		}
	}
	evs, _ := e.st.ListAudit(ctx, mine.ID)
	if a := actions(evs); a != "create:unknown>pending recover:calling>failed" || evs[1].Cause != enroll.CauseLost || evs[1].Actor != enroll.ActorSystem {
		t.Fatalf("audit %s %+v", a, evs)
	}
	ms, _ := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
	if len(ms) != 1 || ms[0].EnrollmentID != mine.ID || ms[0].Event != enroll.EventFailed || !bytes.Contains(ms[0].Payload, []byte(enroll.CauseLost)) {
		t.Fatalf("outbox %+v", ms)
	}
	for _, en := range append(r.ens, theirs) {
		if got, _ := e.st.GetEnrollment(ctx, en.ID); got.State != enroll.StateCalling {
			t.Fatalf("the sweep ended a live call or another node's: %+v", got)
		}
	}
	// The live calls end as they would; the swept one may be called again.
	r.release()
	waitState(t, s, r.ens[0].ID, enroll.StateVerified)
	if _, err := s.StartCall(ctx, mine.ID, origin); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the swept enrollment's next call ended", func() bool {
		got, err := s.Get(ctx, mine.ID)
		return err == nil && got.Attempts == 2 && got.State == enroll.StateFailed && got.Outcome == enroll.OutcomeBusy
	})
}
