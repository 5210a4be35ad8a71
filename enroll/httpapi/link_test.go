package httpapi

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
)

// The user's side: with only the link, read the enrollment, start its
// call, follow its stream (token in the query, as EventSource sends it)
// and claim the app password once; a replay is 410 link_used.
func TestLinkFlow(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, link := h.create("u-1", "03-1234-5678")
	other, otherLink := h.create("u-2", "03-1234-5679")

	r := h.do("GET", "/v1/link", link.Token, nil)
	want(t, r, 200, "")
	var li linkInfoResponse
	r.decode(t, &li)
	if li.Enrollment.ID != e.ID || !li.ExpiresAt.Equal(link.ExpiresAt) {
		t.Fatalf("link info %+v", li)
	}
	// Only its own enrollment.
	want(t, h.do("GET", "/v1/enrollments/"+other.ID, link.Token, nil), 403, CodeForbidden)
	want(t, h.do("POST", "/v1/enrollments/"+other.ID+"/call", link.Token, nil), 403, CodeForbidden)
	want(t, h.do("POST", "/v1/enrollments/"+other.ID+"/app-password", link.Token, nil), 403, CodeForbidden)
	// A tampered token is not ours.
	tampered := []byte(link.Token)
	tampered[3] ^= 1
	want(t, h.do("GET", "/v1/enrollments/"+e.ID, string(tampered), nil), 401, CodeLinkInvalid)
	// A token signed with another key is not ours either.
	foreign, _ := enroll.NewLinkSigner(randBytes(32))
	l, _ := enroll.NewLink(e.ID, e.UserID, time.Now().Add(time.Hour))
	ft, _ := foreign.Sign(l)
	want(t, h.do("GET", "/v1/enrollments/"+e.ID, ft, nil), 401, CodeLinkInvalid)

	_, events, cancel := h.sse("/v1/enrollments/"+e.ID+"/stream?token="+link.Token, "")
	defer cancel()
	if s, _ := nextState(t, events); s.State != enroll.StatePending {
		t.Fatalf("first state %s", s.State)
	}
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", link.Token, `{}`), 202, "")
	for {
		s, ok := nextState(t, events)
		if !ok {
			t.Fatal("stream ended before verified")
		}
		if s.State == enroll.StateVerified {
			break
		}
	}
	r = h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, map[string]string{"name": "Outlook"})
	want(t, r, 201, "")
	var pw issuedJSON
	r.decode(t, &pw)
	if len(pw.Password) != 16 || pw.UserID != "u-1" || pw.Name != "Outlook" {
		t.Fatalf("claimed %+v", pw)
	}
	// Replays.
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil), 410, CodeLinkUsed)
	want(t, h.do("GET", "/v1/link", link.Token, nil), 410, CodeLinkUsed)
	want(t, h.do("GET", "/v1/enrollments/"+e.ID+"/stream?token="+link.Token, "", nil), 410, CodeLinkUsed)
	// The audit trail names the user link as the actor.
	evs, _ := h.st.ListAudit(t.Context(), e.ID)
	last := evs[len(evs)-1]
	if last.Action != enroll.ActionComplete || last.Actor != enroll.ActorUserLink || last.RequestID == "" {
		t.Errorf("last audit event %+v", last)
	}

	// A link past its expiry: 410 link_expired.
	h.clock.Advance(26 * time.Minute)
	want(t, h.do("GET", "/v1/enrollments/"+other.ID, otherLink.Token, nil), 410, CodeLinkExpired)
	// The enrollment itself expired too.
	want(t, h.do("POST", "/v1/enrollments/"+other.ID+"/call", h.key, nil), 410, CodeEnrollmentExpired)
}

// A claim that fails (not verified yet; the user's app passwords at their
// cap) leaves the link for another try.
func TestFailedClaimKeepsLink(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, link := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil), 409, CodeNotVerified)
	want(t, h.do("GET", "/v1/link", link.Token, nil), 200, "")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", link.Token, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)
	var last enroll.AppPassword
	for range enroll.MaxAppPasswordsPerUser {
		last = enroll.AppPassword{ID: enroll.NewID(), UserID: "u-1", Name: "old", Hash: "x", CreatedAt: time.Now()}
		if err := h.st.CreateAppPassword(t.Context(), last, enroll.MaxAppPasswordsPerUser); err != nil {
			t.Fatal(err)
		}
	}
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil), 409, CodeAppPasswordLimit)
	want(t, h.do("GET", "/v1/link", link.Token, nil), 200, "")
	if err := h.st.RevokeAppPassword(t.Context(), "u-1", last.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil), 201, "")
	want(t, h.do("GET", "/v1/link", link.Token, nil), 410, CodeLinkUsed)
}

// Two claims at once with the same link: one app password.
func TestLinkClaimRace(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, link := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", link.Token, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)
	results := make(chan response, 4)
	for range 4 {
		go func() { results <- h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil) }()
	}
	created := 0
	for range 4 {
		r := <-results
		switch {
		case r.StatusCode == 201:
			created++
		case r.StatusCode == 410 && r.errCode() == CodeLinkUsed:
		case r.StatusCode == 409 && r.errCode() == CodeInvalidState:
		default:
			t.Errorf("%d %s", r.StatusCode, r.body)
		}
	}
	if created != 1 {
		t.Errorf("%d claims succeeded, want 1", created)
	}
	n, _ := h.st.CountAppPasswords(t.Context(), "u-1")
	if n != 1 {
		t.Errorf("%d active app passwords, want 1", n)
	}
}

// Streams: heartbeats while idle; the stream ends when the client goes,
// when the enrollment is final, or on Server.Close, and leaves no
// goroutine behind.
func TestStreamLifecycle(t *testing.T) {
	h := newHarness(t, harnessOpts{cfg: func(c *Config) { c.Heartbeat = 30 * time.Millisecond }})
	e, _ := h.create("u-1", "03-1234-5678")
	base := runtime.NumGoroutine()

	// Heartbeats.
	_, events, cancel := h.sse("/v1/enrollments/"+e.ID+"/stream", h.key)
	beats := 0
	deadline := time.After(5 * time.Second)
	for beats < 3 {
		select {
		case ev := <-events:
			if ev.comment {
				beats++
			}
		case <-deadline:
			t.Fatalf("%d heartbeats in 5 s", beats)
		}
	}
	// The client goes: the handler ends.
	cancel()
	waitStreams(t, h, 0)

	// Many clients that go.
	var cancels []func()
	for range 20 {
		_, evs, c := h.sse("/v1/enrollments/"+e.ID+"/stream", h.key)
		nextState(t, evs)
		cancels = append(cancels, c)
	}
	waitStreams(t, h, 20)
	for _, c := range cancels {
		c()
	}
	waitStreams(t, h, 0)

	// Final: an expired enrollment's stream sends its state and ends.
	h.clock.Advance(16 * time.Minute)
	_, evs, c := h.sse("/v1/enrollments/"+e.ID+"/stream", h.key)
	defer c()
	if s, ok := nextState(t, evs); !ok || s.State != enroll.StateExpired || !s.Final {
		t.Fatalf("stream of an expired enrollment: %+v %v", s, ok)
	}
	if _, ok := nextState(t, evs); ok {
		t.Fatal("the stream went on after a final state")
	}
	waitStreams(t, h, 0)

	// Server.Close ends open streams.
	e2, _ := h.create("u-2", "03-1234-5670")
	_, evs2, c2 := h.sse("/v1/enrollments/"+e2.ID+"/stream", h.key)
	defer c2()
	nextState(t, evs2)
	waitStreams(t, h, 1)
	h.srv.Close()
	for ev := range evs2 {
		_ = ev // drain until the server ends it
	}
	waitStreams(t, h, 0)

	// No goroutine left behind (give the HTTP client's connections a
	// moment to close).
	h.ts.Client().CloseIdleConnections()
	h.ts.CloseClientConnections()
	deadline2 := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base+2 && time.Now().Before(deadline2) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+2 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Errorf("%d goroutines, %d before the streams:\n%s", n, base, relevantStacks(string(buf)))
	}
}

func waitStreams(t *testing.T, h *harness, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for h.srv.streamsOpen() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", h.srv.streamsOpen(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// relevantStacks keeps the goroutines in this package's code.
func relevantStacks(all string) string {
	var out []string
	for _, g := range strings.Split(all, "\n\n") {
		if strings.Contains(g, "httpapi") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// A restart loses nothing: close the server, the Service and the store,
// open the same file again, and the enrollment, its trail, the app
// password and the used link are all there.
func TestRestart(t *testing.T) {
	key := randBytes(32)
	h := newHarness(t, harnessOpts{linkKy: key})
	e, link := h.create("u-1", "03-1234-5678")
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call", h.key, nil), 202, "")
	h.waitState(e.ID, enroll.StateVerified)
	r := h.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil)
	want(t, r, 201, "")
	var pw issuedJSON
	r.decode(t, &pw)
	e2, link2 := h.create("u-1", "03-1234-5679")
	apiKey := h.key
	h.stop()

	h2 := newHarness(t, harnessOpts{path: h.path, linkKy: key})
	r = h2.do("GET", "/v1/enrollments/"+e.ID, apiKey, nil)
	want(t, r, 200, "")
	var got enrollmentJSON
	r.decode(t, &got)
	if got.State != enroll.StateCompleted || got.Outcome != enroll.OutcomeVerified || got.Attempts != 1 {
		t.Fatalf("after restart: %+v", got)
	}
	r = h2.do("GET", "/v1/enrollments/"+e.ID+"/events", apiKey, nil)
	var evs eventsResponse
	r.decode(t, &evs)
	if len(evs.Events) != 4 {
		t.Errorf("%d audit events after restart, want 4", len(evs.Events))
	}
	r = h2.do("POST", "/v1/app-passwords/check", apiKey, map[string]string{"user": "u-1", "password": pw.Password})
	var c checkResponse
	r.decode(t, &c)
	if !c.Valid {
		t.Error("the app password does not check after restart")
	}
	want(t, h2.do("POST", "/v1/enrollments/"+e.ID+"/app-password", link.Token, nil), 410, CodeLinkUsed)
	// The pending enrollment's link still works, and its call can start.
	want(t, h2.do("GET", "/v1/link", link2.Token, nil), 200, "")
	want(t, h2.do("POST", "/v1/enrollments/"+e2.ID+"/call", link2.Token, nil), 202, "")
	h2.waitState(e2.ID, enroll.StateVerified)
}

// A link the web UI consumed (its 「続ける」: Service.UseLink, the one
// record of use) is refused on every route of the API.
func TestConsumedLinkRefused(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, link := h.create("u-1", "03-1234-5678")
	want(t, h.do("GET", "/v1/link", link.Token, nil), 200, "")
	l, err := h.links.Verify(link.Token, h.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.svc.UseLink(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct{ method, path, auth string }{
		{"GET", "/v1/link", link.Token},
		{"GET", "/v1/enrollments/" + e.ID, link.Token},
		{"POST", "/v1/enrollments/" + e.ID + "/call", link.Token},
		{"GET", "/v1/enrollments/" + e.ID + "/stream", link.Token},
		{"GET", "/v1/enrollments/" + e.ID + "/stream?token=" + link.Token, ""},
		{"POST", "/v1/enrollments/" + e.ID + "/app-password", link.Token},
	} {
		want(t, h.do(r.method, r.path, r.auth, nil), 410, CodeLinkUsed)
	}
	if len(h.dialer.Calls()) != 0 {
		t.Fatal("a consumed link started a call")
	}
	// The API key still works on the enrollment.
	want(t, h.do("GET", "/v1/enrollments/"+e.ID, h.key, nil), 200, "")
}

// A link token in the query works only on the event stream.
func TestQueryTokenOnlyOnStream(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	e, link := h.create("u-1", "03-1234-5678")
	q := "?token=" + link.Token
	want(t, h.do("GET", "/v1/link"+q, "", nil), 401, CodeLinkInvalid)
	want(t, h.do("GET", "/v1/enrollments/"+e.ID+q, "", nil), 401, CodeUnauthorized)
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/call"+q, "", nil), 401, CodeUnauthorized)
	want(t, h.do("POST", "/v1/enrollments/"+e.ID+"/app-password"+q, "", nil), 401, CodeLinkInvalid)
	// Even beside a good header: the token must not travel in URLs.
	want(t, h.do("GET", "/v1/link"+q, link.Token, nil), 401, CodeLinkInvalid)
	if len(h.dialer.Calls()) != 0 {
		t.Fatal("a query token started a call")
	}
	_, events, cancel := h.sse("/v1/enrollments/"+e.ID+"/stream"+q, "")
	defer cancel()
	if s, _ := nextState(t, events); s.State != enroll.StatePending {
		t.Fatalf("stream with ?token=: first state %s", s.State)
	}
}
