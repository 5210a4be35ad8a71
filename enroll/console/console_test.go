package console_test

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/console"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
)

type env struct {
	t      *testing.T
	st     *sqlite.Store
	svc    *enroll.Service
	dialer *enrolltest.FakeDialer
	srv    *httptest.Server
	admin  string // an active admin key
}

func newEnv(t *testing.T, mod func(*console.Config)) *env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "denwa.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := enrolltest.NewFakeDialer()
	svc, err := enroll.NewService(enroll.ServiceConfig{Store: st, Dialer: d, PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	cfg := console.Config{Service: svc, SignInDelay: -1}
	if mod != nil {
		mod(&cfg)
	}
	c, err := console.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	e := &env{t: t, st: st, svc: svc, dialer: d, srv: srv}
	e.admin = e.key("ops", enroll.ScopeAdmin)
	return e
}

// key stores a new API key with scopes and returns it.
func (e *env) key(name string, scopes enroll.Scopes) string {
	e.t.Helper()
	plain, rec, err := enroll.NewAPIKey(name)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.CreateAPIKey(context.Background(), enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: scopes, CreatedAt: enroll.Now(time.Now())}); err != nil {
		e.t.Fatal(err)
	}
	return plain
}

// browser is a client with a cookie jar that does not follow redirects.
type browser struct {
	e   *env
	c   *http.Client
	jar *cookiejar.Jar
}

func (e *env) browser() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{e: e, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type reply struct {
	code int
	h    http.Header
	body string
}

func (b *browser) do(method, path string, form url.Values, hdr map[string]string) reply {
	b.e.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.e.srv.URL+path, body)
	if err != nil {
		b.e.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	defer res.Body.Close()
	out, _ := io.ReadAll(res.Body)
	return reply{res.StatusCode, res.Header, string(out)}
}

func (b *browser) get(path string) reply { return b.do(http.MethodGet, path, nil, nil) }

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, r reply) string {
	t.Helper()
	m := csrfField.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no csrf field in the page (%d):\n%.800s", r.code, r.body)
	}
	return m[1]
}

// signIn signs b in with key and returns the sign-in's reply.
func (b *browser) signIn(key string) reply {
	b.e.t.Helper()
	form := b.get("/console/signin")
	return b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {csrfOf(b.e.t, form)}, "key": {key}}, nil)
}

// mustSignIn signs b in and returns the CSRF token of its session.
func (b *browser) mustSignIn(key string) string {
	b.e.t.Helper()
	if r := b.signIn(key); r.code != http.StatusSeeOther || r.h.Get("Location") != "/console/" {
		b.e.t.Fatalf("sign-in: %d %s\n%.800s", r.code, r.h.Get("Location"), r.body)
	}
	r := b.get("/console/")
	if r.code != http.StatusOK {
		b.e.t.Fatalf("overview after sign-in: %d\n%.800s", r.code, r.body)
	}
	return csrfOf(b.e.t, r)
}

func TestSignInAndCookie(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	r := b.get("/console/enrollments?state=failed")
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/console/signin?next=%2Fconsole%2Fenrollments%3Fstate%3Dfailed" {
		t.Fatalf("a page without a session: %d %q", r.code, r.h.Get("Location"))
	}
	form := b.get("/console/signin?next=%2Fconsole%2Fenrollments%3Fstate%3Dfailed")
	if form.code != http.StatusOK || !strings.Contains(form.body, `type="password"`) {
		t.Fatalf("sign-in form: %d\n%.500s", form.code, form.body)
	}
	r = b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {csrfOf(t, form)}, "key": {e.admin},
		"next": {"/console/enrollments?state=failed"}}, nil)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/console/enrollments?state=failed" {
		t.Fatalf("sign-in: %d %q\n%.500s", r.code, r.h.Get("Location"), r.body)
	}
	var sess *http.Cookie
	for _, c := range (&http.Response{Header: r.h}).Cookies() {
		if c.Name == "denwa_console" {
			sess = c
		}
	}
	switch {
	case sess == nil:
		t.Fatal("no session cookie")
	case !sess.HttpOnly, sess.SameSite != http.SameSiteStrictMode, sess.Path != "/console/", sess.Secure:
		t.Errorf("session cookie: HttpOnly %v SameSite %v Path %q Secure %v", sess.HttpOnly, sess.SameSite, sess.Path, sess.Secure)
	case strings.Contains(sess.Value, e.admin), strings.Contains(sess.Value, "ops"):
		t.Error("the cookie shows the key or its name")
	}
	r = b.get("/console/enrollments?state=failed")
	if r.code != http.StatusOK || !strings.Contains(r.body, `id="signed-in-as">ops<`) {
		t.Fatalf("signed in: %d\n%.500s", r.code, r.body)
	}
	if strings.Contains(r.body, e.admin) {
		t.Fatal("a page shows the key")
	}
	for k, want := range map[string]string{"Content-Security-Policy": "default-src 'none'; script-src 'self'",
		"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
		if !strings.Contains(r.h.Get(k), want) {
			t.Errorf("%s: %q", k, r.h.Get(k))
		}
	}
	if strings.Contains(r.body, "<script") || strings.Contains(r.body, "style=") {
		t.Error("a page has a script or an inline style")
	}
	// The sign-in page of a signed-in browser goes on.
	if r := b.get("/console/signin"); r.code != http.StatusSeeOther {
		t.Errorf("sign-in page when signed in: %d", r.code)
	}
}

func TestSecureCookies(t *testing.T) {
	e := newEnv(t, func(c *console.Config) { c.SecureCookies = true })
	b := e.browser()
	// The jar keeps Secure cookies only for https: read the header.
	form := b.get("/console/signin")
	for _, c := range (&http.Response{Header: form.h}).Cookies() {
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
			t.Errorf("cookie %s: Secure %v HttpOnly %v SameSite %v", c.Name, c.Secure, c.HttpOnly, c.SameSite)
		}
	}
}

// Only an active key with the admin scope signs in; all the others get the
// same answer, and no session.
func TestSignInRefused(t *testing.T) {
	e := newEnv(t, nil)
	revoked := e.key("old-ops", enroll.ScopeAdmin)
	if err := e.st.RevokeAPIKey(context.Background(), "old-ops", time.Now()); err != nil {
		t.Fatal(err)
	}
	unknown, _, _ := enroll.NewAPIKey("nobody")
	var first string
	for name, key := range map[string]string{
		"enroll scope":     e.key("crm", enroll.ScopeEnroll),
		"check and enroll": e.key("gw", enroll.ScopeCheck|enroll.ScopeEnroll),
		"revoked admin":    revoked,
		"unknown":          unknown,
		"malformed":        "dnw_nothing",
		"empty":            "",
		"huge":             strings.Repeat("x", 10000),
	} {
		b := e.browser()
		r := b.signIn(key)
		if r.code != http.StatusUnauthorized {
			t.Errorf("%s: %d", name, r.code)
		}
		msg := regexp.MustCompile(`id="message">([^<]*)<`).FindStringSubmatch(r.body)
		if msg == nil {
			t.Fatalf("%s: no message\n%.500s", name, r.body)
		}
		if first == "" {
			first = msg[1]
		} else if msg[1] != first {
			t.Errorf("%s: message %q differs from %q", name, msg[1], first)
		}
		if r := b.get("/console/"); r.code != http.StatusSeeOther {
			t.Errorf("%s: signed in anyway (%d)", name, r.code)
		}
	}
}

func TestSignInCSRF(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	// No token.
	if r := b.do(http.MethodPost, "/console/signin", url.Values{"key": {e.admin}}, nil); r.code != http.StatusForbidden {
		t.Errorf("no token: %d", r.code)
	}
	// Another site's form (its own nonce cookie cannot be ours).
	form := b.get("/console/signin")
	tok := csrfOf(t, form)
	if r := b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {tok}, "key": {e.admin}},
		map[string]string{"Origin": "http://evil.example"}); r.code != http.StatusForbidden {
		t.Errorf("cross origin: %d", r.code)
	}
	if r := b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {tok}, "key": {e.admin}},
		map[string]string{"Sec-Fetch-Site": "cross-site"}); r.code != http.StatusForbidden {
		t.Errorf("cross-site fetch: %d", r.code)
	}
	// Another browser's token.
	other := e.browser()
	if r := other.do(http.MethodPost, "/console/signin", url.Values{"csrf": {tok}, "key": {e.admin}}, nil); r.code != http.StatusForbidden {
		t.Errorf("token of another browser: %d", r.code)
	}
	if r := b.get("/console/"); r.code != http.StatusSeeOther {
		t.Fatal("signed in without a valid token")
	}
}

func TestSignInLimit(t *testing.T) {
	e := newEnv(t, func(c *console.Config) { c.SignInFailures = 3 })
	b := e.browser()
	for i := range 3 {
		if r := b.signIn("dnw_wrong"); r.code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i+1, r.code)
		}
	}
	// Over the limit, even the right key is refused before any lookup.
	if r := b.signIn(e.admin); r.code != http.StatusTooManyRequests {
		t.Fatalf("after 3 failures: %d", r.code)
	}
}

func TestSignInDelay(t *testing.T) {
	e := newEnv(t, func(c *console.Config) { c.SignInDelay = 150 * time.Millisecond })
	b := e.browser()
	for _, key := range []string{"dnw_wrong", e.admin} {
		form := b.get("/console/signin")
		start := time.Now()
		b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {csrfOf(t, form)}, "key": {key}}, nil)
		if d := time.Since(start); d < 150*time.Millisecond {
			t.Errorf("sign-in answered in %v, under the least delay", d)
		}
	}
}

// Sessions end when the key is revoked, loses its admin scope, or signs
// out; a copy of a signed-out cookie is refused too.
func TestSessionEnds(t *testing.T) {
	e := newEnv(t, nil)
	t.Run("revoked", func(t *testing.T) {
		key := e.key("ops2", enroll.ScopeAdmin)
		b := e.browser()
		b.mustSignIn(key)
		if err := e.st.RevokeAPIKey(context.Background(), "ops2", time.Now()); err != nil {
			t.Fatal(err)
		}
		if r := b.get("/console/"); r.code != http.StatusSeeOther {
			t.Fatalf("revoked key still signed in: %d", r.code)
		}
	})
	t.Run("sign-out", func(t *testing.T) {
		b := e.browser()
		csrf := b.mustSignIn(e.admin)
		u, _ := url.Parse(e.srv.URL + "/console/")
		saved := b.jar.Cookies(u)
		if r := b.do(http.MethodPost, "/console/signout", url.Values{}, nil); r.code != http.StatusForbidden {
			t.Errorf("sign-out without the token: %d", r.code)
		}
		if r := b.do(http.MethodPost, "/console/signout", url.Values{"csrf": {csrf}}, nil); r.code != http.StatusSeeOther {
			t.Fatalf("sign-out: %d", r.code)
		}
		if r := b.get("/console/"); r.code != http.StatusSeeOther {
			t.Fatalf("still signed in after sign-out: %d", r.code)
		}
		replay := e.browser()
		replay.jar.SetCookies(u, saved)
		if r := replay.get("/console/"); r.code != http.StatusSeeOther {
			t.Fatalf("a copy of the signed-out cookie works: %d", r.code)
		}
	})
	t.Run("tampered", func(t *testing.T) {
		b := e.browser()
		b.mustSignIn(e.admin)
		u, _ := url.Parse(e.srv.URL + "/console/")
		cs := b.jar.Cookies(u)
		for _, c := range cs {
			if c.Name == "denwa_console" {
				v := []byte(c.Value)
				v[len(v)/2] ^= 1
				c.Value, c.Path = string(v), "/console/"
			}
		}
		b.jar.SetCookies(u, cs)
		if r := b.get("/console/"); r.code != http.StatusSeeOther {
			t.Fatalf("a tampered cookie works: %d", r.code)
		}
	})
	t.Run("another server's key", func(t *testing.T) {
		other := newEnv(t, nil)
		b := other.browser()
		b.mustSignIn(other.admin)
		u, _ := url.Parse(other.srv.URL + "/console/")
		mine := e.browser()
		mu, _ := url.Parse(e.srv.URL + "/console/")
		mine.jar.SetCookies(mu, b.jar.Cookies(u))
		if r := mine.get("/console/"); r.code != http.StatusSeeOther {
			t.Fatalf("a cookie sealed by another session key works: %d", r.code)
		}
	})
}

// Two servers with one session key (two nodes): a session opened on one
// works on the other, and signing out on one ends it on both.
func TestSessionAcrossNodes(t *testing.T) {
	key := []byte(strings.Repeat("k", 32))
	e := newEnv(t, func(c *console.Config) { c.SessionKey = key })
	node2, err := console.New(console.Config{Service: e.svc, SessionKey: key, SignInDelay: -1})
	if err != nil {
		t.Fatal(err)
	}
	srv2 := httptest.NewServer(node2.Handler())
	defer srv2.Close()
	b := e.browser()
	csrf := b.mustSignIn(e.admin)
	u1, _ := url.Parse(e.srv.URL + "/console/")
	u2, _ := url.Parse(srv2.URL + "/console/")
	on2 := &browser{e: &env{t: t, srv: srv2}, c: b.c, jar: b.jar}
	b.jar.SetCookies(u2, b.jar.Cookies(u1))
	if r := on2.get("/console/"); r.code != http.StatusOK {
		t.Fatalf("the session on the other node: %d", r.code)
	}
	if r := on2.do(http.MethodPost, "/console/signout", url.Values{"csrf": {csrf}}, nil); r.code != http.StatusSeeOther {
		t.Fatalf("sign-out on the other node with the first node's token: %d", r.code)
	}
	b.jar.SetCookies(u1, []*http.Cookie{{Name: "denwa_console", Value: "", MaxAge: -1, Path: "/console/"}})
	if r := b.get("/console/"); r.code != http.StatusSeeOther {
		t.Fatalf("signed out on node 2, still in on node 1: %d", r.code)
	}
}

func TestUnblock(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := e.st.BlockNumber(ctx, enroll.BlockedNumber{Phone: "+81312345678", Reason: "fraud-reported", At: enroll.Now(time.Now())}); err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	csrf := b.mustSignIn(e.admin)
	r := b.get("/console/fraud")
	if r.code != http.StatusOK || !strings.Contains(r.body, `data-unblock="&#43;81312345678"`) || !strings.Contains(r.body, "ブロック解除") {
		t.Fatalf("fraud page: %d\n%.1500s", r.code, r.body)
	}
	form := url.Values{"csrf": {csrf}, "phone": {"+81312345678"}, "reason": {"pressed 0# by mistake"}}
	// Refused: no token, another token, another origin; the block stays.
	for name, c := range map[string]struct {
		form url.Values
		hdr  map[string]string
	}{
		"no token":     {url.Values{"phone": {"+81312345678"}}, nil},
		"wrong token":  {url.Values{"csrf": {csrf[:len(csrf)-2] + "xx"}, "phone": {"+81312345678"}}, nil},
		"cross origin": {form, map[string]string{"Origin": "http://evil.example"}},
		"cross site":   {form, map[string]string{"Sec-Fetch-Site": "cross-site"}},
	} {
		if r := b.do(http.MethodPost, "/console/blocked/unblock", c.form, c.hdr); r.code != http.StatusForbidden {
			t.Errorf("%s: %d", name, r.code)
		}
	}
	if _, err := e.st.BlockedNumber(ctx, "+81312345678"); err != nil {
		t.Fatalf("a refused unblock lifted the block: %v", err)
	}
	// Without a session at all.
	anon := e.browser()
	if r := anon.do(http.MethodPost, "/console/blocked/unblock", form, nil); r.code != http.StatusForbidden {
		t.Errorf("no session: %d", r.code)
	}
	r = b.do(http.MethodPost, "/console/blocked/unblock", form, nil)
	if r.code != http.StatusSeeOther {
		t.Fatalf("unblock: %d\n%.500s", r.code, r.body)
	}
	if _, err := e.st.BlockedNumber(ctx, "+81312345678"); err == nil {
		t.Fatal("the number is still blocked")
	}
	evs, err := e.svc.Admin().OperatorEvents(ctx, "+81312345678", enroll.Page{})
	if err != nil || len(evs.Events) != 1 {
		t.Fatalf("operator events: %v %v", evs, err)
	}
	if ev := evs.Events[0]; ev.Action != enroll.OpUnblock || ev.Actor != "api-key:ops" || ev.Reason != "pressed 0# by mistake" || ev.RequestID == "" {
		t.Errorf("recorded %+v", ev)
	}
	r = b.get(r.h.Get("Location"))
	if !strings.Contains(r.body, `id="notice"`) || !strings.Contains(r.body, "81 3-1234-5678 のブロックを解除しました") || !strings.Contains(r.body, "pressed 0# by mistake") {
		t.Errorf("the fraud page after the unblock:\n%.2000s", r.body)
	}
	// Again: nothing to lift.
	if r := b.do(http.MethodPost, "/console/blocked/unblock", form, nil); r.code != http.StatusNotFound {
		t.Errorf("second unblock: %d", r.code)
	}
}

// Hostile and odd requests get plain refusals, never a 500.
func TestHostileRequests(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	csrf := b.mustSignIn(e.admin)
	for _, c := range []struct {
		method, path string
		form         url.Values
		want         int
	}{
		{"GET", "/console/enrollments?cursor=garbage", nil, 400},
		{"GET", "/console/enrollments?cursor=" + url.QueryEscape("MTIzLg"), nil, 400},
		{"GET", "/console/enrollments?state=bogus", nil, 400},
		{"GET", "/console/enrollments?outcome=%00", nil, 400},
		{"GET", "/console/enrollments?phone=not-a-number", nil, 400},
		{"GET", "/console/enrollments?user=" + strings.Repeat("u", 300), nil, 400},
		{"GET", "/console/enrollments?q=" + strings.Repeat("x", 5000), nil, 414},
		{"GET", "/console/enrollments/nope", nil, 404},
		{"GET", "/console/enrollments/" + strings.Repeat("a", 1000), nil, 404},
		{"GET", "/console/fraud?reports=%ff%fe", nil, 400},
		{"GET", "/console/webhooks?state=delivered", nil, 400},
		{"GET", "/console/webhooks?cursor=x", nil, 400},
		{"GET", "/console/nothing", nil, 404},
		{"GET", "/console/?window=9999d", nil, 200}, // an unknown window is the default
		{"PUT", "/console/fraud", nil, 405},
		{"DELETE", "/console/blocked/unblock", nil, 405},
		{"GET", "/console/blocked/unblock", nil, 405},
		{"POST", "/console/blocked/unblock", url.Values{"csrf": {csrf}, "phone": {"garbage"}}, 400},
		{"POST", "/console/blocked/unblock", url.Values{"csrf": {csrf}, "phone": {"+81312345678"}, "reason": {strings.Repeat("r", 600)}}, 400},
		{"POST", "/console/blocked/unblock", url.Values{"csrf": {csrf}, "phone": {"+81312345678"}, "pad": {strings.Repeat("p", 20000)}}, 403}, // body cut: no token read
		{"POST", "/console/webhooks/redeliver", url.Values{"csrf": {csrf}, "id": {"-1"}}, 400},
		{"POST", "/console/webhooks/redeliver", url.Values{"csrf": {csrf}, "id": {"999"}}, 404},
		{"POST", "/console/keys", url.Values{"csrf": {csrf}, "name": {"bad name!"}, "scope": {"enroll"}}, 400},
		{"POST", "/console/keys", url.Values{"csrf": {csrf}, "name": {"x"}, "scope": {"root"}}, 400},
		{"POST", "/console/keys/revoke", url.Values{"csrf": {csrf}, "name": {"nobody"}}, 404},
	} {
		r := b.do(c.method, c.path, c.form, nil)
		if r.code != c.want {
			t.Errorf("%s %.80s: %d, want %d\n%.300s", c.method, c.path, r.code, c.want, r.body)
		}
	}
	// An open redirect through next is not possible.
	for _, next := range []string{"https://evil.example/", "//evil.example/console/", "/console/../metrics", "/elsewhere", "/console\\evil"} {
		b := e.browser()
		form := b.get("/console/signin")
		r := b.do(http.MethodPost, "/console/signin", url.Values{"csrf": {csrfOf(t, form)}, "key": {e.admin}, "next": {next}}, nil)
		if loc := r.h.Get("Location"); loc != "/console/" {
			t.Errorf("next %q: went to %q", next, loc)
		}
	}
}

// The enrollment whose phone pressed 0#: listed, its timeline shown, its
// report on the fraud page, and the number blocked.
func TestFraudFlow(t *testing.T) {
	e := newEnv(t, nil)
	en := e.call("u-1001", "0#", enroll.StateFailed)

	b := e.browser()
	b.mustSignIn(e.admin)
	r := b.get("/console/enrollments?user=u-1001")
	if r.code != http.StatusOK || !strings.Contains(r.body, `data-id="`+en.ID+`"`) || !strings.Contains(r.body, "不正報告") {
		t.Fatalf("enrollments: %d\n%.2000s", r.code, r.body)
	}
	if r := b.get("/console/enrollments?user=someone-else"); !strings.Contains(r.body, `id="no-enrollments"`) {
		t.Error("a search for another user lists something")
	}
	r = b.get("/console/enrollments/" + en.ID)
	for _, want := range []string{`data-action="create"`, `data-action="call.start"`, `data-action="call.end"`, `data-action="block"`,
		"<code>0#</code>", "&#43;81 3-1234-5678", `id="blocked"`, "req-1"} {
		if !strings.Contains(r.body, want) {
			t.Errorf("detail lacks %s", want)
		}
	}
	r = b.get("/console/fraud")
	if !strings.Contains(r.body, `data-enrollment="`+en.ID+`"`) || !strings.Contains(r.body, `data-unblock="&#43;81312345678"`) {
		t.Errorf("fraud page:\n%.2000s", r.body)
	}
	r = b.get("/console/?window=24h")
	for _, want := range []string{`id="fraud">1<`, `id="calls">1<`, `<svg viewBox="0 0 720 220" role="img"`, `class="o-fraud-reported"`} {
		if !strings.Contains(r.body, want) {
			t.Errorf("overview lacks %s\n%.3000s", want, r.body)
		}
	}
}

// call makes an enrollment of user for 03-1234-5678 (through an API key
// called crm, request req-1) and places its call, whose far end presses
// keys; it returns once the enrollment is in want.
func (e *env) call(user, keys string, want enroll.State) enroll.Enrollment {
	e.t.Helper()
	ctx := context.Background()
	e.dialer.AnswerWith(func(l *enrolltest.FakeLine) {
		l.SetPromptLength(enroll.PromptFraud, 10*time.Millisecond)
		l.SetPromptLength(enroll.PromptSuccess, 10*time.Millisecond)
		l.PressAt(10*time.Millisecond, keys)
	})
	origin := enroll.Origin{Actor: enroll.ActorAPIKey("crm"), RequestID: "req-1"}
	en, err := e.svc.Create(ctx, enroll.CreateRequest{UserID: user, Phone: "03-1234-5678", Country: "JP", Origin: origin})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.svc.StartCall(ctx, en.ID, origin); err != nil {
		e.t.Fatal(err)
	}
	waitState(e.t, e.svc, en.ID, want)
	return en
}

func waitState(t *testing.T, svc *enroll.Service, id string, want enroll.State) {
	t.Helper()
	ch, cancel, err := svc.Subscribe(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	defer cancel()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if e.State == want {
				return
			}
		case <-timeout:
			t.Fatalf("enrollment %s did not reach %s", id, want)
		}
	}
}

func TestLanguage(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	r := b.do(http.MethodGet, "/console/signin", nil, map[string]string{"Accept-Language": "en-US,en;q=0.9"})
	if !strings.Contains(r.body, `<html lang="en">`) || !strings.Contains(r.body, "Sign in") {
		t.Errorf("English page:\n%.300s", r.body)
	}
	r = b.do(http.MethodGet, "/console/signin?lang=ja", nil, map[string]string{"Accept-Language": "en"})
	if !strings.Contains(r.body, `<html lang="ja">`) || !strings.Contains(r.body, "サインイン") {
		t.Errorf("?lang=ja:\n%.300s", r.body)
	}
	// The choice sticks.
	r = b.do(http.MethodGet, "/console/signin", nil, map[string]string{"Accept-Language": "en"})
	if !strings.Contains(r.body, `<html lang="ja">`) {
		t.Error("the language chosen did not stick")
	}
}

// An API key made in the console is shown once, on that response only.
func TestCreateKey(t *testing.T) {
	e := newEnv(t, nil)
	b := e.browser()
	csrf := b.mustSignIn(e.admin)
	r := b.do(http.MethodPost, "/console/keys", url.Values{"csrf": {csrf}, "name": {"mail-gw"}, "scope": {"check"}}, nil)
	m := regexp.MustCompile(`id="new-key"[^>]*>(dnw_[a-z2-7_]+)<`).FindStringSubmatch(r.body)
	if r.code != http.StatusOK || m == nil {
		t.Fatalf("create: %d\n%.1000s", r.code, r.body)
	}
	if r.h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.h.Get("Cache-Control"))
	}
	hash, _ := enroll.APIKeyHash(m[1])
	k, err := e.svc.APIKey(context.Background(), hash)
	if err != nil || k.Name != "mail-gw" || k.Scopes != enroll.ScopeCheck {
		t.Fatalf("stored key %+v %v", k, err)
	}
	list := b.get("/console/keys")
	if strings.Contains(list.body, m[1]) || strings.Contains(list.body, hash) || !strings.Contains(list.body, `data-name="mail-gw"`) {
		t.Error("the key list shows the key or its hash, or not its name")
	}
	// A check key cannot sign in.
	if r := e.browser().signIn(m[1]); r.code != http.StatusUnauthorized {
		t.Errorf("a check key signed in: %d", r.code)
	}
	// Same name again: refused, form kept.
	if r := b.do(http.MethodPost, "/console/keys", url.Values{"csrf": {csrf}, "name": {"mail-gw"}, "scope": {"check"}}, nil); r.code != http.StatusConflict {
		t.Errorf("duplicate name: %d", r.code)
	}
	if r := b.do(http.MethodPost, "/console/keys/revoke", url.Values{"csrf": {csrf}, "name": {"mail-gw"}}, nil); r.code != http.StatusSeeOther {
		t.Errorf("revoke: %d", r.code)
	}
	if k, _ := e.svc.APIKey(context.Background(), hash); k.RevokedAt.IsZero() {
		t.Error("not revoked")
	}
}

// The enrollments list pages by cursor, keeping the search.
func TestEnrollmentPages(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	origin := enroll.Origin{Actor: enroll.ActorAPIKey("crm")}
	for i := range enroll.DefaultPageSize + 5 {
		if _, err := e.svc.Create(ctx, enroll.CreateRequest{UserID: "u-" + strconv.Itoa(i), Phone: "03-1234-" + strconv.Itoa(1000+i), Origin: origin}); err != nil {
			t.Fatal(err)
		}
	}
	b := e.browser()
	b.mustSignIn(e.admin)
	rows := regexp.MustCompile(`<tr data-id="`)
	next := regexp.MustCompile(`href="([^"]+)" id="next"`)
	r := b.get("/console/enrollments?state=pending")
	m := next.FindStringSubmatch(r.body)
	if n := len(rows.FindAllString(r.body, -1)); n != enroll.DefaultPageSize || m == nil {
		t.Fatalf("first page: %d rows, next %v", n, m)
	}
	r = b.get(strings.ReplaceAll(m[1], "&amp;", "&"))
	if n := len(rows.FindAllString(r.body, -1)); r.code != 200 || n != 5 || next.MatchString(r.body) {
		t.Fatalf("second page: %d, %d rows\n%.500s", r.code, n, r.body)
	}
	if !strings.Contains(r.body, `href="/console/enrollments?state=pending">`) {
		t.Error("no link to the first page of the same search")
	}
}

// An app password of the enrollment's user is listed on the enrollment
// and revoked from there, recorded with the signed-in key.
func TestRevokeAppPassword(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	en := e.call("u-7", "#", enroll.StateVerified)
	origin := enroll.Origin{Actor: enroll.ActorAPIKey("crm")}
	plain, ap, err := e.svc.IssueAppPassword(ctx, en.ID, "iPhone mail", origin)
	if err != nil {
		t.Fatal(err)
	}
	b := e.browser()
	csrf := b.mustSignIn(e.admin)
	r := b.get("/console/enrollments/" + en.ID)
	if !strings.Contains(r.body, `<tr data-id="`+ap.ID+`"><td>iPhone mail</td>`) || strings.Contains(r.body, plain) {
		t.Fatalf("the app password row (or the password itself):\n%.3000s", r.body)
	}
	form := url.Values{"csrf": {csrf}, "user": {"u-7"}, "id": {ap.ID}, "enrollment": {en.ID}}
	if r := b.do(http.MethodPost, "/console/app-passwords/revoke", url.Values{"user": {"u-7"}, "id": {ap.ID}}, nil); r.code != http.StatusForbidden {
		t.Errorf("without the token: %d", r.code)
	}
	r = b.do(http.MethodPost, "/console/app-passwords/revoke", form, nil)
	if r.code != http.StatusSeeOther || r.h.Get("Location") != "/console/enrollments/"+en.ID+"?revoked=1" {
		t.Fatalf("revoke: %d %q", r.code, r.h.Get("Location"))
	}
	if ok, err := e.svc.CheckAppPassword(ctx, "u-7", plain, netip.Addr{}); ok || err != nil {
		t.Fatalf("the revoked password still checks: %v %v", ok, err)
	}
	evs, err := e.svc.Admin().OperatorEvents(ctx, "", enroll.Page{})
	if err != nil || len(evs.Events) != 1 || evs.Events[0].Action != enroll.OpAppPasswordRevoke || evs.Events[0].Actor != "api-key:ops" {
		t.Fatalf("recorded: %+v %v", evs, err)
	}
	if r := b.get(r.h.Get("Location")); !strings.Contains(r.body, `id="notice"`) {
		t.Error("no notice after the revocation")
	}
	form.Set("user", "u-8") // another user's password: not found
	if r := b.do(http.MethodPost, "/console/app-passwords/revoke", form, nil); r.code != http.StatusNotFound {
		t.Errorf("another user's password: %d", r.code)
	}
}
