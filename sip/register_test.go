package sip_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"denwa/sip"
	"denwa/sip/siptest"
)

// Registration against a registrar played by a siptest.ScriptedUAS: it
// challenges, checks the digest answer with the password it knows, and
// grants, refuses or asks for more, as each test scripts it.

const (
	regUser     = "1001"
	regPassword = "s3cret-PW-do-not-log"
	regRealm    = "pbx.test"
)

// registrar scripts a registrar. Its fields are set before the
// ScriptedUAS starts; the script runs on the UAS's reader goroutine.
type registrar struct {
	algorithm string // "" (MD5) or "SHA-256"
	proxy     bool   // challenge with 407 Proxy-Authenticate instead of 401
	password  string // what the registrar accepts
	// grant answers an authorised REGISTER asking for expires seconds
	// (the n-th authorised one, from 1): the extra headers of a 200 and
	// the Contact's expires parameter (-1: none), or a status ≥ 300.
	grant func(n, expires int) (status int, contactExpires int, headers []string)
	n     int
}

var authParam = regexp.MustCompile(`(\w+)=(?:"([^"]*)"|([^,\s]*))`)

func parseAuth(v string) map[string]string {
	out := map[string]string{}
	for _, m := range authParam.FindAllStringSubmatch(v, -1) {
		out[m[1]] = m[2] + m[3]
	}
	return out
}

func (g *registrar) script(req *siptest.Request) [][]byte {
	if req.Method != "REGISTER" {
		return siptest.Polite(req)
	}
	hdr, chHdr, status := "Authorization", "WWW-Authenticate", 401
	if g.proxy {
		hdr, chHdr, status = "Proxy-Authorization", "Proxy-Authenticate", 407
	}
	nonce := fmt.Sprintf("nonce%d", req.N)
	alg := ""
	if g.algorithm != "" {
		alg = ", algorithm=" + g.algorithm
	}
	challenge := siptest.Reply(req, siptest.Response{Status: status, Reason: "Unauthorized", ToTag: "reg",
		Headers: []string{fmt.Sprintf(`%s: Digest realm="%s", nonce="%s", qop="auth"%s`, chHdr, regRealm, nonce, alg)}})
	a := parseAuth(req.Header(hdr))
	if a["response"] == "" {
		return [][]byte{challenge}
	}
	nc, _ := strconv.ParseUint(a["nc"], 16, 32)
	want, err := sip.Authorize(sip.Challenge{Realm: regRealm, Nonce: a["nonce"], Algorithm: g.algorithm, QOP: []string{"auth"}},
		sip.Credentials{Username: regUser, Password: g.password},
		sip.DigestRequest{Method: "REGISTER", URI: a["uri"], CNonce: a["cnonce"], NC: uint32(nc)})
	if err != nil || parseAuth(want)["response"] != a["response"] || a["username"] != regUser || a["uri"] != req.URI {
		return [][]byte{challenge}
	}
	expires, _ := strconv.Atoi(req.Header("Expires"))
	if expires == 0 {
		return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, ToTag: "reg"})}
	}
	g.n++
	code, cexp, extra := g.grant(g.n, expires)
	if code >= 300 {
		return [][]byte{siptest.Reply(req, siptest.Response{Status: code, ToTag: "reg", Headers: extra})}
	}
	contact := "Contact: " + req.Header("Contact")
	if cexp >= 0 {
		contact += fmt.Sprintf(";expires=%d", cexp)
	}
	res := siptest.Reply(req, siptest.Response{Status: 200, ToTag: "reg", Headers: append([]string{contact}, extra...)})
	// Reply writes its own Contact for a 2xx (the UAS's); a registrar
	// lists the bindings instead: drop that line.
	return [][]byte{bytes.Replace(res, []byte("Contact: <sip:uas@"+req.URI[len("sip:"):]+">\r\n"), nil, 1)}
}

// grantAsked grants what was asked for, in the Contact.
func grantAsked(_, expires int) (int, int, []string) { return 200, expires, nil }

// newRegDialer starts a Dialer registering with uas as user 1001.
// mods change the Config before the Dialer starts.
func newRegDialer(t *testing.T, uas *siptest.ScriptedUAS, password string, rc sip.RegisterConfig, mods ...func(*sip.Config)) *sip.Dialer {
	t.Helper()
	rc.Enabled = true
	cfg := sip.Config{Trunk: uas.URI(), Bind: "127.0.0.1:0", From: "sip:" + regUser + "@" + regRealm, Password: password,
		InviteTimeout: 2 * time.Second, Register: rc}
	cfg.RTPPortFirst, cfg.RTPPortLast = extRange()
	cfg.Logger = quietLogger()
	for _, m := range mods {
		m(&cfg)
	}
	d, err := sip.NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// waitState waits (10 s at most: an event-driven wait, not a sleep) until
// cond holds for d's registration.
func waitState(t *testing.T, d *sip.Dialer, what string, cond func(sip.RegistrationState) bool) sip.RegistrationState {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := d.Registration().Wait(ctx, cond)
	if err != nil {
		t.Fatalf("waiting for %s: %v; state %+v", what, err, st)
	}
	return st
}

func registers(uas *siptest.ScriptedUAS) []*siptest.Request {
	var out []*siptest.Request
	for _, r := range uas.Requests() {
		if r.Method == "REGISTER" {
			out = append(out, r)
		}
	}
	return out
}

// TestRegisterChallenge: a REGISTER is challenged (401 or 407, MD5 or
// SHA-256), answered once with the password, and granted.
func TestRegisterChallenge(t *testing.T) {
	for _, c := range []struct {
		name      string
		algorithm string
		proxy     bool
		bind      string
	}{{"401 MD5", "", false, "127.0.0.1:0"}, {"407 SHA-256", "SHA-256", true, "127.0.0.1:0"},
		// Bound to every address: Contact names the one that routes to the trunk.
		{"unspecified bind", "", false, "0.0.0.0:0"}} {
		t.Run(c.name, func(t *testing.T) {
			g := &registrar{algorithm: c.algorithm, proxy: c.proxy, password: regPassword, grant: grantAsked}
			uas := siptest.NewScriptedUAS(t, g.script)
			start := time.Now()
			d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{}, func(cfg *sip.Config) { cfg.Bind = c.bind })
			st := waitState(t, d, "registered", func(s sip.RegistrationState) bool { return s.Attempts > 0 })
			if !st.Registered || st.Err != nil || st.Failures != 0 {
				t.Fatalf("state %+v; want registered", st)
			}
			if exp := st.Expires.Sub(start); exp < 3590*time.Second || exp > 3610*time.Second {
				t.Errorf("expires in %v; want about the default hour", exp)
			}
			if next := st.Next.Sub(start); next < 1790*time.Second || next > 1810*time.Second {
				t.Errorf("next REGISTER in %v; want at half the hour", next)
			}
			if d.Registration().Ready() != nil {
				t.Errorf("Ready = %v while registered", d.Registration().Ready())
			}
			regs := registers(uas)
			if len(regs) != 2 {
				t.Fatalf("%d REGISTERs; want 2 (challenged, answered)", len(regs))
			}
			first, second := regs[0], regs[1]
			if first.URI != uas.URI() || !strings.Contains(first.Header("To"), "sip:1001@pbx.test") || first.Header("Expires") != "3600" ||
				!strings.Contains(first.Header("Contact"), "sip:1001@127.0.0.1:") {
				t.Errorf("first REGISTER %s: To %q Expires %q Contact %q", first.URI, first.Header("To"), first.Header("Expires"), first.Header("Contact"))
			}
			if first.Header("Call-ID") != second.Header("Call-ID") || first.Header("CSeq") != "1 REGISTER" || second.Header("CSeq") != "2 REGISTER" {
				t.Errorf("Call-ID %q then %q, CSeq %q then %q; want one Call-ID, CSeq 1 then 2",
					first.Header("Call-ID"), second.Header("Call-ID"), first.Header("CSeq"), second.Header("CSeq"))
			}
			if a := second.Header(map[bool]string{false: "Authorization", true: "Proxy-Authorization"}[c.proxy]); !strings.Contains(a, `username="1001"`) ||
				c.algorithm != "" && !strings.Contains(a, "algorithm="+c.algorithm) {
				t.Errorf("credentials %q", a)
			}
		})
	}
}

// TestRegisterRefresh: the registrar grants less than asked, in the
// Contact's expires or in the Expires header; the Dialer refreshes after
// half of it, on the same Call-ID with a higher CSeq.
func TestRegisterRefresh(t *testing.T) {
	for _, c := range []struct {
		name  string
		grant func(n, expires int) (int, int, []string)
	}{
		{"contact expires", func(int, int) (int, int, []string) { return 200, 2, []string{"Expires: 3600"} }},
		{"Expires header", func(int, int) (int, int, []string) { return 200, -1, []string{"Expires: 2"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			g := &registrar{password: regPassword, grant: c.grant}
			uas := siptest.NewScriptedUAS(t, g.script)
			d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{})
			st := waitState(t, d, "registered", func(s sip.RegistrationState) bool { return s.Attempts > 0 })
			if !st.Registered || st.Expires.Sub(time.Now()) > 2*time.Second {
				t.Fatalf("state %+v; want registered for 2 s", st)
			}
			granted := time.Now()
			st = waitState(t, d, "the refresh", func(s sip.RegistrationState) bool { return s.Attempts > 1 })
			if !st.Registered || st.Failures != 0 {
				t.Fatalf("after the refresh: %+v", st)
			}
			regs := registers(uas)
			if len(regs) != 4 {
				t.Fatalf("%d REGISTERs; want 4 (two each time)", len(regs))
			}
			refresh := regs[2]
			if gap := refresh.At.Sub(granted); gap < 900*time.Millisecond {
				t.Errorf("refreshed %v after the grant; want half of the 2 s granted", gap)
			}
			if refresh.Header("Call-ID") != regs[0].Header("Call-ID") || refresh.Header("CSeq") != "3 REGISTER" {
				t.Errorf("refresh Call-ID %q CSeq %q; want the first's Call-ID and CSeq 3", refresh.Header("Call-ID"), refresh.Header("CSeq"))
			}
		})
	}
}

// TestRegisterIntervalTooBrief: a 423 with Min-Expires is answered at
// once with that expiry, which later REGISTERs keep.
func TestRegisterIntervalTooBrief(t *testing.T) {
	g := &registrar{password: regPassword, grant: func(_, expires int) (int, int, []string) {
		if expires < 7200 {
			return 423, 0, []string{"Min-Expires: 7200"}
		}
		return 200, 7200, nil
	}}
	uas := siptest.NewScriptedUAS(t, g.script)
	d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{Expiry: 60 * time.Second})
	st := waitState(t, d, "registered", func(s sip.RegistrationState) bool { return s.Attempts > 0 })
	if !st.Registered || time.Until(st.Expires) < 7100*time.Second {
		t.Fatalf("state %+v; want registered for 7200 s", st)
	}
	regs := registers(uas)
	var exp []string
	for _, r := range regs {
		exp = append(exp, r.Header("Expires"))
	}
	// challenged, 423, then the retry with 7200 (challenged again: a new
	// nonce per request, and answered).
	if len(regs) < 3 || exp[0] != "60" || exp[len(exp)-1] != "7200" {
		t.Fatalf("Expires of the REGISTERs: %v; want 60 first and 7200 last", exp)
	}
}

// TestRegisterBackoff: failures are retried after a growing wait, then
// the registration succeeds and the failure is cleared.
func TestRegisterBackoff(t *testing.T) {
	g := &registrar{password: regPassword, grant: func(n, expires int) (int, int, []string) {
		if n <= 2 {
			return 503, 0, nil
		}
		return 200, expires, nil
	}}
	uas := siptest.NewScriptedUAS(t, g.script)
	d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{RetryMin: 100 * time.Millisecond, RetryMax: 300 * time.Millisecond})
	st := waitState(t, d, "the first failure", func(s sip.RegistrationState) bool { return s.Failures > 0 })
	var re *sip.RegisterError
	if st.Registered || !errors.As(st.Err, &re) || re.Status != 503 || d.Registration().Ready() == nil {
		t.Fatalf("after the first 503: %+v", st)
	}
	st = waitState(t, d, "registered", func(s sip.RegistrationState) bool { return s.Registered })
	if st.Err != nil || st.Failures != 2 || st.Attempts != 3 {
		t.Fatalf("state %+v; want registered after two failures", st)
	}
	// Each try is challenged and answered: the answered REGISTERs are
	// the 2nd, 4th and 6th; the waits before the 2nd and 3rd try are at
	// least half of 100 ms and of 200 ms.
	regs := registers(uas)
	if len(regs) != 6 {
		t.Fatalf("%d REGISTERs; want 6", len(regs))
	}
	if w := regs[2].At.Sub(regs[1].At); w < 50*time.Millisecond {
		t.Errorf("first retry after %v; want ≥ 50 ms", w)
	}
	if w := regs[4].At.Sub(regs[3].At); w < 100*time.Millisecond {
		t.Errorf("second retry after %v; want ≥ 100 ms", w)
	}
}

// TestUnregisterOnClose: Close removes the binding (Expires: 0, answered
// with credentials) before it returns.
func TestUnregisterOnClose(t *testing.T) {
	g := &registrar{password: regPassword, grant: grantAsked}
	uas := siptest.NewScriptedUAS(t, g.script)
	d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{})
	waitState(t, d, "registered", func(s sip.RegistrationState) bool { return s.Registered })
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	regs := registers(uas)
	if len(regs) != 4 {
		t.Fatalf("%d REGISTERs; want 4 (register and un-register, each challenged)", len(regs))
	}
	last := regs[3]
	if last.Header("Expires") != "0" || !strings.Contains(last.Header("Authorization"), "response=") || last.Header("Call-ID") != regs[0].Header("Call-ID") {
		t.Fatalf("last REGISTER: Expires %q, Authorization %q; want Expires 0 with credentials", last.Header("Expires"), last.Header("Authorization"))
	}
	if st := d.Registration().State(); st.Registered || st.Err != nil {
		t.Fatalf("state after Close: %+v", st)
	}
}

// TestRegisterWrongPassword: the registrar challenges again after the
// answer; the registration fails with a cause that names the realm and
// the user, and the password appears in no log line and no error.
func TestRegisterWrongPassword(t *testing.T) {
	g := &registrar{password: "the-right-one", grant: grantAsked}
	uas := siptest.NewScriptedUAS(t, g.script)
	logs := &bytes.Buffer{} // read once the Dialer is closed
	d := newRegDialer(t, uas, regPassword, sip.RegisterConfig{RetryMin: time.Hour}, func(c *sip.Config) {
		c.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	st := waitState(t, d, "the failure", func(s sip.RegistrationState) bool { return s.Failures > 0 })
	if st.Registered || !errors.Is(st.Err, sip.ErrAuthFailed) {
		t.Fatalf("state %+v; want failing with ErrAuthFailed", st)
	}
	msg := st.Err.Error()
	if !strings.Contains(msg, "401") || !strings.Contains(msg, regRealm) || !strings.Contains(msg, regUser) {
		t.Errorf("cause %q; want the status, realm and user", msg)
	}
	if err := d.Registration().Ready(); err == nil || err.Error() != msg {
		t.Errorf("Ready = %v; want the cause", err)
	}
	d.Close() // never registered: no un-REGISTER
	if n := len(registers(uas)); n != 2 {
		t.Errorf("%d REGISTERs; want 2 (challenged, answered and refused)", n)
	}
	if out := logs.String(); strings.Contains(out+msg, regPassword) || !strings.Contains(out, "registration failed") {
		t.Errorf("logs hold the password, or not the failure:\n%s", out)
	}
}

// TestRegisterConfig: the settings a Dialer refuses.
func TestRegisterConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  sip.Config
	}{
		{"bad registrar", sip.Config{Trunk: "sip:127.0.0.1:9", Register: sip.RegisterConfig{Enabled: true, Registrar: "not a uri"}}},
		{"short expiry", sip.Config{Trunk: "sip:127.0.0.1:9", Register: sip.RegisterConfig{Enabled: true, Expiry: 10 * time.Millisecond}}},
		{"negative retry", sip.Config{Trunk: "sip:127.0.0.1:9", Register: sip.RegisterConfig{Enabled: true, RetryMin: -time.Second}}},
	} {
		c.cfg.Bind = "127.0.0.1:0"
		if d, err := sip.NewDialer(c.cfg); !errors.Is(err, sip.ErrConfig) {
			if d != nil {
				d.Close()
			}
			t.Errorf("%s: err %v; want ErrConfig", c.name, err)
		}
	}
}
