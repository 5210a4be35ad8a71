package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
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

// syncBuffer collects the server's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testServe is one `denwa serve` running in the test's process.
type testServe struct {
	*server
	cancel context.CancelFunc
	done   chan error
	log    *syncBuffer
	db     string
}

const testSIPPassword = "hunter2-sip-password"

// startServe runs serve against the phone on loopback: HTTP and SIP on
// free ports, a fresh SQLite file, the given changes to the config.
func startServe(t *testing.T, phone *siptest.Phone, mod func(*config.Serve)) *testServe {
	t.Helper()
	c := config.DefaultServe()
	c.HTTP.Addr = "127.0.0.1:0"
	c.HTTP.OpsAddr = "127.0.0.1:0"
	c.Store.Path = filepath.Join(t.TempDir(), "denwa.db")
	c.SIP.Trunk = "sip:" + phone.Addr().String()
	c.SIP.Bind = "127.0.0.1:0"
	c.SIP.RTPPorts = portRange()
	c.SIP.Password = config.NewSecret([]byte(testSIPPassword), "test")
	c.Calls.Grace = config.Duration(20 * time.Second)
	c.Log.Level = "debug"
	if mod != nil {
		mod(c)
	}
	p, err := c.Check()
	if err != nil {
		t.Fatal(err)
	}
	return startServeParams(t, p)
}

// startServeParams runs serve with checked settings (tests that set what
// no config holds, such as the SIP resolver).
func startServeParams(t *testing.T, p *config.Params) *testServe {
	t.Helper()
	ts := &testServe{done: make(chan error, 1), log: &syncBuffer{}, db: p.Config.Store.Path}
	ctx, cancel := context.WithCancel(context.Background())
	ts.cancel = cancel
	started := make(chan *server, 1)
	go func() {
		ts.done <- runServe(ctx, p, ts.log, func(s *server) { started <- s })
	}()
	select {
	case ts.server = <-started:
	case err := <-ts.done:
		cancel()
		t.Fatalf("serve did not start: %v\n%s", err, ts.log)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("serve did not start in 10 s\n%s", ts.log)
	}
	t.Cleanup(func() {
		ts.cancel()
		<-ts.done
		if strings.Contains(ts.log.String(), testSIPPassword) {
			t.Errorf("the log shows the SIP password")
		}
	})
	return ts
}

// stop shuts the server down as SIGTERM does and waits for it.
func (ts *testServe) stop(t *testing.T, within time.Duration) {
	t.Helper()
	ts.cancel()
	select {
	case err := <-ts.done:
		ts.done <- err // for Cleanup
		if err != nil {
			t.Fatalf("serve: %v\n%s", err, ts.log)
		}
	case <-time.After(within):
		t.Fatalf("serve did not stop within %s\n%s", within, ts.log)
	}
}

var goroutineID = regexp.MustCompile(`(?m)^goroutine (\d+) \[`)

// goroutinesAfter returns the stacks of the goroutines started after the
// one numbered floor that are still running, leaving out the phone
// simulator's (the test's own peer, closed at the test's end).
func goroutinesAfter(floor int) []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		m := goroutineID.FindStringSubmatch(g)
		if m == nil {
			continue
		}
		if id, _ := strconv.Atoi(m[1]); id <= floor {
			continue
		}
		if strings.Contains(g, "denwa/sip.(*Phone)") || strings.Contains(g, "sip/siptest") || strings.Contains(g, "testing.tRunner") {
			continue
		}
		left = append(left, g)
	}
	return left
}

// lastGoroutine is the highest goroutine number now.
func lastGoroutine() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, m := range goroutineID.FindAllStringSubmatch(string(buf), -1) {
		if id, _ := strconv.Atoi(m[1]); id > n {
			n = id
		}
	}
	return n
}

func checkNoGoroutinesLeft(t *testing.T, floor int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := goroutinesAfter(floor)
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines left after serve stopped:\n\n%s", len(left), strings.Join(left, "\n\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// apiClient talks to the running server's API with an API key.
type apiClient struct {
	base, key string
	c         *http.Client
}

func newAPIClient(ts *testServe, key string) *apiClient {
	return &apiClient{base: "http://" + ts.HTTPAddr(), key: key, c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

func (a *apiClient) do(t *testing.T, method, path, body string, want int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+a.key)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		t.Fatalf("%s %s: %d, want %d: %s", method, path, res.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
}

type apiEnrollment struct {
	ID        string `json:"id"`
	Phone     string `json:"phone"`
	State     string `json:"state"`
	Outcome   string `json:"outcome"`
	Cause     string `json:"cause"`
	KeySource string `json:"key_source"`
}

// enrollAndCall creates an enrollment for 03-1234-5678 (JP) and starts its
// call, through the API.
func (a *apiClient) enrollAndCall(t *testing.T) apiEnrollment {
	t.Helper()
	var created struct {
		Enrollment apiEnrollment `json:"enrollment"`
	}
	a.do(t, "POST", "/v1/enrollments", `{"user_id":"u-1001","phone":"03-1234-5678","country":"JP"}`, http.StatusCreated, &created)
	e := created.Enrollment
	if e.Phone != "+81312345678" || e.State != "pending" {
		t.Fatalf("created %+v", e)
	}
	a.do(t, "POST", "/v1/enrollments/"+e.ID+"/call", "", http.StatusAccepted, &e)
	return e
}

// follow reads the enrollment's event stream until a state other than
// pending or calling, and returns it.
func (a *apiClient) follow(t *testing.T, id string, within time.Duration) apiEnrollment {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", a.base+"/v1/enrollments/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+a.key)
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	var last apiEnrollment
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if err := json.Unmarshal([]byte(data), &last); err != nil {
			t.Fatalf("stream data %q: %v", data, err)
		}
		if last.State != "pending" && last.State != "calling" {
			return last
		}
	}
	t.Fatalf("stream ended (%v) in state %q", sc.Err(), last.State)
	return last
}

func getStatus(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// The whole service in one process: serve against the simulated phone,
// an enrollment for 03-1234-5678 (JP) called through the trunk (the
// phone takes any Request-URI user), verified by # as RFC 4733; then a
// graceful shutdown that leaves no goroutine, and the store, reopened,
// remembers it.
func TestServeVerifies(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, RTPPortFirst: 33000, RTPPortLast: 33019})
	hooks := make(chan string, 10)
	const hookSecret = "webhook-secret-webhook-secret-0123456789"
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := enroll.VerifyWebhook([]byte(hookSecret), r.Header.Get(enroll.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("webhook: %v", err)
		}
		hooks <- r.Header.Get("Denwa-Event")
	}))
	defer receiver.Close()
	floor := lastGoroutine() // the phone's and the receiver's own are older
	ts := startServe(t, phone, func(c *config.Serve) {
		c.Webhook.URL = receiver.URL
		c.Webhook.Secret = config.NewSecret([]byte(hookSecret), "test")
	})
	base := "http://" + ts.HTTPAddr()
	if code := getStatus(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz %d", code)
	}
	if code := getStatus(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz %d", code)
	}
	// /readyz tells a shutdown in progress and a closed SIP listener.
	for _, flag := range []*atomicBool{{&ts.draining, true}, {&ts.sipUp, false}} {
		flag.set()
		rec := httptest.NewRecorder()
		ts.http.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		flag.reset()
		if rec.Code != 503 || !strings.Contains(rec.Body.String(), `"code":"unavailable"`) {
			t.Fatalf("/readyz %d %s", rec.Code, rec.Body)
		}
	}
	// …and any part added with addReady, by name, until it recovers.
	var broken atomic.Bool
	broken.Store(true)
	ts.addReady("test part", func() error {
		if broken.Load() {
			return errors.New("out of order")
		}
		return nil
	})
	for _, want := range []int{503, 200} {
		rec := httptest.NewRecorder()
		ts.http.Handler.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		if rec.Code != want || want == 503 && !strings.Contains(rec.Body.String(), "test part: out of order") {
			t.Fatalf("/readyz %d %s, want %d", rec.Code, rec.Body, want)
		}
		broken.Store(false)
	}

	ctx := context.Background()
	api := newAPIClient(ts, createTestKey(t, ts.store))
	e := api.enrollAndCall(t)
	got := api.follow(t, e.ID, 20*time.Second)
	if got.State != "verified" || got.Outcome != "verified" || got.KeySource != "rfc4733" {
		t.Fatalf("enrollment %+v\n%s", got, ts.log)
	}
	api.do(t, "GET", "/v1/enrollments/"+e.ID, "", http.StatusOK, &got)
	if got.State != "verified" {
		t.Fatalf("GET: %+v", got)
	}
	select {
	case ev := <-hooks:
		if ev != enroll.EventVerified {
			t.Fatalf("webhook event %q", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("no webhook\n%s", ts.log)
	}
	// The number reached the trunk as the Request-URI user.
	if call := phone.Next(t, 5*time.Second); call.User != "+81312345678" || call.KeysSent != "#" {
		t.Fatalf("the phone saw user %q, keys %q", call.User, call.KeysSent)
	}

	ts.stop(t, 15*time.Second)
	checkNoGoroutinesLeft(t, floor)
	for _, step := range []string{"closing the HTTP listener", "waiting for calls in progress", "HTTP server stopped", "SIP listener closed", "store closed"} {
		if !strings.Contains(ts.log.String(), step) {
			t.Errorf("the log lacks %q", step)
		}
	}
	if _, err := net.DialTimeout("tcp", ts.HTTPAddr(), time.Second); err == nil {
		t.Errorf("HTTP still listening after shutdown")
	}

	st, err := sqlite.Open(ctx, ts.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, err := st.GetEnrollment(ctx, e.ID)
	if err != nil || stored.State != enroll.StateVerified {
		t.Fatalf("reopened store: %s, %v", stored.State, err)
	}
}

type atomicBool struct {
	b interface {
		Store(bool)
		Load() bool
	}
	v bool
}

func (a *atomicBool) set()   { a.b.Store(a.v) }
func (a *atomicBool) reset() { a.b.Store(!a.v) }

// createTestKey stores an API key as `denwa apikey create` does.
func createTestKey(t *testing.T, st enroll.Store) string {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := createAPIKey(context.Background(), st, &out, &errOut, "test", enroll.ScopeEnroll, time.Now()); err != nil {
		t.Fatal(err)
	}
	key := strings.TrimSpace(out.String())
	if _, _, err := enroll.ParseAPIKey(key); err != nil {
		t.Fatalf("printed %q: %v", key, err)
	}
	return key
}

// A busy line fails the enrollment with outcome busy.
func TestServeBusy(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Status: 486, RTPPortFirst: 33020, RTPPortLast: 33039})
	ts := startServe(t, phone, nil)
	api := newAPIClient(ts, createTestKey(t, ts.store))
	e := api.enrollAndCall(t)
	got := api.follow(t, e.ID, 20*time.Second)
	if got.State != "failed" || got.Outcome != "busy" {
		t.Fatalf("enrollment %s %s (%s)", got.State, got.Outcome, got.Cause)
	}
	ts.stop(t, 15*time.Second)
}

// A shutdown lets the call in progress finish: the phone presses # after
// the shutdown began, and the enrollment is still verified.
func TestServeShutdownLetsCallsFinish(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 2 * time.Second, RTPPortFirst: 33040, RTPPortLast: 33059})
	ts := startServe(t, phone, nil)
	ctx := context.Background()
	by := enroll.Origin{Actor: enroll.ActorAPIKey("test")}
	e, err := ts.svc.Create(ctx, enroll.CreateRequest{UserID: "u-1", Phone: "+81312345678", Country: "JP", Origin: by})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.StartCall(ctx, e.ID, by); err != nil {
		t.Fatal(err)
	}
	time.Sleep(700 * time.Millisecond) // answered, greeting playing
	svc := ts.svc
	ts.stop(t, 20*time.Second)
	if _, err := svc.Create(ctx, enroll.CreateRequest{UserID: "u-2", Phone: "+81312345678", Origin: by}); err == nil {
		t.Fatal("the service took an enrollment after shutdown")
	}
	st, err := sqlite.Open(ctx, ts.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err = st.GetEnrollment(ctx, e.ID)
	if err != nil || e.State != enroll.StateVerified {
		t.Fatalf("after shutdown: %s %s %q, %v\n%s", e.State, e.Outcome, e.Cause, err, ts.log)
	}
}

// A call that outlasts the grace period is cut and recorded as failed, and
// the shutdown still ends.
func TestServeShutdownGraceCuts(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "", RTPPortFirst: 33060, RTPPortLast: 33079})
	ts := startServe(t, phone, func(c *config.Serve) { c.Calls.Grace = config.Duration(300 * time.Millisecond) })
	ctx := context.Background()
	by := enroll.Origin{Actor: enroll.ActorAPIKey("test")}
	e, err := ts.svc.Create(ctx, enroll.CreateRequest{UserID: "u-1", Phone: "+81312345678", Origin: by})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.svc.StartCall(ctx, e.ID, by); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	ts.stop(t, 15*time.Second)
	if !strings.Contains(ts.log.String(), "cut and recorded as failed") {
		t.Errorf("the log does not say the call was cut:\n%s", ts.log)
	}
	st, err := sqlite.Open(ctx, ts.db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e, err = st.GetEnrollment(ctx, e.ID)
	if err != nil || e.State != enroll.StateFailed || e.Outcome != enroll.OutcomeFailed {
		t.Fatalf("after shutdown: %s %s %q, %v", e.State, e.Outcome, e.Cause, err)
	}
}

// A second serve on a busy HTTP port says so and touches nothing else.
func TestServeBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	db := filepath.Join(t.TempDir(), "denwa.db")
	_, stderr, code := runCLI(t, "serve", "--http", ln.Addr().String(), "--trunk", "sip:127.0.0.1:9", "--store", db, "--bind", "127.0.0.1:0")
	want := fmt.Sprintf("http.addr %s is already in use (is another denwa serve running?)", ln.Addr())
	if code != 1 || !strings.Contains(stderr, want) {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	if _, err := os.Stat(db); !os.IsNotExist(err) {
		t.Errorf("the store was created (%v)", err)
	}
}

// denwa apikey: create prints the key once on stdout, list never shows it,
// revoke marks it.
func TestAPIKeyCommand(t *testing.T) {
	db := filepath.Join(t.TempDir(), "denwa.db")
	if _, stderr, code := runCLI(t, "apikey", "list", "--store", db); code != 2 || !strings.Contains(stderr, "no such file") {
		t.Fatalf("list without a store: exit %d %s", code, stderr)
	}
	key, stderr, code := runCLI(t, "apikey", "create", "crm", "--store", db)
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "dnw_") || !strings.Contains(stderr, "shown this once") {
		t.Fatalf("create: exit %d %q %s", code, key, stderr)
	}
	if _, stderr, code := runCLI(t, "apikey", "create", "crm", "--store", db); code != 1 || !strings.Contains(stderr, "exists") {
		t.Fatalf("second create: exit %d %s", code, stderr)
	}
	if _, stderr, code := runCLI(t, "apikey", "create", "bad name", "--store", db); code != 2 || !strings.Contains(stderr, "want 1 to 64") {
		t.Fatalf("bad name: exit %d %s", code, stderr)
	}
	out, _, code := runCLI(t, "apikey", "list", "--store", db)
	if code != 0 || !strings.Contains(out, "crm") || strings.Contains(out, key) || strings.Contains(out, key[len(key)-20:]) {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	st, err := sqlite.Open(context.Background(), db, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := enroll.APIKeyHash(key)
	k, err := st.APIKeyByHash(context.Background(), hash)
	st.Close()
	if err != nil || k.Name != "crm" {
		t.Fatalf("stored key: %+v %v", k, err)
	}
	if _, _, code := runCLI(t, "apikey", "revoke", "crm", "--store", db); code != 0 {
		t.Fatalf("revoke: exit %d", code)
	}
	if _, stderr, code := runCLI(t, "apikey", "revoke", "nobody", "--store", db); code != 1 || !strings.Contains(stderr, "no key named") {
		t.Fatalf("revoke unknown: exit %d %s", code, stderr)
	}
	if out, _, _ := runCLI(t, "apikey", "list", "--store", db); !regexp.MustCompile(`crm\s+\S+\s+\d{4}-`).MatchString(out) {
		t.Fatalf("list after revoke:\n%s", out)
	}
}
