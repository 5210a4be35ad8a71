package main

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"denwa/cmd/denwa/internal/config"
	"denwa/enroll"
	"denwa/sip"
	"denwa/sip/siptest"
)

// TestConsoleBrowser drives the operators' console in Chromium against
// `denwa serve` (in this process) with the simulated phone as the far
// end: the phone of a first enrollment presses 0# (a fraud report: the
// number is blocked); an operator signs in with an admin key (a key
// without the admin scope cannot), finds the report on the fraud page and
// presses 「ブロック解除」; then a new enrollment for that number is called
// and verified. With DENWA_ARTIFACTS=DIR the screenshots go there (those
// in docs/screenshots/console-*.png come from it).
func TestConsoleBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	browser := newBrowser(t)
	dir := artifacts(t)
	ctx := newTab(t, browser)
	bg := context.Background()

	// The far end: a phone that reports fraud, on a port a second phone
	// (that presses #) takes over later, so the trunk stays the same.
	listen := freeUDPAddr(t)
	fraudPhone := siptest.NewPhone(t, sip.PhoneConfig{Listen: listen, Keys: "0#", KeyDelay: 300 * time.Millisecond,
		HangupAfterKeys: 3 * time.Second, RTPPortFirst: 33300, RTPPortLast: 33319})
	ts := startServe(t, fraudPhone, func(c *config.Serve) { c.Log.Level = "info" })
	admin := ts.server.svc.Admin()
	local := enroll.Origin{Actor: enroll.ActorLocal}
	adminKey, _, err := admin.CreateAPIKey(bg, "ops-console", enroll.ScopeAdmin, local)
	if err != nil {
		t.Fatal(err)
	}
	enrollKey, _, err := admin.CreateAPIKey(bg, "crm", enroll.ScopeEnroll, local)
	if err != nil {
		t.Fatal(err)
	}
	api := newAPIClient(ts, enrollKey)

	// 1. The user's phone presses 0#: fraud reported, the number blocked.
	first := api.enrollAndCall(t)
	if got := api.follow(t, first.ID, 30*time.Second); got.Outcome != "fraud-reported" {
		t.Fatalf("first call: %+v", got)
	}
	if call := fraudPhone.Next(t, 10*time.Second); call.KeysSent != "0#" {
		t.Fatalf("the phone pressed %q", call.KeysSent)
	}
	var refused struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	api.do(t, "POST", "/v1/enrollments", `{"user_id":"u-1001","phone":"03-1234-5678","country":"JP"}`, 403, &refused)
	if refused.Error.Code != "number_blocked" {
		t.Fatalf("a new enrollment for the blocked number: %+v", refused)
	}
	// A webhook the receiver never took, for the webhooks page: the
	// store gives the oldest up as dead, as the deliverer does after its
	// last attempt.
	if ms, err := ts.server.store.ListOutbox(bg, enroll.OutboxPending, 1); err != nil || len(ms) != 1 {
		t.Fatalf("outbox: %v %v", ms, err)
	} else if err := ts.server.store.MarkOutboxDead(bg, ms[0].ID, time.Now(), "HTTP 503"); err != nil {
		t.Fatal(err)
	}

	base := "http://" + ts.server.OpsAddr() + "/console/"
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v; the page: %s", what, err, pageText(t, ctx))
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("text of %s: %v; the page: %s", sel, err, pageText(t, ctx))
		}
		return s
	}

	// 2. Sign-in: a key without the admin scope cannot; the admin key can.
	run("sign-in page", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#key")))
	screenshot(t, ctx, dir, "console-0-signin")
	run("sign in with the enroll key", chromedp.SendKeys(chromedp.CSS("#key"), enrollKey),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#message")))
	if msg := text("#message"); !strings.Contains(msg, "サインインできませんでした") {
		t.Fatalf("an enroll key: %q", msg)
	}
	run("sign in with the admin key", chromedp.SendKeys(chromedp.CSS("#key"), adminKey),
		chromedp.Click(chromedp.CSS("#signin")), chromedp.WaitVisible(chromedp.CSS("#signed-in-as")))
	if who := text("#signed-in-as"); who != "ops-console" {
		t.Fatalf("signed in as %q", who)
	}

	// 3. The report on the fraud page; 「ブロック解除」 with a reason.
	row := `#reports tr[data-enrollment="` + first.ID + `"]`
	blocked := `#blocked tr[data-phone="+81312345678"]`
	run("fraud page", chromedp.Click(chromedp.CSS(`a[href="/console/fraud"]`)),
		chromedp.WaitVisible(chromedp.CSS(row)), chromedp.WaitVisible(chromedp.CSS(blocked)))
	if r := text(row); !strings.Contains(r, "+81 3-1234-5678") || !strings.Contains(r, "u-1001") || !strings.Contains(r, "0#") {
		t.Errorf("the report row: %q", r)
	}
	run("reason", chromedp.SendKeys(chromedp.CSS(blocked+` input[name="reason"]`), "本人の操作ミス（電話で確認済み）"))
	screenshot(t, ctx, dir, "console-2-fraud")
	run("unblock", chromedp.Click(chromedp.CSS(`button[data-unblock="+81312345678"]`)),
		chromedp.WaitVisible(chromedp.CSS("#notice")))
	if n := text("#notice"); !strings.Contains(n, "+81 3-1234-5678 のブロックを解除しました") {
		t.Errorf("notice %q", n)
	}
	run("no block left", chromedp.WaitVisible(chromedp.CSS("#no-blocked")))
	if _, err := ts.server.store.BlockedNumber(bg, "+81312345678"); err == nil {
		t.Fatal("the number is still blocked")
	}
	evs, err := admin.OperatorEvents(bg, "+81312345678", enroll.Page{})
	if err != nil || len(evs.Events) != 1 || evs.Events[0].Actor != "api-key:ops-console" || evs.Events[0].Reason != "本人の操作ミス（電話で確認済み）" {
		t.Fatalf("the unblock's record: %+v %v", evs, err)
	}
	screenshot(t, ctx, dir, "console-3-unblocked")

	// 4. A new enrollment for the number is called and verified.
	fraudPhone.Close()
	phone := siptest.NewPhone(t, sip.PhoneConfig{Listen: listen, Keys: "#", KeyDelay: 300 * time.Millisecond,
		HangupAfterKeys: 3 * time.Second, RTPPortFirst: 33320, RTPPortLast: 33339})
	second := api.enrollAndCall(t)
	if got := api.follow(t, second.ID, 30*time.Second); got.State != "verified" {
		t.Fatalf("the call after the unblock: %+v", got)
	}
	if call := phone.Next(t, 10*time.Second); call.User != "+81312345678" || call.KeysSent != "#" {
		t.Fatalf("the second phone saw user %q, keys %q", call.User, call.KeysSent)
	}

	// 5. The other pages: enrollments, one enrollment's timeline, the
	// overview, webhooks (redeliver the dead one), keys, in English too.
	run("enrollments", chromedp.Navigate(base+"enrollments?user=u-1001"),
		chromedp.WaitVisible(chromedp.CSS(`#enrollments tr[data-id="`+second.ID+`"]`)))
	screenshot(t, ctx, dir, "console-4-enrollments")
	run("one enrollment", chromedp.Click(chromedp.CSS(`#enrollments tr[data-id="`+first.ID+`"] a`)),
		chromedp.WaitVisible(chromedp.CSS("#timeline")))
	if tl := text("#timeline"); !strings.Contains(tl, "不正報告") || !strings.Contains(tl, "0#") || !strings.Contains(tl, "rfc4733") {
		t.Errorf("the timeline: %q", tl)
	}
	screenshot(t, ctx, dir, "console-5-enrollment")
	run("overview", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("#outcomes-chart")))
	if v, f := text("#verified"), text("#fraud"); v != "1" || f != "1" {
		t.Errorf("overview: verified %s, fraud %s", v, f)
	}
	screenshot(t, ctx, dir, "console-1-overview")
	run("webhooks", chromedp.Navigate(base+"webhooks"), chromedp.WaitVisible(chromedp.CSS("#webhooks")))
	screenshot(t, ctx, dir, "console-6-webhooks")
	run("redeliver", chromedp.Click(chromedp.CSS(`#webhooks button`)), chromedp.WaitVisible(chromedp.CSS("#notice")))
	if dead, err := ts.server.store.ListOutbox(bg, enroll.OutboxDead, 0); err != nil || len(dead) != 0 {
		t.Errorf("dead webhooks after the redelivery: %d %v", len(dead), err)
	}
	run("keys", chromedp.Navigate(base+"keys"), chromedp.WaitVisible(chromedp.CSS(`#keys tr[data-name="crm"]`)))
	screenshot(t, ctx, dir, "console-7-keys")
	run("overview in English", chromedp.Navigate(base+"?lang=en"), chromedp.WaitVisible(chromedp.CSS("#outcomes-chart")))
	if h := text("h1"); h != "Today at a glance" {
		t.Errorf("English heading %q", h)
	}
	screenshot(t, ctx, dir, "console-8-overview-en")

	// 6. Sign-out ends the session.
	run("sign out", chromedp.Click(chromedp.CSS("#signout")), chromedp.WaitVisible(chromedp.CSS("#key")),
		chromedp.Navigate(base+"fraud"), chromedp.WaitVisible(chromedp.CSS("#key")))
}

// freeUDPAddr returns a loopback address with a UDP port free right now.
func freeUDPAddr(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.LocalAddr().String()
}
