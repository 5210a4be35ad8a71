package main

import (
	"bytes"
	"context"
	"net"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
)

type demoBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *demoBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *demoBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestDemoBusyPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var out, errs demoBuf
	err = runDemo(context.Background(), &out, &errs, demoOptions{http: ln.Addr().String(), logFormat: "text", keyDelay: time.Second}, nil)
	ee, ok := err.(*exitError)
	if !ok || ee.code != 1 || !strings.Contains(ee.msg, "already in use") || !strings.Contains(ee.msg, "--http :0") {
		t.Fatalf("busy port: %v", err)
	}
}

// startDemoLogged runs the demo with o, its output and log in buffers,
// until cancel is called; done receives runDemo's result. It fails the test
// unless the demo starts.
func startDemoLogged(t *testing.T, o demoOptions) (run *demoRun, out, errs *demoBuf, cancel func(), done <-chan error) {
	t.Helper()
	out, errs = &demoBuf{}, &demoBuf{}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *demoRun, 1)
	d := make(chan error, 1)
	go func() {
		d <- runDemo(ctx, out, errs, o, func(r *demoRun) { started <- r })
	}()
	select {
	case run = <-started:
	case err := <-d:
		cancel()
		t.Fatalf("demo: %v\n%s", err, errs.String())
	case <-time.After(20 * time.Second):
		cancel()
		t.Fatal("demo did not start")
	}
	return run, out, errs, cancel, d
}

func TestDemoLinkAndCleanup(t *testing.T) {
	run, out, errs, cancel, done := startDemoLogged(t, demoOptions{http: ":0", logFormat: "json", keyDelay: time.Second})
	if !strings.HasPrefix(run.URL, "http://127.0.0.1:") {
		t.Errorf(":0 should bind loopback, got %s", run.URL)
	}
	var link string
	for _, l := range strings.Split(out.String(), "\n") {
		if v, ok := strings.CutPrefix(l, "enrollment link: "); ok {
			link = v
		}
	}
	if link != run.Link || !strings.HasPrefix(link, run.URL+"/e/") {
		t.Fatalf("printed link %q, want %q:\n%s", link, run.Link, out.String())
	}
	dir := filepath.Dir(run.srv.p.Config.Store.Path)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("temporary store %s left behind: %v", dir, err)
	}
	if !strings.Contains(errs.String(), `"msg":"serve: store closed; stopped"`) {
		t.Errorf("no clean shutdown in the JSON log:\n%s", errs.String())
	}
}

func TestMetricsWrappers(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "m.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	m := newMetrics()
	d := enrolltest.NewFakeDialer()
	d.AnswerWith(func(l *enrolltest.FakeLine) {
		l.SetPromptLength(enroll.PromptGreeting, 50*time.Millisecond)
		l.SetPromptLength(enroll.PromptSuccess, 20*time.Millisecond)
		l.OnPlay(enroll.PromptGreeting, 1, 10*time.Millisecond, func() { l.Press("#") })
	})
	svc, err := enroll.NewService(enroll.ServiceConfig{Store: m.store(st), Dialer: m.dialer(d)})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close(ctx)
	o := enroll.Origin{Actor: enroll.ActorSystem}
	e, err := svc.Create(ctx, enroll.CreateRequest{UserID: "u", Phone: "+81312345678", Origin: o})
	if err != nil {
		t.Fatal(err)
	}
	ch, stop, err := svc.Subscribe(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if _, err := svc.StartCall(ctx, e.ID, o); err != nil {
		t.Fatal(err)
	}
	for e = range ch {
		if e.State == enroll.StateVerified {
			break
		}
	}
	m.limit(&enroll.LimitError{Limit: "number"})
	rec := httptest.NewRecorder()
	m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`denwa_calls_total{outcome="verified"} 1`,
		`denwa_keys_total{source="rfc4733"} 1`,
		`denwa_call_setup_seconds_count{result="answered"} 1`,
		`denwa_key_to_verified_seconds_count 1`,
		`denwa_limit_rejections_total{limit="number"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(body, "denwa_calls_active 0") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		rec = httptest.NewRecorder()
		m.handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		body = rec.Body.String()
	}
	if !strings.Contains(body, "denwa_calls_active 0") {
		t.Error("active calls not back to 0")
	}
}
