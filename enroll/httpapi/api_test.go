package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
)

// The whole flow through real HTTP against a SQLite file, with webhooks
// delivered and the log captured: create → stream → call → calling →
// verified → app password → check → list → revoke → check false. No
// secret used anywhere in the flow may appear in the log.
func TestFlow(t *testing.T) {
	h := newHarness(t, harnessOpts{})

	// A webhook receiver checking every signature.
	secret := []byte(hex.EncodeToString(randBytes(24))) // 48 bytes, printable
	var mu sync.Mutex
	var hooks []enroll.WebhookPayload
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := enroll.VerifyWebhook(secret, r.Header.Get(enroll.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("webhook signature: %v", err)
			w.WriteHeader(400)
			return
		}
		var p enroll.WebhookPayload
		if err := jsonUnmarshal(body, &p); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		hooks = append(hooks, p)
		mu.Unlock()
	}))
	defer recv.Close()
	ctx, stopHooks := context.WithCancel(context.Background())
	hookDone := make(chan error, 1)
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
		Store: h.st, URL: recv.URL, Secret: secret, Logger: h.log, PollInterval: 20 * time.Millisecond, Now: h.clock.Now,
	})
	go func() { hookDone <- d.Run(ctx) }()
	defer func() {
		stopHooks()
		<-hookDone
	}()

	e, link := h.create("u-1001", "03-1234-5678")
	if e.Phone != "+81312345678" || e.State != enroll.StatePending || e.PhoneDisplay != "+81 3-1234-5678" {
		t.Fatalf("created %+v", e)
	}
	if link.Token == "" || link.URL != "https://denwa.example/enroll#"+link.Token {
		t.Fatalf("link %+v", link)
	}

	resp, events, cancel := h.sse("/v1/enrollments/"+e.ID+"/stream", h.key)
	defer cancel()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("stream Content-Type %q", ct)
	}
	if s, _ := nextState(t, events); s.State != enroll.StatePending {
		t.Fatalf("first event %s, want pending", s.State)
	}

	r := h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil, "X-Request-ID", "req-call-1")
	want(t, r, 202, "")
	if r.Header.Get("X-Request-ID") != "req-call-1" {
		t.Errorf("X-Request-ID %q not echoed", r.Header.Get("X-Request-ID"))
	}
	var seen []enroll.State
	for {
		s, ok := nextState(t, events)
		if !ok {
			break
		}
		seen = append(seen, s.State)
		if s.State == enroll.StateVerified {
			if s.Outcome != enroll.OutcomeVerified || s.KeySource != "rfc4733" {
				t.Errorf("verified event %+v", s)
			}
			break
		}
	}
	if len(seen) != 2 || seen[0] != enroll.StateCalling || seen[1] != enroll.StateVerified {
		t.Fatalf("stream states %v, want [calling verified]", seen)
	}

	// The audit trail, with the request ID of the call's start.
	r = h.do("GET", "/v1/enrollments/"+e.ID+"/events", h.key, nil)
	want(t, r, 200, "")
	var evs eventsResponse
	r.decode(t, &evs)
	var actions []string
	for _, ev := range evs.Events {
		actions = append(actions, ev.Action)
		if ev.Action == enroll.ActionCallStart && (ev.RequestID != "req-call-1" || ev.Actor != "api-key:crm") {
			t.Errorf("call.start event %+v", ev)
		}
	}
	if strings.Join(actions, ",") != "create,call.start,call.end" {
		t.Errorf("audit actions %v", actions)
	}

	// An app password, shown once.
	r = h.do("POST", "/v1/users/u-1001/app-passwords", h.key, map[string]string{"name": "iPhone mail", "enrollment_id": e.ID})
	want(t, r, 201, "")
	if cc := r.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q on a secret", cc)
	}
	var pw issuedJSON
	r.decode(t, &pw)
	if len(pw.Password) != 16 || pw.PasswordDisplay != enroll.FormatAppPassword(pw.Password) || pw.Name != "iPhone mail" {
		t.Fatalf("issued %+v", pw)
	}
	// The stream ends: the enrollment is completed.
	if s, ok := nextState(t, events); !ok || s.State != enroll.StateCompleted {
		t.Errorf("after the issue the stream gave %v %v, want completed", s.State, ok)
	}
	if _, ok := nextState(t, events); ok {
		t.Error("the stream went on after completed")
	}
	// A second issue for the same enrollment is refused.
	r = h.do("POST", "/v1/users/u-1001/app-passwords", h.key, map[string]string{"name": "again", "enrollment_id": e.ID})
	want(t, r, 409, CodeInvalidState)
	// The link is spent with the enrollment completed.
	r = h.do("GET", "/v1/enrollments/"+e.ID, link.Token, nil)
	want(t, r, 410, CodeLinkUsed)

	check := func(user, password string) bool {
		t.Helper()
		r := h.do("POST", "/v1/app-passwords/check", h.key, map[string]string{"user": user, "password": password})
		want(t, r, 200, "")
		var c checkResponse
		r.decode(t, &c)
		return c.Valid
	}
	if !check("u-1001", pw.PasswordDisplay) || !check("u-1001", strings.ToUpper(pw.Password)) {
		t.Error("the issued password does not check")
	}
	if check("u-1001", "aaaabbbbccccdddd") || check("u-other", pw.Password) || check("u-1001", "short") {
		t.Error("a wrong password checks")
	}

	r = h.do("GET", "/v1/users/u-1001/app-passwords", h.key, nil)
	want(t, r, 200, "")
	if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), pw.Password) {
		t.Fatalf("list shows a hash or the password: %s", r.body)
	}
	var list listResponse
	r.decode(t, &list)
	if len(list.AppPasswords) != 1 || list.Active != 1 || list.AppPasswords[0].LastUsedAt.IsZero() {
		t.Fatalf("list %+v", list)
	}

	r = h.do("DELETE", "/v1/users/u-1001/app-passwords/"+pw.ID, h.key, nil)
	want(t, r, 204, "")
	r = h.do("DELETE", "/v1/users/u-other/app-passwords/"+pw.ID, h.key, nil)
	want(t, r, 404, CodeNotFound)
	if check("u-1001", pw.Password) {
		t.Error("a revoked password checks")
	}

	// The verified webhook arrived, signed.
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(hooks)
		mu.Unlock()
		if n > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	if len(hooks) != 1 || hooks[0].Event != enroll.EventVerified || hooks[0].Enrollment.ID != e.ID {
		t.Errorf("webhooks %+v", hooks)
	}
	mu.Unlock()

	// Secrets never reach the log.
	stopHooks()
	<-hookDone
	hookDone <- nil
	logs := h.logs.String()
	if !strings.Contains(logs, "req-call-1") || !strings.Contains(logs, "/v1/enrollments/{id}/call") {
		t.Errorf("the log lacks the request ID or route:\n%s", logs)
	}
	for name, s := range map[string]string{
		"API key": h.key, "API key secret": h.key[21:], "link token": link.Token, "link MAC": link.Token[strings.LastIndex(link.Token, ".")+1:],
		"app password": pw.Password, "app password display": pw.PasswordDisplay, "webhook secret": string(secret),
		"link key":     hex.EncodeToString(h.linkKy),
		"phone number": "+81312345678", "phone number as typed": "03-1234-5678", "national number": "0312345678",
	} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds the %s", name)
		}
	}
	audit, _ := h.st.ListAudit(t.Context(), e.ID)
	for _, ev := range audit {
		for _, s := range []string{h.key, link.Token, pw.Password} {
			if strings.Contains(ev.Cause+ev.RequestID+string(ev.Actor)+ev.Keys, s) {
				t.Errorf("audit event holds a secret: %+v", ev)
			}
		}
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}
