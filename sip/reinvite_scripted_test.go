package sip_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// In-dialog requests of a scripted far end to a Dialer's call, and the
// Dialer's session-timer refreshes to it (reinvite*.go).

// farSDP is the far end's SDP: version v, RTP at 127.0.0.1:port, PCMU and
// telephone-event 101, and dir unless empty.
func farSDP(v, port int, dir string) string {
	s := fmt.Sprintf("v=0\r\no=far 7 %d IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n", v, port)
	if dir != "" {
		s += "a=" + dir + "\r\n"
	}
	return s
}

// rtpSock is one of the far end's RTP sockets.
func rtpSock(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func sockPort(c *net.UDPConn) int { return c.LocalAddr().(*net.UDPAddr).Port }

// farEnd is a scripted UAS that answers the INVITE 200 with body and
// extra headers (tag "uas1"), answers the Dialer's in-dialog INVITEs and
// UPDATEs 200 (with its SDP for an INVITE with an offer, and refreshHdr),
// unless hold is set (then it does not answer them), and the rest
// politely.
type farEnd struct {
	*siptest.ScriptedUAS
	hold atomic.Bool
}

func newFarEnd(t *testing.T, body string, extra []string, refreshHdr []string) *farEnd {
	f := &farEnd{}
	f.ScriptedUAS = siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		switch {
		case req.Method == "INVITE" && !strings.Contains(req.Header("To"), "tag="):
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, ToTag: "uas1", Body: body, Headers: extra})}
		case req.Method == "INVITE" || req.Method == "UPDATE":
			if f.hold.Load() {
				return nil
			}
			b := ""
			if len(req.Body()) > 0 {
				b = body
			}
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, Body: b, Headers: refreshHdr})}
		}
		return siptest.Polite(req)
	})
	return f
}

func firstInvite(t *testing.T, u *siptest.ScriptedUAS) *siptest.Request {
	t.Helper()
	for _, r := range u.Requests() {
		if r.Method == "INVITE" {
			return r
		}
	}
	t.Fatal("no INVITE")
	return nil
}

func dialFar(t *testing.T, f *farEnd, keys media.KeySink, cfg sip.Config) (*sip.Dialer, *sip.Call) {
	t.Helper()
	cfg.Trunk = f.URI()
	d := newDialer(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { call.Hangup(context.Background()) })
	return d, call
}

func origin(t *testing.T, body []byte) string {
	t.Helper()
	for line := range strings.SplitSeq(string(body), "\n") {
		if o, ok := strings.CutPrefix(strings.TrimSpace(line), "o="); ok {
			return o
		}
	}
	t.Fatalf("no o= in %q", body)
	return ""
}

// A re-INVITE with the far end's SDP unchanged (a session refresh) gets
// our SDP back unchanged, o= version included; an UPDATE without SDP gets
// 200 without a body.
func TestReinviteUnchanged(t *testing.T) {
	f := newFarEnd(t, farSDP(1, 9, ""), nil, nil)
	_, call := dialFar(t, f, nil, sip.Config{})
	inv := firstInvite(t, f.ScriptedUAS)
	if err := f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 2, Body: farSDP(1, 9, "")}); err != nil {
		t.Fatal(err)
	}
	res := f.WaitResponse("2 INVITE", 5*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("re-INVITE answered %v", res)
	}
	if got, want := origin(t, res.Body()), origin(t, inv.Body()); got != want {
		t.Errorf("o= %q, want our offer's %q unchanged", got, want)
	}
	if res.Header("Contact") == "" {
		t.Error("2xx to the re-INVITE without Contact")
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "ACK", CSeq: 2})
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "UPDATE", CSeq: 3})
	if res := f.WaitResponse("3 UPDATE", 5*time.Second); res == nil || res.Status != 200 || len(res.Body()) != 0 {
		t.Fatalf("UPDATE refresh answered %v", res)
	}
	if call.Err() != nil {
		t.Fatalf("call ended: %v", call.Err())
	}
}

// The far end moves its media with a re-INVITE: RTP goes to the new
// address, keys from the new address count and from the old one do not.
func TestReinviteMovesMedia(t *testing.T) {
	oldSock, newSock := rtpSock(t), rtpSock(t)
	f := newFarEnd(t, farSDP(1, sockPort(oldSock), ""), nil, nil)
	keys := make(mediatest.KeyChan[media.Key], 16)
	_, call := dialFar(t, f, keys, sip.Config{})
	inv := firstInvite(t, f.ScriptedUAS)
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 2, Body: farSDP(2, sockPort(newSock), "")})
	res := f.WaitResponse("2 INVITE", 5*time.Second)
	if res == nil || res.Status != 200 {
		t.Fatalf("re-INVITE answered %v", res)
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "ACK", CSeq: 2})
	if got := call.Media().Remote.Port(); int(got) != sockPort(newSock) {
		t.Fatalf("Media().Remote port %d, want %d", got, sockPort(newSock))
	}
	// Our RTP arrives at the new socket.
	newSock.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2048)
	_, from, err := newSock.ReadFromUDPAddrPort(buf)
	if err != nil {
		t.Fatalf("no RTP at the new address: %v", err)
	}
	press := func(c *net.UDPConn, key byte, ssrc uint32) {
		s := &mediatest.Synth{SSRC: ssrc, Seq: 1, TS: 1000}
		s.Silence(40)
		s.Press(101, dtmf.Key(key), 120)
		s.Silence(60)
		for _, p := range s.Packets {
			c.WriteToUDPAddrPort(p, from)
			time.Sleep(media.FrameInterval)
		}
	}
	press(oldSock, '5', 1)
	press(newSock, '#', 2)
	deadline := time.After(5 * time.Second)
	for {
		select {
		case k := <-keys:
			if k.Key != '#' {
				t.Fatalf("key %s from the old address counted", k)
			}
			return
		case <-deadline:
			t.Fatal("no key from the new address")
		}
	}
}

// Glare and overlap (RFC 3261 §14): the far end's re-INVITE while our
// refresh re-INVITE is unanswered gets 491; a second re-INVITE while our
// 2xx to an offerless one awaits its ACK gets 500 with Retry-After; the
// ACK brings the answer to the offer our 2xx made.
func TestReinviteGlareAndOverlap(t *testing.T) {
	f := newFarEnd(t, farSDP(1, 9, ""), []string{"Session-Expires: 2;refresher=uac"}, []string{"Session-Expires: 2;refresher=uac"})
	f.hold.Store(true)
	_, call := dialFar(t, f, nil, sip.Config{})
	inv := firstInvite(t, f.ScriptedUAS)
	if !f.Wait("INVITE", 2, 5*time.Second) {
		t.Fatal("no refresh re-INVITE (no UPDATE allowed)")
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 2, Body: farSDP(2, 9, "sendonly")})
	if res := f.WaitResponse("2 INVITE", 5*time.Second); res == nil || res.Status != 491 {
		t.Fatalf("re-INVITE in glare answered %v, want 491", res)
	}
	// Let our re-INVITE through (the next retransmission is answered).
	f.hold.Store(false)
	waitFor(t, "refresh answered", func() bool {
		for _, r := range f.Requests() {
			if r.Method == "ACK" && strings.HasSuffix(r.Header("CSeq"), " ACK") && !strings.HasPrefix(r.Header("CSeq"), "1 ") {
				return true
			}
		}
		return false
	})
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 3})
	res := f.WaitResponse("3 INVITE", 5*time.Second)
	if res == nil || res.Status != 200 || !strings.Contains(string(res.Body()), "m=audio") {
		t.Fatalf("offerless re-INVITE answered %v", res)
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 4, Body: farSDP(3, 9, "")})
	if res := f.WaitResponse("4 INVITE", 5*time.Second); res == nil || res.Status != 500 || res.Header("Retry-After") == "" {
		t.Fatalf("overlapping re-INVITE answered %v, want 500 with Retry-After", res)
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "ACK", CSeq: 3, Body: farSDP(4, 9, "sendonly")})
	waitFor(t, "answer in the ACK taken", func() bool { return call.Media().Direction == media.RecvOnly })
}

// The far end asks for a session timer with us as the refresher: we
// refresh by UPDATE at half the interval when it allows UPDATE, else by
// re-INVITE with our SDP unchanged, and the call lives on.
func TestSessionTimerWeRefresh(t *testing.T) {
	for _, update := range []bool{true, false} {
		t.Run(fmt.Sprintf("update=%v", update), func(t *testing.T) {
			extra := []string{"Session-Expires: 2;refresher=uac", "Require: timer"}
			method := "INVITE"
			if update {
				extra = append(extra, "Allow: INVITE, ACK, BYE, CANCEL, UPDATE")
				method = "UPDATE"
			}
			f := newFarEnd(t, farSDP(1, 9, ""), extra, []string{"Session-Expires: 2;refresher=uac"})
			start := time.Now()
			_, call := dialFar(t, f, nil, sip.Config{})
			inv := firstInvite(t, f.ScriptedUAS)
			if !strings.Contains(inv.Header("Supported"), "timer") {
				t.Errorf("INVITE Supported %q", inv.Header("Supported"))
			}
			n := 2
			if method == "INVITE" {
				n = 3 // the first INVITE and two refreshes
			}
			if !f.Wait(method, n, 5*time.Second) {
				t.Fatalf("%d %ss in 5 s", f.Count(method), method)
			}
			if took := time.Since(start); took < 1500*time.Millisecond {
				t.Errorf("two refreshes within %v of a 2 s interval", took)
			}
			var refresh *siptest.Request
			for _, r := range f.Requests() {
				if r.Method == method && r != inv {
					refresh = r
					break
				}
			}
			if !strings.HasPrefix(refresh.Header("Session-Expires"), "2;refresher=uac") {
				t.Errorf("refresh Session-Expires %q", refresh.Header("Session-Expires"))
			}
			if method == "INVITE" {
				if origin(t, refresh.Body()) != origin(t, inv.Body()) {
					t.Errorf("refresh re-INVITE's SDP changed: %q", refresh.Body())
				}
				if !f.Wait("ACK", 1, 5*time.Second) {
					t.Error("refresh re-INVITE's 2xx not ACKed")
				}
			} else if len(refresh.Body()) != 0 {
				t.Errorf("UPDATE refresh carries a body")
			}
			if call.Err() != nil {
				t.Fatalf("call ended: %v", call.Err())
			}
		})
	}
}

// The far end is the refresher: its refreshes keep the call; when they
// stop, we end the call with BYE before the interval is over.
func TestSessionTimerTheyRefresh(t *testing.T) {
	f := newFarEnd(t, farSDP(1, 9, ""), []string{"Session-Expires: 2;refresher=uas"}, nil)
	_, call := dialFar(t, f, nil, sip.Config{})
	inv := firstInvite(t, f.ScriptedUAS)
	for i := range 4 { // 2.8 s of refreshes, each 700 ms
		time.Sleep(700 * time.Millisecond)
		seq := 2 + i
		f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "UPDATE", CSeq: seq,
			Headers: []string{"Session-Expires: 2;refresher=uac", "Supported: timer"}})
		res := f.WaitResponse(fmt.Sprintf("%d UPDATE", seq), 5*time.Second)
		if res == nil || res.Status != 200 || !strings.HasPrefix(res.Header("Session-Expires"), "2;refresher=uac") ||
			res.Header("Require") != "timer" {
			t.Fatalf("refresh %d answered %v (Session-Expires %q)", i, res, res.Header("Session-Expires"))
		}
	}
	if call.Err() != nil {
		t.Fatalf("call ended while refreshed: %v", call.Err())
	}
	stopped := time.Now()
	select {
	case <-call.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("call did not end")
	}
	if err := call.Err(); !errors.Is(err, sip.ErrSessionExpired) {
		t.Fatalf("call ended with %v, want ErrSessionExpired", err)
	}
	if took := time.Since(stopped); took > 2*time.Second {
		t.Errorf("ended %v after the last refresh, past the 2 s interval", took)
	}
	if !f.Wait("BYE", 1, 2*time.Second) {
		t.Error("no BYE")
	}
}

// A 422 to the INVITE is answered once with the far end's Min-SE.
func TestSessionTimer422(t *testing.T) {
	var n atomic.Int32
	u := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method != "INVITE" {
			return siptest.Polite(req)
		}
		if req.Header("Session-Expires") == "" {
			n.Add(1)
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 422, Reason: "Session Interval Too Small", ToTag: "x", Headers: []string{"Min-SE: 90"}})}
		}
		return [][]byte{siptest.Reply(req, siptest.Response{Status: 200, ToTag: "uas1", Body: farSDP(1, 9, ""),
			Headers: []string{"Session-Expires: 90;refresher=uas"}})}
	})
	d := newDialer(t, sip.Config{Trunk: u.URI()})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	call, err := d.Dial(ctx, "+81312345678", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer call.Hangup(ctx)
	var retried *siptest.Request
	for _, r := range u.Requests() {
		if r.Method == "INVITE" && r.Header("Session-Expires") != "" {
			retried = r
		}
	}
	if retried == nil || retried.Header("Session-Expires") != "90" || retried.Header("Min-SE") != "90" {
		t.Fatalf("no INVITE retried with Session-Expires and Min-SE 90")
	}

	// Always 422: given up after one retry.
	u2 := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method != "INVITE" {
			return siptest.Polite(req)
		}
		return [][]byte{siptest.Reply(req, siptest.Response{Status: 422, ToTag: "x", Headers: []string{"Min-SE: 1800"}})}
	})
	d2 := newDialer(t, sip.Config{Trunk: u2.URI()})
	_, err = d2.Dial(ctx, "+81312345678", nil, nil)
	var ce *sip.CallError
	if !errors.As(err, &ce) || ce.Status != 422 {
		t.Fatalf("always 422: %v", err)
	}
	invites := map[string]bool{}
	for _, r := range u2.Requests() {
		if r.Method == "INVITE" {
			invites[r.Header("CSeq")] = true
		}
	}
	if len(invites) != 2 {
		t.Errorf("%d INVITEs (by CSeq), want the first and one retry", len(invites))
	}
}

// A target refresh (RFC 3261 §12.2.2): a re-INVITE whose Contact names
// another address moves the dialog's remote target, so our BYE goes
// there, not to the 2xx's Contact.
func TestReinviteRefreshesTarget(t *testing.T) {
	f := newFarEnd(t, farSDP(1, 9, ""), nil, nil)
	_, call := dialFar(t, f, nil, sip.Config{})
	inv := firstInvite(t, f.ScriptedUAS)
	moved := rtpSock(t) // the far end's new signalling address
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "INVITE", CSeq: 2, Body: farSDP(1, 9, ""),
		Contact: moved.LocalAddr().String()})
	if res := f.WaitResponse("2 INVITE", 5*time.Second); res == nil || res.Status != 200 {
		t.Fatalf("re-INVITE answered %v", res)
	}
	f.SendInDialog(inv, "uas1", siptest.InDialog{Method: "ACK", CSeq: 2})
	byes := f.Count("BYE")
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	go call.Hangup(ctx) // nobody answers the BYE where it goes: it times out
	moved.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := moved.Read(buf)
	if err != nil {
		t.Fatalf("no BYE at the refreshed target: %v", err)
	}
	if line, _, _ := strings.Cut(string(buf[:n]), "\r\n"); !strings.HasPrefix(line, "BYE sip:uas@"+moved.LocalAddr().String()) {
		t.Fatalf("at the refreshed target: %q", line)
	}
	if got := f.Count("BYE"); got != byes {
		t.Errorf("%d BYEs still went to the old target", got-byes)
	}
}
