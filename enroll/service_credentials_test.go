package enroll_test

import (
	"errors"
	"testing"
	"time"

	"denwa/enroll"
)

// TestServiceCredentials: what the front doors read through the Service
// instead of the Store: links used once, app passwords checked (failures
// limited per user and minute), listed and revoked, API keys, readiness.
func TestServiceCredentials(t *testing.T) {
	e := newEnv(t)
	s := e.service()
	ctx := t.Context()

	l, err := enroll.NewLink("", "u", time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.UseLink(ctx, l); err != nil {
		t.Fatalf("UseLink: %v", err)
	}
	if err := s.UseLink(ctx, l); !errors.Is(err, enroll.ErrTokenUsed) {
		t.Errorf("UseLink again = %v, want ErrTokenUsed", err)
	}

	plain, err := enroll.NewAppPassword()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := enroll.HashAppPassword(plain)
	if err != nil {
		t.Fatal(err)
	}
	ap := enroll.AppPassword{ID: enroll.NewID(), UserID: "u", Name: "mail", Hash: hash, CreatedAt: e.clock.Now()}
	if err := e.st.CreateAppPassword(ctx, ap, enroll.MaxAppPasswordsPerUser); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CheckAppPassword(ctx, "u", enroll.FormatAppPassword(plain), 2); !ok || err != nil {
		t.Errorf("CheckAppPassword(right) = %v, %v", ok, err)
	}
	for range 2 {
		if ok, err := s.CheckAppPassword(ctx, "u", "abcdabcdabcdabcd", 2); ok || err != nil {
			t.Errorf("CheckAppPassword(wrong) = %v, %v", ok, err)
		}
	}
	_, err = s.CheckAppPassword(ctx, "u", plain, 2)
	var le *enroll.LimitError
	if !errors.As(err, &le) || le.Limit != "app-password-check" || le.RetryAfter <= 0 || !errors.Is(err, enroll.ErrLimit) {
		t.Errorf("CheckAppPassword over the limit = %v, want a *LimitError", err)
	}
	if ok, err := s.CheckAppPassword(ctx, "other", plain, 2); ok || err != nil {
		t.Errorf("CheckAppPassword(another user) = %v, %v", ok, err)
	}
	ps, err := s.AppPasswords(ctx, "u")
	if err != nil || len(ps) != 1 || ps[0].LastUsedAt.IsZero() {
		t.Fatalf("AppPasswords = %+v, %v; want one, used", ps, err)
	}
	if err := s.RevokeAppPassword(ctx, "u", ap.ID); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.AppPasswords(ctx, "u"); len(ps) != 1 || ps[0].RevokedAt.IsZero() {
		t.Errorf("after RevokeAppPassword: %+v", ps)
	}

	keyPlain, rec, err := enroll.NewAPIKey("crm")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(ctx, enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h, _ := enroll.APIKeyHash(keyPlain)
	if k, err := s.APIKey(ctx, h); err != nil || k.Name != "crm" {
		t.Errorf("APIKey = %+v, %v", k, err)
	}
	if _, err := s.APIKey(ctx, "nope"); !errors.Is(err, enroll.ErrNotFound) {
		t.Errorf("APIKey(unknown) = %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping = %v", err)
	}
	e.st.Close()
	if err := s.Ping(ctx); err == nil {
		t.Error("Ping on a closed store = nil")
	}
}
