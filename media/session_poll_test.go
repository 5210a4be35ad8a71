package media

import (
	"net"
	"runtime"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// pollFixture is sessions on real UDP sockets (read by their pacer's walk)
// and one plain socket playing the far end.
type pollFixture struct {
	pool  *PortPool
	pacer *Pacer
	far   *net.UDPConn
}

func newPollFixture(t *testing.T) *pollFixture {
	t.Helper()
	needSockets(t)
	pool, err := NewPortPool(loopback4, testPortBase(), 29998)
	if err != nil {
		t.Fatal(err)
	}
	far, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	f := &pollFixture{pool: pool, pacer: NewPacer(PacerConfig{}), far: far}
	t.Cleanup(func() { f.pacer.Close(); far.Close() })
	return f
}

func (f *pollFixture) session(t *testing.T) *Session {
	t.Helper()
	c, err := f.pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(SessionConfig{Conn: c, Remote: f.far.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: KindPCMU,
		EventPT: 101, Pacer: f.pacer, MediaTimeout: -1, KeySink: newKeyChan()})
	if err != nil {
		t.Fatal(err)
	}
	if runtime.GOOS == "linux" && s.pr == nil {
		t.Fatal("a UDP session on Linux is not read by its pacer")
	}
	return s
}

// send writes the packets of stream (its RTP, not paced) to s.
func (f *pollFixture) send(t *testing.T, s *Session, st mediatest.Stream, upTo time.Duration) int {
	t.Helper()
	st.Src, st.Dst = f.far.LocalAddr().(*net.UDPAddr).AddrPort(), s.LocalAddr()
	pkts, err := mediatest.Capture{Streams: []mediatest.Stream{st}}.Packets()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range pkts {
		if p.At > upTo {
			break
		}
		if _, err := f.far.WriteToUDPAddrPort(p.Payload, s.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

// waitReceived waits (at most 5 s) until s has taken n RTP packets.
func waitReceived(t *testing.T, s *Session, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats().PacketsReceived < n {
		if time.Now().After(deadline) {
			t.Fatalf("session received %d packets of %d", s.Stats().PacketsReceived, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Sessions read by the pacer start no goroutine of their own, take a
// burst of datagrams larger than one tick's share without losing any,
// count garbage, and hand over a key still sounding when they are closed.
func TestSessionPolled(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sockets are polled on Linux only")
	}
	f := newPollFixture(t)
	before := runtime.NumGoroutine()
	var ss []*Session
	for range 20 {
		ss = append(ss, f.session(t))
	}
	// The pacer's goroutine, and none per session.
	if n := runtime.NumGoroutine(); n > before+1 {
		t.Errorf("20 polled sessions run %d goroutines more than before, want at most 1 (the pacer's)", n-before)
	}
	a := ss[0]

	// 2 s of audio sent at once: 100 datagrams, 12 ticks' share or more.
	burst := mediatest.Stream{SSRC: 1, AudioPT: mediatest.PCMU, Seq: 10, Timestamp: 1000, Duration: 2 * time.Second}
	n := f.send(t, a, burst, time.Hour)
	if n < 100 {
		t.Fatalf("stream has %d packets", n)
	}
	waitReceived(t, a, int64(n))

	// Garbage is counted and dropped; the session goes on.
	for range 3 {
		f.far.WriteToUDPAddrPort([]byte("not rtp"), a.LocalAddr())
	}
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().Garbage < 3 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if st := a.Stats(); st.Garbage != 3 || st.ReadErrors != 0 || st.Foreign != 0 || st.Learned {
		t.Errorf("after garbage: %+v", st)
	}

	// A second session: # in-band, cut off while it still sounds; Close
	// hands it over.
	b := ss[1]
	press := mediatest.Stream{SSRC: 2, AudioPT: mediatest.PCMU, Seq: 500, Timestamp: 9000, Duration: time.Second,
		Presses: []mediatest.Press{{Key: '#', At: 200 * time.Millisecond, Dur: 400 * time.Millisecond, Mode: mediatest.Inband}}}
	n = f.send(t, b, press, 400*time.Millisecond)
	waitReceived(t, b, int64(n))
	b.Close()
	if got := keyString(collectKeys(b)); got != "#(tone)" {
		t.Errorf("keys of a session closed mid-press: %q, want #(tone)", got)
	}
	for _, s := range ss {
		s.Close()
	}
	if got := keyString(collectKeys(a)); got != "" {
		t.Errorf("keys in plain audio: %q", got)
	}
	if f.pool.InUse() != 0 {
		t.Errorf("%d ports in use after Close", f.pool.InUse())
	}
}

// A far end that stops sending in the middle of a tone (silence
// suppression) still has its key delivered, by the walk's idle check.
func TestSessionPolledIdle(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sockets are polled on Linux only")
	}
	f := newPollFixture(t)
	s := f.session(t)
	defer s.Close()
	// The stream is sent at once, not paced: the key in it must still
	// begin after the answer on the session's clock (see Session).
	time.Sleep(200 * time.Millisecond)
	press := mediatest.Stream{SSRC: 3, AudioPT: mediatest.PCMU, Seq: 1, Timestamp: 1, Duration: time.Second,
		Presses: []mediatest.Press{{Key: '5', At: 100 * time.Millisecond, Dur: 300 * time.Millisecond, Mode: mediatest.Inband}}}
	f.send(t, s, press, 300*time.Millisecond)
	select {
	case k := <-keysOf(s):
		if k.Key != '5' {
			t.Errorf("key %v, want 5", k)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no key 5 s after the far end went quiet mid-tone")
	}
}

// Reading a datagram in the walk allocates nothing.
func TestReceiveTickAllocs(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sockets are polled on Linux only")
	}
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	f := newPollFixture(t)
	f.pacer.Close()
	f.pacer = newPacer(PacerConfig{}, false) // the test walks
	s := f.session(t)
	defer s.Close()
	st := mediatest.Stream{SSRC: 4, AudioPT: mediatest.PCMU, Seq: 1, Timestamp: 1, Duration: 3 * time.Second,
		Src: f.far.LocalAddr().(*net.UDPAddr).AddrPort(), Dst: s.LocalAddr()}
	pkts, err := mediatest.Capture{Streams: []mediatest.Stream{st}}.Packets()
	if err != nil {
		t.Fatal(err)
	}
	var buf [maxDatagram]byte
	i := 0
	one := func() {
		f.far.WriteToUDPAddrPort(pkts[i%len(pkts)].Payload, s.LocalAddr())
		i++
		for range 1000 { // loopback delivers at once; bounded anyway
			if s.Stats().PacketsReceived == int64(i) {
				return
			}
			s.receiveTick(time.Now(), buf[:])
		}
		t.Fatalf("packet %d not received", i)
	}
	for range 10 { // the stream's first packets
		one()
	}
	if n := testing.AllocsPerRun(100, one); n != 0 {
		t.Errorf("%v allocations per datagram read in the walk", n)
	}
}

// A walk that visits a session while it is ending (its socket already
// closed, its keys not yet flushed) counts no read error and does not end
// it a second time.
func TestReceiveTickWhileEnding(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("sockets are polled on Linux only")
	}
	f := newPollFixture(t)
	f.pacer.Close()
	f.pacer = newPacer(PacerConfig{}, false) // the test walks
	s := f.session(t)
	s.mu.Lock()
	s.ended = true // what end does first, before closing the socket
	s.mu.Unlock()
	s.conn.Close()
	var buf [maxDatagram]byte
	s.receiveTick(time.Now(), buf[:])
	if st := s.Stats(); st.ReadErrors != 0 {
		t.Errorf("%d read errors from a walk over an ending session", st.ReadErrors)
	}
	s.Close()
	if err := s.Err(); err != ErrSessionClosed {
		t.Errorf("Err after the walk and Close: %v, want %v", err, ErrSessionClosed)
	}
}
