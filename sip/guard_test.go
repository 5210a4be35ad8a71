package sip

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Tests of the SIP port's guard (guard.go): who may send out-of-dialog
// requests, OPTIONS answered without state, the per-source rate and its
// ceiling, and bounded logs for what strangers send. Everything is on
// loopback: 127.0.0.0/8 is all local on Linux, so a socket bound to
// 127.0.0.3 is a source that is not 127.0.0.1.

// newLoggedDialer is newTestDialer logging at Info, as in production,
// to logs.
func newLoggedDialer(t *testing.T, cfg Config, logs *syncBuffer) *Dialer {
	t.Helper()
	cfg.Bind = "127.0.0.1:0"
	cfg.RTPPortFirst, cfg.RTPPortLast = rtpRange()
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	d, err := NewDialer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// peer is a UDP socket that sends hand-written requests to a SIP port and
// reads what comes back.
type peer struct {
	t     *testing.T
	c     *net.UDPConn
	via   string // "UDP 127.0.0.3:41000": the Via's transport and sent-by
	to    netip.AddrPort
	n     int
	resp  chan string            // status lines received
	allow atomic.Pointer[string] // the last Allow header received
}

func newPeer(t *testing.T, ip string, to netip.AddrPort) *peer {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	p := &peer{t: t, c: c, via: "UDP " + c.LocalAddr().String(), to: to, resp: make(chan string, 1<<14)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			line, rest, _ := strings.Cut(string(buf[:n]), "\r\n")
			for h := range strings.SplitSeq(rest, "\r\n") {
				if v, ok := strings.CutPrefix(h, "Allow: "); ok {
					p.allow.Store(&v)
				}
			}
			if strings.HasPrefix(line, "SIP/2.0 ") {
				select {
				case p.resp <- line:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return p
}

// request is an out-of-dialog request (a To tag makes it claim a dialog).
func (p *peer) request(method, callID, fromTag, toTag string) []byte {
	p.n++
	to := "<sip:denwa@" + p.to.String() + ">"
	if toTag != "" {
		to += ";tag=" + toTag
	}
	if callID == "" {
		callID = fmt.Sprintf("guard-%d@test", p.n)
	}
	return fmt.Appendf(nil, "%s sip:denwa@%s SIP/2.0\r\nVia: SIP/2.0/%s;branch=z9hG4bK-guard-%d;rport\r\n"+
		"Max-Forwards: 70\r\nFrom: <sip:probe@example.com>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\nContent-Length: 0\r\n\r\n",
		method, p.to, p.via, p.n, fromTag, to, callID, p.n, method)
}

func (p *peer) send(b []byte) {
	if _, err := p.c.WriteToUDPAddrPort(b, p.to); err != nil {
		p.t.Fatal(err)
	}
}

// next returns the next status line, or "" after timeout.
func (p *peer) next(timeout time.Duration) string {
	select {
	case l := <-p.resp:
		return l
	case <-time.After(timeout):
		return ""
	}
}

// final returns the next status line that is not 1xx (an INVITE
// transaction may send 100 Trying first), or "" after timeout.
func (p *peer) final(timeout time.Duration) string {
	l := p.next(timeout)
	if strings.HasPrefix(l, "SIP/2.0 1") {
		l = p.next(timeout)
	}
	return l
}

// ask sends one OPTIONS and returns the status line of its answer, ""
// when none comes within timeout.
func (p *peer) ask(timeout time.Duration) string {
	p.send(p.request("OPTIONS", "", "p", ""))
	return p.next(timeout)
}

// quiet is how long a test waits to conclude that nothing is answered: a
// loopback answer takes well under a millisecond, so 300 ms of nothing is
// no answer (a false pass would need the machine stalled that long, and
// the test asserts the stranger counter as well).
const quiet = 300 * time.Millisecond

func TestGuardSourceFilter(t *testing.T) {
	d := newTestDialer(t, Config{Trunk: "sip:127.0.0.2:5060", Guard: Guard{}})
	if got := fmt.Sprint(*d.guard.allow.Load()); got != "[127.0.0.2/32]" {
		t.Fatalf("default allow %s, want the trunk's address", got)
	}
	trunk := newPeer(t, "127.0.0.2", d.Addr())
	stranger := newPeer(t, "127.0.0.3", d.Addr())

	if got := trunk.ask(5 * time.Second); got != "SIP/2.0 200 OK" {
		t.Errorf("OPTIONS from the trunk: %q", got)
	}
	// Its Allow names every method with a handler (endpoint.allow).
	if a := trunk.allow.Load(); a == nil || *a != "ACK, BYE, CANCEL, INFO, INVITE, OPTIONS" {
		t.Errorf("OPTIONS answer's Allow: %v", a)
	}
	for _, m := range []string{"OPTIONS", "INVITE", "BYE", "MESSAGE"} {
		stranger.send(stranger.request(m, "", "s", ""))
	}
	if got := stranger.next(quiet); got != "" {
		t.Errorf("a stranger got %q", got)
	}
	if s := d.GuardStats(); s.Strangers != 4 || s.Options != 1 {
		t.Errorf("stats %+v, want 4 strangers and 1 OPTIONS", s)
	}
	// An unsolicited INVITE from the trunk is declined (the Dialer only
	// calls out), over a transaction: 100 Trying may come first.
	trunk.send(trunk.request("INVITE", "", "t", ""))
	if got := trunk.final(5 * time.Second); got != "SIP/2.0 603 Decline" {
		t.Errorf("unsolicited INVITE from the trunk: %q, want 603", got)
	}
	// A method nobody serves: 405, from sipgo's no-route handler (ours).
	trunk.send(trunk.request("MESSAGE", "", "t", ""))
	if got := trunk.next(5 * time.Second); got != "SIP/2.0 405 Method Not Allowed" {
		t.Errorf("MESSAGE from the trunk: %q", got)
	}

	// Guard.Allow adds networks to the trunk's.
	d = newTestDialer(t, Config{Trunk: "sip:127.0.0.2:5060", Guard: Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32")}}})
	for ip, want := range map[string]string{"127.0.0.2": "SIP/2.0 200 OK", "127.0.0.3": "SIP/2.0 200 OK", "127.0.0.4": ""} {
		if got := newPeer(t, ip, d.Addr()).ask(quiet); got != want {
			t.Errorf("OPTIONS from %s with 127.0.0.3/32 allowed: %q, want %q", ip, got, want)
		}
	}
	// A Phone answers loopback.
	phone, _ := newTestPhone(t, PhoneConfig{})
	if got := newPeer(t, "127.0.0.3", phone.Addr()).ask(5 * time.Second); got != "SIP/2.0 200 OK" {
		t.Errorf("OPTIONS to a Phone from loopback: %q", got)
	}
}

// TestGuardStrangerBye: a call in progress is ended by its far end's BYE
// only. A stranger's BYE with the call's Call-ID but wrong tags gets
// nothing and the call goes on; from the trunk the same BYE gets 481. A
// request of the dialog (Call-ID and both tags) is served even from
// another address: the guard checks the dialog, not only the source.
func TestGuardStrangerBye(t *testing.T) {
	phone, _ := newTestPhone(t, PhoneConfig{Keys: "", RingFor: 0})
	d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := dial(ctx, t, d)

	stranger := newPeer(t, "127.0.0.3", d.Addr())
	stranger.send(stranger.request("BYE", call.CallID(), call.remoteTag, "wrong"))
	stranger.send(stranger.request("BYE", call.CallID(), "wrong", call.localTag))
	if got := stranger.next(quiet); got != "" {
		t.Errorf("stranger's BYE with wrong tags answered %q", got)
	}
	trunk := newPeer(t, "127.0.0.1", d.Addr())
	trunk.send(trunk.request("BYE", call.CallID(), "wrong", call.localTag))
	if got := trunk.next(5 * time.Second); got != "SIP/2.0 481 Call/Transaction Does Not Exist" {
		t.Errorf("BYE with a wrong From tag from the trunk's address: %q, want 481", got)
	}
	select {
	case <-call.Done():
		t.Fatalf("a BYE with wrong tags ended the call: %v", call.Err())
	default:
	}
	if s := d.GuardStats(); s.Strangers != 2 {
		t.Errorf("stats %+v, want 2 strangers", s)
	}
	// A re-INVITE of the dialog (Call-ID and both tags), as if the far
	// end had moved to another address: served (488: the Dialer keeps
	// its session), and the call goes on.
	stranger.send(stranger.request("INVITE", call.CallID(), call.remoteTag, call.localTag))
	if got := stranger.final(5 * time.Second); got != "SIP/2.0 488 Not Acceptable Here" {
		t.Errorf("the dialog's re-INVITE from another address: %q, want 488", got)
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
}

// TestGuardRate: one source's OPTIONS beyond Burst are answered 503 with
// Retry-After, and beyond Ceiling not at all. A fixed clock makes the
// buckets exact: no token comes back during the test.
func TestGuardRate(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := newTestDialer(t, Config{Trunk: "sip:127.0.0.2:5060",
		Guard: Guard{Rate: 5, Burst: 5, Ceiling: 8, Now: func() time.Time { return now }}})
	p := newPeer(t, "127.0.0.2", d.Addr())
	var got []string
	for range 12 {
		got = append(got, p.ask(quiet))
	}
	want := strings.Repeat("SIP/2.0 200 OK,", 5) + strings.Repeat("SIP/2.0 503 Service Unavailable,", 3) + strings.Repeat(",", 4)
	if s := strings.Join(got, ",") + ","; s != want {
		t.Errorf("answers %s\nwant    %s", s, want)
	}
	if s := d.GuardStats(); s.Options != 5 || s.Limited != 3 || s.Dropped != 4 {
		t.Errorf("stats %+v", s)
	}
	// The 503 says when to come back: Burst tokens at Rate, 1 s.
	if ra := d.guard.retryAfter(); ra != "1" {
		t.Errorf("Retry-After %s", ra)
	}
}

// TestGuardTransactionCap: with the transactions held at their cap, an
// INVITE is answered 503 without reaching the Dialer; OPTIONS, which holds
// none, is still answered.
func TestGuardTransactionCap(t *testing.T) {
	d := newTestDialer(t, Config{Trunk: "sip:127.0.0.2:5060", Guard: Guard{MaxTransactions: 1}})
	p := newPeer(t, "127.0.0.2", d.Addr())
	d.guard.held.Add(1) // one held, as by a call in progress
	p.send(p.request("INVITE", "", "t", ""))
	if got := p.next(5 * time.Second); got != "SIP/2.0 503 Service Unavailable" {
		t.Errorf("INVITE at the cap: %q, want 503", got)
	}
	if got := p.ask(5 * time.Second); got != "SIP/2.0 200 OK" {
		t.Errorf("OPTIONS at the cap: %q, want 200", got)
	}
	d.guard.held.Add(-1)
	p.send(p.request("INVITE", "", "t", ""))
	if got := p.final(5 * time.Second); got != "SIP/2.0 603 Decline" {
		t.Errorf("INVITE under the cap: %q, want 603", got)
	}
}

// TestGuardGarbage: 1,000 datagrams of 64 KB that are no SIP (random
// bytes, and a request line followed by random bytes, which only sipgo's
// parser can refuse) neither crash the port nor flood the log: a few
// lines, each cut short.
func TestGuardGarbage(t *testing.T) {
	var logs syncBuffer
	d := newLoggedDialer(t, Config{Trunk: "sip:127.0.0.2:5060", Guard: Guard{Rate: 1000}}, &logs)
	p := newPeer(t, "127.0.0.2", d.Addr())
	rng := rand.New(rand.NewPCG(12, 3))
	junk := make([]byte, 65000)
	const n = 1000
	for i := range n {
		for j := range junk {
			junk[j] = byte(rng.Uint32())
		}
		if i%2 == 1 {
			copy(junk, "INVITE sip:x@127.0.0.1 SIP/2.0\r\nVia: ")
		}
		p.send(junk)
		// The port reads in order: the answer to an OPTIONS sent after
		// them means the datagrams before it were dealt with (or dropped
		// by the kernel, which only makes the test weaker).
		if i%20 == 19 {
			if got := p.ask(5 * time.Second); got != "SIP/2.0 200 OK" {
				t.Fatalf("after %d datagrams of garbage, OPTIONS got %q", i+1, got)
			}
		}
	}
	s := d.GuardStats()
	t.Logf("guard %+v; log %d bytes", s, len(logs.String()))
	if s.Malformed < n/4 {
		t.Errorf("%d datagrams counted as no SIP, want about %d", s.Malformed, n/2)
	}
	checkLog(t, logs.String(), 4096, 1024)
}

// checkLog fails when log is over total bytes or has a line over line
// bytes.
func checkLog(t *testing.T, log string, total, line int) {
	t.Helper()
	if len(log) > total {
		t.Errorf("log is %d bytes, want at most %d:\n%s", len(log), total, log[:min(len(log), 4000)])
	}
	sc := bufio.NewScanner(strings.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := sc.Text(); len(l) > line {
			t.Errorf("a log line of %d bytes: %.300s…", len(l), l)
		}
	}
}

// heapInUse is the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestGuardFlood: an OPTIONS flood at about 2,000 a second for 5 s to the
// Dialer's SIP port, from the trunk's own address, while a verification
// call is in progress. The call still hears its key; the flood is
// answered up to the source's ceiling only (200 up to the rate, then
// 503), the rest dropped; the heap does not grow with the flood and the
// log stays a few lines.
//
// The heap bound: without the guard, sipgo keeps a server transaction per
// OPTIONS for 32 s (Timer J), measured at about 4 KB each (8 MB/s at
// 2,000/s), so 10,000 requests would hold about 40 MB. With the guard
// nothing is kept per request; 8 MB leaves room for the call's own
// buffers and the runtime, and is a fifth of what the flood would cost.
func TestGuardFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("5 s flood")
	}
	var logs syncBuffer
	phone, calls := newTestPhone(t, PhoneConfig{Keys: "#", KeyDelay: 3 * time.Second})
	d := newLoggedDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second}, &logs)
	keys := newKeys()
	call, err := d.Dial(t.Context(), "+81312345678", nil, keys) // answered at once; the key comes 3 s later
	if err != nil {
		t.Fatal(err)
	}
	before := heapInUse()

	flood := newPeer(t, "127.0.0.1", d.Addr())
	const perTick = 10 // every 5 ms: 2,000/s
	ticks := 200 * 5   // 5 s; DENWA_FLOOD_SECONDS for a longer run (docs/sip-guard.md)
	if n, err := strconv.Atoi(os.Getenv("DENWA_FLOOD_SECONDS")); err == nil && n > 0 {
		ticks = 200 * n
	}
	reqs := make([][]byte, 64) // prepared: the loop only sends
	for i := range reqs {
		reqs[i] = flood.request("OPTIONS", "", "f", "")
	}
	var peak uint64
	start := time.Now()
	tick := time.NewTicker(5 * time.Millisecond)
	for i := range ticks {
		<-tick.C
		for j := range perTick {
			flood.send(reqs[(i*perTick+j)%len(reqs)])
		}
		if i%1000 == 999 {
			peak = max(peak, heapInUse())
		}
	}
	tick.Stop()
	elapsed := time.Since(start)

	got := collectKeys(call, keys, 1, 10*time.Second)
	if got != "#" {
		t.Errorf("the call heard %q during the flood, want #", got)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if pc := waitPhone(t, calls); pc.KeysSent != "#" || pc.Outcome != PhoneCallerHungUp {
		t.Errorf("phone saw %+v", pc)
	}
	after := heapInUse()
	// Count the answers: 200 up to the burst and rate, 503 up to the
	// ceiling, nothing beyond.
	var ok, limited int
	for {
		l := flood.next(quiet)
		if l == "" {
			break
		}
		switch l {
		case "SIP/2.0 200 OK":
			ok++
		case "SIP/2.0 503 Service Unavailable":
			limited++
		default:
			t.Errorf("flood answered %q", l)
		}
	}
	s := d.GuardStats()
	sent := perTick * ticks
	g := d.guard.cfg
	secs := elapsed.Seconds() + 1 // the answers' tokens over the time the flood took, and a second's slack
	t.Logf("%d OPTIONS in %v: %d × 200, %d × 503; guard %+v; heap %d → peak %d → %d KB; log %d bytes",
		sent, elapsed.Round(time.Millisecond), ok, limited, s, before>>10, peak>>10, after>>10, len(logs.String()))
	if ok == 0 || limited == 0 {
		t.Errorf("%d × 200 and %d × 503: want both", ok, limited)
	}
	if maxOK := float64(g.Burst) + float64(g.Rate)*secs; float64(ok) > maxOK {
		t.Errorf("%d × 200, want at most %.0f (burst %d, rate %d/s)", ok, maxOK, g.Burst, g.Rate)
	}
	if maxAll := float64(g.Ceiling) * (secs + 1); float64(ok+limited) > maxAll {
		t.Errorf("%d answers, want at most %.0f (ceiling %d/s)", ok+limited, maxAll, g.Ceiling)
	}
	if s.Dropped == 0 || s.Dropped+s.Limited+s.Options > int64(sent) {
		t.Errorf("guard %+v for %d sent", s, sent)
	}
	const bound = 8 << 20
	if peak > before+bound || after > before+bound {
		t.Errorf("heap %d KB before, peak %d KB, after %d KB: grew over %d KB", before>>10, peak>>10, after>>10, bound>>10)
	}
	// A few lines per logInterval and kind (here one: 503), and the call's.
	checkLog(t, logs.String(), 2048*(2+int(elapsed/logInterval)), 1024)
}

// TestGuardTCP: over TCP a connection to the listener from outside the
// allowed networks is closed on its first bytes, unanswered; the trunk's
// OPTIONS is answered, and over its rate 503 with Retry-After.
func TestGuardTCP(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	d := newTestDialer(t, Config{Trunk: "sip:127.0.0.2:5060;transport=tcp",
		Guard: Guard{Rate: 1, Burst: 1, Ceiling: 2, Now: func() time.Time { return now }}})
	talk := func(ip string, n int) (string, error) {
		nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
		c, err := nd.Dial("tcp", d.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		p := &peer{to: d.Addr(), via: "TCP " + c.LocalAddr().String()}
		var out strings.Builder
		r := bufio.NewReader(c)
		for i := range n {
			if _, err := c.Write(p.request("OPTIONS", "", "t", "")); err != nil {
				return out.String(), err
			}
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			line, err := r.ReadString('\n')
			if err != nil {
				return out.String(), err
			}
			out.WriteString(strings.TrimSpace(line) + ",")
			for { // the rest of the response, up to its empty line
				l, err := r.ReadString('\n')
				if err != nil {
					return out.String(), err
				}
				if l == "\r\n" {
					break
				}
				if i == 1 && strings.HasPrefix(l, "Retry-After:") {
					out.WriteString(strings.TrimSpace(l) + ",")
				}
			}
		}
		return out.String(), nil
	}
	if got, err := talk("127.0.0.3", 1); got != "" || err == nil {
		t.Errorf("a stranger's connection: answered %q, %v; want closed unanswered", got, err)
	}
	if got, err := talk("127.0.0.2", 2); got != "SIP/2.0 200 OK,SIP/2.0 503 Service Unavailable,Retry-After: 1," || err != nil {
		t.Errorf("the trunk: %q, %v", got, err)
	}
	if s := d.GuardStats(); s.Strangers != 1 || s.Limited != 1 {
		t.Errorf("stats %+v", s)
	}
}

// TestGuardPhoneBye: the Phone (sipgo's dialog cache) ends a call only on
// a BYE whose Call-ID and tags are the dialog's: from an allowed address,
// a wrong tag gets 481 and the call goes on.
func TestGuardPhoneBye(t *testing.T) {
	phone, calls := newTestPhone(t, PhoneConfig{})
	d := newTestDialer(t, Config{Trunk: phone.URI(), RingTimeout: 5 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	call := dial(ctx, t, d)
	p := newPeer(t, "127.0.0.1", phone.Addr())
	// The phone's dialog: our From tag is the Dialer's (localTag), the
	// To tag the Phone's own (remoteTag).
	for _, tags := range [][2]string{{call.localTag, "wrong"}, {"wrong", call.remoteTag}} {
		p.send(p.request("BYE", call.CallID(), tags[0], tags[1]))
		if got := p.next(5 * time.Second); got != "SIP/2.0 481 Call/Transaction Does Not Exist" {
			t.Errorf("BYE with tags %q: %q, want 481", tags, got)
		}
	}
	select {
	case pc := <-calls:
		t.Fatalf("a BYE with a wrong tag ended the phone's call: %+v", pc)
	case <-call.Done():
		t.Fatalf("call ended: %v", call.Err())
	default:
	}
	if err := call.Hangup(ctx); err != nil {
		t.Errorf("Hangup: %v", err)
	}
	if pc := waitPhone(t, calls); pc.Outcome != PhoneCallerHungUp {
		t.Errorf("phone saw %+v", pc)
	}
}

// TestGuardSources: the sources remembered are bounded; new ones beyond
// share one limit until idle ones are forgotten.
func TestGuardSources(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := sources{m: map[netip.Addr]*source{}, max: 2, rate: 1, burst: 1, ceiling: 2}
	s.shared = s.newSource()
	a := func(i byte) netip.Addr { return netip.AddrFrom4([4]byte{192, 0, 2, i}) }
	for i := range byte(2) {
		if v := s.take(a(i), now); v != admit {
			t.Errorf("source %d: %v", i, v)
		}
	}
	// Full: 192.0.2.2 and .3 share one bucket, whose one token .2 takes.
	if v := s.take(a(2), now); v != admit {
		t.Errorf("first source over the bound: %v", v)
	}
	if v := s.take(a(3), now); v != refuse {
		t.Errorf("second source over the bound: %v, want refused (shared bucket empty)", v)
	}
	if len(s.m) != 2 {
		t.Errorf("%d sources remembered, want 2", len(s.m))
	}
	// A minute later the idle ones are forgotten and .3 gets its own.
	now = now.Add(idleSource)
	if v := s.take(a(3), now); v != admit || len(s.m) != 1 || s.m[a(3)] == nil {
		t.Errorf("after a minute: %v, %d sources", v, len(s.m))
	}
}

// The networks a Dialer always allows: the trunk's and the outbound
// proxy's addresses, IP literals (IPv6 in brackets) or names resolved.
func TestTrunkNetworks(t *testing.T) {
	for _, tc := range []struct{ trunk, proxy, want string }{
		{"sip:[::1]:5070", "sip:127.0.0.2:5060", "[::1/128 127.0.0.2/32]"},
		{"sip:127.0.0.9", "", "[127.0.0.9/32]"},
		{"sip:pbx.invalid", "", "[]"}, // no address: nothing but calls in progress
	} {
		cfg := Config{Trunk: tc.trunk, OutboundProxy: tc.proxy}
		s, err := cfg.setup()
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(s.trunkNetworks()); got != tc.want {
			t.Errorf("%s via %q: %s, want %s", tc.trunk, tc.proxy, got, tc.want)
		}
	}
}
