package enroll

import (
	"context"
	"fmt"
)

// IssueAppPassword makes the app password a verified enrollment earns and
// completes the enrollment, so that one verified enrollment gives exactly
// one app password, however many requests race for it.
//
// The password (16 letters from crypto/rand) is stored first, as its
// argon2id hash only, under the store's cap of [MaxAppPasswordsPerUser]
// (ErrLimit); then the enrollment moves verified → completed by
// compare-and-set. If that loses (another request completed it first, or it
// expired: ErrConflict, ErrInvalidTransition or ErrExpired), the password
// just stored is revoked again, since no one will ever see it. plain is
// returned to be shown once and never kept.
func (s *Service) IssueAppPassword(ctx context.Context, id, name string, o Origin) (plain string, ap AppPassword, err error) {
	e, err := s.Get(ctx, id)
	if err != nil {
		return "", AppPassword{}, err
	}
	if e.State != StateVerified {
		return "", AppPassword{}, fmt.Errorf("enroll: app password for %s: enrollment is %s: %w", id, e.State, ErrInvalidTransition)
	}
	plain, err = NewAppPassword()
	if err != nil {
		return "", AppPassword{}, err
	}
	hash, err := HashAppPassword(plain)
	if err != nil {
		return "", AppPassword{}, err
	}
	now := s.now()
	ap = AppPassword{ID: NewID(), UserID: e.UserID, Name: name, Hash: hash, CreatedAt: now}
	if err := s.st.CreateAppPassword(ctx, ap, MaxAppPasswordsPerUser); err != nil {
		return "", AppPassword{}, fmt.Errorf("enroll: app password for %s: %w", id, err)
	}
	if _, err := s.Complete(ctx, id, o); err != nil {
		if rerr := s.st.RevokeAppPassword(context.WithoutCancel(ctx), ap.UserID, ap.ID, now); rerr != nil {
			s.log.Error("enroll: revoking an app password whose enrollment did not complete failed",
				"enrollment", id, "app_password", ap.ID, "err", rerr)
		}
		return "", AppPassword{}, err
	}
	s.log.Info("enroll: app password issued", "enrollment", id, "app_password", ap.ID, "request", o.RequestID)
	return plain, ap, nil
}
