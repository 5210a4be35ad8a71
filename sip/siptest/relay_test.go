package siptest_test

import (
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// TestRelay: two calls through a Relay that stalls RTP, one hung up by
// the caller and one by the phone. Each INVITE, ACK and BYE goes through
// it, the RTP of both ways too (the caller hears the phone's # through the
// stall), each call's media ends with its BYE, and Close leaves no
// goroutine.
func TestRelay(t *testing.T) {
	before := runtime.NumGoroutine()
	quiet := slog.New(slog.DiscardHandler)
	for _, phoneHangs := range []bool{false, true} {
		calls := make(chan sip.PhoneCall, 1)
		cfg := sip.PhoneConfig{Keys: "#", KeyDelay: 300 * time.Millisecond, Listen: "127.0.0.1:0",
			RTPPortFirst: 45300, RTPPortLast: 45398, Logger: quiet, Calls: calls}
		if phoneHangs {
			cfg.HangupAfter = time.Second
		}
		p, err := sip.NewPhone(cfg)
		if err != nil {
			t.Fatal(err)
		}
		imp := siptest.Impairment{Stall: 200 * time.Millisecond, StallEvery: 300 * time.Millisecond}
		r, err := siptest.StartRelay(siptest.RelayConfig{Callee: p.Addr(), ToCaller: imp, ToCallee: imp, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		d, err := sip.NewDialer(sip.Config{Trunk: r.URI(), Bind: "127.0.0.1:0", RTPPortFirst: 45400, RTPPortLast: 45498, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		hash := make(chan struct{}) // closed by the first #
		var once sync.Once
		call, err := d.Dial(ctx, "+81312345678", nil, media.KeySinkFunc(func(k media.Key) {
			if k.Key == '#' {
				once.Do(func() { close(hash) })
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		if !waitClosed(hash, 5*time.Second) {
			t.Error("no # through the relay")
		}
		if phoneHangs {
			select {
			case <-call.Done():
			case <-ctx.Done():
				t.Error("the phone's BYE did not end the call")
			}
		} else if err := call.Hangup(ctx); err != nil {
			t.Errorf("hang-up: %v", err)
		}
		select {
		case pc := <-calls:
			if pc.KeysSent != "#" || pc.Status != 200 {
				t.Errorf("phone: %+v", pc)
			}
		case <-ctx.Done():
			t.Error("the phone reported no call")
		}
		cancel()
		d.Close()
		p.Close()
		r.Close()

		st := r.Stats()
		bye := "BYE>callee"
		if phoneHangs {
			bye = "BYE>caller"
		}
		for _, k := range []string{"INVITE>callee", "ACK>callee", bye} {
			if st.Requests[k] != 1 {
				t.Errorf("phone hangs up %v: %s %d, want 1 (%v)", phoneHangs, k, st.Requests[k], st.Requests)
			}
		}
		if st.Calls != 1 || st.Unroutable != 0 || st.ToCaller.Sent == 0 || st.ToCallee.Sent == 0 ||
			st.ToCaller.Stalled == 0 || st.ToCallee.Stalled == 0 {
			t.Errorf("phone hangs up %v: stats %+v", phoneHangs, st)
		}
		// At least the packets of the 300 ms before the # (a loaded machine
		// paces fewer of them than 20 ms apart would give).
		if tr := r.Trace(0, siptest.Caller); len(tr) < 10 || strings.Trim(tr, ".") != "" || r.Trace(1, siptest.Caller) != "" {
			t.Errorf("trace of call 0 to the caller %q, of call 1 %q", tr, r.Trace(1, siptest.Caller))
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// waitClosed reports whether c is closed within d.
func waitClosed(c <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c:
		return true
	case <-t.C:
		return false
	}
}
