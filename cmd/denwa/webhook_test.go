package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/enroll/store/sqlite"
	"denwa/sip"
	"denwa/sip/siptest"
)

var testHookSecret = []byte("webhook-secret-webhook-secret-0123456789")

// outboxStore opens a new store file for a webhook test.
func outboxStore(t *testing.T) (*sqlite.Store, string) {
	t.Helper()
	db := filepath.Join(t.TempDir(), "denwa.db")
	st, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, db
}

// queue enqueues a message due now.
func queue(t *testing.T, st enroll.Store, event, enrollment string) int64 {
	t.Helper()
	now := enroll.Now(time.Now())
	id, err := st.EnqueueOutbox(t.Context(), enroll.OutboxMessage{
		Event: event, EnrollmentID: enrollment, Payload: []byte(`{"phone":"+81312345678"}`), CreatedAt: now, NextAttemptAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// kill claims the message and records its last attempt as failed.
func kill(t *testing.T, st enroll.Store, id int64, lastErr string) {
	t.Helper()
	if _, err := st.ClaimOutbox(t.Context(), enroll.Now(time.Now()), time.Minute, 100); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkOutboxDead(t.Context(), id, enroll.Now(time.Now()), lastErr); err != nil {
		t.Fatal(err)
	}
}

// inState returns message id if it is in state (any for OutboxAny).
func inState(t *testing.T, st enroll.Store, id int64, state enroll.OutboxState) (enroll.OutboxMessage, bool) {
	t.Helper()
	ms, err := st.ListOutbox(t.Context(), state, 0)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(ms, func(m enroll.OutboxMessage) bool { return m.ID == id }); i >= 0 {
		return ms[i], true
	}
	return enroll.OutboxMessage{}, false
}

// waitOutboxState waits, with a generous deadline, until message id is in
// state.
func waitOutboxState(t *testing.T, st enroll.Store, id int64, state enroll.OutboxState) enroll.OutboxMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m, ok := inState(t, st, id, state); ok {
			return m
		}
		if time.Now().After(deadline) {
			m, _ := inState(t, st, id, enroll.OutboxAny)
			t.Fatalf("message %d: %s, want %s: %+v", id, m.State(), state, m)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// scrapeOutbox returns the denwa_webhook_messages gauges /metrics shows.
func scrapeOutbox(t *testing.T, h http.Handler) (pending, dead string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	get := func(state string) string {
		m := regexp.MustCompile(`(?m)^denwa_webhook_messages\{state="` + state + `"\} (\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("/metrics has no denwa_webhook_messages{state=%q}:\n%s", state, body)
		}
		return m[1]
	}
	return get("pending"), get("dead")
}

// A receiver that always fails: after the last retry the message is dead
// with the receiver's status, /metrics counts it as dead and not as
// pending, and `webhook list` shows it.
func TestWebhookDeadMetric(t *testing.T) {
	st, db := outboxStore(t)
	m := newMetrics()
	m.outbox(st)
	var requests atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer recv.Close()
	id := queue(t, st, enroll.EventVerified, "e-1")
	if p, d := scrapeOutbox(t, m.handler()); p != "1" || d != "0" {
		t.Fatalf("before delivery: %s pending, %s dead; want 1, 0", p, d)
	}
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
		Store: st, URL: recv.URL, Secret: testHookSecret,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 3, PollInterval: 5 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	msg := waitOutboxState(t, st, id, enroll.OutboxDead)
	cancel()
	<-done
	if msg.Attempts != 3 || !strings.Contains(msg.LastError, "answered 500") || msg.DeadAt.IsZero() || requests.Load() != 3 {
		t.Fatalf("dead message %+v after %d requests; want 3 attempts, answered 500", msg, requests.Load())
	}
	if p, d := scrapeOutbox(t, m.handler()); p != "0" || d != "1" {
		t.Errorf("after the last retry: %s pending, %s dead; want 0, 1", p, d)
	}
	out, stderr, code := runCLI(t, "webhook", "list", "--store", db)
	line := regexp.MustCompile(`(?m)^` + strconv.FormatInt(id, 10) + `\s+dead\s+enrollment\.verified\s+e-1\s+\S+\s+3\s+\S+\s+enroll: webhook answered 500$`)
	if code != 0 || !line.MatchString(out) {
		t.Errorf("webhook list: exit %d %s\n%s", code, stderr, out)
	}
}

// list filters by state and prints JSON without payloads; redeliver
// moves dead messages back to pending with their attempts reset, refuses
// unknown and undead ones with a clear message (exit 1, the others still
// redelivered), and refuses bad usage (exit 2); --config names the store
// through a serve config file.
func TestWebhookCLI(t *testing.T) {
	st, db := outboxStore(t)
	dead1 := queue(t, st, enroll.EventFailed, "e-1")
	dead2 := queue(t, st, enroll.EventVerified, "e-2")
	delivered := queue(t, st, enroll.EventVerified, "e-3")
	pending := queue(t, st, enroll.EventFraudReported, "e-4")
	kill(t, st, dead1, "enroll: webhook answered 503")
	kill(t, st, dead2, "enroll: webhook post: connection refused")
	if err := st.MarkOutboxDelivered(t.Context(), delivered, enroll.Now(time.Now())); err != nil {
		t.Fatal(err)
	}

	listJSON := func(args ...string) []outboxJSON {
		t.Helper()
		out, stderr, code := runCLI(t, append([]string{"webhook", "list", "--json", "--store", db}, args...)...)
		if code != 0 {
			t.Fatalf("webhook list %v: exit %d %s", args, code, stderr)
		}
		if strings.Contains(out, "+8131") {
			t.Errorf("list prints the payload:\n%s", out)
		}
		var ms []outboxJSON
		if err := json.Unmarshal([]byte(out), &ms); err != nil {
			t.Fatalf("webhook list --json: %v\n%s", err, out)
		}
		return ms
	}
	ids := func(ms []outboxJSON) (ids []int64) {
		for _, m := range ms {
			ids = append(ids, m.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		args []string
		want []int64
	}{
		{nil, []int64{dead1, dead2}},
		{[]string{"--state", "dead"}, []int64{dead1, dead2}},
		{[]string{"--state", "pending"}, []int64{pending}},
		{[]string{"--state", "delivered"}, []int64{delivered}},
		{[]string{"--state", "all"}, []int64{dead1, dead2, delivered, pending}},
		{[]string{"--state", "all", "--limit", "1"}, []int64{dead1}},
	} {
		if got := ids(listJSON(tc.args...)); !slices.Equal(got, tc.want) {
			t.Errorf("list %v: %v, want %v", tc.args, got, tc.want)
		}
	}
	ms := listJSON()
	if m := ms[0]; m.State != "dead" || m.Event != enroll.EventFailed || m.EnrollmentID != "e-1" || m.Attempts != 1 ||
		m.LastError != "enroll: webhook answered 503" || m.DeadAt.IsZero() || !m.NextAttemptAt.IsZero() {
		t.Errorf("list --json: %+v", m)
	}
	out, _, code := runCLI(t, "webhook", "list", "--store", db, "--state", "all")
	if code != 0 || !strings.Contains(out, "LAST ERROR") || strings.Count(out, "\n") != 5 {
		t.Errorf("list --state all: exit %d\n%s", code, out)
	}

	// Usage errors: exit 2, nothing changed.
	for _, args := range [][]string{
		{"list", "--state", "gone"},
		{"list", "--limit", "-1"},
		{"redeliver"},
		{"redeliver", "--all-dead", strconv.FormatInt(dead1, 10)},
		{"redeliver", "x"},
		{"redeliver", "0"},
		{"list", "--store", filepath.Join(t.TempDir(), "none.db")},
	} {
		if !slices.Contains(args, "--store") {
			args = append(args, "--store", db)
		}
		if _, stderr, code := runCLI(t, append([]string{"webhook"}, args...)...); code != 2 || !strings.Contains(stderr, "webhook") {
			t.Errorf("webhook %v: exit %d %q, want 2", args, code, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(db), "none.db")); err == nil {
		t.Error("webhook list created a store")
	}

	// Unknown and undead messages are refused; the dead one among them is
	// redelivered all the same.
	_, stderr, code := runCLI(t, "webhook", "redeliver", "--store", db, "999", strconv.FormatInt(pending, 10),
		strconv.FormatInt(delivered, 10), strconv.FormatInt(dead1, 10))
	for _, want := range []string{
		"no message 999",
		"message " + strconv.FormatInt(pending, 10) + " is not dead",
		"message " + strconv.FormatInt(delivered, 10) + " is not dead",
		"redelivered " + strconv.FormatInt(dead1, 10),
		"3 of 4 not redelivered",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("redeliver: stderr lacks %q:\n%s", want, stderr)
		}
	}
	if code != 1 {
		t.Errorf("redeliver with unknown and undead IDs: exit %d, want 1", code)
	}
	if m, ok := inState(t, st, dead1, enroll.OutboxPending); !ok || m.Attempts != 0 || m.NextAttemptAt.IsZero() {
		t.Errorf("redelivered message %+v, want pending with 0 attempts", m)
	}
	if _, ok := inState(t, st, delivered, enroll.OutboxDelivered); !ok {
		t.Errorf("message %d not delivered after a refused redelivery", delivered)
	}

	// --all-dead through the store a serve config file names.
	cfg := filepath.Join(t.TempDir(), "denwa.json")
	if err := os.WriteFile(cfg, []byte(`{"store": {"path": `+strconv.Quote(db)+`}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runCLI(t, "webhook", "redeliver", "--all-dead", "--config", cfg); code != 0 ||
		!strings.Contains(stderr, "redelivered "+strconv.FormatInt(dead2, 10)) {
		t.Errorf("redeliver --all-dead --config: exit %d %s", code, stderr)
	}
	if got := ids(listJSON("--state", "pending")); !slices.Equal(got, []int64{dead1, dead2, pending}) {
		t.Errorf("pending after redelivery: %v", got)
	}
	if _, stderr, code := runCLI(t, "webhook", "redeliver", "--all-dead", "--config", cfg); code != 0 || !strings.Contains(stderr, "no dead") {
		t.Errorf("redeliver --all-dead with none dead: exit %d %s", code, stderr)
	}
}

// A running serve delivers a message redelivered by `denwa webhook
// redeliver` from outside it, at its next poll, without a restart: once,
// signed, under the same Denwa-Delivery; /metrics counts it dead before
// and no longer after.
func TestServeRedeliversDead(t *testing.T) {
	st, db := outboxStore(t)
	id := queue(t, st, enroll.EventVerified, "e-1")
	kill(t, st, id, "enroll: webhook answered 500")
	st.Close()

	var mu sync.Mutex
	var deliveries []string
	got := make(chan struct{}, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := enroll.VerifyWebhook(testHookSecret, r.Header.Get(enroll.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("webhook: %v", err)
		}
		mu.Lock()
		deliveries = append(deliveries, r.Header.Get(enroll.WebhookDeliveryHeader))
		mu.Unlock()
		got <- struct{}{}
	}))
	defer recv.Close()
	r := portRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{RTPPortFirst: r.First, RTPPortLast: r.Last})
	ts := startServe(t, phone, func(c *config.Serve) {
		c.Store.Path = db
		c.Webhook.URL = recv.URL
		c.Webhook.Secret = config.NewSecret(testHookSecret, "test")
	})
	ops := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, err := http.Get("http://" + ts.OpsAddr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		io.Copy(w, res.Body)
	})
	if p, d := scrapeOutbox(t, ops); p != "0" || d != "1" {
		t.Fatalf("serve's /metrics: %s pending, %s dead; want 0, 1", p, d)
	}
	select {
	case <-got:
		t.Fatal("serve sent a dead message")
	default:
	}

	if _, stderr, code := runCLI(t, "webhook", "redeliver", "--store", db, strconv.FormatInt(id, 10)); code != 0 {
		t.Fatalf("redeliver: exit %d %s", code, stderr)
	}
	select {
	case <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("serve did not send the redelivered message\n%s", ts.log)
	}
	st2, err := sqlite.Open(t.Context(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st2.Close()
	waitOutboxState(t, st2, id, enroll.OutboxDelivered) // then it is never claimed again
	if p, d := scrapeOutbox(t, ops); p != "0" || d != "0" {
		t.Errorf("serve's /metrics after the redelivery: %s pending, %s dead; want 0, 0", p, d)
	}
	ts.stop(t, 20*time.Second)
	mu.Lock()
	defer mu.Unlock()
	if len(deliveries) != 1 || deliveries[0] != strconv.FormatInt(id, 10) {
		t.Errorf("deliveries %v, want one with Denwa-Delivery %d", deliveries, id)
	}
}
