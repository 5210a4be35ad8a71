package enroll

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Results the store did not take, and the sweep. A call's end is written
// once by the call's goroutine; when the Store refuses it (a full disk, a
// database that is down) it waits here, in memory, and the keeper
// goroutine writes it again with backoff until the Store takes it. The
// enrollment stays registered as calling here meanwhile, so no second call
// starts and neither the sweep nor a read on this node takes it as lost
// (another node may, CallTimeout and a minute after the call started; the
// end is then dropped as superseded). The keeper also sweeps: it fails the enrollments this node left in calling
// with no call in progress here.

// The backoff of a call's end the Store refused: the first retry after
// retryFirst, each later one twice as late up to retryMax, each moved by
// up to a fifth either way so that the retries of many calls spread out.
// Once one is written, the others are tried at once.
const (
	retryFirst   = 100 * time.Millisecond
	retryMax     = 10 * time.Second
	writeTimeout = 30 * time.Second // one attempt at writing a call's end
)

// CauseLost is the cause of a call ended by the sweep: its enrollment was
// in calling, placed by this node, with no call in progress here.
const CauseLost = "call lost: no call in progress on its node"

// callEnd is everything the end of one call writes, built once by
// endOf (service_calls.go). The write is the compare-and-set of next
// on the version the call started with; that makes it idempotent: a retry
// after a write that was committed though it reported an error fails the
// compare-and-set, and the end's audit event, written in the same
// transaction, shows it was ours (see writeEnd).
type callEnd struct {
	next   Enrollment // verified or failed; Version one more than in calling
	audit  []AuditEvent
	outbox []OutboxMessage
	block  *BlockedNumber // a fraud report's

	// Guarded by Service.mu once the end is pending.
	tries int           // failed writes
	wait  time.Duration // the backoff before the next try
	due   time.Time     // the next try (monotonic clock)
}

// errSuperseded: the enrollment was changed by someone else before the
// call's end could be written (another node took the call as lost, or a
// restarted run recovered it); the end is dropped.
var errSuperseded = errors.New("the enrollment was changed meanwhile")

// record writes c, and on failure keeps it for the keeper.
func (s *Service) record(c *callEnd) {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := s.writeEnd(ctx, c)
	cancel()
	s.settleEnd(c, err)
}

// writeEnd writes c: the number's block (which is idempotent), then the
// enrollment, its audit events and its webhook in one transaction. A
// compare-and-set that fails means the end was written already (by an
// earlier try whose success was not reported) or that someone else ended
// the call; it returns nil in the first case and errSuperseded in the
// second.
func (s *Service) writeEnd(ctx context.Context, c *callEnd) error {
	if c.block != nil {
		if err := s.st.BlockNumber(ctx, *c.block); err != nil {
			return fmt.Errorf("block number: %w", err)
		}
	}
	err := s.st.UpdateEnrollment(ctx, c.next, c.audit, c.outbox)
	if !errors.Is(err, ErrConflict) {
		return err
	}
	evs, lerr := s.st.ListAudit(ctx, c.next.ID)
	if lerr != nil {
		return fmt.Errorf("%w; reading the audit trail to see whether an earlier try was written: %w", err, lerr)
	}
	for _, ev := range evs {
		if ev.ID == c.audit[0].ID {
			return nil
		}
	}
	return fmt.Errorf("%w: %w", errSuperseded, err)
}

// settleEnd takes the outcome of a write of c. Written (or superseded):
// the call is no longer in progress here and its end is published. Failed:
// c waits for its next try, and reports whether it was written.
func (s *Service) settleEnd(c *callEnd, err error) (written bool) {
	id := c.next.ID
	if err == nil || errors.Is(err, errSuperseded) || errors.Is(err, ErrNotFound) {
		s.mu.Lock()
		delete(s.pending, id)
		tries := c.tries
		s.mu.Unlock()
		s.forget(id)
		if err != nil {
			s.log.Warn("enroll: the call's end was not recorded", "enrollment", id, "outcome", c.next.Outcome.String(), "err", err)
			return false
		}
		if tries > 0 {
			s.log.Info("enroll: the call's end was recorded after the store refused it", "enrollment", id, "tries", tries+1)
		}
		s.log.Info("enroll: call ended", "enrollment", id, "outcome", c.next.Outcome.String(), "key_source", c.next.KeySource)
		s.publish(c.next)
		return true
	}
	s.mu.Lock()
	c.tries++
	c.wait = min(max(2*c.wait, retryFirst), retryMax)
	c.due = time.Now().Add(jitter(c.wait))
	s.pending[id] = c
	s.writeErr = err
	tries, flushing := c.tries, s.keeperStopped
	s.mu.Unlock()
	switch {
	case flushing: // Close logs what is left
	case tries == 1:
		s.log.Error("enroll: recording the call's end failed; it is kept and written again until the store takes it",
			"enrollment", id, "outcome", c.next.Outcome.String(), "err", err)
		select {
		case s.kick <- struct{}{}:
		default:
		}
	default:
		s.log.Debug("enroll: recording the call's end failed again", "enrollment", id, "tries", tries, "err", err)
	}
	return false
}

// jitter returns d moved by up to a fifth either way.
func jitter(d time.Duration) time.Duration {
	return d - d/5 + rand.N(2*d/5+1)
}

// WriteHealth returns nil when every call's end has been recorded, and
// otherwise an error that says how many wait and what the Store answered
// the last try (the innermost error only: no enrollment ID, fit for a
// public probe). cmd/denwa's /readyz reports it; it clears by itself
// once the Store takes the writes again.
func (s *Service) WriteHealth() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	return fmt.Errorf("%d call results wait to be recorded: %w", len(s.pending), innermost(s.writeErr))
}

// innermost returns the error at the end of err's chain of single wraps.
func innermost(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// PendingResults returns how many calls have ended without the Store
// having taken their end yet.
func (s *Service) PendingResults() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// keep is the keeper goroutine: it writes the pending ends when due and
// sweeps every SweepInterval, until keepStop is closed.
func (s *Service) keep() {
	defer close(s.keepExited)
	retry := time.NewTimer(retryMax)
	retry.Stop()
	sweep := time.NewTicker(s.cfg.SweepInterval)
	defer sweep.Stop()
	for {
		select {
		case <-s.keepStop:
			retry.Stop()
			return
		case <-sweep.C:
			if s.isClosed() {
				continue // a node that stops sweeps no more: a successor may have its name
			}
			ctx, cancel := context.WithTimeout(s.base, writeTimeout)
			if _, err := s.Sweep(ctx); err != nil {
				s.log.Warn("enroll: sweep failed", "err", err)
			}
			cancel()
			continue
		case <-s.kick:
		case <-retry.C:
		}
		if d, ok := s.retryDue(); ok {
			retry.Reset(d)
		}
	}
}

// retryDue writes the pending ends whose time has come, and all of them
// as soon as one is written; it returns the wait until the next one is
// due, and false when none is pending.
func (s *Service) retryDue() (time.Duration, bool) {
	for {
		var due []*callEnd
		now := time.Now()
		s.mu.Lock()
		for _, c := range s.pending {
			if !now.Before(c.due) {
				due = append(due, c)
			}
		}
		s.mu.Unlock()
		wrote := false
		for _, c := range due {
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := s.writeEnd(ctx, c)
			cancel()
			wrote = s.settleEnd(c, err) || wrote
		}
		if !wrote {
			break
		}
		// The Store takes writes again: the others need not wait.
		s.mu.Lock()
		for _, c := range s.pending {
			c.due = now
		}
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return 0, false
	}
	var next time.Time
	for _, c := range s.pending {
		if next.IsZero() || c.due.Before(next) {
			next = c.due
		}
	}
	return max(time.Until(next), 0), true
}

// flushEnds is Close's last try at the pending ends, after the keeper
// stopped; what is still refused is logged, each with its outcome, for the
// operator: the next start's Recover records those enrollments failed
// (interrupted by restart).
func (s *Service) flushEnds() {
	s.mu.Lock()
	var left []*callEnd
	for _, c := range s.pending {
		left = append(left, c)
	}
	s.mu.Unlock()
	if len(left) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	for _, c := range left {
		err := s.writeEnd(ctx, c)
		if !s.settleEnd(c, err) && err != nil && !errors.Is(err, errSuperseded) {
			s.log.Error("enroll: stopping with a call's end the store refused: LOST; the next start records the enrollment failed (interrupted by restart)",
				"enrollment", c.next.ID, "outcome", c.next.Outcome.String(), "key_source", c.next.KeySource, "tries", c.tries, "err", err)
		}
	}
}

// Sweep fails every enrollment in calling that this node
// (ServiceConfig.Node) placed and holds no call for: outcome failed,
// cause CauseLost, retryable like any failed call, with its audit event
// and webhook, each written once (the change is a compare-and-set, so an
// enrollment that changes meanwhile is left alone). A call whose end
// waits to be recorded counts as held. Only this node's enrollments are
// touched: another node's calls are its own (and taken as lost only when
// much older, see ServiceConfig.CallTimeout). The Service sweeps by itself
// every SweepInterval; Recover does the same at start. It returns the
// enrollments it ended.
func (s *Service) Sweep(ctx context.Context) ([]Enrollment, error) {
	es, err := s.st.CallingEnrollments(ctx, s.cfg.Node)
	if err != nil {
		return nil, fmt.Errorf("enroll: sweep: %w", err)
	}
	var ended []Enrollment
	for _, e := range es {
		// Read after the Store: a call registers here before it writes
		// calling, and leaves after it wrote its end.
		if s.callingHere(e.ID) {
			continue
		}
		now := s.now()
		next, ev, m := lostCall(e, now, CauseLost)
		err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, []OutboxMessage{m})
		if errors.Is(err, ErrConflict) {
			continue // it changed since it was read: no longer lost
		}
		if err != nil {
			return ended, fmt.Errorf("enroll: sweep %s: %w", e.ID, err)
		}
		s.log.Warn("enroll: call lost: in calling with no call in progress on this node; recorded as failed", "enrollment", e.ID)
		s.publish(next)
		ended = append(ended, next)
	}
	return ended, nil
}
