package enroll

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The call runner: StartCall places a verification call on a goroutine
// the Service owns, runCall holds the dialogue, finishCall records the end.

// Dialer places a verification call. Dial calls the E.164 number and
// returns once the far end has answered, with the answered call as a Line;
// or, when there is no answered call, an error: one wrapping an
// *OutcomeError says how the call ended (no-answer, busy, rejected,
// unreachable, or failed with its cause), any other error counts as
// failed with that cause. Dial must honour ctx: when it is cancelled the
// call is given up (CANCEL) and Dial returns.
//
// The Service calls Dial from its own goroutine, one per call; cmd/denwa
// adapts sip's dialer to it. Package enrolltest has a scriptable fake.
type Dialer interface {
	Dial(ctx context.Context, e164 string) (Line, error)
}

// DialerFunc adapts a function to a Dialer.
type DialerFunc func(ctx context.Context, e164 string) (Line, error)

// Dial calls f.
func (f DialerFunc) Dial(ctx context.Context, e164 string) (Line, error) { return f(ctx, e164) }

// StartCall starts the verification call of a pending enrollment, or
// calls again after a failed call that may be retried (not a fraud
// report, fewer than MaxAttempts calls). It returns the enrollment in
// calling as soon as the call is placed in the background; subscribers
// and Get see how it ends.
//
// Of any number of StartCalls for the same enrollment at the same time,
// on any nodes, exactly one starts a call; the others get ErrConflict.
// Other errors: ErrNotFound; ErrExpired; ErrInvalidTransition (verified,
// completed, or failed and not retryable); ErrBlocked; a *LimitError
// (wrapping ErrLimit); ErrClosed, or ErrNoLease (which wraps it) while a
// named node does not hold its lease; ErrInvalidInput for a bad Origin.
//
// The call runs on a goroutine the Service owns, with a context that is
// cancelled only by CallTimeout or by Close giving up waiting, never by
// ctx: the API request that started it may end at once.
func (s *Service) StartCall(ctx context.Context, id string, o Origin) (Enrollment, error) {
	e, err := s.getFor(ctx, id, o)
	if err != nil {
		return Enrollment{}, err
	}
	switch {
	case e.State == StateExpired:
		return e, fmt.Errorf("enroll: start call %s: %w", id, ErrExpired)
	case e.State == StateCalling:
		return e, fmt.Errorf("enroll: start call %s: %w: a call is already in progress", id, ErrConflict)
	case e.State == StateFailed && !e.Retryable(s.cfg.MaxAttempts):
		return e, fmt.Errorf("enroll: start call %s: %w: no retry after %s and %d attempts",
			id, ErrInvalidTransition, e.Outcome, e.Attempts)
	}
	if err := CheckTransition(e.State, StateCalling); err != nil {
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	if err := s.checkLease(); err != nil {
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	// Registering the call here first keeps Close from missing it, and
	// turns a second StartCall on this node away before it takes from
	// the limits; across nodes the compare-and-set below decides.
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return e, ErrClosed
	}
	if s.calling[id] {
		s.mu.Unlock()
		return e, fmt.Errorf("enroll: start call %s: %w: a call is already in progress", id, ErrConflict)
	}
	s.calling[id] = true
	s.calls.Add(1)
	s.mu.Unlock()

	if err := s.checkBlocked(ctx, e.Phone); err != nil {
		s.endCall(id)
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	now := s.now()
	refund, err := s.limits.takeCall(ctx, s.st, &e, now)
	if err != nil {
		s.endCall(id)
		// A duplicate request on another node may have taken the last
		// count for the call it started: that is a conflict.
		if cur, gerr := s.st.GetEnrollment(ctx, id); gerr == nil && cur.Version != e.Version {
			return cur, fmt.Errorf("enroll: start call %s: %w: changed meanwhile (now %s)", id, ErrConflict, cur.State)
		}
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}

	next, ev := s.change(e, StateCalling, o, ActionCallStart, now)
	next.Attempts++
	next.Node = s.cfg.Node
	next.Outcome, next.Cause, next.KeySource = OutcomeUnknown, "", ""
	ev.Attempt, ev.Node = next.Attempts, next.Node

	if err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, nil); err != nil {
		s.endCall(id)
		refund(context.WithoutCancel(ctx))
		if errors.Is(err, ErrConflict) {
			return e, fmt.Errorf("enroll: start call %s: %w: another request started it first", id, ErrConflict)
		}
		return e, fmt.Errorf("enroll: start call %s: %w", id, err)
	}
	s.log.Info("enroll: call started", "enrollment", id, "attempt", next.Attempts, "actor", string(o.Actor), "request", o.RequestID)
	s.publish(next)
	go s.runCall(next)
	return next, nil
}

// endCall undoes the registration of a call StartCall made.
func (s *Service) endCall(id string) {
	s.forget(id)
	s.calls.Done()
}

// forget drops id from the calls in progress here. It is done as soon as
// the call's end is stored (settleEnd), before publishing it, so that a
// subscriber who sees the end may start the next call at once.
func (s *Service) forget(id string) {
	s.mu.Lock()
	delete(s.calling, id)
	s.mu.Unlock()
}

func (s *Service) callingHere(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calling[id]
}

// runCall places the call of e (in calling), holds the dialogue and
// records how it ended.
func (s *Service) runCall(e Enrollment) {
	defer s.calls.Done()
	ctx, cancel := context.WithTimeout(s.base, s.cfg.CallTimeout)
	defer cancel()
	var res Result
	line, err := s.cfg.Dialer.Dial(ctx, e.Phone)
	if err != nil {
		res = Result{Outcome: OutcomeFailed, Cause: err}
		var oe *OutcomeError
		if errors.As(err, &oe) && oe.Outcome.Valid() && oe.Outcome != OutcomeUnknown && oe.Outcome != OutcomeVerified {
			res.Outcome, res.Cause = oe.Outcome, oe.Cause
			if res.Outcome == OutcomeFailed && res.Cause == nil {
				res.Cause = err
			}
		}
	} else if line == nil {
		res = Result{Outcome: OutcomeFailed, Cause: errors.New("enroll: the dialer returned neither a line nor an error")}
	} else {
		res = s.dialogue.Run(ctx, line)
	}
	// Record the outcome even when shutting down: the call has ended. When
	// the store refuses it, the end waits in memory and is written again
	// (service_results.go); the call stays registered here until then.
	s.record(s.endOf(e, res))
}

// endOf builds what the end of e's call writes: e verified, or failed
// with the outcome (a fraud report also blocks the number), its audit
// events and its webhook. It is built once, so that writing it again
// after a failure writes the same records.
func (s *Service) endOf(e Enrollment, res Result) *callEnd {
	now := s.now()
	cause := ""
	if res.Cause != nil {
		cause = s.redact(res.Cause.Error())
	}
	var keySource, keys string
	var keyAt time.Time
	if ks := res.Keys(); len(ks) > 0 {
		if res.Outcome == OutcomeVerified || res.Outcome == OutcomeFraudReported {
			keySource = ks[len(ks)-1].Source.String()
			if at := ks[len(ks)-1].At; !at.IsZero() {
				keyAt = Now(at)
			}
		}
		var b strings.Builder
		for _, k := range ks {
			if b.Len() >= maxAuditKeys {
				break
			}
			b.WriteString(k.Key.String())
		}
		keys = b.String()
	}
	c := &callEnd{}
	if res.Outcome == OutcomeFraudReported {
		c.block = &BlockedNumber{Phone: e.Phone, Reason: OutcomeFraudReported.String(), EnrollmentID: e.ID, At: now}
	}
	to := StateFailed
	if res.Outcome == OutcomeVerified {
		to = StateVerified
	}
	next, ev := s.change(e, to, Origin{Actor: ActorSystem}, ActionCallEnd, now)
	next.Outcome, next.Cause, next.KeySource = res.Outcome, cause, keySource
	ev.Outcome, ev.Cause, ev.KeySource, ev.Keys = res.Outcome, cause, keySource, keys
	ev.Node, ev.KeyAt = e.Node, keyAt
	if !res.Start.IsZero() {
		ev.AnsweredAt = Now(res.Start)
	}
	c.audit = []AuditEvent{ev}
	event := EventFailed
	switch res.Outcome {
	case OutcomeVerified:
		next.VerifiedAt = now
		next.ExpiresAt = now.Add(s.cfg.CompleteWindow)
		event = EventVerified
	case OutcomeFraudReported:
		event = EventFraudReported
		blk := ev
		blk.ID, blk.Action, blk.From, blk.Cause = NewID(), ActionBlock, to, ""
		c.audit = append(c.audit, blk)
	}
	c.next = next
	c.outbox = []OutboxMessage{webhookMessage(event, next, now)}
	return c
}

// maxAuditKeys caps AuditEvent.Keys: the keys a call acted on, in order.
const maxAuditKeys = 32

// redact replaces the configured secrets in text.
func (s *Service) redact(text string) string {
	for _, sec := range s.cfg.Secrets {
		if len(sec) >= 4 {
			text = strings.ReplaceAll(text, sec, "[redacted]")
		}
	}
	return text
}
