package media

import (
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"

	"github.com/pion/rtp"
)

// tapConn records what a session reads: arrival time and RTP header.
type tapConn struct {
	PacketConn
	mu   sync.Mutex
	at   []time.Time
	hdrs []rtp.Header
}

func (c *tapConn) ReadFromUDPAddrPort(b []byte) (int, netip.AddrPort, error) {
	n, from, err := c.PacketConn.ReadFromUDPAddrPort(b)
	if err == nil {
		var h rtp.Header
		if _, herr := h.Unmarshal(b[:n]); herr == nil {
			c.mu.Lock()
			c.at = append(c.at, time.Now())
			c.hdrs = append(c.hdrs, h)
			c.mu.Unlock()
		}
	}
	return n, from, err
}

// waitGoroutines waits (bounded) for the goroutine count to fall back to
// at most n.
func waitGoroutines(t testing.TB, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want ≤ %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Two sessions talk over real UDP sockets on 127.0.0.1: A plays a prompt
// while B presses # as RFC 4733 events, then * and # in-band; A gets the
// three keys, B sees A's stream arrive gapless. Wall-clock spacing is
// reported, not asserted.
func TestSessionLoopbackUDP(t *testing.T) {
	needSockets(t)
	before := runtime.NumGoroutine()
	pool, err := NewPortPool(loopback4, testPortBase(), 29998)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	cb, err := pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	tap := &tapConn{PacketConn: cb}
	pacer := NewPacer(PacerConfig{})
	// A is the IVR side (answer parsed from B's SDP), B the phone.
	offer, err := Offer(OfferConfig{Addr: loopback4, Port: ca.LocalAddrPort().Port()})
	if err != nil {
		t.Fatal(err)
	}
	answerBody, bSide, err := AnswerOffer(offer, AnswerConfig{Addr: loopback4, Port: cb.LocalAddrPort().Port()})
	if err != nil {
		t.Fatal(err)
	}
	aSide, err := ParseAnswer(answerBody, OfferConfig{Addr: loopback4, Port: ca.LocalAddrPort().Port()})
	if err != nil {
		t.Fatal(err)
	}
	cfgA := aSide.SessionConfig()
	cfgA.Conn, cfgA.Pacer, cfgA.KeySink = ca, pacer, newKeyChan()
	a, err := NewSession(cfgA)
	if err != nil {
		t.Fatal(err)
	}
	cfgB := bSide.SessionConfig()
	cfgB.Conn, cfgB.KeySink = tap, newKeyChan() // B has a private pacer
	b, err := NewSession(cfgB)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("A %v\nB %v", a, b)

	prompt := speechLike(3 * time.Second)
	played := make(chan error, 1)
	go func() { played <- a.Play(t.Context(), prompt) }()
	ctx := t.Context()
	time.Sleep(300 * time.Millisecond)
	if err := b.SendKey(ctx, '#', RFC4733, 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	for _, k := range []dtmf.Key{'*', '#'} {
		if err := b.SendKey(ctx, k, Inband, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-played:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Play did not return")
	}
	time.Sleep(200 * time.Millisecond)
	b.Close()
	a.Close()
	pacer.Close()
	if pool.InUse() != 0 {
		t.Errorf("%d ports still in use", pool.InUse())
	}
	waitGoroutines(t, before)

	if s := keyString(collectKeys(a)); s != "#(4733)*(tone)#(tone)" {
		t.Errorf("A got keys %s, want #(4733)*(tone)#(tone)", s)
	}
	if n := len(collectKeys(b)); n != 0 {
		t.Errorf("B detected %d keys in A's prompt (talk-off)", n)
	}
	sa, sb := a.Stats(), b.Stats()
	t.Logf("A: %+v\nB: %+v", sa, sb)
	if sa.Foreign+sa.Garbage+sb.Foreign+sb.Garbage+sa.KeysRefused != 0 || sa.SendErrors+sb.SendErrors+sa.ReadErrors+sb.ReadErrors != 0 {
		t.Errorf("unexpected drops or errors")
	}

	// A's stream as B received it.
	tap.mu.Lock()
	defer tap.mu.Unlock()
	h := tap.hdrs
	if len(h) < int(3*time.Second/FrameInterval) {
		t.Fatalf("B received %d packets", len(h))
	}
	for i := 1; i < len(h); i++ {
		if h[i].SSRC != h[0].SSRC || h[i].SequenceNumber != h[i-1].SequenceNumber+1 || h[i].Timestamp != h[i-1].Timestamp+FrameSamples || h[i].Marker {
			t.Fatalf("packet %d: %v after %v", i, h[i], h[i-1])
		}
	}
	if !h[0].Marker {
		t.Errorf("first packet without the marker")
	}
	gaps := make([]time.Duration, 0, len(tap.at))
	for i := 1; i < len(tap.at); i++ {
		gaps = append(gaps, tap.at[i].Sub(tap.at[i-1]))
	}
	slices.Sort(gaps)
	var sum time.Duration
	for _, g := range gaps {
		sum += g
	}
	q := func(f float64) time.Duration { return gaps[min(len(gaps)-1, int(f*float64(len(gaps))))] }
	t.Logf("A→B inter-arrival over %d packets: mean %v, min %v, p50 %v, p99 %v, max %v (wall clock, not asserted)",
		len(gaps), sum/time.Duration(len(gaps)), gaps[0], q(0.5), q(0.99), gaps[len(gaps)-1])
	st := pacer.Stats()
	t.Logf("A's pacer: ticks %d, skipped %d, late %d, pacing error p50 %v p99 %v max %v",
		st.Ticks, st.Skipped, st.Late, st.LagQuantile(0.5), st.LagQuantile(0.99), st.MaxLag)
}

// The pacer carrying 1,000 sessions in real time over the in-memory
// network: pacing error reported, not asserted (the load test of a later
// issue asserts it on real sockets).
func TestPacer1000SessionsReport(t *testing.T) {
	if testing.Short() {
		t.Skip("runs 2 s")
	}
	before := runtime.NumGoroutine()
	const n = 1000
	p := NewPacer(PacerConfig{})
	net := mediatest.NewMemNet()
	frames := speechLike(time.Minute)
	var ss []*Session
	for i := range n {
		c, _ := net.Listen(netip.AddrPortFrom(loopback4, uint16(20000+2*i)))
		s, err := NewSession(SessionConfig{Conn: c, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
		go s.Play(t.Context(), frames)
	}
	time.Sleep(500 * time.Millisecond) // past the start-up (allocation, GC)
	st0 := p.Stats()
	time.Sleep(2 * time.Second)
	st := p.Stats()
	st.Ticks -= st0.Ticks
	st.Frames -= st0.Frames
	st.Skipped -= st0.Skipped
	st.Late -= st0.Late
	for i := range st.Lag {
		st.Lag[i] -= st0.Lag[i]
	}
	for _, s := range ss {
		s.Close()
	}
	p.Close()
	waitGoroutines(t, before)
	t.Logf("1000 sessions, 2 s steady state: ticks %d, frames %d, skipped %d, late walks %d, max walk %v; pacing error p50 %v p99 %v, max overall %v (race detector: %v)",
		st.Ticks, st.Frames, st.Skipped, st.Late, st.MaxWalk, st.LagQuantile(0.5), st.LagQuantile(0.99), st.MaxLag, raceEnabled)
	if st.Frames == 0 {
		t.Error("nothing sent")
	}
}
