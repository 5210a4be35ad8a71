package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"denwa/enroll"
)

// chromiumPath is Debian's Chromium binary (/usr/bin/chromium is a shell
// wrapper around it).
const chromiumPath = "/usr/lib/chromium/chromium"

// newBrowser starts a headless Chromium for the test, or skips (fails
// with DENWA_REQUIRE_INTEROP=1) when there is none. Everything but
// loopback goes to a refusing proxy, so nothing waits on the outside.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("DENWA_REQUIRE_INTEROP") == "1" {
			t.Fatalf("chromium is not installed (%v); apt-get install chromium fonts-noto-cjk", err)
		}
		t.Skipf("chromium is not installed (%v); apt-get install chromium fonts-noto-cjk to run the browser test", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "NetworkTimeServiceQuerying"),
		chromedp.Flag("proxy-server", "127.0.0.1:9"),
		// "<loopback>" bypasses the proxy for loopback; "<-loopback>" would
		// do the opposite (send loopback through the proxy too).
		chromedp.Flag("proxy-bypass-list", "<loopback>"),
		chromedp.Flag("lang", "ja"),
		chromedp.Flag("accept-lang", "ja-JP,ja"), // the screens follow Accept-Language
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(900, 1100),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelA)
	bctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(cancelB)
	if err := chromedp.Do(bctx, chromedp.Navigate("about:blank")); err != nil { // starts the browser, without a timeout
		t.Fatalf("starting chromium: %v", err)
	}
	return bctx
}

// newTab opens a tab of browser for one flow, with a 45 s bound.
func newTab(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	if err := chromedp.Do(tab, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("new tab: %v", err)
	}
	ctx, cancelT := context.WithTimeout(tab, 45*time.Second)
	t.Cleanup(cancelT)
	return ctx
}

// artifacts is where screenshots go: $DENWA_ARTIFACTS, else a temporary
// directory.
func artifacts(t *testing.T) string {
	if d := os.Getenv("DENWA_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}

// startDemo runs `denwa demo` in the test on a free port and returns it
// once it serves; it is shut down when the test ends.
func startDemo(t *testing.T, o demoOptions) *demoRun {
	t.Helper()
	o.http = "127.0.0.1:0"
	if o.logFormat == "" {
		o.logFormat = "text"
	}
	if o.keyDelay == 0 {
		o.keyDelay = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan *demoRun, 1)
	done := make(chan error, 1)
	go func() { done <- runDemo(ctx, io.Discard, &testLogWriter{t: t}, o, func(r *demoRun) { started <- r }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	select {
	case r := <-started:
		return r
	case err := <-done:
		t.Fatalf("demo did not start: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("demo did not start within 20 s")
	}
	return nil
}

// testLogWriter sends the demo's log to the test log, while the test runs.
type testLogWriter struct{ t *testing.T }

func (w *testLogWriter) Write(p []byte) (int, error) {
	if testing.Verbose() {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	p := filepath.Join(dir, name+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", p)
}

// pageText is the URL and text of the page, for failure messages.
func pageText(t *testing.T, ctx context.Context) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, err := chromedp.Run(ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	if err != nil {
		return loc + " (" + err.Error() + ")"
	}
	return loc + "\n" + body
}

// callEnd returns the keys and key source the audit trail recorded for
// the demo's one call.
func callEnd(t *testing.T, run *demoRun) (keys, source string) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+run.srv.p.Config.Store.Path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT keys, key_source FROM audit_events WHERE action = ? ORDER BY seq DESC LIMIT 1`,
		enroll.ActionCallEnd).Scan(&keys, &source); err != nil {
		t.Fatalf("reading the audit trail: %v", err)
	}
	return keys, source
}

var passwordShape = regexp.MustCompile(`^[a-z]{4} [a-z]{4} [a-z]{4} [a-z]{4}$`)

// TestBrowser runs the three steps in Chromium against `denwa demo`: the
// simulated phone presses # (RFC 4733), * # (in-band, analog line) or
// wrong keys, and the page must move on by itself.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	browser := newBrowser(t)
	dir := artifacts(t)

	// step1 lets a mail scanner fetch the link first (HEAD, then two GETs
	// without cookies), then opens it in Chromium, presses 「続ける」 and
	// submits 03-1234-5678, taking screenshots.
	step1 := func(t *testing.T, ctx context.Context, run *demoRun, prefix string) {
		scan(t, run.Link)
		// A headless browser (a link preview) opens the link in the form
		// the API hands out, /enroll#token: it too gets 「続ける」 only.
		preview := newTab(t, browser)
		tok := run.Link[strings.LastIndex(run.Link, "/")+1:]
		if err := chromedp.Do(preview, chromedp.Navigate(run.URL+"/enroll#"+tok), chromedp.WaitVisible(chromedp.ID("continue"))); err != nil {
			t.Fatalf("/enroll#token: %v; the page: %s", err, pageText(t, preview))
		}
		if l, err := enroll.NewLinkSigner(run.srv.p.LinkKey); err != nil {
			t.Fatal(err)
		} else if link, err := l.Verify(tok, time.Now()); err != nil {
			t.Fatal(err)
		} else if used, err := run.srv.svc.LinkUsed(context.Background(), link); err != nil || used {
			t.Fatalf("the scanner and the preview consumed the link (%v)", err)
		}
		continueButton := chromedp.WaitVisible(`//button[@id="continue"][normalize-space()="続ける"]`)
		if err := chromedp.Do(ctx, chromedp.Navigate(run.Link), continueButton); err != nil {
			t.Fatalf("start page with 「続ける」: %v; the page: %s", err, pageText(t, ctx))
		}
		screenshot(t, ctx, dir, prefix+"-0-start")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("continue")), chromedp.WaitVisible(chromedp.ID("phone"))); err != nil {
			t.Fatalf("step 1: %v; the page: %s", err, pageText(t, ctx))
		}
		heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("h1")))
		if err != nil {
			t.Fatal(err)
		}
		if heading != "追加のセキュリティ確認" {
			t.Fatalf("step 1 heading %q", heading)
		}
		if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("phone"), "03-1234-5678")); err != nil {
			t.Fatal(err)
		}
		screenshot(t, ctx, dir, prefix+"-1-number")
		if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("next")), chromedp.WaitVisible(chromedp.ID("step2"))); err != nil {
			t.Fatalf("step 2: %v; the page: %s", err, pageText(t, ctx))
		}
		screenshot(t, ctx, dir, prefix+"-2-calling")
	}

	verified := func(t *testing.T, o demoOptions, prefix, wantKeys, wantSource string) {
		run := startDemo(t, o)
		ctx := newTab(t, browser)
		start := time.Now()
		step1(t, ctx, run, prefix)
		calling, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("calling")))
		if err != nil {
			t.Fatal(err)
		}
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("step3"))); err != nil {
			t.Fatalf("step 3: %v", err)
		}
		pw, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("password")))
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step 3 reached by itself %.1fs after opening the link", time.Since(start).Seconds())
		if !strings.Contains(calling, "+81 3-1234-5678") {
			t.Errorf("step 2 says %q", calling)
		}
		if !passwordShape.MatchString(pw) {
			t.Fatalf("password shown: %q", pw)
		}
		screenshot(t, ctx, dir, prefix+"-3-password")

		// The password shown is the one stored (as a hash).
		aps, err := run.srv.store.ListAppPasswords(context.Background(), "demo-user")
		if err != nil || len(aps) != 1 {
			t.Fatalf("app passwords stored: %d, %v", len(aps), err)
		}
		if ok, err := enroll.VerifyAppPassword(pw, aps[0].Hash); !ok || err != nil {
			t.Fatalf("the password shown does not verify against the store: %v", err)
		}
		// …and through the API a mail gateway would use.
		if !checkThroughAPI(t, run, pw) || checkThroughAPI(t, run, "abcdabcdabcdabcd") {
			t.Fatal("POST /v1/app-passwords/check: the shown password is not valid, or a wrong one is")
		}

		// Reloading never shows it again.
		if err := chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.ID("completed"))); err != nil {
			t.Fatalf("reload: %v", err)
		}
		body, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(body, pw) || strings.Contains(body, strings.ReplaceAll(pw, " ", "")) {
			t.Fatal("the password is shown again after a reload")
		}
		screenshot(t, ctx, dir, prefix+"-4-reload")

		// The call took the path asked for.
		if keys, source := callEnd(t, run); keys != wantKeys || source != wantSource {
			t.Errorf("the call recorded keys %q from %q, want %q from %q", keys, source, wantKeys, wantSource)
		}
		// …and /metrics counted it, on the operators' listener only.
		res, err := http.Get(run.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound {
			t.Errorf("/metrics on the public listener: %s, want 404", res.Status)
		}
		res, err = http.Get(run.Metrics)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for _, want := range []string{`denwa_calls_total{outcome="verified"} 1`, `denwa_keys_total{source="` + wantSource + `"} 1`, "denwa_key_to_verified_seconds_count 1"} {
			if !strings.Contains(string(b), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	}

	t.Run("hash-rfc4733", func(t *testing.T) { verified(t, demoOptions{}, "hash", "#", "rfc4733") })
	t.Run("analog-star-hash-inband", func(t *testing.T) { verified(t, demoOptions{analog: true}, "analog", "*#", "inband") })
	t.Run("wrong-key", func(t *testing.T) {
		// Three wrong sequences end the call; each next one barges in
		// on the re-prompt, so no prompt has to play out.
		run := startDemo(t, demoOptions{keys: "1#1#1#"})
		ctx := newTab(t, browser)
		step1(t, ctx, run, "wrong")
		if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.ID("failed")), chromedp.WaitVisible(chromedp.ID("retry"))); err != nil {
			t.Fatalf("failure page: %v", err)
		}
		attr, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID("flow"), "data-outcome"))
		if err != nil {
			t.Fatal(err)
		}
		heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("failed-h")))
		if err != nil {
			t.Fatal(err)
		}
		outcome := attr.Value
		if outcome != "wrong-input" || heading != "違うキーが押されました" {
			t.Fatalf("failure shown: outcome %q heading %q", outcome, heading)
		}
		screenshot(t, ctx, dir, "wrong-3-failed")
		e, err := run.srv.store.ListAppPasswords(context.Background(), "demo-user")
		if err != nil || len(e) != 0 {
			t.Fatalf("app passwords after a failed call: %d %v", len(e), err)
		}
	})
}

// scan fetches link as mail scanners do before the person clicks: a HEAD
// and two GETs, without cookies. Each must get the 「続ける」 page and
// leave the link unused.
func scan(t *testing.T, link string) {
	t.Helper()
	for _, method := range []string{http.MethodHead, http.MethodGet, http.MethodGet} {
		req, _ := http.NewRequest(method, link, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusOK || (method == http.MethodGet && !strings.Contains(string(b), `id="continue"`)) {
			t.Fatalf("scanner %s: %s\n%.500s", method, res.Status, b)
		}
	}
}

// checkThroughAPI asks the demo's API whether password is demo-user's app
// password, with an API key made in its store the way `denwa apikey` does.
func checkThroughAPI(t *testing.T, run *demoRun, password string) bool {
	t.Helper()
	plain, rec, err := enroll.NewAPIKey("browser-test-" + strconv.FormatInt(time.Now().UnixNano(), 36))
	if err != nil {
		t.Fatal(err)
	}
	if err := run.srv.store.CreateAPIKey(context.Background(), enroll.APIKey{Name: rec.Name, Hash: rec.SecretHash, Scopes: enroll.ScopeCheck, CreatedAt: enroll.Now(time.Now())}); err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"user": "demo-user", "password": password})
	req, _ := http.NewRequest(http.MethodPost, run.URL+"/v1/app-passwords/check", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+plain)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Valid bool `json:"valid"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&out) != nil {
		t.Fatalf("check: HTTP %d", res.StatusCode)
	}
	return out.Valid
}
