package webui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"denwa/enroll"
)

// linkUsed reports whether the Service has the link of page URL u as
// consumed.
func (e *env) linkUsed(u string) bool {
	e.t.Helper()
	tok := u[strings.LastIndex(u, "/")+1:]
	l, err := e.links.Verify(tok, e.svc.Config().Now())
	if err != nil {
		e.t.Fatal(err)
	}
	used, err := e.svc.LinkUsed(context.Background(), l)
	if err != nil {
		e.t.Fatal(err)
	}
	return used
}

// sessionCookie returns c's session cookie for the link page u.
func sessionCookie(t *testing.T, c *http.Client, u string) *http.Cookie {
	t.Helper()
	pu, _ := url.Parse(u)
	for _, ck := range c.Jar.Cookies(pu) {
		if ck.Name == "denwa_session" {
			return ck
		}
	}
	t.Fatal("no session cookie")
	return nil
}

// withCookie is a new browser holding only ck for the link page u.
func withCookie(t *testing.T, u string, ck *http.Cookie) *http.Client {
	c := client(t)
	pu, _ := url.Parse(u)
	c.Jar.SetCookies(pu, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: pu.Path}})
	return c
}

// A mail scanner fetches the link (HEAD, then GETs without cookies)
// before the person opens it: nothing is consumed, and the person goes
// on.
func TestScannerCannotBurn(t *testing.T) {
	e := newEnv(t)
	u := e.link("u-scan", "")
	req, _ := http.NewRequest(http.MethodHead, u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("HEAD: %s", res.Status)
	}
	for range 2 {
		res, body := get(t, &http.Client{}, u)
		if res.StatusCode != 200 || !strings.Contains(body, "続ける") {
			t.Fatalf("scanner GET: %s\n%s", res.Status, body)
		}
	}
	// The English page says the same.
	if _, body := get(t, &http.Client{}, u+"?lang=en"); !strings.Contains(body, ">Continue<") {
		t.Fatalf("english start page:\n%s", body)
	}
	if e.linkUsed(u) {
		t.Fatal("a HEAD or GET consumed the link")
	}
	c := client(t)
	if body := start(t, c, u); !strings.Contains(body, `id="phone"`) {
		t.Fatalf("step 1 after the scanner:\n%s", body)
	}
	if !e.linkUsed(u) {
		t.Fatal("続ける did not consume the link")
	}
	// Consumed: a browser without its session gets 410, the start page
	// and its POST included.
	if res, body := get(t, client(t), u); res.StatusCode != http.StatusGone || !strings.Contains(body, "すでに使用") {
		t.Fatalf("after consumption, another browser: %s\n%s", res.Status, body)
	}
}

// The 「続ける」 POST needs the start cookie and its token from a same-site
// page; a refused one consumes nothing.
func TestStartCSRF(t *testing.T) {
	e := newEnv(t)
	u := e.link("u-csrf", "")
	c := client(t)
	_, body := get(t, c, u)
	tok := csrfOf(t, body)
	for name, tc := range map[string]struct {
		c    *http.Client
		form url.Values
		hdr  []string
	}{
		"no start cookie": {client(t), url.Values{"csrf": {tok}}, nil},
		"no token":        {c, url.Values{}, nil},
		"wrong token":     {c, url.Values{"csrf": {strings.Repeat("A", len(tok))}}, nil},
		"cross-site":      {c, url.Values{"csrf": {tok}}, []string{"Sec-Fetch-Site", "cross-site"}},
		"foreign origin":  {c, url.Values{"csrf": {tok}}, []string{"Origin", "https://evil.example"}},
	} {
		if res, _ := post(t, tc.c, u+"/start", tc.form, tc.hdr...); res.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %s, want 403", name, res.Status)
		}
	}
	if e.linkUsed(u) {
		t.Fatal("a refused 続ける consumed the link")
	}
	c2 := client(t) // another browser with the page open
	_, body2 := get(t, c2, u)
	if res, _ := post(t, c, u+"/start", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("続ける: %s", res.Status)
	}
	// Pressed again in the same browser (back button): on to the page.
	if res, _ := post(t, c, u+"/start", url.Values{"csrf": {tok}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("続ける again: %s", res.Status)
	}
	// The other browser presses it too: 410.
	if res, _ := post(t, c2, u+"/start", url.Values{"csrf": {csrfOf(t, body2)}}); res.StatusCode != http.StatusGone {
		t.Fatalf("second browser's 続ける: %s", res.Status)
	}
}

// startedFlow is a number-less link of user opened in browser c up to
// step 1 (its calls fail busy), and the step-1 form to send.
func startedFlow(t *testing.T, user string) (e *env, u string, c *http.Client, form url.Values) {
	e = newEnv(t)
	e.dialer.Fail(enroll.OutcomeBusy, nil)
	u = e.link(user, "")
	c = client(t)
	body := start(t, c, u)
	form = url.Values{"method": {"phone"}, "action": {"call"}, "country": {"JP"}, "phone": {"03-1234-5678"}, "csrf": {csrfOf(t, body)}}
	return e, u, c, form
}

// A session cookie replayed, or a step sent several times at once, makes
// one enrollment at most: each step spends the session's ID.
func TestReplayedSession(t *testing.T) {
	e, u, c, form := startedFlow(t, "u-replay")
	first := sessionCookie(t, c, u)

	// The same step-1 form sent five times at once with one cookie.
	var wg sync.WaitGroup
	codes := make([]int, 5)
	for i := range codes {
		wg.Go(func() {
			res, _ := post(t, withCookie(t, u, first), u, form)
			codes[i] = res.StatusCode
		})
	}
	wg.Wait()
	for i, code := range codes {
		if code != http.StatusSeeOther {
			t.Errorf("post %d: %d", i, code)
		}
	}
	if n := e.enrollments("u-replay"); n != 1 {
		t.Fatalf("%d enrollments from one session, want 1", n)
	}
	// Replayed later, three times: still one.
	for range 3 {
		old := withCookie(t, u, first)
		if res, _ := post(t, old, u, form); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("replayed step 1: %s", res.Status)
		}
		if res, body := get(t, old, u); res.StatusCode != http.StatusGone || !strings.Contains(body, "すでに使用") {
			t.Fatalf("replayed cookie, GET: %s\n%s", res.Status, body)
		}
		if res, _ := get(t, old, u+"/events"); res.StatusCode != http.StatusGone {
			t.Fatalf("replayed cookie, events: %s", res.Status)
		}
	}
	if n := e.enrollments("u-replay"); n != 1 {
		t.Fatalf("%d enrollments after replays, want 1", n)
	}
	if n := len(e.dialer.Calls()); n > 1 {
		t.Fatalf("%d calls, want 1", n)
	}
}

// Each step moves the session to a new ID.
func TestSessionRotates(t *testing.T) {
	e, u, c, form := startedFlow(t, "u-rot")
	s1 := sessionCookie(t, c, u).Value
	if res, _ := post(t, c, u, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("step 1: %s", res.Status)
	}
	s2 := sessionCookie(t, c, u).Value
	waitState(t, c, u, "failed")
	if res, _ := post(t, c, u+"/call", url.Values{"csrf": form["csrf"]}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %s", res.Status)
	}
	s3 := sessionCookie(t, c, u).Value
	if s1 == s2 || s2 == s3 || s1 == s3 {
		t.Fatal("the session cookie did not change at each step")
	}
	// The cookie of step 1 no longer starts a call. (Count the calls once
	// the retry's has ended: it is placed after the POST returns.)
	waitState(t, c, u, "failed")
	calls := len(e.dialer.Calls())
	if res, _ := post(t, withCookie(t, u, &http.Cookie{Name: "denwa_session", Value: s2}), u+"/call",
		url.Values{"csrf": form["csrf"]}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("stale retry: %s", res.Status)
	}
	if n := len(e.dialer.Calls()); n != calls {
		t.Fatalf("a stale cookie placed a call (%d → %d)", calls, n)
	}
}
