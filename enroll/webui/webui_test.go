package webui_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"denwa/enroll"
	"denwa/enroll/enrolltest"
	"denwa/enroll/store/sqlite"
	"denwa/enroll/webui"
)

type env struct {
	t      *testing.T
	dbPath string
	st     *sqlite.Store
	svc    *enroll.Service
	dialer *enrolltest.FakeDialer
	links  *enroll.LinkSigner
	srv    *httptest.Server
}

func newEnv(t *testing.T) *env { return newEnvWith(t, enroll.DialogueConfig{}) }

// newEnvWith is newEnv with the Service's dialogue configured by dc.
func newEnvWith(t *testing.T, dc enroll.DialogueConfig) *env {
	t.Helper()
	ctx := context.Background()
	dbPath := filepath.Join(t.TempDir(), "denwa.db")
	st, err := sqlite.Open(ctx, dbPath, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	d := enrolltest.NewFakeDialer()
	svc, err := enroll.NewService(enroll.ServiceConfig{Store: st, Dialer: d, PollInterval: 50 * time.Millisecond, Dialogue: dc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(context.Background()) })
	key := make([]byte, 32)
	rand.Read(key)
	links, err := enroll.NewLinkSigner(key)
	if err != nil {
		t.Fatal(err)
	}
	ui, err := webui.New(webui.Config{Service: svc, Links: links, Heartbeat: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(ui.Handler())
	t.Cleanup(srv.Close)
	t.Cleanup(ui.Close)
	return &env{t: t, dbPath: dbPath, st: st, svc: svc, dialer: d, links: links, srv: srv}
}

// link signs a link for user (and enrollment, if any), valid for an hour.
func (e *env) link(user, enrollment string) string {
	l, err := enroll.NewLink(enrollment, user, time.Now().Add(time.Hour))
	if err != nil {
		e.t.Fatal(err)
	}
	tok, err := e.links.Sign(l)
	if err != nil {
		e.t.Fatal(err)
	}
	return e.srv.URL + "/e/" + tok
}

func client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// start opens the link in c the way a person does: the page with
// 「続ける」, then its POST. It returns the page that follows (step 1, or
// the step the enrollment is at).
func start(t *testing.T, c *http.Client, u string, hdr ...string) string {
	t.Helper()
	res, body := get(t, c, u, hdr...)
	if res.StatusCode != 200 || !strings.Contains(body, `id="continue"`) {
		t.Fatalf("start page: %s\n%s", res.Status, body)
	}
	base, _, _ := strings.Cut(u, "?")
	if res, body := post(t, c, base+"/start", url.Values{"csrf": {csrfOf(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("続ける: %s\n%s", res.Status, body)
	}
	res, body = get(t, c, u, hdr...)
	if res.StatusCode != 200 {
		t.Fatalf("after 続ける: %s\n%s", res.Status, body)
	}
	return body
}

// enrollments counts the user's enrollments in the store.
func (e *env) enrollments(user string) int {
	e.t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?mode=ro")
	if err != nil {
		e.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(`SELECT COUNT(*) FROM enrollments WHERE user_id = ?`, user).Scan(&n); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func csrfOf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", body)
	}
	return m[1]
}

// waitState reads the event stream until it reports want.
func waitState(t *testing.T, c *http.Client, u, want string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", u+"/events", nil)
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %s %s", res.Status, res.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok && strings.Contains(d, `"state":"`+want+`"`) {
			return d
		}
	}
	t.Fatalf("stream ended without state %s: %v", want, sc.Err())
	return ""
}

func pressHash(l *enrolltest.FakeLine) {
	l.SetPromptLength(enroll.PromptGreeting, 50*time.Millisecond)
	l.SetPromptLength(enroll.PromptSuccess, 20*time.Millisecond)
	l.OnPlay(enroll.PromptGreeting, 1, 10*time.Millisecond, func() { l.Press("#") })
}

func TestFlowVerified(t *testing.T) {
	e := newEnv(t)
	e.dialer.AnswerWith(pressHash)
	c := client(t)
	u := e.link("u-1", "")

	res, body := get(t, c, u)
	if res.StatusCode != 200 || !strings.Contains(body, "続ける") || !strings.Contains(body, `action="`+u[len(e.srv.URL):]+`/start"`) {
		t.Fatalf("start page: %s\n%s", res.Status, body)
	}
	for h, want := range map[string]string{
		"Content-Security-Policy": "script-src 'self'", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "no-referrer", "Cache-Control": "no-store",
	} {
		if got := res.Header.Get(h); !strings.Contains(got, want) {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	body = start(t, c, u)
	if !strings.Contains(body, "追加のセキュリティ確認") || !strings.Contains(body, "日本 (&#43;81)") ||
		!strings.Contains(body, "認証用電話") || !strings.Contains(body, "電話する") || !strings.Contains(body, "次へ") {
		t.Fatalf("step 1:\n%s", body)
	}
	if strings.Contains(strings.ToLower(body), "<script>") {
		t.Error("inline script in step 1")
	}
	csrf := csrfOf(t, body)

	// The link is consumed: another browser gets 410.
	if res, body := get(t, client(t), u); res.StatusCode != http.StatusGone || !strings.Contains(body, "すでに使用") {
		t.Fatalf("second browser: %s\n%s", res.Status, body)
	}
	// No CSRF token, or a foreign Origin: refused.
	form := url.Values{"method": {"phone"}, "action": {"call"}, "country": {"JP"}, "phone": {"03-1234-5678"}}
	if res, _ := post(t, c, u, form); res.StatusCode != http.StatusForbidden {
		t.Fatalf("no csrf: %s", res.Status)
	}
	form.Set("csrf", csrf)
	if res, _ := post(t, c, u, form, "Origin", "https://evil.example"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign origin: %s", res.Status)
	}
	// A refused number: the form again, with the message.
	bad := url.Values{"method": {"phone"}, "action": {"call"}, "country": {"JP"}, "phone": {"0120-123-456"}, "csrf": {csrf}}
	if res, body := post(t, c, u, bad); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, `aria-invalid="true"`) ||
		!strings.Contains(body, `value="0120-123-456"`) {
		t.Fatalf("toll-free: %s\n%s", res.Status, body)
	}
	if res, _ := post(t, c, u, form, "Sec-Fetch-Site", "cross-site"); res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site: %s", res.Status)
	}
	// "Origin: null" is what a browser sends under Referrer-Policy
	// no-referrer: the token decides.
	if res, _ := post(t, c, u, form, "Origin", "null", "Sec-Fetch-Site", "same-origin"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("step 1 submit: %s", res.Status)
	}
	res, body = get(t, c, u)
	if res.StatusCode != 200 || !strings.Contains(body, "&#43;81 3-1234-5678") || !strings.Contains(body, `aria-live="polite"`) ||
		!strings.Contains(body, `src="/static/app.js"`) {
		t.Fatalf("step 2: %s\n%s", res.Status, body)
	}
	waitState(t, c, u, "verified")

	// The password, once.
	res, body = post(t, c, u+"/password", nil, "Accept", "application/json", "X-CSRF-Token", csrf)
	if res.StatusCode != 200 || res.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("password: %s %q\n%s", res.Status, res.Header.Get("Cache-Control"), body)
	}
	pw := regexp.MustCompile(`"password":"([a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4})"`).FindStringSubmatch(body)
	if pw == nil {
		t.Fatalf("password body: %s", body)
	}
	aps, err := e.st.ListAppPasswords(context.Background(), "u-1")
	if err != nil || len(aps) != 1 {
		t.Fatalf("stored app passwords: %v %v", aps, err)
	}
	if ok, err := enroll.VerifyAppPassword(pw[1], aps[0].Hash); !ok || err != nil {
		t.Fatalf("shown password does not verify: %v", err)
	}
	if res, _ := post(t, c, u+"/password", nil, "Accept", "application/json", "X-CSRF-Token", csrf); res.StatusCode != http.StatusGone {
		t.Fatalf("second password: %s", res.Status)
	}
	res, body = get(t, c, u)
	if res.StatusCode != 200 || strings.Contains(body, pw[1]) || !strings.Contains(body, "再表示はできません") {
		t.Fatalf("reload after completion: %s\n%s", res.Status, body)
	}
	if aps, _ := e.st.ListAppPasswords(context.Background(), "u-1"); len(aps) != 1 {
		t.Fatalf("app passwords after a second try: %d", len(aps))
	}
}

func TestFlowFailedRetry(t *testing.T) {
	e := newEnv(t)
	e.dialer.Fail(enroll.OutcomeBusy, nil)
	c := client(t)
	u := e.link("u-2", "")
	body := start(t, c, u+"?lang=en")
	if !strings.Contains(body, "Additional security verification") || !strings.Contains(body, "Japan (&#43;81)") {
		t.Fatalf("english step 1:\n%s", body)
	}
	csrf := csrfOf(t, body)
	form := url.Values{"method": {"phone"}, "action": {"call"}, "country": {"JP"}, "phone": {"090-1234-5678"}, "csrf": {csrf}}
	if res, _ := post(t, c, u, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("submit: %s", res.Status)
	}
	d := waitState(t, c, u, "failed")
	if !strings.Contains(d, `"outcome":"busy"`) || !strings.Contains(d, `"retry":true`) {
		t.Fatalf("failed event: %s", d)
	}
	// The language stays English (cookie) on the failure page.
	res, body := get(t, c, u)
	if res.StatusCode != 200 || !strings.Contains(body, "The line was busy") || !strings.Contains(body, "Try again") {
		t.Fatalf("failed page: %s\n%s", res.Status, body)
	}
	e.dialer.AnswerWith(pressHash)
	if res, _ := post(t, c, u+"/call", url.Values{"csrf": {csrf}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("retry: %s", res.Status)
	}
	waitState(t, c, u, "verified")
	if n := len(e.dialer.Calls()); n != 2 {
		t.Fatalf("calls: %d", n)
	}
}

func TestLinkErrors(t *testing.T) {
	e := newEnv(t)
	c := client(t)
	if res, body := get(t, c, e.srv.URL+"/e/not.atoken"); res.StatusCode != http.StatusNotFound || !strings.Contains(body, "リンクが正しくありません") {
		t.Fatalf("invalid: %s\n%s", res.Status, body)
	}
	l, _ := enroll.NewLink("", "u-3", time.Now().Add(-time.Minute))
	tok, _ := e.links.Sign(l)
	if res, body := get(t, c, e.srv.URL+"/e/"+tok, "Accept-Language", "en-US,en;q=0.9,ja;q=0.5"); res.StatusCode != http.StatusGone ||
		!strings.Contains(body, "expired") {
		t.Fatalf("expired: %s\n%s", res.Status, body)
	}
	// Routes other than the page need the session of the link.
	u := e.link("u-3", "")
	if res, _ := get(t, c, u+"/events"); res.StatusCode != http.StatusGone {
		t.Fatalf("events without session: %s", res.Status)
	}
}

// An enrollment the API created: the link names it; step 1 shows its
// number and 「次へ」 calls it.
func TestLinkWithEnrollment(t *testing.T) {
	e := newEnv(t)
	e.dialer.AnswerWith(pressHash)
	en, err := e.svc.Create(context.Background(), enroll.CreateRequest{UserID: "u-4", Phone: "+81312345678", Country: "JP",
		Origin: enroll.Origin{Actor: enroll.ActorAPIKey("crm")}})
	if err != nil {
		t.Fatal(err)
	}
	c := client(t)
	u := e.link("u-4", en.ID)
	body := start(t, c, u)
	if !strings.Contains(body, "&#43;81 3-1234-5678") {
		t.Fatalf("fixed number:\n%s", body)
	}
	if res, _ := post(t, c, u, url.Values{"csrf": {csrfOf(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("call: %s", res.Status)
	}
	waitState(t, c, u, "verified")
	// Another user's link cannot read this enrollment.
	other := e.link("u-other", en.ID)
	c2 := client(t)
	_, body = get(t, c2, other)
	if res, _ := post(t, c2, other+"/start", url.Values{"csrf": {csrfOf(t, body)}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("other user's 続ける: %s", res.Status)
	}
	if res, _ := get(t, c2, other); res.StatusCode != http.StatusForbidden {
		t.Fatalf("other user: %s", res.Status)
	}
}

func TestStatic(t *testing.T) {
	e := newEnv(t)
	for _, p := range []string{"/static/app.js", "/static/app.css", "/static/enroll.js", "/enroll"} {
		res, _ := get(t, client(t), e.srv.URL+p)
		if res.StatusCode != 200 || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %s", p, res.Status)
		}
	}
}

// In challenge mode step 2 asks for the digits the call reads out (never
// showing them: the page cannot know them) instead of a lone 「#」.
func TestStep2Challenge(t *testing.T) {
	for _, c := range []struct {
		digits     int
		want, gone string
	}{
		{0, "「#」を押してください", "読み上げる数字"},
		{3, "読み上げる数字を押し", "音声案内が流れたら「#」を押して"},
	} {
		e := newEnvWith(t, enroll.DialogueConfig{ChallengeDigits: c.digits})
		// The phone rings until the case is over: the page stays on step 2.
		ringing := make(chan struct{})
		e.dialer.SetAnswer(func(ctx context.Context, _ int, _ string) (enroll.Line, error) {
			select {
			case <-ringing:
			case <-ctx.Done():
			}
			return nil, errors.New("test over")
		})
		cl := client(t)
		u := e.link("u-1", "")
		csrf := csrfOf(t, start(t, cl, u))
		form := url.Values{"method": {"phone"}, "action": {"call"}, "country": {"JP"}, "phone": {"03-1234-5678"}, "csrf": {csrf}}
		if res, _ := post(t, cl, u, form, "Sec-Fetch-Site", "same-origin"); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("digits %d: step 1 submit: %s", c.digits, res.Status)
		}
		res, body := get(t, cl, u)
		close(ringing)
		if res.StatusCode != 200 || !strings.Contains(body, c.want) || strings.Contains(body, c.gone) {
			t.Errorf("digits %d: step 2 (%s) wants %q and not %q:\n%s", c.digits, res.Status, c.want, c.gone, body)
		}
	}
}
