package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
)

// lockedBuffer is a log sink safe for concurrent writes and reads.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// clock is a settable clock; it runs with real time from its offset.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

// harness is a Server over real HTTP, on a Service and a SQLite file.
type harness struct {
	t      *testing.T
	path   string
	st     *sqlite.Store
	svc    *enroll.Service
	srv    *Server
	ts     *httptest.Server
	dialer *enrolltest.FakeDialer
	links  *enroll.LinkSigner
	linkKy []byte
	key    string // an API key, "crm"
	logs   *lockedBuffer
	log    *slog.Logger
	clock  *clock
	opts   harnessOpts
}

type harnessOpts struct {
	path   string // reuse this SQLite file
	linkKy []byte
	limits enroll.Limits
	cfg    func(*Config)
	logs   *lockedBuffer
	dialer *enrolltest.FakeDialer
}

func newHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	// The clock starts a second into a minute, so that a test has a whole
	// minute before the per-minute limit windows turn (a test that spans
	// a turn would see its counts start again).
	now := time.Now()
	h := &harness{t: t, clock: &clock{offset: now.Truncate(time.Minute).Add(time.Minute + time.Second).Sub(now)}, opts: o}
	h.path = o.path
	if h.path == "" {
		h.path = filepath.Join(t.TempDir(), "denwa.db")
	}
	h.logs = o.logs
	if h.logs == nil {
		h.logs = &lockedBuffer{}
	}
	h.log = slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.linkKy = o.linkKy
	if h.linkKy == nil {
		h.linkKy = make([]byte, 32)
		rand.Read(h.linkKy)
	}
	h.dialer = o.dialer
	if h.dialer == nil {
		h.dialer = enrolltest.NewFakeDialer()
		answerVerified(h.dialer, "#")
	}
	h.start()
	name := "crm"
	if o.path != "" {
		name = "crm-reopened" // the file already has "crm"
	}
	h.key = h.newKey(name, enroll.AllScopes)
	return h
}

// newKey stores a new API key with those scopes and returns it.
func (h *harness) newKey(name string, scopes enroll.Scopes) string {
	h.t.Helper()
	plain, rec, err := enroll.NewAPIKey(name)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.CreateAPIKey(h.t.Context(), enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: scopes, CreatedAt: enroll.Now(time.Now())}); err != nil {
		h.t.Fatal(err)
	}
	return plain
}

// start opens the store, the Service and the Server.
func (h *harness) start() {
	t := h.t
	ctx := context.Background()
	st, err := sqlite.Open(ctx, h.path, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := enroll.NewService(enroll.ServiceConfig{
		Store: st, Dialer: h.dialer, Limits: h.opts.limits, Logger: h.log, Now: h.clock.Now,
		PollInterval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	links, err := enroll.NewLinkSigner(h.linkKy)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Service: svc, Links: links, BaseURL: "https://denwa.example/",
		Logger: h.log, Now: h.clock.Now,
	}
	if h.opts.cfg != nil {
		h.opts.cfg(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	h.st, h.svc, h.srv, h.links = st, svc, srv, links
	h.ts = httptest.NewServer(srv.Handler())
	t.Cleanup(h.stop)
}

// stop closes the HTTP server, the Service and the store; a second call
// does nothing.
func (h *harness) stop() {
	if h.ts == nil {
		return
	}
	h.srv.Close()
	h.ts.CloseClientConnections()
	h.ts.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.svc.Close(ctx); err != nil {
		h.t.Errorf("Service.Close: %v", err)
	}
	if err := h.st.Close(); err != nil {
		h.t.Errorf("store Close: %v", err)
	}
	h.ts = nil
}

// answerVerified makes the phone answer and press keys during the first
// greeting, late enough that the calling state is seen first.
func answerVerified(d *enrolltest.FakeDialer, keys string) {
	d.AnswerWith(func(l *enrolltest.FakeLine) {
		for _, p := range enroll.Prompts() {
			l.SetPromptLength(p, 30*time.Millisecond)
		}
		l.SetPromptLength(enroll.PromptGreeting, time.Second)
		l.OnPlay(enroll.PromptGreeting, 1, 200*time.Millisecond, func() { l.Press(keys) })
	})
}

type response struct {
	*http.Response
	body []byte
}

// errCode returns the error code of an error response.
func (r response) errCode() string {
	var e errorBody
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Code
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

// do sends a request. body is JSON-encoded unless it is a string or nil;
// auth is the bearer credential ("" for none).
func (h *harness) do(method, path, auth string, body any, hdr ...string) response {
	h.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			h.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, h.ts.URL+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	return response{resp, b}
}

// want fails the test unless r has the status (and, for errors, the code).
func want(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, r.body)
	}
	if code != "" && r.errCode() != code {
		t.Fatalf("%s %s: code %q, want %q; body %s", r.Request.Method, r.Request.URL.Path, r.errCode(), code, r.body)
	}
}

// create makes an enrollment for user on phone and returns it and its link.
func (h *harness) create(user, phone string) (enrollmentJSON, linkJSON) {
	h.t.Helper()
	r := h.do("POST", "/v1/enrollments", h.key, map[string]string{"user_id": user, "phone": phone})
	want(h.t, r, 201, "")
	var out createResponse
	r.decode(h.t, &out)
	return out.Enrollment, out.Link
}

// waitState polls the enrollment until it is in one of states.
func (h *harness) waitState(id string, states ...enroll.State) enrollmentJSON {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.do("GET", "/v1/enrollments/"+id, h.key, nil)
		want(h.t, r, 200, "")
		var e enrollmentJSON
		r.decode(h.t, &e)
		for _, s := range states {
			if e.State == s {
				return e
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("enrollment %s in %s (%s), want %v", id, e.State, e.Outcome, states)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sseEvent is one Server-Sent Event.
type sseEvent struct {
	id, event, data string
	comment         bool
}

// sse opens an event stream and returns its events as they arrive; the
// channel is closed when the stream ends. cancel ends it from our side.
func (h *harness) sse(path, auth string) (resp *http.Response, events <-chan sseEvent, cancel func()) {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", h.ts.URL+path, nil)
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	resp, err := h.ts.Client().Do(req)
	if err != nil {
		cancel()
		h.t.Fatal(err)
	}
	ch := make(chan sseEvent, 64)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					ch <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = true
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	return resp, ch, cancel
}

// nextState returns the next state event's enrollment.
func nextState(t *testing.T, events <-chan sseEvent) (enrollmentJSON, bool) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return enrollmentJSON{}, false
			}
			if ev.event != "state" {
				continue
			}
			var e enrollmentJSON
			if err := json.Unmarshal([]byte(ev.data), &e); err != nil {
				t.Fatalf("event data %q: %v", ev.data, err)
			}
			return e, true
		case <-timeout:
			t.Fatal("no state event within 10 s")
		}
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// issue gives user an app password through the API (an enrollment,
// verified by its call, completed by the issue) and returns it.
func (h *harness) issue(user string) string {
	h.t.Helper()
	e, _ := h.create(user, "03-1234-5678")
	want(h.t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)
	r := h.do("POST", "/v1/users/"+user+"/app-passwords", h.key, map[string]string{"name": "mail", "enrollment_id": e.ID})
	want(h.t, r, 201, "")
	var pw issuedJSON
	r.decode(h.t, &pw)
	return pw.Password
}
