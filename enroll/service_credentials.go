package enroll

import (
	"context"
	"fmt"
	"net/netip"
)

// What the front doors (the HTTP API, the web UI) need besides the
// enrollments: API keys, one-time links, app passwords, and whether the
// Store answers. They go through the Service for all of it and never hold
// the Store.

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

// APIKey returns the API key stored under hash (see [APIKeyHash]),
// revoked or not: the caller compares and checks revocation. Errors:
// ErrNotFound.
func (s *Service) APIKey(ctx context.Context, hash string) (APIKey, error) {
	return s.st.APIKeyByHash(ctx, hash)
}

// UseLink records the one-time link l as used, until it expires. Errors:
// ErrTokenUsed when it was used before.
func (s *Service) UseLink(ctx context.Context, l Link) error {
	return s.st.UseToken(ctx, l.ID, l.Expires, s.now())
}

// AppPasswords returns the user's app passwords, revoked ones included,
// oldest first.
func (s *Service) AppPasswords(ctx context.Context, user string) ([]AppPassword, error) {
	return s.st.ListAppPasswords(ctx, user)
}

// CheckAppPassword reports whether password is an active app password of
// user, and records the use of the one it matched. source is the IP
// address of the client that tried the password (the zero Addr when the
// caller does not know it); the failure limits of ServiceConfig.Limits
// (CheckLimits, which states the rule) key on it and on user. A check is
// counted as failed before any hash is computed and given back when the
// password matches; a check the limits refuse computes no hash and
// returns a *LimitError (its Limit one of "check-…"). A user with no
// active password costs one hash too, so the time taken does not tell
// whether the user has any. Each check computes argon2id hashes
// (AppPasswordMemoryKiB each): the caller bounds how many run at once.
func (s *Service) CheckAppPassword(ctx context.Context, user, password string, source netip.Addr) (bool, error) {
	now := s.now()
	refund, err := s.limits.Checks.takeCheck(ctx, s.st, user, source, now)
	if err != nil {
		return false, err
	}
	ps, err := s.st.ListAppPasswords(ctx, user)
	if err != nil {
		refund(context.WithoutCancel(ctx)) // nothing was checked
		return false, fmt.Errorf("enroll: app password check: %w", err)
	}
	matched := s.matchAppPassword(password, ps)
	if matched == nil {
		return false, nil
	}
	refund(context.WithoutCancel(ctx))
	if err := s.st.TouchAppPassword(ctx, matched.ID, now); err != nil {
		s.log.Warn("enroll: recording an app password's use failed", "app_password", matched.ID, "err", err)
	}
	return true, nil
}

// matchAppPassword returns the active app password of ps that plain is,
// or nil.
func (s *Service) matchAppPassword(plain string, ps []AppPassword) *AppPassword {
	norm, err := NormalizeAppPassword(plain)
	if err != nil {
		norm = "" // no app password: still spend one hash below
	}
	tried := false
	for i := range ps {
		p := &ps[i]
		if !p.RevokedAt.IsZero() {
			continue
		}
		tried = true
		if norm == "" {
			continue
		}
		s.hashes.Add(1)
		ok, err := VerifyAppPassword(norm, p.Hash)
		if err != nil {
			s.log.Error("enroll: a stored app password hash is unreadable", "app_password", p.ID, "err", err)
			continue
		}
		if ok {
			return p
		}
	}
	if !tried || norm == "" {
		s.hashes.Add(1)
		_, _ = VerifyAppPassword("aaaaaaaaaaaaaaaa", s.dummyHash())
	}
	return nil
}

// dummyHash returns a hash no one knows the password of, for checks that
// have no hash to compare with.
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		plain, err := NewAppPassword()
		if err == nil {
			s.dummy, _ = HashAppPassword(plain)
		}
	})
	return s.dummy
}

// Ping reports whether the Store answers now (Store.Ping), for /readyz.
func (s *Service) Ping(ctx context.Context) error { return s.st.Ping(ctx) }
