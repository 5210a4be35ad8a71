package media

import (
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"
)

// stallConn is a PacketConn whose writes take as long as told, in the
// synctest bubble's time, and which records when each write happened.
type stallConn struct {
	PacketConn
	mu     sync.Mutex
	stall  time.Duration
	writes []time.Time
	pkts   [][]byte
}

func (c *stallConn) WriteToUDPAddrPort(b []byte, to netip.AddrPort) (int, error) {
	c.mu.Lock()
	d := c.stall
	c.stall = 0
	c.writes = append(c.writes, time.Now())
	c.pkts = append(c.pkts, append([]byte(nil), b...))
	c.mu.Unlock()
	time.Sleep(d)
	return c.PacketConn.WriteToUDPAddrPort(b, to)
}

// A stalled walk makes the pacer skip ticks rather than burst: packets
// stay one per tick, on the 20 ms grid, with consecutive sequence numbers
// and timestamps.
func TestPacerSkipsWithoutBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		sc := &stallConn{PacketConn: a}
		p := NewPacer(PacerConfig{NormalPriority: true}) // synctest: runtime timers
		defer p.Close()
		start := time.Now()
		s, err := NewSession(SessionConfig{Conn: sc, Remote: b.LocalAddrPort(), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(205 * time.Millisecond)
		sc.mu.Lock()
		sc.stall = 65 * time.Millisecond // the walk at 220 ms takes 65 ms
		sc.mu.Unlock()
		time.Sleep(400 * time.Millisecond)
		s.Close()
		// The walk due at 220 ms ends at 285 ms: the ticks due at 240 and
		// 260 ms are skipped, the one due at 280 ms is walked at once (5 ms
		// late), and 300 ms is on the grid again.
		st := p.Stats()
		if st.Skipped != 2 || st.Late != 1 {
			t.Errorf("skipped %d, late %d; want 2 and 1 after a 65 ms stall", st.Skipped, st.Late)
		}
		sc.mu.Lock()
		defer sc.mu.Unlock()
		for i, w := range sc.writes {
			at := w.Sub(start)
			if off := at % FrameInterval; off != 0 && at != 285*time.Millisecond {
				t.Errorf("write %d at %v: off the 20 ms grid", i, at)
			}
			if i > 0 && w.Sub(sc.writes[i-1]) < 15*time.Millisecond {
				t.Errorf("write %d only %v after the previous one (burst)", i, w.Sub(sc.writes[i-1]))
			}
			if i > 0 {
				seq0 := uint16(sc.pkts[i-1][2])<<8 | uint16(sc.pkts[i-1][3])
				seq1 := uint16(sc.pkts[i][2])<<8 | uint16(sc.pkts[i][3])
				if seq1 != seq0+1 {
					t.Errorf("write %d: seq %d after %d", i, seq1, seq0)
				}
			}
		}
		// 0–600 ms is 31 ticks (0, 20, …, 600), two of them skipped.
		if n := len(sc.writes); n != 31-2 {
			t.Errorf("%d writes, want 29", n)
		}
		t.Logf("ticks %d, frames %d, skipped %d, max lag %v, max walk %v", st.Ticks, st.Frames, st.Skipped, st.MaxLag, st.MaxWalk)
	})
}

func TestPacerIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(PacerConfig{NormalPriority: true}) // synctest: runtime timers
		time.Sleep(time.Second)
		if st := p.Stats(); st.Ticks != 0 {
			t.Errorf("%d ticks with no stream", st.Ticks)
		}
		if p.String() != "media.Pacer(0 streams)" {
			t.Errorf("String = %q", p.String())
		}
		p.Close()
		p.Close()
	})
}

func TestLagQuantile(t *testing.T) {
	var s PacerStats
	if s.LagQuantile(0.99) != 0 {
		t.Error("empty histogram")
	}
	s.Lag[0] = 90 // < 100 µs
	s.Lag[5] = 9  // 500–600 µs
	s.Lag[30] = 1 // 3.0–3.1 ms
	s.MaxLag = 3050 * time.Microsecond
	for q, want := range map[float64]time.Duration{0.5: 100 * time.Microsecond, 0.9: 100 * time.Microsecond,
		0.95: 600 * time.Microsecond, 0.99: 600 * time.Microsecond, 1: 3100 * time.Microsecond} {
		if got := s.LagQuantile(q); got != want {
			t.Errorf("LagQuantile(%v) = %v, want %v", q, got, want)
		}
	}
	s.Lag[LagBuckets-1] = 1000
	if got := s.LagQuantile(0.99); got != s.MaxLag {
		t.Errorf("overflow bucket: %v", got)
	}
}

// manualSession returns a session on a pacer that does not run, so that
// the test drives sendTick itself. Its packets go to an address nobody
// listens on.
func manualSession(t testing.TB, conn PacketConn, codec PayloadKind) (*Session, *Pacer) {
	return manualSessionTo(t, conn, netip.MustParseAddrPort("127.0.0.1:9"), codec)
}

func manualSessionTo(t testing.TB, conn PacketConn, to netip.AddrPort, codec PayloadKind) (*Session, *Pacer) {
	t.Helper()
	p := newPacer(PacerConfig{}, false)
	s, err := NewSession(SessionConfig{Conn: conn, Remote: to, Codec: codec, EventPT: 101, Pacer: p, MediaTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// The per-stream send step allocates nothing, whatever it sends.
func TestSendTickZeroAllocs(t *testing.T) {
	n := mediatest.NewMemNet()
	for _, codec := range []PayloadKind{KindPCMU, KindPCMA} {
		c, _ := n.Listen(netip.MustParseAddrPort("127.0.0.1:30000"))
		s, p := manualSession(t, c, codec)
		frames := speechLike(10 * time.Minute)
		now := time.Now()
		cases := []struct {
			name  string
			setup func()
		}{
			{"silence", func() {}},
			{"prompt", func() { s.play = &playback{frames: frames, done: make(chan struct{})} }},
			{"in-band key over prompt", func() {
				s.press = &keyPress{mode: Inband, tone: dtmf.Tone{Key: '#', Level: keyLevel, Duration: 1 << 30}, done: make(chan struct{})}
			}},
			{"RFC 4733 key", func() {
				evs, err := dtmf.GenerateEvent(nil, '#', 0, 8000*600, dtmf.EventGenConfig{})
				if err != nil {
					t.Fatal(err)
				}
				s.play = nil
				s.press = &keyPress{mode: RFC4733, events: evs, done: make(chan struct{})}
			}},
		}
		for _, tc := range cases {
			s.mu.Lock()
			tc.setup()
			s.mu.Unlock()
			if allocs := testing.AllocsPerRun(1000, func() {
				if !s.sendTick(now) {
					t.Fatal("not sent")
				}
			}); allocs != 0 {
				t.Errorf("%s %s: %v allocations per packet", codec, tc.name, allocs)
			}
		}
		s.Close()
		p.Close()
	}
}

func BenchmarkSendTick(b *testing.B) {
	run := func(b *testing.B, conn PacketConn, to netip.AddrPort) {
		s, p := manualSessionTo(b, conn, to, KindPCMU)
		defer p.Close()
		defer s.Close()
		s.mu.Lock()
		s.play = &playback{frames: speechLike(time.Hour), done: make(chan struct{})}
		s.mu.Unlock()
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			s.sendTick(now)
		}
	}
	b.Run("memnet", func(b *testing.B) {
		c, _ := mediatest.NewMemNet().Listen(netip.MustParseAddrPort("127.0.0.1:30000"))
		run(b, c, netip.MustParseAddrPort("127.0.0.1:9"))
	})
	b.Run("udp", func(b *testing.B) {
		needSockets(b)
		c, err := ListenUDP(netip.AddrPortFrom(loopback4, 0))
		if err != nil {
			b.Fatal(err)
		}
		// To a socket that nobody reads: the kernel drops what overflows
		// its buffer, as cheaply as a real peer's receive path costs us.
		sink, err := ListenUDP(netip.AddrPortFrom(loopback4, 0))
		if err != nil {
			b.Fatal(err)
		}
		defer sink.Close()
		run(b, c, sink.LocalAddrPort())
	})
}

// BenchmarkPacerWalk1000 is one tick of a pacer carrying 1,000 sessions
// over the in-memory network (no syscalls): the pacer's own cost.
func BenchmarkPacerWalk1000(b *testing.B) {
	const n = 1000
	p := newPacer(PacerConfig{}, false)
	defer p.Close()
	net := mediatest.NewMemNet()
	frames := speechLike(time.Hour)
	var ss []*Session
	for i := range n {
		c, _ := net.Listen(netip.AddrPortFrom(loopback4, uint16(20000+2*i)))
		s, err := NewSession(SessionConfig{Conn: c, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: KindPCMU, Pacer: p, MediaTimeout: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		s.play = &playback{frames: frames, done: make(chan struct{})}
		ss = append(ss, s)
	}
	b.ReportAllocs()
	for b.Loop() {
		now := time.Now()
		for k := range p.slots {
			p.walk(p.shards[k%len(p.shards)], *p.slots[k].Load(), now, now)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/frame")
	for _, s := range ss {
		s.Close()
	}
}

// A sharded pacer deals the slots out among its goroutines: every
// session of every slot sends, whichever shard walks it.
func TestPacerShards(t *testing.T) {
	for _, c := range []struct{ ask, want int }{{1, 1}, {2, 2}, {3, 2}, {4, 4}, {7, 5}, {10, 10}, {19, 10}, {64, 20}} {
		p := newPacer(PacerConfig{Shards: c.ask}, false)
		if p.Shards() != c.want {
			t.Errorf("Shards %d gave %d shards, want %d", c.ask, p.Shards(), c.want)
		}
	}
	before := runtime.NumGoroutine()
	p := NewPacer(PacerConfig{Shards: 2})
	net := mediatest.NewMemNet()
	var ss []*Session
	for i := range 2 * PacerSlots {
		c, _ := net.Listen(netip.AddrPortFrom(loopback4, uint16(20000+2*i)))
		s, err := NewSession(SessionConfig{Conn: c, Remote: netip.MustParseAddrPort("127.0.0.1:9"), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		ss = append(ss, s)
	}
	for k := range p.slots {
		if n := len(*p.slots[k].Load()); n != 2 {
			t.Errorf("slot %d holds %d sessions, want 2", k, n)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, s := range ss {
		for s.Stats().PacketsSent < 3 {
			if time.Now().After(deadline) {
				t.Fatalf("%v sent %d packets in 5 s", s, s.Stats().PacketsSent)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if st := p.Stats(); st.Frames < int64(3*len(ss)) || st.Ticks < 3 {
		t.Errorf("stats %d frames, %d ticks", st.Frames, st.Ticks)
	}
	for _, s := range ss {
		s.Close()
	}
	p.Close()
	waitGoroutines(t, before)
}

func TestPacerStatsAdd(t *testing.T) {
	a := PacerStats{Streams: 2, Ticks: 10, Skipped: 1, Late: 2, Frames: 20, MaxWalk: time.Millisecond, MaxLag: 3 * time.Millisecond}
	a.Lag[1], a.Lag[5] = 15, 5
	b := PacerStats{Streams: 1, Ticks: 12, Late: 1, Frames: 12, MaxWalk: 2 * time.Millisecond, MaxLag: time.Millisecond}
	b.Lag[1] = 12
	a.Add(&b)
	want := PacerStats{Streams: 3, Ticks: 12, Skipped: 1, Late: 3, Frames: 32, MaxWalk: 2 * time.Millisecond, MaxLag: 3 * time.Millisecond}
	want.Lag[1], want.Lag[5] = 27, 5
	if a != want {
		t.Errorf("Add: %+v, want %+v", a, want)
	}
	if q := a.LagQuantile(0.5); q != 2*LagBucket {
		t.Errorf("median %v, want %v", q, 2*LagBucket)
	}
}
