package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"denwa/enroll"
	"denwa/enroll/store/postgres"
	"denwa/enroll/store/postgres/pgtest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// Two real `denwa serve` processes, a and b, share one PostgreSQL database
// (a throwaway cluster, pgtest), with simulated phones as their trunks and
// one webhook receiver. b's phone answers and presses # after two seconds;
// a's rings until the caller gives up, so a's calls stay in calling for as
// long as the test needs. In order:
//
//  1. enrollments created on a, called from b: verified, and a's event
//     streams see each of b's changes (LISTEN/NOTIFY); a's links open on b;
//  2. the database stops for longer than the lease and comes back: /readyz
//     says "store" meanwhile and recovers by itself, b's call that ended
//     during the outage is recorded once the database is back, and a's call
//     in progress is not taken as lost;
//  3. a is SIGKILLed with calls in progress: each leaves calling on b,
//     failed with cause "node lost", within the lease and a margin, with one
//     webhook each, and is called again from b and verified; a restarted
//     under the same name brings none back;
//  4. one number's calls alternated between the nodes are refused at the
//     same count as on one node;
//
// and no webhook delivery ID arrives twice.
func TestMultiNode(t *testing.T) {
	if testing.Short() {
		t.Skip("builds denwa and runs two nodes on PostgreSQL")
	}
	cluster := pgtest.Start(t) // skips without PostgreSQL (fails under DENWA_REQUIRE_INTEROP=1)
	dbURL := cluster.URL(t)
	bin := buildDenwa(t)
	ctx := t.Context()
	st, err := postgres.Open(ctx, dbURL, postgres.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	// Short for the test, but long enough that a node starved of the CPU
	// by a busy machine for a second still renews its lease in time.
	const lease = 3 * time.Second
	hooks := newHookRecorder(t)
	rtp := portRange()
	holdPhone := siptest.NewPhone(t, sip.PhoneConfig{RingFor: -1, RTPPortFirst: rtp.First, RTPPortLast: rtp.Last})
	rtp = portRange()
	verifyPhone := siptest.NewPhone(t, sip.PhoneConfig{Keys: "#", KeyDelay: 2 * time.Second, RTPPortFirst: rtp.First, RTPPortLast: rtp.Last})

	key := runDenwa(t, bin, "apikey", "create", "test", "--scope", "enroll", "--store", dbURL)
	nodeArgs := func(name string, trunk *siptest.Phone) []string {
		r := portRange()
		return []string{
			"serve", "--store", dbURL, "--node", name, "--node-lease", lease.String(),
			"--http", "127.0.0.1:0", "--ops-http", "127.0.0.1:0", "--bind", "127.0.0.1:0",
			"--rtp-ports", fmt.Sprintf("%d-%d", r.First, r.Last),
			"--trunk", "sip:" + trunk.Addr().String(), "--ring-timeout", "2m",
			"--webhook-url", hooks.srv.URL, "--shutdown-grace", "1s", "--log-format", "json",
		}
	}
	a := startNode(t, bin, "a", nodeArgs("a", holdPhone))
	b := startNode(t, bin, "b", nodeArgs("b", verifyPhone))
	apiA, apiB := a.api(key), b.api(key)
	phones := 0
	enrollOn := func(api *apiClient, phone string) string {
		t.Helper()
		if phone == "" {
			phones++
			phone = fmt.Sprintf("03-1234-%04d", phones)
		}
		var created struct {
			Enrollment apiEnrollment `json:"enrollment"`
		}
		api.do(t, "POST", "/v1/enrollments", fmt.Sprintf(`{"user_id":"u-%d","phone":%q,"country":"JP"}`, len(hooks.srv.URL)+phones, phone), http.StatusCreated, &created)
		return created.Enrollment.ID
	}
	call := func(api *apiClient, id string) {
		t.Helper()
		api.do(t, "POST", "/v1/enrollments/"+id+"/call", "", http.StatusAccepted, nil)
	}

	// 1. Created on a, called from b, followed on a.
	var streams []*stateStream
	var ids []string
	for range 3 {
		id := enrollOn(apiA, "")
		streams = append(streams, openStream(t, apiA, id))
		ids = append(ids, id)
	}
	for _, id := range ids {
		call(apiB, id)
	}
	for i, s := range streams {
		states := s.wait(t, 30*time.Second)
		if strings.Join(states, " ") != "pending calling verified" {
			t.Fatalf("a's stream of %s (called from b) saw %v\nb's log:\n%s", ids[i], states, b.log)
		}
	}
	for range ids {
		verifyPhone.Next(t, 10*time.Second) // the phone's reports of these calls
	}
	// …through notifications: each node LISTENs on a connection of its own.
	if n := sqlCount(t, dbURL, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, postgres.WatchApplicationName); n != 2 {
		t.Fatalf("%d watching connections, want one per node", n)
	}

	// A link made on a opens on b (the nodes share the link key).
	var made struct {
		Link struct {
			Token string `json:"token"`
		} `json:"link"`
	}
	apiA.do(t, "POST", "/v1/enrollments", `{"user_id":"u-link","phone":"03-1234-9999","country":"JP"}`, http.StatusCreated, &made)
	if code := getStatus(t, "http://"+b.http+"/e/"+made.Link.Token); code != http.StatusOK {
		t.Fatalf("a's link on b: %d", code)
	}

	// 2. The database goes away for longer than the lease, with a call
	// in progress on each node.
	held := enrollOn(apiB, "")
	call(apiA, held)
	during := enrollOn(apiB, "")
	follow := openStream(t, apiA, during)
	call(apiB, during)
	// Let every webhook so far be delivered and marked first: one whose
	// mark the outage cut would be sent again after it (at least once,
	// with the same delivery id), which the count of ids below would take
	// for a repeat.
	waitFor(t, 30*time.Second, func() string {
		if pending, _, err := st.CountOutbox(ctx); err != nil || pending != 0 {
			return fmt.Sprintf("webhooks pending: %d (%v)", pending, err)
		}
		return ""
	})
	if err := cluster.StopServer(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	for _, n := range []*node{a, b} {
		n.waitReady(t, http.StatusServiceUnavailable, "store", 10*time.Second)
	}
	// b's call ends while the database is away: b keeps its end.
	if pc := verifyPhone.Next(t, 30*time.Second); pc.KeysSent != "#" {
		t.Fatalf("the phone's call during the outage: %+v", pc)
	}
	time.Sleep(time.Until(stopped.Add(lease + time.Second))) // on purpose: every lease lapses
	if err := cluster.StartServer(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []*node{a, b} {
		n.waitReady(t, http.StatusOK, "", 30*time.Second)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("a's log:\n%s\nb's log:\n%s", a.log, b.log)
		}
	})
	if states := follow.wait(t, 60*time.Second); states[len(states)-1] != "verified" {
		t.Fatalf("the call that ended during the outage: %v\n%s", states, b.log)
	}
	if !strings.Contains(b.log.String(), "the call's end was recorded after the store refused it") {
		t.Errorf("b's log does not say the call's end was written again:\n%s", b.log)
	}
	time.Sleep(2 * lease) // on purpose: long enough for b to judge a, wrongly
	if e, _ := st.GetEnrollment(ctx, held); e.State != enroll.StateCalling {
		t.Fatalf("a's call after the outage: %s %s, want still calling\nb's log:\n%s", e.State, e.Cause, b.log)
	}

	// 3. a dies with its calls in progress.
	lost := []string{held}
	for range 4 {
		id := enrollOn(apiB, "")
		call(apiA, id)
		lost = append(lost, id)
	}
	waitFor(t, 30*time.Second, func() string {
		pending, _, err := st.CountOutbox(ctx)
		if calls := a.metric(t, "denwa_node_calls_in_progress"); err != nil || pending != 0 || calls != float64(len(lost)) {
			return fmt.Sprintf("a's calls in progress %v (want %d), webhooks pending %d (%v)", calls, len(lost), pending, err)
		}
		return ""
	})
	killed := time.Now()
	a.kill(t)
	left := map[string]time.Duration{}
	waitFor(t, lease+10*time.Second, func() string {
		for _, id := range lost {
			if _, ok := left[id]; ok {
				continue
			}
			var e apiEnrollment
			apiB.do(t, "GET", "/v1/enrollments/"+id, "", http.StatusOK, &e)
			if e.State != "calling" {
				if e.State != "failed" || e.Cause != enroll.CauseNodeLost {
					t.Fatalf("a's call %s ended %+v", id, e)
				}
				left[id] = time.Since(killed)
			}
		}
		if len(left) != len(lost) {
			return fmt.Sprintf("%d of a's %d calls ended by b", len(left), len(lost))
		}
		return ""
	})
	var slowest time.Duration
	for _, d := range left {
		slowest = max(slowest, d)
	}
	t.Logf("a's %d calls left calling %v after the kill at most (lease %v)", len(lost), slowest.Round(time.Millisecond), lease)
	if margin := 3 * time.Second; slowest > lease+margin {
		t.Errorf("a's calls left calling %v after the kill; want within the lease %v and %v", slowest, lease, margin)
	}
	if n := b.metric(t, "denwa_node_lost_calls_ended_total"); n != float64(len(lost)) {
		t.Errorf("b ended %v calls of lost nodes, want %d", n, len(lost))
	}
	var retried []*stateStream
	for _, id := range lost {
		s := openStream(t, apiB, id)
		call(apiB, id)
		retried = append(retried, s)
	}
	for i, s := range retried {
		if states := s.wait(t, 30*time.Second); states[len(states)-1] != "verified" {
			t.Fatalf("%s called again on b: %v", lost[i], states)
		}
	}
	a = startNode(t, bin, "a", nodeArgs("a", holdPhone))
	apiA = a.api(key)
	if strings.Contains(a.log.String(), "calls interrupted by the last run") {
		t.Fatalf("a, back, recovered calls that b had ended:\n%s", a.log)
	}
	for _, id := range lost {
		if e, _ := st.GetEnrollment(ctx, id); e.State != enroll.StateVerified {
			t.Fatalf("%s after a came back: %s", id, e.State)
		}
	}

	// 4. The per-number limit (3 an hour) holds across nodes: alternated,
	// the fourth call is refused as on one node.
	refusedAt := func(apis ...*apiClient) int {
		t.Helper()
		phones++
		phone := fmt.Sprintf("03-1234-%04d", phones)
		for i := range 6 {
			api := apis[i%len(apis)]
			id := enrollOn(api, phone)
			req, _ := http.NewRequest("POST", api.base+"/v1/enrollments/"+id+"/call", nil)
			req.Header.Set("Authorization", "Bearer "+key)
			res, err := api.c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			switch res.StatusCode {
			case http.StatusAccepted:
			case http.StatusTooManyRequests:
				return i + 1
			default:
				t.Fatalf("call %d: %d", i+1, res.StatusCode)
			}
		}
		return 0
	}
	one, two := refusedAt(apiB), refusedAt(apiA, apiB)
	if one != 4 || two != one {
		t.Fatalf("one number's calls refused at call %d on one node and at call %d alternated between two; want both 4", one, two)
	}

	// Webhooks: every call that ended has one, none twice, whichever node
	// delivered it.
	waitFor(t, 30*time.Second, func() string {
		if pending, _, err := st.CountOutbox(ctx); err != nil || pending != 0 {
			return fmt.Sprintf("webhooks pending: %d (%v)", pending, err)
		}
		return ""
	})
	hooks.check(t, lost)
}

// sqlCount runs a query that gives one number.
func sqlCount(t *testing.T, url, query string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// sqlExec runs a statement.
func sqlExec(t *testing.T, url, stmt string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), stmt); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
}

// buildDenwa builds the denwa binary into a directory of t's.
func buildDenwa(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "denwa")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// runDenwa runs a denwa command to its end and returns its standard output.
func runDenwa(t *testing.T, bin string, args ...string) string {
	t.Helper()
	var stderr strings.Builder
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("denwa %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// node is a `denwa serve` process.
type node struct {
	name      string
	cmd       *exec.Cmd
	log       *syncBuffer
	http, ops string
	done      chan struct{}
}

// startNode starts denwa with args (a serve command logging JSON) in a
// process group of its own, and waits for it to be ready. Cleanup stops it
// as SIGTERM does.
func startNode(t *testing.T, bin, name string, args []string) *node {
	t.Helper()
	n := &node{name: name, log: &syncBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, args...)
	n.cmd.Env = append(os.Environ(),
		"DENWA_LINK_KEY=multinode-test-link-key-0123456789abcdef",
		"DENWA_WEBHOOK_SECRET="+string(testHookSecret),
		"DENWA_LIMITS_PER_USER=-1", "DENWA_LIMITS_PER_IP=-1")
	n.cmd.Stderr = n.log
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		n.cmd.Wait()
		close(n.done)
	}()
	t.Cleanup(func() { n.stop(t) })
	deadline := time.After(60 * time.Second)
	for n.http == "" {
		select {
		case <-n.done:
			t.Fatalf("node %s exited at start:\n%s", name, n.log)
		case <-deadline:
			t.Fatalf("node %s not ready in 60 s:\n%s", name, n.log)
		case <-time.After(50 * time.Millisecond):
		}
		for line := range strings.Lines(n.log.String()) {
			var rec struct{ Msg, HTTP, Ops string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serve: ready" {
				n.http, n.ops = rec.HTTP, rec.Ops
			}
		}
	}
	return n
}

func (n *node) api(key string) *apiClient {
	return &apiClient{base: "http://" + n.http, key: key, c: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}
}

// kill ends the node at once (SIGKILL), as a crash does.
func (n *node) kill(t *testing.T) {
	t.Helper()
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGKILL)
	<-n.done
}

// stop ends the node as SIGTERM does, or kills it after 20 s.
func (n *node) stop(t *testing.T) {
	select {
	case <-n.done:
		return
	default:
	}
	syscall.Kill(-n.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(20 * time.Second):
		t.Errorf("node %s did not stop in 20 s after SIGTERM", n.name)
		n.kill(t)
	}
}

// waitReady waits for /readyz to answer code, its body saying part.
func (n *node) waitReady(t *testing.T, code int, part string, within time.Duration) {
	t.Helper()
	waitFor(t, within, func() string {
		res, err := http.Get("http://" + n.http + "/readyz")
		if err != nil {
			return err.Error()
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != code || !strings.Contains(string(b), part) {
			return fmt.Sprintf("node %s /readyz: %d %s; want %d %q", n.name, res.StatusCode, b, code, part)
		}
		return ""
	})
}

// metric returns the value of an unlabelled series on the node's /metrics
// (-1 when it is missing).
func (n *node) metric(t *testing.T, name string) float64 {
	t.Helper()
	res, err := http.Get("http://" + n.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %q", name, v)
			}
			return f
		}
	}
	return -1
}

// stateStream follows an enrollment's event stream (GET …/stream) and
// collects the states it sends until one other than pending or calling.
type stateStream struct {
	mu     sync.Mutex
	states []string
	err    error
	done   chan struct{}
}

// openStream opens the stream and reads its first event (the enrollment
// as it is) before it returns, so that every later change is seen.
func openStream(t *testing.T, api *apiClient, id string) *stateStream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	req, _ := http.NewRequestWithContext(ctx, "GET", api.base+"/v1/enrollments/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+api.key)
	res, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		cancel()
		res.Body.Close()
		t.Fatalf("stream %s: %d", id, res.StatusCode)
	}
	s := &stateStream{done: make(chan struct{})}
	sc := bufio.NewScanner(res.Body)
	next := func() (string, bool) {
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var e apiEnrollment
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				s.err = fmt.Errorf("stream data %q: %w", data, err)
				return "", false
			}
			return e.State, true
		}
		s.err = fmt.Errorf("stream ended: %v", sc.Err())
		return "", false
	}
	first, ok := next()
	if !ok {
		cancel()
		res.Body.Close()
		t.Fatalf("stream %s: %v", id, s.err)
	}
	s.states = []string{first}
	go func() {
		defer close(s.done)
		defer cancel()
		defer res.Body.Close()
		for {
			st, ok := next()
			if !ok {
				return
			}
			s.mu.Lock()
			s.states = append(s.states, st)
			s.mu.Unlock()
			if st != "pending" && st != "calling" {
				return
			}
		}
	}()
	return s
}

// wait returns the states seen once the stream saw a final one, failing t
// after within.
func (s *stateStream) wait(t *testing.T, within time.Duration) []string {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(within):
		s.mu.Lock()
		defer s.mu.Unlock()
		t.Fatalf("stream: no end in %v; states %v", within, s.states)
	}
	if s.err != nil {
		t.Fatalf("stream: %v; states %v", s.err, s.states)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.states...)
}

// hookRecorder is the webhook receiver: it checks each delivery's
// signature and records it by delivery ID.
type hookRecorder struct {
	srv *httptest.Server
	mu  sync.Mutex
	got map[string][]enroll.WebhookPayload // by Denwa-Delivery
}

func newHookRecorder(t *testing.T) *hookRecorder {
	h := &hookRecorder{got: map[string][]enroll.WebhookPayload{}}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := enroll.VerifyWebhook(testHookSecret, r.Header.Get(enroll.WebhookSignatureHeader), body, time.Now(), 0); err != nil {
			t.Errorf("webhook: %v", err)
		}
		var p enroll.WebhookPayload
		if err := json.Unmarshal(body, &p); err != nil {
			t.Errorf("webhook body %q: %v", body, err)
		}
		h.mu.Lock()
		id := r.Header.Get(enroll.WebhookDeliveryHeader)
		h.got[id] = append(h.got[id], p)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

var deliveryID = regexp.MustCompile(`^[0-9]+$`)

// check: no delivery ID twice, and each lost call one "node lost" webhook.
func (h *hookRecorder) check(t *testing.T, lost []string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	nodeLost := map[string]int{}
	for id, ps := range h.got {
		if !deliveryID.MatchString(id) {
			t.Errorf("delivery ID %q", id)
		}
		if len(ps) != 1 {
			t.Errorf("delivery %s arrived %d times", id, len(ps))
		}
		if ps[0].Event == enroll.EventFailed && ps[0].Enrollment.Cause == enroll.CauseNodeLost {
			nodeLost[ps[0].Enrollment.ID]++
		}
	}
	for _, id := range lost {
		if nodeLost[id] != 1 {
			t.Errorf("%s: %d node-lost webhooks, want 1", id, nodeLost[id])
		}
	}
	t.Logf("%d webhooks, each delivered once", len(h.got))
}
