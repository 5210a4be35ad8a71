package sip_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"denwa/media"
	"denwa/sip"
	"denwa/sip/siptest"
)

// The trunk's health and the causes a call reports for it (trunk.go):
// DNS, redirects, refused credentials, the OPTIONS ping, and one BYE per
// call whatever races. Every far end is a siptest.ScriptedUAS on
// loopback; every name resolves through a siptest.Resolver, never the
// network.

const testNumber = "+81312345678"

var loopback = netip.MustParseAddr("127.0.0.1")

// byCSeq answers each INVITE (each CSeq, so a redirected or authenticated
// one too) with replies(req), and its retransmissions with the same
// bytes; other methods get siptest.Polite.
func byCSeq(replies func(req *siptest.Request) [][]byte) siptest.Script {
	sent := map[string][][]byte{}
	return func(req *siptest.Request) [][]byte {
		if req.Method != "INVITE" {
			return siptest.Polite(req)
		}
		k := req.Header("Call-ID") + " " + req.Header("CSeq")
		if _, ok := sent[k]; !ok {
			sent[k] = replies(req)
		}
		return sent[k]
	}
}

// answer is a 200 with SDP whose Contact is host:port (an IP address, so
// that the ACK and BYE need no DNS).
func answer(req *siptest.Request, contact netip.AddrPort) []byte {
	r := *req
	r.URI = "sip:uas@" + contact.String()
	return ok200(&r, pcmuSDP)
}

func redirectTo(req *siptest.Request, status int, target string) []byte {
	return siptest.Reply(req, siptest.Response{Status: status, Reason: "Moved Temporarily", ToTag: "r1", Headers: []string{"Contact: <" + target + ">"}})
}

// invitesTo returns the INVITEs u received, one per CSeq (no
// retransmissions), in order.
func invitesTo(u *siptest.ScriptedUAS) []*siptest.Request {
	var out []*siptest.Request
	seen := map[string]bool{}
	for _, r := range u.Requests() {
		if r.Method == "INVITE" && !seen[r.Header("CSeq")] {
			seen[r.Header("CSeq")] = true
			out = append(out, r)
		}
	}
	return out
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout:
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

// TestTrunkDNS: a trunk whose name does not resolve fails each call at
// once, unreachable, with a cause naming DNS and the name (not the SDP's
// 0.0.0.0, which an unspecified bind address gave before); the dialer
// recovers by itself when the name resolves, advertising the address that
// routes to the trunk, and fails fast again once the name is gone.
func TestTrunkDNS(t *testing.T) {
	const name = "sip.example.invalid"
	for _, bind := range []string{"127.0.0.1:0", "0.0.0.0:0"} {
		t.Run(bind, func(t *testing.T) {
			uas := siptest.NewScriptedUAS(t, byCSeq(func(req *siptest.Request) [][]byte {
				return [][]byte{ok200(req, pcmuSDP)} // Contact: the trunk's name
			}))
			var dns siptest.Resolver
			d := newDialer(t, sip.Config{Trunk: fmt.Sprintf("sip:%s:%d", name, uas.Addr().Port()), Bind: bind, Resolver: &dns,
				TrunkRefresh: 200 * time.Millisecond, InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout})
			if err := d.TrunkHealth().Err(); !errors.Is(err, sip.ErrTrunkDNS) {
				t.Fatalf("health %v, want ErrTrunkDNS", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			start := time.Now()
			_, err := d.Dial(ctx, testNumber, nil, nil)
			took := time.Since(start)
			wantKind(t, "unresolved", err, sip.Unreachable)
			if want := "trunk " + name + ": DNS lookup failed: no such host"; !errors.Is(err, sip.ErrTrunkDNS) || !strings.Contains(err.Error(), want) {
				t.Errorf("err %q, want ErrTrunkDNS saying %q", err, want)
			}
			if took > time.Second {
				t.Errorf("Dial took %v to fail", took)
			}
			if n := uas.Count("INVITE"); n != 0 || len(d.TrunkAddrs()) != 0 {
				t.Errorf("%d INVITEs sent, addresses %v", n, d.TrunkAddrs())
			}

			dns.Set(name, loopback)
			waitFor(t, "trunk resolved", func() bool { return d.TrunkHealth().Err() == nil })
			if got := d.TrunkAddrs(); len(got) != 1 || got[0] != loopback {
				t.Errorf("TrunkAddrs %v", got)
			}
			call, err := d.Dial(ctx, testNumber, nil, nil)
			if err != nil {
				t.Fatalf("Dial after the name resolved: %v", err)
			}
			inv := invitesTo(uas)[0]
			if via, ct := inv.Header("Via"), inv.Header("Contact"); !strings.Contains(via, " 127.0.0.1:") || !strings.Contains(ct, "@127.0.0.1:") ||
				!strings.Contains(string(inv.Body()), "c=IN IP4 127.0.0.1") {
				t.Errorf("INVITE advertises Via %q, Contact %q, SDP\n%s", via, ct, inv.Body())
			}
			if err := call.Hangup(ctx); err != nil {
				t.Errorf("Hangup (BYE to the trunk's name): %v", err)
			}
			if n := uas.Count("ACK"); n != 1 {
				t.Errorf("%d ACKs", n)
			}

			dns.Set(name) // gone: "no such host" drops the addresses
			waitFor(t, "trunk unresolved again", func() bool { return errors.Is(d.TrunkHealth().Err(), sip.ErrTrunkDNS) })
			_, err = d.Dial(ctx, testNumber, nil, nil)
			if !errors.Is(err, sip.ErrTrunkDNS) {
				t.Errorf("Dial after the name went: %v", err)
			}
			if h := d.TrunkHealth(); h.ResolveFailures < 2 {
				t.Errorf("ResolveFailures %d", h.ResolveFailures)
			}
		})
	}
}

// TestTrunkRedirect: a 302 is followed to a target in the trunk's domain
// (same host, or a name under the trunk's), with the same Call-ID and
// CSeq+1; any other target, a loop or a fourth hop ends the call
// unreachable, naming the target, and nothing is sent there.
func TestTrunkRedirect(t *testing.T) {
	var dns siptest.Resolver
	for _, n := range []string{"example.test", "pbx2.example.test", "evil.example.org"} {
		dns.Set(n, loopback)
	}
	type ends struct{ a, b *siptest.ScriptedUAS }
	cases := []struct {
		name  string
		trunk string // %d: A's port
		// a and b script the trunk A and the target B; bPort and aPort
		// are filled in before the first INVITE.
		a, b  func(req *siptest.Request, aPort, bPort uint16) [][]byte
		want  string // "" answered; else the cause's text
		check func(t *testing.T, e ends)
	}{
		{
			name: "same-host", trunk: "sip:127.0.0.1:%d",
			a: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:%s@127.0.0.1:%d", testNumber, b))}
			},
			b: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{answer(req, netip.AddrPortFrom(loopback, b))}
			},
			check: func(t *testing.T, e ends) {
				a, b := invitesTo(e.a), invitesTo(e.b)
				if len(a) != 1 || len(b) != 1 {
					t.Fatalf("INVITEs: %d to A, %d to B", len(a), len(b))
				}
				if b[0].Header("Call-ID") != a[0].Header("Call-ID") || b[0].Header("CSeq") != "2 INVITE" {
					t.Errorf("redirected INVITE: Call-ID %q (first %q), CSeq %q", b[0].Header("Call-ID"), a[0].Header("Call-ID"), b[0].Header("CSeq"))
				}
			},
		},
		{
			name: "name-under-trunk", trunk: "sip:example.test:%d",
			a: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{redirectTo(req, 301, fmt.Sprintf("sip:%s@pbx2.example.test:%d", testNumber, b))}
			},
			b: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{answer(req, netip.AddrPortFrom(loopback, b))}
			},
		},
		{
			name: "other-domain", trunk: "sip:example.test:%d",
			a: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:%s@evil.example.org:%d", testNumber, b))}
			},
			want: "trunk redirected to sip:" + testNumber + "@evil.example.org:%d; not followed: other domain",
		},
		{
			name: "other-transport", trunk: "sip:127.0.0.1:%d",
			a: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:%s@127.0.0.1:%d;transport=tcp", testNumber, b))}
			},
			want: "trunk redirected to sip:" + testNumber + "@127.0.0.1:%d;transport=tcp; not followed: other transport",
		},
		{
			name: "loop", trunk: "sip:127.0.0.1:%d",
			a: func(req *siptest.Request, _, b uint16) [][]byte {
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:%s@127.0.0.1:%d", testNumber, b))}
			},
			b: func(req *siptest.Request, a, _ uint16) [][]byte {
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:%s@127.0.0.1:%d", testNumber, a))}
			},
			want: "not followed: loop",
		},
		{
			name: "fourth-hop", trunk: "sip:127.0.0.1:%d",
			a: func(req *siptest.Request, a, _ uint16) [][]byte {
				hop := strings.Fields(req.Header("CSeq"))[0]
				return [][]byte{redirectTo(req, 302, fmt.Sprintf("sip:hop%s@127.0.0.1:%d", hop, a))}
			},
			want: "not followed: more than 3 redirects",
			check: func(t *testing.T, e ends) {
				if n := len(invitesTo(e.a)); n != 4 {
					t.Errorf("%d INVITEs, want 4 (the first and three hops)", n)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var aPort, bPort atomic.Int32
			script := func(f func(req *siptest.Request, a, b uint16) [][]byte) siptest.Script {
				if f == nil {
					return byCSeq(func(*siptest.Request) [][]byte { return nil })
				}
				return byCSeq(func(req *siptest.Request) [][]byte { return f(req, uint16(aPort.Load()), uint16(bPort.Load())) })
			}
			e := ends{siptest.NewScriptedUAS(t, script(tc.a)), siptest.NewScriptedUAS(t, script(tc.b))}
			aPort.Store(int32(e.a.Addr().Port()))
			bPort.Store(int32(e.b.Addr().Port()))
			d := newDialer(t, sip.Config{Trunk: fmt.Sprintf(tc.trunk, e.a.Addr().Port()), Resolver: &dns,
				InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout})
			ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
			defer cancel()
			call, err := d.Dial(ctx, testNumber, nil, nil)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				if err := call.Hangup(ctx); err != nil {
					t.Errorf("Hangup: %v", err)
				}
				if n := e.b.Count("BYE"); n != 1 {
					t.Errorf("%d BYEs to the target", n)
				}
			} else {
				wantKind(t, tc.name, err, sip.Unreachable)
				want := tc.want
				if strings.Contains(want, "%d") {
					want = fmt.Sprintf(want, e.b.Addr().Port())
				}
				if !errors.Is(err, sip.ErrRedirect) || !strings.Contains(fmt.Sprint(err), want) {
					t.Errorf("err %v, want ErrRedirect saying %q", err, want)
				}
				if tc.b == nil && e.b.Count("INVITE") != 0 {
					t.Errorf("the target not followed got %d INVITEs", e.b.Count("INVITE"))
				}
			}
			if tc.check != nil {
				tc.check(t, e)
			}
		})
	}
}

// TestTrunkRefusedCredentials: a 401, 403 or 407 denwa cannot satisfy
// (no password, the password challenged again, a 403 at any time) ends
// the call failed, "trunk refused our credentials" with the status and
// reason, never rejected (a person declining).
func TestTrunkRefusedCredentials(t *testing.T) {
	challenge := func(req *siptest.Request, status int, header string) []byte {
		reason := map[int]string{401: "Unauthorized", 407: "Proxy Authentication Required"}[status]
		return siptest.Reply(req, siptest.Response{Status: status, Reason: reason, ToTag: "c1",
			Headers: []string{fmt.Sprintf(`%s: Digest realm="trunk", nonce="n-%s", qop="auth"`, header, strings.Fields(req.Header("CSeq"))[0])}})
	}
	forbidden := func(req *siptest.Request) []byte {
		return siptest.Reply(req, siptest.Response{Status: 403, Reason: "Forbidden", ToTag: "f1"})
	}
	cases := []struct {
		name     string
		password string
		reply    func(req *siptest.Request) []byte
		status   int
		invites  int
		also     error
	}{
		{"403", "s3cret", forbidden, 403, 1, nil},
		{"401-no-password", "", func(req *siptest.Request) []byte { return challenge(req, 401, "WWW-Authenticate") }, 401, 1, sip.ErrAuthRequired},
		{"401-twice", "wrong", func(req *siptest.Request) []byte { return challenge(req, 401, "WWW-Authenticate") }, 401, 2, sip.ErrAuthFailed},
		{"407-twice", "wrong", func(req *siptest.Request) []byte { return challenge(req, 407, "Proxy-Authenticate") }, 407, 2, sip.ErrAuthFailed},
		{"401-then-403", "s3cret", func(req *siptest.Request) []byte {
			if req.Header("Authorization") != "" {
				return forbidden(req)
			}
			return challenge(req, 401, "WWW-Authenticate")
		}, 403, 2, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			uas := siptest.NewScriptedUAS(t, byCSeq(func(req *siptest.Request) [][]byte { return [][]byte{tc.reply(req)} }))
			d := newDialer(t, sip.Config{Trunk: uas.URI(), AuthUser: "denwa", Password: tc.password, InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout})
			_, err := d.Dial(t.Context(), testNumber, nil, nil)
			ce := wantKind(t, tc.name, err, sip.Failed)
			if ce == nil {
				return
			}
			if ce.Status != tc.status || !errors.Is(err, sip.ErrTrunkRefused) || tc.also != nil && !errors.Is(err, tc.also) {
				t.Errorf("err %v: status %d, want %d, ErrTrunkRefused and %v", err, ce.Status, tc.status, tc.also)
			}
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprintf("(%d %s)", ce.Status, ce.Reason)) || !strings.Contains(msg, "trunk refused our credentials") {
				t.Errorf("cause %q lacks the status or the words", msg)
			}
			if strings.Contains(err.Error(), tc.password) && tc.password != "" {
				t.Errorf("cause shows the password: %v", err)
			}
			if n := len(invitesTo(uas)); n != tc.invites {
				t.Errorf("%d INVITEs, want %d", n, tc.invites)
			}
		})
	}
}

// TestTrunkPing: with TrunkPing the trunk is marked down after
// TrunkPingFailures unanswered OPTIONS in a row and up after one answer;
// calls are still placed while it is down.
func TestTrunkPing(t *testing.T) {
	var silent atomic.Bool
	uas := siptest.NewScriptedUAS(t, func(req *siptest.Request) [][]byte {
		switch {
		case req.Method == "OPTIONS" && silent.Load():
			return nil
		case req.Method == "INVITE":
			return [][]byte{siptest.Reply(req, siptest.Response{Status: 486, Reason: "Busy Here", ToTag: "b1"})}
		}
		return siptest.Polite(req)
	})
	d := newDialer(t, sip.Config{Trunk: uas.URI(), TrunkPing: 100 * time.Millisecond, TrunkPingFailures: 2,
		InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout})
	waitFor(t, "first OPTIONS answered", func() bool { return uas.Count("OPTIONS") > 0 && d.TrunkHealth().PingErr == nil })
	if h := d.TrunkHealth(); !h.Pinging || h.Down || h.Err() != nil {
		t.Fatalf("health %+v", h)
	}
	silent.Store(true)
	waitFor(t, "trunk down", func() bool { return d.TrunkHealth().Down })
	h := d.TrunkHealth()
	if err := h.Err(); err == nil || !errors.Is(err, sip.ErrNoResponse) || !strings.Contains(err.Error(), "127.0.0.1 is down") {
		t.Errorf("health error %v", err)
	}
	if h.PingFailures < 2 {
		t.Errorf("PingFailures %d", h.PingFailures)
	}
	_, err := d.Dial(t.Context(), testNumber, nil, nil) // still tried
	wantKind(t, "call while down", err, sip.Busy)
	silent.Store(false)
	waitFor(t, "trunk up again", func() bool { return d.TrunkHealth().Err() == nil })
}

// TestOneByeWhateverRaces: far ends that answer and never send RTP, with
// a short media timeout, while the caller hangs up and the far end sends
// its own BYE around the moment the timeout fires. Each of 50 calls gets
// exactly one BYE from the dialer, or none when the far end's BYE ended
// it first; the call's end cause says which.
func TestOneByeWhateverRaces(t *testing.T) {
	const (
		calls   = 50
		wave    = 10 // calls at once
		timeout = 150 * time.Millisecond
	)
	rng := rand.New(rand.NewPCG(12, 5))
	var mu sync.Mutex
	invites := map[string]*siptest.Request{}
	uas := siptest.NewScriptedUAS(t, byCSeq(func(req *siptest.Request) [][]byte {
		mu.Lock()
		invites[req.Header("Call-ID")] = req
		mu.Unlock()
		return [][]byte{ok200(req, pcmuSDP)} // RTP to port 9: none comes back
	}))
	first, _ := extRange()
	extRange() // and the next window: 40 ports
	d := newDialer(t, sip.Config{Trunk: uas.URI(), MediaTimeout: timeout, InviteTimeout: hostileTimeout, RingTimeout: hostileTimeout,
		RTPPortFirst: first, RTPPortLast: first + 4*wave - 1}) // twice the ports the calls need: a port another test holds is skipped
	type result struct {
		id  string
		why error
	}
	results := make(chan result, calls)
	for w := 0; w < calls; w += wave {
		var wg sync.WaitGroup
		for i := w; i < w+wave; i++ {
			// Each call: Hangup, the far end's BYE, or both, at a moment
			// within 60 ms of the media timeout.
			mode := i % 3
			hangAt := timeout - 30*time.Millisecond + time.Duration(rng.Int64N(int64(60*time.Millisecond)))
			byeAt := timeout - 30*time.Millisecond + time.Duration(rng.Int64N(int64(60*time.Millisecond)))
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
				defer cancel()
				call, err := d.Dial(ctx, testNumber, nil, nil)
				if err != nil {
					t.Errorf("call %d: Dial: %v", i, err)
					return
				}
				mu.Lock()
				inv := invites[call.CallID()]
				mu.Unlock()
				var race sync.WaitGroup
				if mode != 0 {
					race.Go(func() {
						time.Sleep(byeAt)
						if err := uas.Bye(inv, "uas1"); err != nil {
							t.Errorf("call %d: %v", i, err)
						}
					})
				}
				if mode != 1 {
					race.Go(func() {
						time.Sleep(hangAt)
						_ = call.Hangup(ctx)
					})
				}
				race.Wait()
				select {
				case <-call.Done():
				case <-ctx.Done():
					t.Errorf("call %d did not end", i)
					return
				}
				results <- result{call.CallID(), call.Err()}
			})
		}
		wg.Wait()
	}
	close(results)
	// The far end's own BYE requests arrive at the dialer, not at uas;
	// every BYE uas saw came from the dialer, and each was answered before
	// its call's Done closed.
	byes, seen := map[string]int{}, map[string]bool{}
	for _, r := range uas.Requests() {
		if k := r.Header("Call-ID") + " " + r.Header("CSeq"); r.Method == "BYE" && !seen[k] { // not retransmissions
			seen[k] = true
			byes[r.Header("Call-ID")]++
		}
	}
	count := map[string]int{}
	for r := range results {
		want := 1
		if errors.Is(r.why, sip.ErrRemoteHangup) {
			want = 0
		}
		switch {
		case errors.Is(r.why, sip.ErrRemoteHangup), errors.Is(r.why, sip.ErrLocalHangup), errors.Is(r.why, media.ErrMediaTimeout):
		default:
			t.Errorf("call %s ended with %v", r.id, r.why)
		}
		if byes[r.id] != want {
			t.Errorf("call %s (%v): %d BYEs from the dialer, want %d", r.id, r.why, byes[r.id], want)
		}
		count[fmt.Sprint(r.why)]++
	}
	t.Logf("end causes: %v", count)
	if n := sip.RTPPortsInUse(d); n != 0 {
		t.Errorf("%d RTP ports in use", n)
	}
}
