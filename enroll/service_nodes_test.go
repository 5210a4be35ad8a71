package enroll_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/enroll"
)

// leaseStore is a node's view of the shared store that can stop taking its
// lease renewals, as when the node dies or loses the database.
type leaseStore struct {
	enroll.Store
	refuse atomic.Bool
}

func (l *leaseStore) RenewNodeLease(ctx context.Context, node string, until time.Time) error {
	if l.refuse.Load() {
		return errors.New("connection refused")
	}
	return l.Store.RenewNodeLease(ctx, node, until)
}

// A node dies with calls in progress: another node ends each of them once,
// failed with cause "node lost" and retryable, with its audit event and
// webhook, within about the lease; they can be called again there, and
// neither the dead node's late results nor a new node of the same name
// bring them back.
func TestNodeLost(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	const lease = 600 * time.Millisecond
	short := func(c *enroll.ServiceConfig) { c.NodeLease = lease }
	aStore := &leaseStore{Store: e.st}
	a := e.node("a", short, func(c *enroll.ServiceConfig) { c.Store = aStore })
	b := e.node("b", short)
	ctx := t.Context()
	var ens []enroll.Enrollment
	for i := range 3 {
		en, err := a.Create(ctx, enroll.CreateRequest{UserID: fmt.Sprint("user-", i), Phone: fmt.Sprint("+8131234567", i+1), Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := a.StartCall(ctx, en.ID, origin); err != nil {
			t.Fatal(err)
		}
		ens = append(ens, en)
	}
	if err := e.dialer.WaitCalls(ctx, 3); err != nil {
		t.Fatal(err)
	}
	if st := a.NodeStats(); st.Node != "a" || st.Calls != 3 || !st.LeaseHeld {
		t.Fatalf("a's stats %+v", st)
	}

	// a "dies": its renewals stop, and the lease runs out.
	aStore.refuse.Store(true)
	e.clock.Advance(lease + time.Millisecond)
	for _, en := range ens {
		got := waitState(t, b, en.ID, enroll.StateFailed)
		if got.Outcome != enroll.OutcomeFailed || got.Cause != enroll.CauseNodeLost || !got.Retryable(enroll.DefaultMaxAttempts) || got.Node != "a" {
			t.Fatalf("ended %+v", got)
		}
	}
	if st := b.NodeStats(); st.Reaped != 3 || st.Calls != 0 {
		t.Fatalf("b's stats %+v", st)
	}
	// Each once, whatever the nodes try again.
	for range 3 {
		if ended, err := b.ReapLostNodes(ctx); err != nil || len(ended) != 0 {
			t.Fatalf("ReapLostNodes again = %v, %v", ended, err)
		}
	}
	ms, err := e.st.ListOutbox(ctx, enroll.OutboxAny, 0)
	if err != nil {
		t.Fatal(err)
	}
	hooks := map[string]int{}
	for _, m := range ms {
		if m.Event == enroll.EventFailed && bytes.Contains(m.Payload, []byte(enroll.CauseNodeLost)) {
			hooks[m.EnrollmentID]++
		}
	}
	for _, en := range ens {
		evs, _ := e.st.ListAudit(ctx, en.ID)
		if a := actions(evs); a != "create:unknown>pending call.start:pending>calling recover:calling>failed" ||
			evs[2].Cause != enroll.CauseNodeLost || evs[2].Actor != enroll.ActorSystem {
			t.Fatalf("audit %s %+v", a, evs)
		}
		if hooks[en.ID] != 1 {
			t.Fatalf("webhooks of %s: %d, want 1 (%v)", en.ID, hooks[en.ID], hooks)
		}
	}

	// The node without its lease places no call, and says so.
	if err := a.LeaseHealth(); err == nil {
		t.Fatal("a's lease health is nil after its lease lapsed")
	}
	if _, err := a.StartCall(ctx, create(t, a, "user-x").ID, origin); !errors.Is(err, enroll.ErrNoLease) || !errors.Is(err, enroll.ErrClosed) {
		t.Fatalf("StartCall without a lease: %v, want ErrNoLease", err)
	}

	// Called again on b, and verified.
	e.press(dtmf.SourceRFC4733, "#")
	if _, err := b.StartCall(ctx, ens[0].ID, origin); err != nil {
		t.Fatal(err)
	}
	waitState(t, b, ens[0].ID, enroll.StateVerified)

	// The dead node's calls end late: nothing lands. A node of the same
	// name starts and finds nothing of its own to recover.
	release()
	eventually(t, "the dead node's calls ended", func() bool { return a.NodeStats().Calls == 0 })
	cfg := e.cfg
	cfg.Node, cfg.NodeLease = "a", lease
	a2, err := enroll.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a2.Close(context.Background())
	if rec, err := a2.Recover(ctx); err != nil || len(rec) != 0 {
		t.Fatalf("Recover of the node come back = %v, %v", rec, err)
	}
	for i, en := range ens {
		got, _ := e.st.GetEnrollment(ctx, en.ID)
		want := enroll.StateFailed
		if i == 0 {
			want = enroll.StateVerified
		}
		if got.State != want {
			t.Fatalf("%s after the dead node's calls ended: %v, want %v", en.ID, got.State, want)
		}
	}
}

// A node never ends its own calls as lost, even when the store lists it.
func TestNodeNeverReapsItself(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	s := e.node("solo", func(c *enroll.ServiceConfig) { c.NodeLease = time.Hour })
	ctx := t.Context()
	en := create(t, s, "user-1")
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Hour)
	if lost, err := e.st.LostNodes(ctx, e.clock.Now()); err != nil || len(lost) != 1 || lost[0] != "solo" {
		t.Fatalf("LostNodes = %v, %v; want [solo]", lost, err)
	}
	if ended, err := s.ReapLostNodes(ctx); err != nil || len(ended) != 0 {
		t.Fatalf("ReapLostNodes = %v, %v; want none", ended, err)
	}
	if got, _ := e.st.GetEnrollment(ctx, en.ID); got.State != enroll.StateCalling {
		t.Fatalf("its own call: %v", got.State)
	}
}

// When the database was unreachable for every node, every lease lapsed:
// the node that comes back first ends no one's calls before it has held
// its own lease for a whole lease, so the others can renew theirs.
func TestNoReapAfterOwnOutage(t *testing.T) {
	e := newEnv(t)
	release := e.hold()
	defer release()
	hour := func(c *enroll.ServiceConfig) { c.NodeLease = time.Hour } // renewed here by hand
	aStore, bStore := &leaseStore{Store: e.st}, &leaseStore{Store: e.st}
	a := e.node("a", hour, func(c *enroll.ServiceConfig) { c.Store = aStore })
	b := e.node("b", hour, func(c *enroll.ServiceConfig) { c.Store = bStore })
	ctx := t.Context()
	en := create(t, a, "user-1")
	if _, err := a.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	// The database is down for both past the lease.
	aStore.refuse.Store(true)
	bStore.refuse.Store(true)
	e.clock.Advance(90 * time.Minute)
	if b.RenewLease(ctx) == nil || a.RenewLease(ctx) == nil {
		t.Fatal("renewals taken while refused")
	}
	if err := b.LeaseHealth(); err == nil {
		t.Fatal("b's lease health is nil after its lease lapsed")
	}
	// b is back first: a is lost by the store's account, but b holds off.
	bStore.refuse.Store(false)
	if err := b.RenewLease(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.LeaseHealth(); err != nil {
		t.Fatalf("b's lease health after a renewal: %v", err)
	}
	if ended, err := b.ReapLostNodes(ctx); err != nil || len(ended) != 0 {
		t.Fatalf("ReapLostNodes just after b's own outage = %v, %v; want none", ended, err)
	}
	// a is back within the lease: its call is its own.
	e.clock.Advance(30 * time.Minute)
	aStore.refuse.Store(false)
	if err := a.RenewLease(ctx); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(31 * time.Minute)
	if err := b.RenewLease(ctx); err != nil {
		t.Fatal(err)
	}
	if ended, err := b.ReapLostNodes(ctx); err != nil || len(ended) != 0 {
		t.Fatalf("ReapLostNodes after a renewed = %v, %v; want none", ended, err)
	}
	release()
	waitState(t, a, en.ID, enroll.StateVerified)
}

// A named node places no call before it has taken its lease (Recover).
func TestNoCallBeforeLease(t *testing.T) {
	e := newEnv(t)
	cfg := e.cfg
	cfg.Node = "a"
	s, err := enroll.NewService(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(context.Background())
	en := create(t, s, "user-1")
	if _, err := s.StartCall(t.Context(), en.ID, origin); !errors.Is(err, enroll.ErrNoLease) {
		t.Fatalf("StartCall before Recover: %v, want ErrNoLease", err)
	}
	if s.LeaseHealth() == nil {
		t.Fatal("lease health nil before the lease was taken")
	}
	if _, err := s.Recover(t.Context()); err != nil {
		t.Fatal(err)
	}
	e.press(dtmf.SourceRFC4733, "#")
	if _, err := s.StartCall(t.Context(), en.ID, origin); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, en.ID, enroll.StateVerified)
}

// hub announces the writes of every watchStore to every watcher, as
// PostgreSQL's NOTIFY does.
type hub struct {
	mu       sync.Mutex
	watchers []func(string)
}

func (h *hub) notify(id string) {
	h.mu.Lock()
	ws := append([]func(string){}, h.watchers...)
	h.mu.Unlock()
	for _, w := range ws {
		w(id)
	}
}

// watchStore is a node's store that is a Watcher: its writes, and those of
// the other watchStores of its hub, are announced.
type watchStore struct {
	enroll.Store
	hub     *hub
	watches atomic.Int32
}

func (w *watchStore) WatchEnrollments(ctx context.Context, changed func(string)) error {
	w.watches.Add(1)
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	ch := make(chan string, 100)
	w.hub.watchers = append(w.hub.watchers, func(id string) {
		select {
		case ch <- id:
		case <-ctx.Done():
		}
	})
	go func() {
		for {
			select {
			case id := <-ch:
				changed(id)
			case <-ctx.Done():
				return
			}
		}
	}()
	return nil
}

func (w *watchStore) CreateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent) error {
	err := w.Store.CreateEnrollment(ctx, e, audit)
	if err == nil {
		w.hub.notify(e.ID)
	}
	return err
}

func (w *watchStore) UpdateEnrollment(ctx context.Context, e enroll.Enrollment, audit []enroll.AuditEvent, outbox []enroll.OutboxMessage) error {
	err := w.Store.UpdateEnrollment(ctx, e, audit, outbox)
	if err == nil {
		w.hub.notify(e.ID)
	}
	return err
}

// With a Watcher, a subscriber on one node sees another node's changes as
// they are announced, with no polling (the poll interval is an hour); an
// announcement that anything may have changed reads every subscription
// again.
func TestSubscribeWatcher(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceRFC4733, "#")
	h := &hub{}
	aStore, bStore := &watchStore{Store: e.st, hub: h}, &watchStore{Store: e.st, hub: h}
	slow := func(c *enroll.ServiceConfig) { c.PollInterval = time.Hour }
	a := e.node("a", slow, func(c *enroll.ServiceConfig) { c.Store = aStore })
	b := e.node("b", slow, func(c *enroll.ServiceConfig) { c.Store = bStore })
	ctx := t.Context()
	en := create(t, a, "user-1")
	ch, stop, err := b.Subscribe(ctx, en.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if got := <-ch; got.State != enroll.StatePending {
		t.Fatalf("first value %v", got.State)
	}
	if _, err := a.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	statesUntil(t, ch, enroll.StateVerified)
	if n := bStore.watches.Load(); n != 1 {
		t.Fatalf("b watched %d times, want once", n)
	}

	// A change no one announced, then "anything may have changed".
	cur, _ := e.st.GetEnrollment(ctx, en.ID)
	next := cur
	next.Version++
	next.State, next.CompletedAt, next.UpdatedAt = enroll.StateCompleted, cur.UpdatedAt, cur.UpdatedAt
	if err := e.st.UpdateEnrollment(ctx, next, nil, nil); err != nil {
		t.Fatal(err)
	}
	h.notify("")
	select {
	case got := <-ch:
		if got.State != enroll.StateCompleted {
			t.Fatalf("after changed(\"\"): %v", got.State)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("changed(\"\") did not read the subscription again")
	}
}
