package enroll_test

import (
	"errors"
	"sync"
	"testing"

	"denwa/dtmf"
	"denwa/enroll"
)

// One verified enrollment gives exactly one app password, however many
// requests race for it; the losers' passwords are revoked, the winner's
// verifies against the stored hash, and nothing is issued before the call
// verified the phone.
func TestIssueAppPassword(t *testing.T) {
	e := newEnv(t)
	e.press(dtmf.SourceRFC4733, "#")
	s := e.service()
	ctx := t.Context()
	en := create(t, s, "user-issue")
	if _, _, err := s.IssueAppPassword(ctx, en.ID, "mail", origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Fatalf("issue before the call: %v, want ErrInvalidTransition", err)
	}
	if _, err := s.StartCall(ctx, en.ID, origin); err != nil {
		t.Fatal(err)
	}
	waitState(t, s, en.ID, enroll.StateVerified)

	const racers = 6
	type issued struct {
		plain string
		ap    enroll.AppPassword
		err   error
	}
	results := make([]issued, racers)
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			p, ap, err := s.IssueAppPassword(ctx, en.ID, "mail", origin)
			results[i] = issued{p, ap, err}
		})
	}
	wg.Wait()
	var won *issued
	for i := range results {
		r := &results[i]
		switch {
		case r.err == nil && won == nil:
			won = r
		case r.err == nil:
			t.Fatal("two requests were issued a password for one enrollment")
		case !errors.Is(r.err, enroll.ErrConflict) && !errors.Is(r.err, enroll.ErrInvalidTransition):
			t.Fatalf("a losing request: %v", r.err)
		}
	}
	if won == nil {
		t.Fatal("no request was issued a password")
	}
	got, err := s.Get(ctx, en.ID)
	if err != nil || got.State != enroll.StateCompleted {
		t.Fatalf("enrollment after issuing: %+v, %v", got, err)
	}
	aps, err := e.st.ListAppPasswords(ctx, "user-issue")
	if err != nil {
		t.Fatal(err)
	}
	active := 0
	for _, ap := range aps {
		if ap.RevokedAt.IsZero() {
			active++
			if ap.ID != won.ap.ID {
				t.Fatalf("active password %s is not the one shown (%s)", ap.ID, won.ap.ID)
			}
			if ok, err := enroll.VerifyAppPassword(won.plain, ap.Hash); !ok || err != nil {
				t.Fatalf("the password shown does not verify: %v", err)
			}
		}
	}
	if active != 1 {
		t.Fatalf("%d active app passwords, want 1 (of %d stored)", active, len(aps))
	}
	if _, _, err := s.IssueAppPassword(ctx, en.ID, "mail", origin); !errors.Is(err, enroll.ErrInvalidTransition) {
		t.Fatalf("issue again after completion: %v", err)
	}
}
