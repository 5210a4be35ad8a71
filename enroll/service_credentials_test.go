package enroll_test

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
)

// TestServiceCredentials: what the front doors read through the Service
// instead of the Store: links used once, app passwords checked (failures
// limited per user and minute), listed and revoked, API keys, readiness.
func TestServiceCredentials(t *testing.T) {
	e := newEnv(t)
	s := e.service(func(c *enroll.ServiceConfig) { c.Limits.Checks.PerUser = 2 })
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

	plain, apID := addAppPassword(t, e, "u")
	var noSource netip.Addr
	if ok, err := s.CheckAppPassword(ctx, "u", enroll.FormatAppPassword(plain), noSource); !ok || err != nil {
		t.Errorf("CheckAppPassword(right) = %v, %v", ok, err)
	}
	for range 2 {
		if ok, err := s.CheckAppPassword(ctx, "u", "abcdabcdabcdabcd", noSource); ok || err != nil {
			t.Errorf("CheckAppPassword(wrong) = %v, %v", ok, err)
		}
	}
	_, err = s.CheckAppPassword(ctx, "u", plain, noSource)
	var le *enroll.LimitError
	if !errors.As(err, &le) || le.Limit != "check-user" || le.RetryAfter <= 0 || !errors.Is(err, enroll.ErrLimit) {
		t.Errorf("CheckAppPassword over the limit = %v, want a *LimitError", err)
	}
	if ok, err := s.CheckAppPassword(ctx, "other", plain, noSource); ok || err != nil {
		t.Errorf("CheckAppPassword(another user) = %v, %v", ok, err)
	}
	ps, err := s.AppPasswords(ctx, "u")
	if err != nil || len(ps) != 1 || ps[0].LastUsedAt.IsZero() {
		t.Fatalf("AppPasswords = %+v, %v; want one, used", ps, err)
	}
	if err := s.Admin().RevokeAppPassword(ctx, "u", apID, "", enroll.Origin{Actor: enroll.ActorLocal}); err != nil {
		t.Fatal(err)
	}
	if ps, _ := s.AppPasswords(ctx, "u"); len(ps) != 1 || ps[0].RevokedAt.IsZero() {
		t.Errorf("after Admin().RevokeAppPassword: %+v", ps)
	}

	keyPlain, rec, err := enroll.NewAPIKey("crm")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(ctx, enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: enroll.ScopeCheck, CreatedAt: e.clock.Now()}); err != nil {
		t.Fatal(err)
	}
	h, _ := enroll.APIKeyHash(keyPlain)
	if k, err := s.APIKey(ctx, h); err != nil || k.Name != "crm" || k.Scopes != enroll.ScopeCheck {
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

// addAppPassword gives user an app password and returns it and its ID.
func addAppPassword(t *testing.T, e *env, user string) (plain, id string) {
	t.Helper()
	plain, err := enroll.NewAppPassword()
	if err != nil {
		t.Fatal(err)
	}
	hash, err := enroll.HashAppPassword(plain)
	if err != nil {
		t.Fatal(err)
	}
	ap := enroll.AppPassword{ID: enroll.NewID(), UserID: user, Name: "mail", Hash: hash, CreatedAt: e.clock.Now()}
	if err := e.st.CreateAppPassword(t.Context(), ap, enroll.MaxAppPasswordsPerUser); err != nil {
		t.Fatal(err)
	}
	return plain, ap.ID
}

// checkResult is what one check gave: evaluated (a hash computed, the
// password wrong), valid, or refused by the named limit.
func checkResult(t *testing.T, s *enroll.Service, user, password, source string) string {
	t.Helper()
	var src netip.Addr
	if source != "" {
		src = netip.MustParseAddr(source)
	}
	ok, err := s.CheckAppPassword(t.Context(), user, password, src)
	var le *enroll.LimitError
	switch {
	case errors.As(err, &le):
		return "refused " + le.Limit
	case err != nil:
		t.Fatalf("CheckAppPassword: %v", err)
	case ok:
		return "valid"
	}
	return "wrong"
}

const wrongPassword = "abcdabcdabcdabcd"

// Thirty concurrent wrong checks against a limit of ten: the failures are
// counted before the hash, so exactly ten hashes are computed, from one
// source (the per-source-and-user limit) and from none (the per-user
// limit). The count of hashes comes from the Service, not from timing.
func TestCheckConcurrentFailures(t *testing.T) {
	for _, c := range []struct {
		name, source, limit string
	}{
		{"one source", "198.51.100.7", "check-source-user"},
		{"no source", "", "check-user"},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			s := e.service(func(cfg *enroll.ServiceConfig) {
				cfg.Limits.Checks = enroll.CheckLimits{PerSourceUser: 10, PerUser: 10}
			})
			addAppPassword(t, e, "u")
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range 30 {
				wg.Go(func() {
					r := checkResult(t, s, "u", wrongPassword, c.source)
					mu.Lock()
					got[r]++
					mu.Unlock()
				})
			}
			wg.Wait()
			if got["wrong"] != 10 || got["refused "+c.limit] != 20 || len(got) != 2 {
				t.Errorf("results %v; want 10 wrong, 20 refused %s", got, c.limit)
			}
			if n := s.HashesComputed(); n != 10 {
				t.Errorf("%d hashes computed, want 10", n)
			}
		})
	}
}

// Nobody can lock a user out by failing on purpose: an attacker's source
// is stopped for that user first, many attacking sources are stopped at
// the per-user limit while a source that has not failed is still checked,
// and the user from their own address gets in throughout. A success gives
// its count back. The global limit bounds everything.
func TestCheckLockout(t *testing.T) {
	e := newEnv(t)
	s := e.service() // the default limits: 10 per source and user, 100 per source, 50 per user
	plain, _ := addAppPassword(t, e, "u")
	addAppPassword(t, e, "v")
	const user = "203.0.113.5"

	attacker := "198.51.100.7"
	for i := range enroll.DefaultCheckFailuresPerSourceUser {
		if r := checkResult(t, s, "u", wrongPassword, attacker); r != "wrong" {
			t.Fatalf("attacker's check %d: %s", i+1, r)
		}
	}
	if r := checkResult(t, s, "u", wrongPassword, attacker); r != "refused check-source-user" {
		t.Fatalf("attacker past the limit: %s", r)
	}
	if r := checkResult(t, s, "u", plain, attacker); r != "refused check-source-user" {
		t.Fatalf("attacker with the right password past the limit: %s (no hash may be computed)", r)
	}
	// The attacker's address may still try other users.
	if r := checkResult(t, s, "v", wrongPassword, attacker); r != "wrong" {
		t.Fatalf("attacker on another user: %s", r)
	}
	if r := checkResult(t, s, "u", plain, user); r != "valid" {
		t.Fatalf("the user from their own address: %s", r)
	}
	// A success gives its count back: ten right passwords from one
	// address do not use up its limit.
	for range 2 * enroll.DefaultCheckFailuresPerSourceUser {
		if r := checkResult(t, s, "u", plain, user); r != "valid" {
			t.Fatalf("repeated right password: %s", r)
		}
	}

	// Many addresses, one failure each, up to the per-user limit (the
	// attacker's ten count too).
	hashes := s.HashesComputed()
	addrs := 0
	for range enroll.DefaultCheckFailuresPerUser - enroll.DefaultCheckFailuresPerSourceUser {
		addrs++
		if r := checkResult(t, s, "u", wrongPassword, fmt.Sprintf("192.0.2.%d", addrs)); r != "wrong" {
			t.Fatalf("address %d: %s", addrs, r)
		}
	}
	// Past it, an address that failed for the user is refused without a
	// hash; one that has not is checked once; the user still gets in.
	if r := checkResult(t, s, "u", wrongPassword, "192.0.2.1"); r != "refused check-user" {
		t.Fatalf("a failed address past the per-user limit: %s", r)
	}
	if r := checkResult(t, s, "u", wrongPassword, "192.0.2.200"); r != "wrong" {
		t.Fatalf("a new address past the per-user limit: %s", r)
	}
	if r := checkResult(t, s, "u", wrongPassword, "192.0.2.200"); r != "refused check-user" {
		t.Fatalf("the new address again: %s", r)
	}
	if r := checkResult(t, s, "u", plain, user); r != "valid" {
		t.Fatalf("the user past the per-user limit: %s", r)
	}
	if got, want := s.HashesComputed()-hashes, int64(addrs+2); got != want {
		t.Errorf("%d hashes in the distributed attack, want %d", got, want)
	}
	// An IPv6 client is its /64: another address of the same network is
	// the same source.
	for range enroll.DefaultCheckFailuresPerSourceUser {
		if r := checkResult(t, s, "v", wrongPassword, "2001:db8:1:2::1"); r != "wrong" {
			t.Fatal(r)
		}
	}
	if r := checkResult(t, s, "v", wrongPassword, "2001:db8:1:2:ffff::9"); r != "refused check-source-user" {
		t.Fatalf("same /64: %s", r)
	}
	// Everything counts again next minute.
	e.clock.Advance(time.Minute)
	if r := checkResult(t, s, "u", wrongPassword, attacker); r != "wrong" {
		t.Fatalf("next minute: %s", r)
	}
}

// The global limit refuses, once reached, the sources that have failed
// (and checks without a source), and a source's limit covers all users
// together.
func TestCheckGlobalAndSourceLimits(t *testing.T) {
	e := newEnv(t)
	s := e.service(func(c *enroll.ServiceConfig) {
		c.Limits.Checks = enroll.CheckLimits{PerSource: 3, GlobalPerMinute: 5}
	})
	plain, _ := addAppPassword(t, e, "u")
	for i := range 3 {
		if r := checkResult(t, s, fmt.Sprintf("user-%d", i), wrongPassword, "198.51.100.7"); r != "wrong" {
			t.Fatal(r)
		}
	}
	if r := checkResult(t, s, "user-9", wrongPassword, "198.51.100.7"); r != "refused check-source" {
		t.Fatalf("fourth user from one source: %s", r)
	}
	for i := range 2 {
		if r := checkResult(t, s, "w", wrongPassword, fmt.Sprintf("192.0.2.%d", i)); r != "wrong" {
			t.Fatal(r)
		}
	}
	// Past the global limit a source that has failed this minute is
	// refused; the user at an address that has not is still checked, so
	// attackers from many addresses cannot lock everyone out.
	if r := checkResult(t, s, "u", plain, "192.0.2.0"); r != "refused check-global" {
		t.Fatalf("past the global limit, a source that failed: %s", r)
	}
	if r := checkResult(t, s, "u", plain, "203.0.113.5"); r != "valid" {
		t.Fatalf("past the global limit, the user from a fresh address: %s", r)
	}
	if r := checkResult(t, s, "u", plain, ""); r != "refused check-global" {
		t.Fatalf("past the global limit, a check without a source: %s", r)
	}
}
