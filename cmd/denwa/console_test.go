package main

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"denwa/cmd/denwa/internal/config"
	"denwa/sip"
	"denwa/sip/siptest"
)

// consoleClient keeps cookies and does not follow redirects.
func consoleClient() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func consoleGet(t *testing.T, c *http.Client, u string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// The demo serves the console on its operators' listener, not on the
// public one, and prints an admin key that signs in.
func TestConsoleInDemo(t *testing.T) {
	run := startDemo(t, demoOptions{})
	if !strings.HasSuffix(run.Console, "/console/") || !strings.HasPrefix(run.AdminKey, "dnw_") {
		t.Fatalf("console %q, admin key %q", run.Console, run.AdminKey)
	}
	c := consoleClient()
	if res, _ := consoleGet(t, c, run.URL+"/console/", nil); res.StatusCode != http.StatusNotFound {
		t.Errorf("/console/ on the public listener: %d, want 404", res.StatusCode)
	}
	res, _ := consoleGet(t, c, run.Console, nil)
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/console/signin") {
		t.Fatalf("console without a session: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := consoleGet(t, c, strings.TrimSuffix(run.Console, "/")+"/signin", nil)
	m := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(body)
	if res.StatusCode != http.StatusOK || m == nil || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'none'") {
		t.Fatalf("sign-in page: %d\n%.300s", res.StatusCode, body)
	}
	res, err := c.PostForm(strings.TrimSuffix(run.Console, "/")+"/signin", url.Values{"csrf": {m[1]}, "key": {run.AdminKey}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Fatalf("sign-in with the printed key: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, body := consoleGet(t, c, run.Console, nil); res.StatusCode != http.StatusOK || !strings.Contains(body, "demo-admin") {
		t.Fatalf("overview: %d\n%.300s", res.StatusCode, body)
	}
}

// With an ops token, /metrics needs it; the console does not (a browser
// cannot send it): it has its own sign-in.
func TestConsoleBesideOpsToken(t *testing.T) {
	phone := siptest.NewPhone(t, sip.PhoneConfig{RTPPortFirst: 33340, RTPPortLast: 33359})
	token := strings.Repeat("t", 32)
	ts := startServe(t, phone, func(c *config.Serve) { c.HTTP.OpsToken = config.NewSecret([]byte(token), "test") })
	ops := "http://" + ts.server.OpsAddr()
	c := consoleClient()
	if res, _ := consoleGet(t, c, ops+"/metrics", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d", res.StatusCode)
	}
	if res, _ := consoleGet(t, c, ops+"/metrics", map[string]string{"Authorization": "Bearer " + token}); res.StatusCode != http.StatusOK {
		t.Errorf("/metrics with the token: %d", res.StatusCode)
	}
	if res, _ := consoleGet(t, c, ops+"/console/signin", nil); res.StatusCode != http.StatusOK {
		t.Errorf("the console's sign-in page: %d", res.StatusCode)
	}
	if res, _ := consoleGet(t, c, ops+"/console", nil); res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/console/" {
		t.Errorf("/console: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
}
