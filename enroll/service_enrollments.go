package enroll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// The enrollments themselves: Create (where the number policy is
// enforced), Get and the changes time makes, the audit trail, Complete.

// CreateRequest asks for a new enrollment.
type CreateRequest struct {
	// UserID is the organisation's reference to the user: 1 to 256 bytes.
	UserID string
	// Phone is the number to call as the user typed it: national for
	// Country ("03-1234-5678"), or international ("+81 3-1234-5678",
	// E.164); see NormalizePhone for the forms read.
	Phone string
	// Country is the ISO 3166-1 region the number was typed for ("JP").
	// Empty means ServiceConfig.DefaultCountry. The enrollment keeps the
	// region of the number itself.
	Country string
	// ClientIP is the user's address as the API saw it, for the per-IP
	// call limit; may be empty.
	ClientIP string
	Origin
}

// Origin tells who asks for a change, for the audit trail.
type Origin struct {
	// Actor must be valid (see Actor.Valid).
	Actor Actor
	// RequestID is the API request's ID, if any: at most 128 bytes.
	RequestID string
}

func (o Origin) check() error {
	if !o.Actor.Valid() {
		return fmt.Errorf("%w: actor %q", ErrInvalidInput, o.Actor)
	}
	if len(o.RequestID) > 128 {
		return fmt.Errorf("%w: request ID longer than 128 bytes", ErrInvalidInput)
	}
	return nil
}

// Create validates req, reads its number for its country and applies
// the number policy (ServiceConfig.PhonePolicy), and stores a new
// enrollment in pending, expiring after the TTL. Errors: ErrInvalidInput
// (a malformed field; a number that cannot be read or that the policy
// refuses, wrapping also the *PhoneError that says why, for the user),
// ErrBlocked (the number is blocked), ErrClosed.
func (s *Service) Create(ctx context.Context, req CreateRequest) (Enrollment, error) {
	if err := req.check(); err != nil {
		return Enrollment{}, err
	}
	n, err := s.phoneNumber(req.Phone, req.Country)
	if err != nil {
		return Enrollment{}, err
	}
	if s.isClosed() {
		return Enrollment{}, ErrClosed
	}
	if err := s.checkBlocked(ctx, n.E164); err != nil {
		return Enrollment{}, err
	}
	now := s.now()
	e := Enrollment{
		ID: NewID(), UserID: req.UserID, Phone: n.E164, Country: n.Region, ClientIP: req.ClientIP,
		State: StatePending, Version: 1,
		CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(s.cfg.TTL),
	}
	ev := AuditEvent{
		ID: NewID(), EnrollmentID: e.ID, At: now, Actor: req.Actor, Action: ActionCreate,
		To: StatePending, RequestID: req.RequestID,
	}
	if err := s.st.CreateEnrollment(ctx, e, []AuditEvent{ev}); err != nil {
		return Enrollment{}, fmt.Errorf("enroll: create: %w", err)
	}
	return e, nil
}

// phoneNumber reads input, typed for country (empty: DefaultCountry), and
// applies the number policy. This is the one place the policy is enforced.
func (s *Service) phoneNumber(input, country string) (PhoneNumber, error) {
	if country == "" {
		country = s.cfg.DefaultCountry
	}
	n, err := NormalizePhone(input, country)
	if err == nil {
		err = s.cfg.PhonePolicy.Check(n)
	}
	if err != nil {
		return PhoneNumber{}, fmt.Errorf("%w: phone: %w", ErrInvalidInput, err)
	}
	return n, nil
}

func (r *CreateRequest) check() error {
	if r.UserID == "" || len(r.UserID) > 256 {
		return fmt.Errorf("%w: user ID must be 1 to 256 bytes", ErrInvalidInput)
	}
	if len(r.Country) > 8 || len(r.ClientIP) > 64 {
		return fmt.Errorf("%w: country or client IP too long", ErrInvalidInput)
	}
	return r.Origin.check()
}

// IsE164 reports whether s has the shape of an E.164 number: "+", then 7
// to 15 digits, the first not 0. It does not check that the number exists.
func IsE164(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	for _, c := range []byte(s[1:]) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (s *Service) checkBlocked(ctx context.Context, phone string) error {
	_, err := s.st.BlockedNumber(ctx, phone)
	switch {
	case err == nil:
		return ErrBlocked
	case errors.Is(err, ErrNotFound):
		return nil
	default:
		return fmt.Errorf("enroll: blocked numbers: %w", err)
	}
}

// Get returns the enrollment, first applying what time has decided:
// one past its ExpiresAt becomes expired, and one left in calling by a
// node that died becomes failed. Errors: ErrNotFound.
func (s *Service) Get(ctx context.Context, id string) (Enrollment, error) {
	e, err := s.st.GetEnrollment(ctx, id)
	if err != nil {
		return Enrollment{}, fmt.Errorf("enroll: get %s: %w", id, err)
	}
	return s.settle(ctx, e)
}

// getFor checks the Origin of a change o asks for and returns the
// enrollment to change, as Get does.
func (s *Service) getFor(ctx context.Context, id string, o Origin) (Enrollment, error) {
	if err := o.check(); err != nil {
		return Enrollment{}, err
	}
	return s.Get(ctx, id)
}

// settle stores the changes time has made to e (expiry, a call lost with
// its node) and returns the enrollment as it now is.
func (s *Service) settle(ctx context.Context, e Enrollment) (Enrollment, error) {
	for range 5 {
		now := s.now()
		var next Enrollment
		var ev AuditEvent
		var out []OutboxMessage
		switch {
		case e.Expired(now):
			next, ev = s.change(e, StateExpired, Origin{Actor: ActorSystem}, ActionExpire, now)
		case e.State == StateCalling && now.Sub(e.UpdatedAt) > s.cfg.CallTimeout+time.Minute && !s.callingHere(e.ID):
			var m OutboxMessage
			next, ev, m = RecoveredCall(e, now)
			out = []OutboxMessage{m}
		default:
			return e, nil
		}
		err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, out)
		if err == nil {
			s.publish(next)
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return Enrollment{}, fmt.Errorf("enroll: update %s: %w", e.ID, err)
		}
		if e, err = s.st.GetEnrollment(ctx, e.ID); err != nil {
			return Enrollment{}, fmt.Errorf("enroll: get %s: %w", e.ID, err)
		}
	}
	return e, nil
}

// change returns e moved to state to (Version one more, UpdatedAt now)
// and the audit event of the change, which the caller completes.
func (s *Service) change(e Enrollment, to State, o Origin, action string, now time.Time) (Enrollment, AuditEvent) {
	next := e
	next.State = to
	next.Version++
	next.UpdatedAt = now
	ev := AuditEvent{
		ID: NewID(), EnrollmentID: e.ID, At: now, Actor: o.Actor, Action: action,
		From: e.State, To: to, RequestID: o.RequestID, Attempt: e.Attempts,
	}
	return next, ev
}

// Audit returns the enrollment's audit trail, oldest first. Errors:
// ErrNotFound.
func (s *Service) Audit(ctx context.Context, id string) ([]AuditEvent, error) {
	if _, err := s.st.GetEnrollment(ctx, id); err != nil {
		return nil, fmt.Errorf("enroll: audit %s: %w", id, err)
	}
	evs, err := s.st.ListAudit(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("enroll: audit %s: %w", id, err)
	}
	return evs, nil
}

// Complete marks a verified enrollment completed, after its app password
// was shown. Errors: ErrNotFound; ErrExpired; ErrInvalidTransition (not
// verified); ErrConflict (changed meanwhile; read it again).
func (s *Service) Complete(ctx context.Context, id string, o Origin) (Enrollment, error) {
	e, err := s.getFor(ctx, id, o)
	if err != nil {
		return Enrollment{}, err
	}
	if e.State == StateExpired {
		return e, fmt.Errorf("enroll: complete %s: %w", id, ErrExpired)
	}
	if err := CheckTransition(e.State, StateCompleted); err != nil {
		return e, fmt.Errorf("enroll: complete %s: %w", id, err)
	}
	now := s.now()
	next, ev := s.change(e, StateCompleted, o, ActionComplete, now)
	next.CompletedAt = now
	if err := s.st.UpdateEnrollment(ctx, next, []AuditEvent{ev}, nil); err != nil {
		return e, fmt.Errorf("enroll: complete %s: %w", id, err)
	}
	s.publish(next)
	return next, nil
}
