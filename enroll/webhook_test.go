package enroll_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/store/sqlite"
)

var hookSecret = []byte("0123456789abcdef0123456789abcdef-webhook")

func openOutbox(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "denwa.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func enqueue(t *testing.T, st enroll.Store, event, body string) int64 {
	t.Helper()
	now := enroll.Now(time.Now())
	id, err := st.EnqueueOutbox(t.Context(), enroll.OutboxMessage{
		Event: event, EnrollmentID: "e1", Payload: []byte(body), CreatedAt: now, NextAttemptAt: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// runDeliverer runs d until the test ends and checks that Run returns
// context.Canceled.
func runDeliverer(t *testing.T, d *enroll.WebhookDeliverer) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Run returned %v, want context.Canceled", err)
				}
			case <-time.After(15 * time.Second):
				t.Error("Run did not stop")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// pending returns the messages not yet delivered, whatever their next
// attempt time. It claims them, so only call it once the deliverer has
// stopped.
func pending(t *testing.T, st enroll.Store) []enroll.OutboxMessage {
	t.Helper()
	ms, err := st.ClaimOutbox(t.Context(), time.Now().AddDate(200, 0, 0), time.Second, 100)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A receiver that fails twice, then succeeds: three signed attempts of
// the same message, then it is delivered and sent no more.
func TestWebhookRetriesUntilDelivered(t *testing.T) {
	st := openOutbox(t)
	var calls atomic.Int32
	var mu sync.Mutex
	var deliveries []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := enroll.VerifyWebhook(hookSecret, r.Header.Get(enroll.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("signature: %v", err)
		}
		if r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" || r.Header.Get("Denwa-Event") != enroll.EventVerified {
			t.Errorf("request %s %v", r.Method, r.Header)
		}
		if string(body) != `{"event":"enrollment.verified"}` {
			t.Errorf("body %q", body)
		}
		mu.Lock()
		deliveries = append(deliveries, r.Header.Get("Denwa-Delivery"))
		mu.Unlock()
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer recv.Close()
	id := enqueue(t, st, enroll.EventVerified, `{"event":"enrollment.verified"}`)
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
		Store: st, URL: recv.URL, Secret: hookSecret,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 50 * time.Millisecond, MaxAttempts: 5,
		PollInterval: 5 * time.Millisecond,
	})
	stop := runDeliverer(t, d)
	waitOutbox(t, st, id, enroll.OutboxDelivered) // then it is never claimed again
	stop()
	if ms := pending(t, st); len(ms) != 0 {
		t.Errorf("undelivered after a 2xx: %+v", ms)
	}
	if n := calls.Load(); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, d := range deliveries {
		if d != strconv.FormatInt(id, 10) {
			t.Errorf("Denwa-Delivery %q, want %d", d, id)
		}
	}
}

// A receiver that is down: attempts are bounded by MaxAttempts, after
// which the message is dead with the last attempt's error (never the
// URL's credentials) and sent no more.
func TestWebhookReceiverDown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		url     func(t *testing.T, calls *atomic.Int32) string
		lastErr string
	}{
		{"500", func(t *testing.T, calls *atomic.Int32) string {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				w.WriteHeader(500)
			}))
			t.Cleanup(s.Close)
			return s.URL
		}, "answered 500"},
		{"refused", func(t *testing.T, calls *atomic.Int32) string {
			s := httptest.NewServer(http.NotFoundHandler())
			u := s.URL
			s.Close()
			// userinfo in the URL must not reach LastError.
			return strings.Replace(u, "http://", "http://user:hunter2hunter2@", 1)
		}, "refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := openOutbox(t)
			var calls, attempts atomic.Int32
			url := tc.url(t, &calls)
			id := enqueue(t, st, enroll.EventFailed, `{}`)
			client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				attempts.Add(1)
				return http.DefaultTransport.RoundTrip(r)
			})}
			start := enroll.Now(time.Now())
			d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
				Store: st, URL: url, Secret: hookSecret, Client: client,
				MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 3,
				PollInterval: 5 * time.Millisecond,
			})
			stop := runDeliverer(t, d)
			m := waitOutbox(t, st, id, enroll.OutboxDead)
			// Dead: no attempt is in flight, and none is to come.
			if n := attempts.Load(); n != 3 {
				t.Errorf("%d attempts, want 3", n)
			}
			stop()
			if m.Attempts != 3 || !strings.Contains(m.LastError, tc.lastErr) || m.DeadAt.Before(start) || !m.NextAttemptAt.IsZero() {
				t.Fatalf("dead message %+v; want 3 attempts, %q, died after %v", m, tc.lastErr, start)
			}
			if strings.Contains(m.LastError, "hunter2") {
				t.Errorf("LastError holds the URL's password: %q", m.LastError)
			}
			if ms := pending(t, st); len(ms) != 0 {
				t.Errorf("a dead message was claimed: %+v", ms)
			}
			if tc.name == "500" && calls.Load() != 3 {
				t.Errorf("%d requests, want 3", calls.Load())
			}
		})
	}
}

// A message dead after its last retry, redelivered through another handle
// on the store (as `denwa webhook redeliver` does from its own process):
// the running deliverer sends it at its next poll, once, under the same
// Denwa-Delivery, and it is delivered.
func TestWebhookRedeliverDead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "denwa.db")
	open := func() *sqlite.Store {
		st, err := sqlite.Open(t.Context(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	st, cli := open(), open()
	var up atomic.Bool
	var mu sync.Mutex
	var deliveries []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		deliveries = append(deliveries, r.Header.Get(enroll.WebhookDeliveryHeader))
		mu.Unlock()
		if !up.Load() {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer recv.Close()
	id := enqueue(t, st, enroll.EventVerified, `{}`)
	other := enqueue(t, st, enroll.EventFailed, `{}`)
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
		Store: st, URL: recv.URL, Secret: hookSecret,
		MinBackoff: 5 * time.Millisecond, MaxBackoff: 10 * time.Millisecond, MaxAttempts: 2,
		PollInterval: 5 * time.Millisecond,
	})
	runDeliverer(t, d)
	m := waitOutbox(t, st, id, enroll.OutboxDead)
	waitOutbox(t, st, other, enroll.OutboxDead)
	if m.Attempts != 2 || !strings.Contains(m.LastError, "answered 502") {
		t.Fatalf("dead message %+v", m)
	}
	if p, dead, err := st.CountOutbox(t.Context()); err != nil || p != 0 || dead != 2 {
		t.Fatalf("CountOutbox = %d pending, %d dead, %v", p, dead, err)
	}

	up.Store(true)
	if err := cli.RedeliverOutbox(t.Context(), id, enroll.Now(time.Now())); err != nil {
		t.Fatal(err)
	}
	waitOutbox(t, st, id, enroll.OutboxDelivered)
	// Delivered: it is never claimed again; the other message stays dead.
	if m, _ := stateOf(t, st, other); m.State() != enroll.OutboxDead {
		t.Errorf("the message not redelivered: %+v", m)
	}
	mu.Lock()
	defer mu.Unlock()
	want := strconv.FormatInt(id, 10)
	n := 0
	for _, d := range deliveries {
		if d == want {
			n++
		}
	}
	if n != 3 || deliveries[len(deliveries)-1] != want {
		t.Errorf("requests %v: want 3 with Denwa-Delivery %s (two failed, one redelivered), the last of them", deliveries, want)
	}
}

// stateOf returns the message id as stored.
func stateOf(t *testing.T, st enroll.Store, id int64) (enroll.OutboxMessage, bool) {
	t.Helper()
	ms, err := st.ListOutbox(t.Context(), enroll.OutboxAny, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.ID == id {
			return m, true
		}
	}
	return enroll.OutboxMessage{}, false
}

// waitOutbox waits until the message id is in state and returns it.
func waitOutbox(t *testing.T, st enroll.Store, id int64, state enroll.OutboxState) enroll.OutboxMessage {
	t.Helper()
	var m enroll.OutboxMessage
	waitFor(t, fmt.Sprintf("message %d %s", id, state), func() bool {
		m, _ = stateOf(t, st, id)
		return m.State() == state
	})
	return m
}

// A receiver that hangs: each request ends at the timeout, and Run stops
// at once when its context ends.
func TestWebhookTimeoutAndStop(t *testing.T) {
	st := openOutbox(t)
	release := make(chan struct{})
	var calls atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer recv.Close()
	defer close(release)
	enqueue(t, st, enroll.EventFailed, `{}`)
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{
		Store: st, URL: recv.URL, Secret: hookSecret, Timeout: 50 * time.Millisecond,
		MinBackoff: time.Hour, MaxBackoff: time.Hour, PollInterval: 5 * time.Millisecond,
	})
	stop := runDeliverer(t, d)
	waitFor(t, "a timed-out attempt recorded", func() bool {
		ms, err := st.ListOutbox(t.Context(), enroll.OutboxPending, 0)
		return err == nil && len(ms) == 1 && ms[0].Attempts == 1
	})
	start := time.Now()
	stop()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Run took %v to stop", el)
	}
	ms := pending(t, st)
	if len(ms) != 1 || ms[0].Attempts != 1 || !strings.Contains(ms[0].LastError, "deadline") {
		t.Errorf("outbox %+v, want one message with one timed-out attempt", ms)
	}
}

func TestWebhookConfigErrors(t *testing.T) {
	st := openOutbox(t)
	for name, cfg := range map[string]enroll.WebhookConfig{
		"no store":     {URL: "http://x", Secret: hookSecret},
		"bad url":      {Store: st, URL: "ftp://x", Secret: hookSecret},
		"short secret": {Store: st, URL: "http://x", Secret: []byte("short")},
		"backoff":      {Store: st, URL: "http://x", Secret: hookSecret, MinBackoff: time.Minute, MaxBackoff: time.Second},
	} {
		err := enroll.NewWebhookDeliverer(cfg).Run(t.Context())
		if !errors.Is(err, enroll.ErrInvalidConfig) {
			t.Errorf("%s: Run = %v, want ErrInvalidConfig", name, err)
		}
		if err != nil && strings.Contains(err.Error(), string(hookSecret)) {
			t.Errorf("%s: the error holds the secret", name)
		}
	}
}

func TestWebhookBackoff(t *testing.T) {
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{MinBackoff: time.Second, MaxBackoff: 30 * time.Second})
	for attempt, max := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 5: 16 * time.Second, 6: 30 * time.Second, 50: 30 * time.Second} {
		for range 100 {
			if b := d.Backoff(attempt); b < max/2 || b > max {
				t.Fatalf("Backoff(%d) = %v, want in [%v, %v]", attempt, b, max/2, max)
			}
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Run stops at once when its context ends in the middle of a request
// to a receiver that hangs; the message stays for a later run.
func TestWebhookStopDuringRequest(t *testing.T) {
	st := openOutbox(t)
	var calls atomic.Int32
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		<-release
	}))
	defer recv.Close()
	defer close(release)
	enqueue(t, st, enroll.EventVerified, `{}`)
	d := enroll.NewWebhookDeliverer(enroll.WebhookConfig{Store: st, URL: recv.URL, Secret: hookSecret, PollInterval: 5 * time.Millisecond})
	stop := runDeliverer(t, d)
	waitFor(t, "a request", func() bool { return calls.Load() >= 1 })
	start := time.Now()
	stop()
	if el := time.Since(start); el > 2*time.Second {
		t.Errorf("Run took %v to stop", el)
	}
	if ms := pending(t, st); len(ms) != 1 || !ms[0].DeliveredAt.IsZero() {
		t.Errorf("outbox %+v, want the message still undelivered", ms)
	}
}
