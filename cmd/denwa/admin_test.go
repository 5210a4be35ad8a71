package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/httpapi"
	"denwa/enroll/store/sqlite"
)

// adminFixture is a service on a store with what an operator looks at:
// an enrollment whose phone reported fraud (its number blocked), one
// verified, and a dead webhook; its API runs on a test server.
type adminFixture struct {
	db       string
	st       *sqlite.Store
	url      string
	key      string // admin scope
	enrollKy string // enroll scope only
	fraud    enroll.Enrollment
	verified enroll.Enrollment
	deadID   int64
}

func newAdminFixture(t *testing.T) *adminFixture {
	t.Helper()
	ctx := context.Background()
	f := &adminFixture{db: filepath.Join(t.TempDir(), "denwa.db")}
	st, err := sqlite.Open(ctx, f.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.st = st
	dialer := enrolltest.NewFakeDialer()
	press := func(keys string) { // the phone answers and presses keys
		dialer.AnswerWith(func(l *enrolltest.FakeLine) {
			for _, p := range enroll.Prompts() {
				l.SetPromptLength(p, 30*time.Millisecond)
			}
			l.OnPlay(enroll.PromptGreeting, 1, 10*time.Millisecond, func() { l.Press(keys) })
		})
	}
	svc, err := enroll.NewService(enroll.ServiceConfig{Store: st, Dialer: dialer, Node: "node-a",
		Limits: enroll.Limits{PerNumber: 100, PerUser: 100}, PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Recover(ctx); err != nil { // a named node takes its lease first
		t.Fatal(err)
	}
	links, err := enroll.NewLinkSigner(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := httpapi.New(httpapi.Config{Service: svc, Links: links})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(func() {
		srv.Close()
		ts.Close()
		svc.Close(context.Background())
		st.Close()
	})
	f.url = ts.URL

	origin := enroll.Origin{Actor: enroll.ActorAPIKey("crm")}
	call := func(user string, want enroll.State) enroll.Enrollment {
		e, err := svc.Create(ctx, enroll.CreateRequest{UserID: user, Phone: "03-1234-5678", Origin: origin})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.StartCall(ctx, e.ID, origin); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := svc.Get(ctx, e.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.State == want {
				return got
			}
			if time.Now().After(deadline) {
				t.Fatalf("enrollment in %s, want %s", got.State, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	press("#")
	f.verified = call("u-1", enroll.StateVerified)
	press("0#")
	f.fraud = call("u-1", enroll.StateFailed)

	now := enroll.Now(time.Now())
	f.deadID, err = st.EnqueueOutbox(ctx, enroll.OutboxMessage{Event: enroll.EventFailed, Payload: []byte("{}"), CreatedAt: now, NextAttemptAt: now})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.MarkOutboxDead(ctx, f.deadID, now, "HTTP 502"); err != nil {
		t.Fatal(err)
	}
	f.key = f.newKey(t, "ops", enroll.ScopeAdmin)
	f.enrollKy = f.newKey(t, "crm-only", enroll.ScopeEnroll)
	return f
}

func (f *adminFixture) newKey(t *testing.T, name string, scopes enroll.Scopes) string {
	t.Helper()
	plain, rec, err := enroll.NewAPIKey(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.CreateAPIKey(t.Context(), enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: scopes, CreatedAt: enroll.Now(time.Now())}); err != nil {
		t.Fatal(err)
	}
	return plain
}

// adminCLI runs `denwa admin args…` on the backend: "api" (the
// environment names the service and the key) or "store" (--store).
func (f *adminFixture) adminCLI(t *testing.T, backend string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	full := append([]string{"admin"}, args...)
	if backend == "store" {
		full = append(full, "--store", f.db)
	}
	return runCLI(t, full...)
}

func decodeJSON[T any](t *testing.T, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	return v
}

// The same operations give the same answers through the admin API and on
// the store: search, a timeline, the fraud report, the unblock (recorded
// with its actor and reason), keys, webhooks, the summary.
func TestAdminCLI(t *testing.T) {
	for _, backend := range []string{"api", "store"} {
		t.Run(backend, func(t *testing.T) {
			f := newAdminFixture(t)
			t.Setenv(adminURLEnv, f.url)
			t.Setenv(adminKeyEnv, f.key)
			actor := "api-key:ops"
			if backend == "store" {
				t.Setenv(adminURLEnv, "") // --store needs no service
				actor = "local"
			}
			run := func(args ...string) (string, string) {
				t.Helper()
				out, errOut, code := f.adminCLI(t, backend, args...)
				if code != 0 {
					t.Fatalf("admin %v: exit %d\n%s%s", args, code, out, errOut)
				}
				return out, errOut
			}
			fails := func(code int, says string, args ...string) {
				t.Helper()
				out, errOut, got := f.adminCLI(t, backend, args...)
				if got != code || !strings.Contains(errOut, says) {
					t.Fatalf("admin %v: exit %d (want %d), stderr %q does not say %q\n%s", args, got, code, errOut, says, out)
				}
			}

			// Search, as a table and as JSON, by page.
			out, _ := run("enrollments", "list", "--user", "u-1")
			for _, e := range []enroll.Enrollment{f.verified, f.fraud} {
				if !regexp.MustCompile(regexp.QuoteMeta(e.ID) + `\s+u-1\s+\+81312345678\s+` + e.State.String()).MatchString(out) {
					t.Errorf("list does not show %s as %s:\n%s", e.ID, e.State, out)
				}
			}
			out, errOut := run("enrollments", "list", "--limit", "1", "--json")
			page := decodeJSON[httpapi.AdminEnrollments](t, out)
			if len(page.Enrollments) != 1 || page.Enrollments[0].ID != f.fraud.ID || page.NextCursor == "" || errOut != "" {
				t.Fatalf("first page %+v (stderr %q)", page, errOut)
			}
			out, _ = run("enrollments", "list", "--limit", "1", "--cursor", page.NextCursor, "--json")
			if p := decodeJSON[httpapi.AdminEnrollments](t, out); len(p.Enrollments) != 1 || p.Enrollments[0].ID != f.verified.ID {
				t.Fatalf("second page %+v", p)
			}
			out, errOut = run("enrollments", "list", "--limit", "1")
			if !strings.Contains(errOut, "more: --cursor ") {
				t.Fatalf("the table of a first page does not say how to go on: %q", errOut)
			}
			out, _ = run("enrollments", "list", "--outcome", "verified", "--phone", "+81312345678", "--json")
			if p := decodeJSON[httpapi.AdminEnrollments](t, out); len(p.Enrollments) != 1 || p.Enrollments[0].ID != f.verified.ID {
				t.Fatalf("--outcome verified: %+v", p)
			}
			fails(2, "state", "enrollments", "list", "--state", "sleeping")
			fails(2, "limit", "enrollments", "list", "--limit", "9999")
			fails(2, "--from", "enrollments", "list", "--from", "yesterday")

			// One enrollment's timeline.
			out, _ = run("enrollments", "show", f.fraud.ID)
			for _, s := range []string{"call.start", "call.end", "fraud-reported", "0#", "rfc4733", "node-a", "blocked  since"} {
				if !strings.Contains(out, s) {
					t.Errorf("show does not say %q:\n%s", s, out)
				}
			}
			out, _ = run("enrollments", "show", f.fraud.ID, "--json")
			d := decodeJSON[httpapi.AdminEnrollmentDetail](t, out)
			if len(d.Timeline) != 4 || d.Timeline[2].Node != "node-a" || d.Timeline[2].AnsweredAt.IsZero() || d.Block == nil {
				t.Fatalf("show --json %+v", d)
			}
			fails(1, "not found", "enrollments", "show", "AAAAAAAAAAAAAAAAAAAAAA")

			// The fraud report and the block, then the unblock.
			out, _ = run("fraud", "list")
			if !regexp.MustCompile(`\+81312345678\s+u-1\s+` + regexp.QuoteMeta(f.fraud.ID) + `\s+0#\s+rfc4733\s+yes`).MatchString(out) {
				t.Errorf("fraud list:\n%s", out)
			}
			out, _ = run("blocked", "list")
			if !strings.Contains(out, "+81312345678") || !strings.Contains(out, f.fraud.ID) {
				t.Errorf("blocked list:\n%s", out)
			}
			_, errOut = run("blocked", "unblock", "03-1234-5678", "--reason", "pressed 0# by mistake")
			if !strings.Contains(errOut, "unblocked +81312345678") || !strings.Contains(errOut, actor) {
				t.Errorf("unblock said %q", errOut)
			}
			fails(1, "not found", "blocked", "unblock", "+81312345678")
			out, _ = run("blocked", "list", "--json")
			if b := decodeJSON[httpapi.BlockedNumbers](t, out); len(b.BlockedNumbers) != 0 {
				t.Fatalf("still blocked: %+v", b)
			}
			out, _ = run("log", "--json", "--target", "+81312345678")
			log := decodeJSON[httpapi.OperatorEvents](t, out)
			if len(log.Events) != 1 || log.Events[0].Actor != actor || log.Events[0].Action != enroll.OpUnblock ||
				log.Events[0].Reason != "pressed 0# by mistake" || log.Events[0].EnrollmentID != f.fraud.ID {
				t.Fatalf("the unblock's operator event: %+v", log)
			}
			out, _ = run("fraud", "list", "--json")
			if fr := decodeJSON[httpapi.FraudReports](t, out); len(fr.Reports) != 1 || fr.Reports[0].Blocked {
				t.Fatalf("fraud list after unblock %+v", fr)
			}

			// Keys.
			out, errOut = run("keys", "create", "portal", "--scope", "enroll,check")
			if !strings.HasPrefix(out, "dnw_") || strings.Count(out, "\n") != 1 || !strings.Contains(errOut, "check,enroll") {
				t.Fatalf("keys create: %q %q", out, errOut)
			}
			fails(1, "exists", "keys", "create", "portal")
			fails(2, "--scope", "keys", "create", "p2", "--scope", "root")
			out, _ = run("keys", "list")
			if !regexp.MustCompile(`(?m)^portal\s+check,enroll\s+\d{4}-`).MatchString(out) {
				t.Errorf("keys list:\n%s", out)
			}
			run("keys", "revoke", "portal", "--reason", "rotated")
			fails(1, "no key named", "keys", "revoke", "nobody")

			// Webhooks.
			out, _ = run("webhooks", "list")
			if !regexp.MustCompile(`(?m)^` + itoa(f.deadID) + `\s+dead\s+enrollment.failed\s.*HTTP 502`).MatchString(out) {
				t.Errorf("webhooks list:\n%s", out)
			}
			run("webhooks", "redeliver", itoa(f.deadID))
			fails(1, "not dead", "webhooks", "redeliver", itoa(f.deadID))
			fails(2, "state", "webhooks", "list", "--state", "all")

			// The summary.
			out, _ = run("summary")
			if !strings.Contains(out, "fraud-reported") || !strings.Contains(out, "verified") || !strings.Contains(out, "answer to key") {
				t.Errorf("summary:\n%s", out)
			}
			out, _ = run("summary", "--json", "--bucket", "1h")
			if s := decodeJSON[httpapi.Summary](t, out); s.Calls != 2 || s.Bucket != 3600 || len(s.Series) != 24 {
				t.Fatalf("summary --json %+v", s)
			}

			// Everything done here is in the operator log, by this actor.
			out, _ = run("log", "--json")
			var acts []string
			for _, ev := range decodeJSON[httpapi.OperatorEvents](t, out).Events {
				if ev.Actor != actor {
					t.Errorf("operator event %+v: actor, want %s", ev, actor)
				}
				acts = append(acts, ev.Action)
			}
			if got := strings.Join(acts, " "); got != "webhook.redeliver api-key.revoke api-key.create unblock" {
				t.Fatalf("operator log: %s", got)
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Without a store or the environment, admin says what it needs; a key
// without the admin scope is refused by the service; the key is never a
// flag.
func TestAdminCLIAccess(t *testing.T) {
	f := newAdminFixture(t)
	t.Setenv(adminURLEnv, "")
	t.Setenv(adminKeyEnv, "")
	if _, errOut, code := runCLI(t, "admin", "enrollments", "list"); code != 2 || !strings.Contains(errOut, adminURLEnv) || !strings.Contains(errOut, "--store") {
		t.Fatalf("no backend: exit %d %q", code, errOut)
	}
	t.Setenv(adminURLEnv, f.url)
	t.Setenv(adminKeyEnv, f.enrollKy)
	if _, errOut, code := runCLI(t, "admin", "enrollments", "list"); code != 2 || !strings.Contains(errOut, "insufficient_scope") || strings.Contains(errOut, f.enrollKy) {
		t.Fatalf("an enroll-scoped key: exit %d %q", code, errOut)
	}
	t.Setenv(adminURLEnv, "ftp://x")
	if _, errOut, code := runCLI(t, "admin", "enrollments", "list"); code != 2 || !strings.Contains(errOut, adminURLEnv) {
		t.Fatalf("a bad URL: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "admin", "enrollments", "list", "--key", f.key); code == 0 || !strings.Contains(errOut, "unknown flag") {
		t.Fatalf("--key: exit %d %q", code, errOut)
	}
	if _, errOut, code := runCLI(t, "admin", "enrollments", "list", "--store", filepath.Join(t.TempDir(), "none.db")); code != 2 || !strings.Contains(errOut, "none.db") {
		t.Fatalf("a missing store: exit %d %q", code, errOut)
	}
}
