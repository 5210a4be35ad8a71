package sip_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media"
	"denwa/media/mediatest"
	"denwa/sip"
	"denwa/sip/siptest"
)

// dialKeys calls the test number through a new Dialer to trunk and
// returns the answered call, hung up when the test ends, with the channel
// its keys go to.
func dialKeys(t *testing.T, trunk string) (*sip.Dialer, *sip.Call, mediatest.KeyChan[media.Key]) {
	t.Helper()
	d := newDialer(t, sip.Config{Trunk: trunk})
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	keys := make(mediatest.KeyChan[media.Key], 8)
	call, err := d.Dial(ctx, "+81312345678", nil, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = call.Hangup(ctx)
	})
	return d, call, keys
}

// TestInfoRequests: a far end that answered a call sends requests in its
// dialog, byte for byte. INFO keys become keys from sip-info answered
// 200; other INFO bodies get 415 with Accept; INFO outside the call 481;
// a method denwa does not handle 405 with Allow; a stray CANCEL 481.
func TestInfoRequests(t *testing.T) {
	uas := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		if req.Method == "INVITE" {
			return [][]byte{ok200(req, pcmuSDP)}
		}
		return siptest.Polite(req)
	})
	d, call, keys := dialKeys(t, uas.URI())
	ctx := t.Context()
	var invite *siptest.Request
	for _, r := range uas.Requests() {
		if r.Method == "INVITE" {
			invite = r
			break
		}
	}
	to := invite.Header("From")               // the Dialer's From, with its tag
	from := invite.Header("To") + ";tag=uas1" // the UAS's To, as in its 2xx
	cseq := 1
	// send sends a request in the dialog (or with callID, outside it) and
	// returns the final response to it.
	send := func(method, callID string, headers []string, body string) string {
		t.Helper()
		cseq++
		n := uas.Count("")
		var b strings.Builder
		fmt.Fprintf(&b, "%s sip:%s SIP/2.0\r\n", method, d.Addr())
		fmt.Fprintf(&b, "Via: SIP/2.0/UDP %s;branch=z9hG4bK-info-%d\r\n", uas.Addr(), cseq)
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nMax-Forwards: 70\r\n", from, to, callID, cseq, method)
		for _, h := range headers {
			b.WriteString(h + "\r\n")
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n%s", len(body), body)
		if err := uas.Send([]byte(b.String()), d.Addr()); err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("CSeq: %d %s", cseq, method)
		for i := n + 1; uas.Wait("", i, 5*time.Second); i++ {
			var got []*siptest.Request
			for _, r := range uas.Requests() {
				if r.Method == "" {
					got = append(got, r)
				}
			}
			res := string(got[i-1].Raw)
			if strings.Contains(res, want) && !strings.HasPrefix(res, "SIP/2.0 1") {
				return res
			}
		}
		t.Fatalf("no response to %s", method)
		return ""
	}
	relay := []string{"Content-Type: application/dtmf-relay"}
	expectKey := func(k dtmf.Key) {
		t.Helper()
		select {
		case got := <-keys:
			if got.Key != k || got.Source != dtmf.SourceSIPInfo || got.Began.IsZero() {
				t.Errorf("key %v began %v, want %c from sip-info", got, got.Began, k)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no key %c", k)
		}
	}

	if res := send("INFO", call.CallID(), relay, "Signal=5\r\nDuration=160\r\n"); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Errorf("INFO dtmf-relay: %q", res)
	}
	expectKey('5')
	if res := send("INFO", call.CallID(), []string{"Content-Type: application/dtmf"}, "#\r\n"); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Errorf("INFO dtmf: %q", res)
	}
	expectKey('#')
	if res := send("INFO", call.CallID(), relay, "Signal=16\r\nDuration=250\r\n"); !strings.HasPrefix(res, "SIP/2.0 200 ") {
		t.Errorf("INFO flash: %q", res)
	}
	if res := send("INFO", call.CallID(), relay, "Signal=x\r\n"); !strings.HasPrefix(res, "SIP/2.0 400 ") {
		t.Errorf("INFO unreadable: %q", res)
	}
	res := send("INFO", call.CallID(), []string{"Content-Type: application/media_control+xml"}, "<media_control/>")
	if !strings.HasPrefix(res, "SIP/2.0 415 ") || !strings.Contains(res, "Accept: application/dtmf-relay, application/dtmf") {
		t.Errorf("INFO other body: %q", res)
	}
	if res := send("INFO", "no-such-call", relay, "Signal=1\r\n"); !strings.HasPrefix(res, "SIP/2.0 481 ") {
		t.Errorf("INFO outside the call: %q", res)
	}
	res = send("MESSAGE", call.CallID(), []string{"Content-Type: text/plain"}, "hello")
	if !strings.HasPrefix(res, "SIP/2.0 405 ") || !strings.Contains(res, "Allow: ACK, BYE, CANCEL, INFO, INVITE, OPTIONS") {
		t.Errorf("MESSAGE: %q", res)
	}
	if res := send("CANCEL", "no-such-call", nil, ""); !strings.HasPrefix(res, "SIP/2.0 481 ") {
		t.Errorf("stray CANCEL: %q", res)
	}
	select {
	case k := <-keys:
		t.Errorf("unexpected key %v", k)
	default:
	}
	if allow := invite.Header("Allow"); allow != "ACK, BYE, CANCEL, INFO, INVITE, OPTIONS" {
		t.Errorf("INVITE's Allow %q", allow)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// TestInfoLoop: the Phone in sip-info mode presses keys as INFO
// (application/dtmf-relay), the Dialer hears them from sip-info, over UDP
// and TCP.
func TestInfoLoop(t *testing.T) {
	for _, network := range []string{"udp", "tcp"} {
		t.Run(network, func(t *testing.T) {
			first, last := extRange()
			phone := siptest.NewPhone(t, sip.PhoneConfig{Network: network, Keys: "*#", KeyMode: sip.KeySIPInfo,
				KeyDelay: 200 * time.Millisecond, RTPPortFirst: first, RTPPortLast: last, Logger: quietLogger()})
			_, call, keys := dialKeys(t, phone.URI())
			ctx := t.Context()
			var got strings.Builder
			for got.Len() < 2 {
				select {
				case k := <-keys:
					if k.Source != dtmf.SourceSIPInfo {
						t.Errorf("key %v from %v", k, k.Source)
					}
					got.WriteByte(byte(k.Key))
				case <-time.After(8 * time.Second):
					t.Fatalf("keys %q, want *#", got.String())
				}
			}
			if got.String() != "*#" {
				t.Errorf("keys %q, want *#", got.String())
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup: %v", err)
			}
			if pc := phone.Next(t, 10*time.Second); pc.KeysSent != "*#" || pc.Outcome != sip.PhoneCallerHungUp {
				t.Errorf("phone saw %+v", pc)
			}
		})
	}
}

// TestPhoneAllow: the Phone answers INFO outside a call 481 and a method
// it does not handle 405 with Allow.
func TestPhoneAllow(t *testing.T) {
	first, last := extRange()
	phone := siptest.NewPhone(t, sip.PhoneConfig{RTPPortFirst: first, RTPPortLast: last, Logger: quietLogger()})
	uas := siptest.NewScriptedUAS(t, nil)
	for i, tc := range []struct{ method, want string }{
		{"INFO", "SIP/2.0 481 "},
		{"SUBSCRIBE", "SIP/2.0 405 "},
	} {
		req := fmt.Sprintf("%s sip:%s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK-allow-%d\r\n"+
			"From: <sip:a@127.0.0.1>;tag=a\r\nTo: <sip:b@127.0.0.1>;tag=b\r\nCall-ID: allow-%d\r\nCSeq: 1 %s\r\n"+
			"Max-Forwards: 70\r\nContent-Type: application/dtmf-relay\r\nContent-Length: 10\r\n\r\nSignal=1\r\n",
			tc.method, phone.Addr(), uas.Addr(), i, i, tc.method)
		if err := uas.Send([]byte(req), phone.Addr()); err != nil {
			t.Fatal(err)
		}
		if !uas.Wait("", i+1, 5*time.Second) {
			t.Fatalf("%s: no response", tc.method)
		}
		res := string(uas.Requests()[i].Raw)
		if !strings.HasPrefix(res, tc.want) {
			t.Errorf("%s: %q, want %s", tc.method, res, tc.want)
		}
		if tc.method == "SUBSCRIBE" && !strings.Contains(res, "Allow: ACK, BYE, CANCEL, INFO, INVITE, OPTIONS\r\n") {
			t.Errorf("405 without the right Allow: %q", res)
		}
	}
}
