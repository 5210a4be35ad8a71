package enroll_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
)

// These tests run the Service against a real SQLite file and the fakes of
// enrolltest, in real time with short prompts and timeouts. They do not
// use testing/synctest: database/sql's connection pool hands connections
// between goroutines over channels made outside any bubble, which a bubble
// may not wait on durably. Time that matters to the service (expiry, limit
// windows, lost calls) comes from an injected clock instead.

// clock is a settable clock for ServiceConfig.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 4, 1, 9, 0, 30, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const (
	phone    = "+81312345678"
	sipPass  = "s3cr3t-sip-password"
	apiKey   = "dk_live_9f8e7d6c5b4a39281706"
	linkTok  = "lnk.eyJlIjoiZW5yIn0.c2lnbmF0dXJl"
	actorKey = "crm"
)

var origin = enroll.Origin{Actor: enroll.ActorAPIKey(actorKey), RequestID: "req-42"}

type env struct {
	t      *testing.T
	path   string
	st     *sqlite.Store
	dialer *enrolltest.FakeDialer
	clock  *clock
	cfg    enroll.ServiceConfig
}

func newEnv(t *testing.T) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "denwa.db")
	st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, path: path, st: st, dialer: enrolltest.NewFakeDialer(), clock: newClock()}
	e.cfg = enroll.ServiceConfig{
		Store:  st,
		Dialer: e.dialer,
		Dialogue: enroll.DialogueConfig{
			PostGreetingWait: 2 * time.Second, // generous: keys come at once; a loaded CI box may be slow
			InterKeyTimeout:  time.Second,
			HangupTimeout:    time.Second,
		},
		Now:          e.clock.Now,
		PollInterval: 20 * time.Millisecond,
		Secrets:      []string{sipPass, apiKey},
	}
	return e
}

// service starts a Service on the env's store (another node, when called
// again) and closes it at the end of the test. A named node recovers at
// once, as serve does, which takes its lease: it places no call without.
func (e *env) service(mod ...func(*enroll.ServiceConfig)) *enroll.Service {
	e.t.Helper()
	cfg := e.cfg
	for _, m := range mod {
		m(&cfg)
	}
	s, err := enroll.NewService(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { s.Close(context.Background()) })
	if cfg.Node != "" {
		if _, err := s.Recover(e.t.Context()); err != nil {
			e.t.Fatal(err)
		}
	}
	return s
}

// node is service with the node name set.
func (e *env) node(name string, mod ...func(*enroll.ServiceConfig)) *enroll.Service {
	e.t.Helper()
	return e.service(append([]func(*enroll.ServiceConfig){func(c *enroll.ServiceConfig) { c.Node = name }}, mod...)...)
}

// press answers every call with a line on which keys are pressed while the
// greeting plays.
func (e *env) press(src dtmf.Source, keys string) {
	e.dialer.AnswerWith(func(l *enrolltest.FakeLine) {
		for _, p := range enroll.Prompts() {
			l.SetPromptLength(p, 30*time.Millisecond)
		}
		l.OnPlay(enroll.PromptGreeting, 1, 10*time.Millisecond, func() { l.PressFrom(src, keys) })
	})
}

func create(t *testing.T, s *enroll.Service, user string) enroll.Enrollment {
	t.Helper()
	en, err := s.Create(t.Context(), enroll.CreateRequest{UserID: user, Phone: phone, Country: "JP", ClientIP: "198.51.100.4", Origin: origin})
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return en
}

// waitState waits for the enrollment to reach state, through a
// subscription.
func waitState(t *testing.T, s *enroll.Service, id string, want enroll.State) enroll.Enrollment {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	ch, stop, err := s.Subscribe(ctx, id)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	defer stop()
	var last enroll.Enrollment
	for {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("subscription closed; last %v, want %v", last.State, want)
			}
			last = e
			if e.State == want {
				return e
			}
		case <-ctx.Done():
			t.Fatalf("enrollment %s: state %v, want %v", id, last.State, want)
		}
	}
}

// callUntil creates an enrollment for user-1, starts its call and waits
// for state want; it returns the enrollment as created and as it then is.
func callUntil(t *testing.T, s *enroll.Service, want enroll.State) (created, got enroll.Enrollment) {
	t.Helper()
	created = create(t, s, "user-1")
	if _, err := s.StartCall(t.Context(), created.ID, origin); err != nil {
		t.Fatal(err)
	}
	return created, waitState(t, s, created.ID, want)
}

func actions(evs []enroll.AuditEvent) string {
	var b []string
	for _, ev := range evs {
		b = append(b, fmt.Sprintf("%s:%s>%s", ev.Action, ev.From, ev.To))
	}
	return strings.Join(b, " ")
}

func TestVerified(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceInband, "*#")
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-1")
	if en.State != enroll.StatePending || en.Version != 1 || en.Phone != phone || !en.ExpiresAt.Equal(e.clock.Now().Add(enroll.DefaultTTL)) {
		t.Fatalf("created %+v", en)
	}
	started, err := s.StartCall(ctx, en.ID, origin)
	if err != nil {
		t.Fatalf("StartCall: %v", err)
	}
	if started.State != enroll.StateCalling || started.Attempts != 1 {
		t.Fatalf("StartCall returned %+v", started)
	}
	got := waitState(t, s, en.ID, enroll.StateVerified)
	if got.Outcome != enroll.OutcomeVerified || got.KeySource != "inband" || got.VerifiedAt.IsZero() ||
		!got.ExpiresAt.Equal(got.VerifiedAt.Add(enroll.DefaultCompleteWindow)) {
		t.Fatalf("verified %+v", got)
	}
	if calls := e.dialer.Calls(); len(calls) != 1 || calls[0] != phone {
		t.Fatalf("dialled %v", calls)
	}
	done, err := s.Complete(ctx, en.ID, enroll.Origin{Actor: enroll.ActorUserLink})
	if err != nil || done.State != enroll.StateCompleted || done.CompletedAt.IsZero() {
		t.Fatalf("Complete = %+v, %v", done, err)
	}
	if _, err := s.Complete(ctx, en.ID, origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Fatalf("Complete again: %v, want ErrInvalidTransition", err)
	}
	evs, err := s.Audit(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := actions(evs), "create:unknown>pending call.start:pending>calling call.end:calling>verified complete:verified>completed"; got != want {
		t.Fatalf("audit trail\n got %s\nwant %s", got, want)
	}
	end := evs[2]
	if end.Outcome != enroll.OutcomeVerified || end.KeySource != "inband" || end.Keys != "*#" || end.Actor != enroll.ActorSystem || end.Attempt != 1 {
		t.Fatalf("call.end event %+v", end)
	}
	if evs[1].Actor != origin.Actor || evs[1].RequestID != origin.RequestID || evs[3].Actor != enroll.ActorUserLink {
		t.Fatalf("actors: %+v", evs)
	}
	ms, err := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
	if err != nil || len(ms) != 1 || ms[0].Event != enroll.EventVerified {
		t.Fatalf("outbox %+v, %v; want one %s", ms, err, enroll.EventVerified)
	}
	var p enroll.WebhookPayload
	if err := json.Unmarshal(ms[0].Payload, &p); err != nil || p.Enrollment.ID != en.ID || p.Enrollment.State != enroll.StateVerified ||
		p.Enrollment.Outcome != enroll.OutcomeVerified {
		t.Fatalf("webhook payload %s: %+v, %v", ms[0].Payload, p, err)
	}
}

func TestFraudReported(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceRFC4733, "0#")
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-1")
	other := create(t, s, "user-2") // same number, created before the report
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, s, en.ID, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeFraudReported || got.KeySource != "rfc4733" {
		t.Fatalf("after 0#: %+v", got)
	}
	b, err := e.st.BlockedNumber(ctx, phone)
	if err != nil || b.Reason != "fraud-reported" || b.EnrollmentID != en.ID {
		t.Fatalf("block %+v, %v", b, err)
	}
	if _, err := s.StartCall(ctx, en.ID, origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Fatalf("StartCall after 0#: %v, want ErrInvalidTransition", err)
	}
	if _, err := s.StartCall(ctx, other.ID, origin); !errors.Is(err, enroll.ErrBlocked) {
		t.Fatalf("StartCall for another enrollment of the number: %v, want ErrBlocked", err)
	}
	if _, err := s.Create(ctx, enroll.CreateRequest{UserID: "user-3", Phone: phone, Origin: origin}); !errors.Is(err, enroll.ErrBlocked) {
		t.Fatalf("Create for the blocked number: %v, want ErrBlocked", err)
	}
	if n := len(e.dialer.Calls()); n != 1 {
		t.Fatalf("%d calls placed, want 1", n)
	}
	evs, _ := s.Audit(ctx, en.ID)
	if got, want := actions(evs), "create:unknown>pending call.start:pending>calling call.end:calling>failed block:failed>failed"; got != want {
		t.Fatalf("audit trail\n got %s\nwant %s", got, want)
	}
	if evs[2].Outcome != enroll.OutcomeFraudReported || evs[2].Keys != "0#" || evs[3].Outcome != enroll.OutcomeFraudReported {
		t.Fatalf("fraud events %+v", evs[2:])
	}
	ms, _ := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
	if len(ms) != 1 || ms[0].Event != enroll.EventFraudReported {
		t.Fatalf("outbox %+v, want one %s", ms, enroll.EventFraudReported)
	}
}

func TestBusyThenRetry(t *testing.T) {
	e := newEnv(t)
	e.dialer.Fail(enroll.OutcomeBusy, nil)
	s := e.service(func(c *enroll.ServiceConfig) { c.MaxAttempts = 2; c.Limits.PerNumber = 10 })
	ctx := t.Context()
	en := create(t, s, "user-1")
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	got := waitState(t, s, en.ID, enroll.StateFailed)
	if got.Outcome != enroll.OutcomeBusy || got.Cause != "" || got.Attempts != 1 {
		t.Fatalf("after busy: %+v", got)
	}
	e.press(dtmf.SourceRFC4733, "#")
	again, err := s.StartCall(ctx, en.ID, origin)
	if err != nil || again.Attempts != 2 || again.Outcome != enroll.OutcomeUnknown {
		t.Fatalf("retry: %+v, %v", again, err)
	}
	waitState(t, s, en.ID, enroll.StateVerified)

	// A second enrollment that fails twice may not call a third time.
	e.dialer.Fail(enroll.OutcomeNoAnswer, nil)
	en2 := create(t, s, "user-2")
	for range 2 {
		if _, err := s.StartCall(ctx, en2.ID, origin); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, en2.ID, enroll.StateFailed)
	}
	if _, err := s.StartCall(ctx, en2.ID, origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Fatalf("third attempt: %v, want ErrInvalidTransition", err)
	}
	ms, _ := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
	if len(ms) != 4 {
		t.Fatalf("%d webhooks, want 4 (failed, verified, failed, failed)", len(ms))
	}
}

// hold makes every Dial ring until release is closed or the call is given
// up, then answer with a line that presses #.
func (e *env) hold() (release func()) {
	ch := make(chan struct{})
	e.dialer.SetAnswer(func(ctx context.Context, n int, _ string) (enroll.Line, error) {
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, &enroll.OutcomeError{Outcome: enroll.OutcomeFailed, Cause: context.Cause(ctx)}
		}
		l := enrolltest.NewFakeLine()
		for _, p := range enroll.Prompts() {
			l.SetPromptLength(p, 30*time.Millisecond)
		}
		l.OnPlay(enroll.PromptGreeting, 1, 5*time.Millisecond, func() { l.Press("#") })
		return l, nil
	})
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Many StartCalls at once, on one node and on two nodes sharing the
// store: exactly one call is placed.
func TestDoubleStart(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	nodes := []*enroll.Service{
		e.service(func(c *enroll.ServiceConfig) { c.Node = "a" }),
		e.service(func(c *enroll.ServiceConfig) { c.Node = "b" }),
	}
	en := create(t, nodes[0], "user-1")
	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = nodes[i%2].StartCall(context.Background(), en.ID, origin)
		})
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, enroll.ErrConflict):
			t.Errorf("StartCall %d: %v, want ErrConflict", i, err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d StartCalls succeeded, want 1", ok)
	}
	if err := e.dialer.WaitCalls(t.Context(), 1); err != nil {
		t.Fatal(err)
	}
	release()
	waitState(t, nodes[1], en.ID, enroll.StateVerified)
	if calls := e.dialer.Calls(); len(calls) != 1 {
		t.Fatalf("%d calls placed, want 1", len(calls))
	}
	// The losers gave their limit counts back: one call counted.
	if c, _ := e.st.AddCounter(t.Context(), "calls:number:"+phone, e.clock.Now().Truncate(time.Hour), 0); c != 1 {
		t.Fatalf("number counter %d, want 1", c)
	}
}

func TestLimits(t *testing.T) {
	e := newEnv(t)
	e.dialer.Fail(enroll.OutcomeNoAnswer, nil)
	s := e.service(func(c *enroll.ServiceConfig) {
		c.Limits = enroll.Limits{PerNumber: 2, PerUser: -1, PerIP: -1, GlobalPerMinute: -1}
		c.TTL = 2 * time.Hour
	})
	ctx := t.Context()
	for i := range 2 {
		en := create(t, s, fmt.Sprint("user-", i))
		if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
			t.Fatal(err)
		}
		waitState(t, s, en.ID, enroll.StateFailed)
	}
	en := create(t, s, "user-x")
	_, err := s.StartCall(ctx, en.ID, origin)
	var le *enroll.LimitError
	if !errors.As(err, &le) || !errors.Is(err, enroll.ErrLimit) || le.Limit != "number" || le.Max != 2 || le.RetryAfter <= 0 || le.RetryAfter > time.Hour {
		t.Fatalf("third call to the number: %v, want a number LimitError", err)
	}
	if got, _ := s.Get(ctx, en.ID); got.State != enroll.StatePending || got.Attempts != 0 {
		t.Fatalf("a refused call changed the enrollment: %+v", got)
	}
	// The next hour's window allows it again.
	e.clock.Advance(time.Hour)
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatalf("next hour: %v", err)
	}
	waitState(t, s, en.ID, enroll.StateFailed)

	// Limits live in the store: a new node (or a restarted one) on the
	// same database sees the counts.
	s2 := e.service(func(c *enroll.ServiceConfig) {
		c.Limits = enroll.Limits{PerNumber: -1, PerUser: 1, PerIP: -1, GlobalPerMinute: 1}
		c.TTL = 2 * time.Hour
	})
	en2 := create(t, s2, "user-x") // user-x already called this hour
	if _, err := s2.StartCall(ctx, en2.ID, origin); !errors.As(err, &le) || le.Limit != "user" {
		t.Fatalf("per-user limit across nodes: %v", err)
	}
	en3 := create(t, s2, "user-y")
	if _, err := s2.StartCall(ctx, en3.ID, origin); !errors.As(err, &le) || le.Limit != "global" {
		t.Fatalf("global limit across nodes: %v", err) // the call above, within the same minute
	}
	// Refused by the global limit, user-y's count was given back.
	if c, _ := e.st.AddCounter(ctx, "calls:user:user-y", e.clock.Now().Truncate(time.Hour), 0); c != 0 {
		t.Fatalf("user-y counter %d after a refused call, want 0", c)
	}
	e.clock.Advance(time.Minute)
	if _, err := s2.StartCall(ctx, en3.ID, origin); err != nil {
		t.Fatalf("next minute: %v", err)
	}
	waitState(t, s2, en3.ID, enroll.StateFailed)
}

func TestPerIPLimit(t *testing.T) {
	e := newEnv(t)
	e.dialer.Fail(enroll.OutcomeRejected, nil)
	s := e.service(func(c *enroll.ServiceConfig) { c.Limits = enroll.Limits{PerIP: 1} })
	ctx := t.Context()
	var le *enroll.LimitError
	for i := range 2 {
		en, err := s.Create(ctx, enroll.CreateRequest{UserID: fmt.Sprint("u", i), Phone: fmt.Sprint("+8131234560", i), ClientIP: "203.0.113.9", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.StartCall(ctx, en.ID, origin)
		if i == 0 && err != nil {
			t.Fatal(err)
		}
		if i == 1 && (!errors.As(err, &le) || le.Limit != "ip") {
			t.Fatalf("second call from the IP: %v", err)
		}
	}
}

// A node dies with a call in progress; the next run recovers it as failed
// and the dead run's late result does not overwrite that.
func TestRestartRecovery(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	s1 := e.service()
	ctx := t.Context()
	en := create(t, s1, "user-1")
	if _, err := s1.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	if err := e.dialer.WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}

	// The "restarted" process opens the file anew.
	st2, err := sqlite.Open(ctx, e.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	s2 := e.service(func(c *enroll.ServiceConfig) { c.Store = st2 })
	rec, err := s2.Recover(ctx)
	if err != nil || len(rec) != 1 || rec[0].ID != en.ID {
		t.Fatalf("Recover = %+v, %v", rec, err)
	}
	got, _ := s2.Get(ctx, en.ID)
	if got.State != enroll.StateFailed || got.Outcome != enroll.OutcomeFailed || got.Cause != enroll.CauseInterrupted {
		t.Fatalf("recovered %+v", got)
	}
	release() // the old run's call ends; its result must not land
	if err := s1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = s2.Get(ctx, en.ID)
	if got.State != enroll.StateFailed || got.Cause != enroll.CauseInterrupted {
		t.Fatalf("after the old run ended: %+v", got)
	}
	evs, _ := s2.Audit(ctx, en.ID)
	if a := actions(evs); a != "create:unknown>pending call.start:pending>calling recover:calling>failed" {
		t.Fatalf("audit %s", a)
	}
	// It may be called again.
	e.press(dtmf.SourceRFC4733, "#")
	if _, err := s2.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	waitState(t, s2, en.ID, enroll.StateVerified)
}

// A call left in calling by another node that died is failed once it is
// older than the call timeout and a minute.
func TestLostCall(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	// Leases that do not lapse as the clock jumps: this is the fallback
	// for calls no lease covers (TestNodeLost has the leases).
	a := e.node("a", func(c *enroll.ServiceConfig) { c.NodeLease = 24 * time.Hour })
	b := e.node("b", func(c *enroll.ServiceConfig) { c.NodeLease = 24 * time.Hour })
	ctx := t.Context()
	en := create(t, a, "user-1")
	if _, err := a.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(enroll.DefaultCallTimeout)
	if got, _ := b.Get(ctx, en.ID); got.State != enroll.StateCalling {
		t.Fatalf("within the timeout: %v", got.State)
	}
	if got, _ := a.Get(ctx, en.ID); got.State != enroll.StateCalling {
		t.Fatalf("on its own node: %v", got.State)
	}
	e.clock.Advance(2 * time.Minute)
	if got, _ := a.Get(ctx, en.ID); got.State != enroll.StateCalling {
		t.Fatalf("its own node took its live call as lost: %v", got.State)
	}
	if got, _ := b.Get(ctx, en.ID); got.State != enroll.StateFailed || got.Cause != enroll.CauseInterrupted {
		t.Fatalf("lost call seen from b: %+v", got)
	}
}

func TestCloseWaitsForCall(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-1")
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	if err := e.dialer.WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned %v with a call in progress", err)
	case <-time.After(100 * time.Millisecond):
	}
	en2 := create(t, e.service(), "user-2") // another node is still open
	if _, err := s.StartCall(ctx, en2.ID, origin); !errors.Is(err, enroll.ErrClosed) {
		t.Fatalf("StartCall while closing: %v, want ErrClosed", err)
	}
	release()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after the call ended")
	}
	got, _ := e.st.GetEnrollment(ctx, en.ID)
	if got.State != enroll.StateVerified {
		t.Fatalf("after Close: %+v, want verified (the call finished)", got)
	}
	// No goroutine of the closed Service is left (the other node's are).
	// A call's goroutine signals Close on its way out and may still be
	// returning for a moment, so look again for up to 2 s.
	buf := make([]byte, 1<<20)
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		stacks := string(buf[:runtime.Stack(buf, true)])
		n := strings.Count(stacks, "enroll.(*Service)")
		if n <= 2 { // the other node's poller and keeper
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d Service goroutines after Close:\n%s", n, stacks)
		}
	}
}

func TestCloseGivesUp(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-1")
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	if err := e.dialer.WaitCalls(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.Close(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close = %v, want DeadlineExceeded", err)
	}
	got, _ := e.st.GetEnrollment(ctx, en.ID)
	if got.State != enroll.StateFailed || got.Outcome != enroll.OutcomeFailed {
		t.Fatalf("a call cut by Close: %+v, want failed", got)
	}
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-1")
	ch, stop, err := s.Subscribe(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if first := <-ch; first.State != enroll.StatePending {
		t.Fatalf("first value %v", first.State)
	}
	e.clock.Advance(enroll.DefaultTTL)
	select { // the poller expires it and pushes the change
	case got := <-ch:
		if got.State != enroll.StateExpired {
			t.Fatalf("pushed %v, want expired", got.State)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("expiry not pushed")
	}
	if _, err := s.StartCall(ctx, en.ID, origin); !errors.Is(err, enroll.ErrExpired) {
		t.Fatalf("StartCall after expiry: %v, want ErrExpired", err)
	}
	if _, err := s.Complete(ctx, en.ID, origin); !errors.Is(err, enroll.ErrExpired) {
		t.Fatalf("Complete after expiry: %v, want ErrExpired", err)
	}
	evs, _ := s.Audit(ctx, en.ID)
	if last := evs[len(evs)-1]; last.Action != enroll.ActionExpire || last.Actor != enroll.ActorSystem || last.To != enroll.StateExpired {
		t.Fatalf("last event %+v", last)
	}
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2 (expired once, though polled many times)", len(evs))
	}
}

// statesUntil reads a subscription until it sends the state want, and
// returns the states it sent.
func statesUntil(t *testing.T, ch <-chan enroll.Enrollment, want enroll.State) []enroll.State {
	t.Helper()
	var states []enroll.State
	timeout := time.After(10 * time.Second)
	for len(states) == 0 || states[len(states)-1] != want {
		select {
		case got := <-ch:
			states = append(states, got.State)
		case <-timeout:
			t.Fatalf("states seen: %v, want %v", states, want)
		}
	}
	return states
}

// A subscriber on one node sees a change made on another within about the
// poll interval.
func TestSubscribeAcrossNodes(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceRFC4733, "#")
	a := e.node("a")
	b := e.node("b")
	ctx := t.Context()
	en := create(t, a, "user-1")
	ch, stop, err := b.Subscribe(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	statesUntil(t, ch, enroll.StateVerified)
	stop()
	stop()
	if _, ok := <-ch; ok {
		t.Fatal("channel open after cancel")
	}
	if _, _, err := b.Subscribe(ctx, "no-such-id"); !errors.Is(err, enroll.ErrNotFound) {
		t.Fatalf("Subscribe unknown: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	ch2, _, err := b.Subscribe(cctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	<-ch2
	cancel()
	select {
	case _, ok := <-ch2:
		if ok {
			t.Fatal("value after ctx ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("channel not closed when ctx ended")
	}
}

// No secret reaches the audit trail, the enrollment or a webhook: the SIP
// password in a dialer's error is redacted; API keys and link tokens never
// reach the service at all.
func TestNoSecretsStored(t *testing.T) {
	e := newEnv(t)
	e.dialer.Fail(enroll.OutcomeFailed, fmt.Errorf("trunk: 401 for user denwa password %q", sipPass))
	s := e.service()
	ctx := t.Context()
	en, got := callUntil(t, s, enroll.StateFailed)
	if !strings.Contains(got.Cause, "[redacted]") {
		t.Fatalf("cause %q: want the password redacted", got.Cause)
	}
	evs, _ := s.Audit(ctx, en.ID)
	ms, _ := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
	var all bytes.Buffer
	for _, ev := range evs {
		fmt.Fprintf(&all, "%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%d\n", ev.ID, ev.EnrollmentID, ev.At, ev.Actor, ev.Action,
			ev.From, ev.To, ev.Outcome, ev.Cause, ev.KeySource, ev.Keys, ev.RequestID, ev.Attempt)
	}
	fmt.Fprintf(&all, "%+v\n", got)
	for _, m := range ms {
		all.Write(m.Payload)
	}
	for _, secret := range []string{sipPass, apiKey, linkTok} {
		if bytes.Contains(all.Bytes(), []byte(secret)) {
			t.Errorf("secret %q stored:\n%s", secret, all.String())
		}
	}
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
}

func TestInvalidInput(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	ctx := t.Context()
	for _, req := range []enroll.CreateRequest{
		{UserID: "", Phone: phone, Origin: origin},
		{UserID: "u", Phone: "+0312345678", Origin: origin},
		{UserID: "u", Phone: "03-1234-5678", Country: "XX", Origin: origin},
		{UserID: "u", Phone: phone, Origin: enroll.Origin{Actor: "api-key:" + apiKey + "/x"}},
		{UserID: "u", Phone: phone, Origin: enroll.Origin{Actor: "root"}},
		{UserID: strings.Repeat("u", 257), Phone: phone, Origin: origin},
	} {
		if _, err := s.Create(ctx, req); !errors.Is(err, enroll.ErrInvalidInput) {
			t.Errorf("Create(%+v) = %v, want ErrInvalidInput", req, err)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("Get unknown: %v", err)
	}
	if _, err := s.StartCall(ctx, "nope", origin); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("StartCall unknown: %v", err)
	}
	if _, err := s.Audit(ctx, "nope"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("Audit unknown: %v", err)
	}
	en := create(t, s, "u")
	if _, err := s.Complete(ctx, en.ID, origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Errorf("Complete pending: %v", err)
	}

	// The number is read as typed, for the request's country or the
	// default one, and stored in E.164 with its region.
	for _, req := range []enroll.CreateRequest{
		{UserID: "u", Phone: "03-1234-5678", Origin: origin},
		{UserID: "u", Phone: "0312345678", Country: "jp", Origin: origin},
		{UserID: "u", Phone: "+81 3 1234 5678", Country: "US", Origin: origin},
	} {
		got, err := s.Create(ctx, req)
		if err != nil || got.Phone != phone || got.Country != "JP" {
			t.Errorf("Create(%+v) = %+v, %v; want %s in JP", req, got, err, phone)
		}
	}
}

// TestPhonePolicy: the Service enforces the number policy, whoever calls
// Create; the error says why in a *PhoneError.
func TestPhonePolicy(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	strict := e.service()
	for _, tt := range []struct{ phone, country, code string }{
		{"0120-123-456", "", enroll.PhoneErrTollFree},
		{"0990-123-456", "JP", enroll.PhoneErrPremiumRate},
		{"0570-123-456", "JP", enroll.PhoneErrSharedCost},
		{"+1 415 555 2671", "", enroll.PhoneErrCountryNotAllowed},
		{"415 555 2671", "US", enroll.PhoneErrCountryNotAllowed},
		{"110", "JP", enroll.PhoneErrEmergency},
		{"abc", "JP", enroll.PhoneErrInvalidCharacter},
	} {
		_, err := strict.Create(ctx, enroll.CreateRequest{UserID: "u", Phone: tt.phone, Country: tt.country, Origin: origin})
		var pe *enroll.PhoneError
		if !errors.Is(err, enroll.ErrInvalidInput) || !errors.As(err, &pe) || pe.Code != tt.code {
			t.Errorf("Create(%q, %q) = %v, want ErrInvalidInput with code %s", tt.phone, tt.country, err, tt.code)
		}
	}
	us := e.service(func(c *enroll.ServiceConfig) {
		c.PhonePolicy = enroll.PhonePolicy{AllowedRegions: []string{"US"}}
		c.DefaultCountry = "us"
	})
	if got := us.Config().DefaultCountry; got != "US" {
		t.Errorf("DefaultCountry = %q, want US", got)
	}
	got, err := us.Create(ctx, enroll.CreateRequest{UserID: "u", Phone: "(415) 555-2671", Origin: origin})
	if err != nil || got.Phone != "+14155552671" || got.Country != "US" {
		t.Errorf("Create under a US policy = %+v, %v", got, err)
	}
	if _, err := us.Create(ctx, enroll.CreateRequest{UserID: "u", Phone: phone, Origin: origin}); !errors.Is(err, enroll.ErrInvalidInput) {
		t.Errorf("a Japanese number under a US-only policy: %v", err)
	}
	for _, bad := range []enroll.ServiceConfig{
		{Store: e.st, Dialer: e.dialer, DefaultCountry: "XX"},
		{Store: e.st, Dialer: e.dialer, PhonePolicy: enroll.PhonePolicy{AllowedRegions: []string{"ZZ"}}},
		{Store: e.st, Dialer: e.dialer, PhonePolicy: enroll.PhonePolicy{AllowTypes: []enroll.PhoneType{200}}},
	} {
		if _, err := enroll.NewService(bad); !errors.Is(err, enroll.ErrInvalidConfig) {
			t.Errorf("NewService(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

func TestNewServiceRefusesBadConfig(t *testing.T) {
	e := newEnv(t)
	for _, bad := range []enroll.ServiceConfig{{}, {Store: e.st}, {Store: e.st, Dialer: e.dialer, TTL: -1}, {Store: e.st, Dialer: e.dialer, MaxAttempts: -1}} {
		if _, err := enroll.NewService(bad); !errors.Is(err, enroll.ErrInvalidConfig) {
			t.Errorf("NewService(%+v) = %v, want ErrInvalidConfig", bad, err)
		}
	}
}

// TestServiceChallenge runs challenge mode through the Service: a phone
// that presses the code it heard is verified, and the code is in no
// audit entry, webhook, enrollment or log line; a phone that presses #
// alone (a replayed greeting) fails wrong-input.
func TestServiceChallenge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		heard bool
		want  enroll.State
	}{
		{"code heard", true, enroll.StateVerified},
		{"hash alone", false, enroll.StateFailed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			log, buf := quietLog()
			e.cfg.Dialogue.ChallengeDigits = 6 // long enough that no id or time in the log holds it by chance
			e.cfg.Dialogue.Logger = log        // the records that see keys
			var line *enrolltest.FakeLine
			e.dialer.AnswerWith(func(l *enrolltest.FakeLine) {
				line = l
				for _, p := range enroll.Prompts() {
					l.SetPromptLength(p, 20*time.Millisecond)
				}
				l.OnPlay(enroll.PromptChallengeRepeat, 0, 5*time.Millisecond, func() {
					if tc.heard {
						l.Press(l.LastCode() + "#")
					} else {
						l.Press("#")
					}
				})
			})
			s := e.service()
			ctx := t.Context()
			en, got := callUntil(t, s, tc.want)
			if !tc.heard && got.Outcome != enroll.OutcomeWrongInput {
				t.Errorf("outcome %v, want wrong-input", got.Outcome)
			}
			evs, err := s.Audit(ctx, en.ID)
			if err != nil {
				t.Fatal(err)
			}
			ms, err := e.st.ClaimOutbox(ctx, e.clock.Now(), time.Minute, 10)
			if err != nil || len(ms) != 1 {
				t.Fatalf("outbox %v, %v", ms, err)
			}
			var end enroll.AuditEvent
			for _, ev := range evs {
				if ev.Action == enroll.ActionCallEnd {
					end = ev
				}
			}
			want := "??????#"
			if !tc.heard {
				want = "###"
			}
			if end.Keys != want {
				t.Errorf("audit keys %q, want %q", end.Keys, want)
			}
			var hook enroll.WebhookPayload
			if err := json.Unmarshal(ms[0].Payload, &hook); err != nil {
				t.Fatal(err)
			}
			// Every field that could carry keys; the rest (ids, times,
			// the phone number) is digits that may hold a code by chance.
			var fields []string
			for _, ev := range evs {
				fields = append(fields, ev.Keys, ev.Cause, ev.KeySource)
			}
			fields = append(fields, hook.Enrollment.Cause, hook.Enrollment.KeySource, got.Cause, got.KeySource)
			codes := line.Codes()
			if len(codes) == 0 {
				t.Fatal("no code read out")
			}
			for _, c := range codes {
				for _, f := range fields {
					if hasNumber(f, c) {
						t.Errorf("code %s in %q (audit, webhook or enrollment)", c, f)
					}
				}
				if hasNumber(buf.String(), c) {
					t.Errorf("code %s in the log:\n%s", c, buf.String())
				}
			}
		})
	}
}
