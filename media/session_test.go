package media

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/media/mediatest"

	"github.com/pion/rtp"
)

// rxPacket is one packet as the far end saw it.
type rxPacket struct {
	rtp.Packet
	from netip.AddrPort
}

// drain reads every datagram queued on c (a MemConn) without waiting.
func drain(t testing.TB, c *mediatest.MemConn) []rxPacket {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(-time.Second))
	defer c.SetReadDeadline(time.Time{})
	var out []rxPacket
	buf := make([]byte, 2048)
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return out
		}
		var p rtp.Packet
		if err := p.Unmarshal(append([]byte(nil), buf[:n]...)); err != nil {
			t.Fatalf("far end got a packet that is not RTP: %v", err)
		}
		out = append(out, rxPacket{p, from})
	}
}

// testFrames returns n 160-byte frames, frame i filled with byte 0x10+i
// (never the PCMU silence byte 0xFF).
func testFrames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = []byte(strings.Repeat(string(rune(0x10+i%100)), FrameSamples))
	}
	return out
}

func isFrame(p []byte, i int) bool {
	return len(p) == FrameSamples && p[0] == byte(0x10+i%100) && p[FrameSamples-1] == byte(0x10+i%100)
}

// checkStream asserts one SSRC, consecutive sequence numbers and
// timestamps advancing by 160 per audio packet.
func checkStream(t testing.TB, pkts []rxPacket, pt uint8) {
	t.Helper()
	if len(pkts) == 0 {
		t.Fatal("no packets")
	}
	first := pkts[0]
	if !first.Marker {
		t.Errorf("first packet has no marker")
	}
	for i := 1; i < len(pkts); i++ {
		p, q := pkts[i-1], pkts[i]
		if q.SSRC != first.SSRC || q.PayloadType != pt {
			t.Fatalf("packet %d: ssrc %#x pt %d, want %#x pt %d", i, q.SSRC, q.PayloadType, first.SSRC, pt)
		}
		if q.SequenceNumber != p.SequenceNumber+1 {
			t.Fatalf("packet %d: seq %d after %d", i, q.SequenceNumber, p.SequenceNumber)
		}
		if q.Timestamp != p.Timestamp+FrameSamples {
			t.Fatalf("packet %d: ts %d after %d", i, q.Timestamp, p.Timestamp)
		}
		if q.Marker {
			t.Errorf("packet %d: marker set within continuous audio", i)
		}
	}
}

func TestSessionPlay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond) // some silence first
		frames := testFrames(10)
		start := time.Now()
		if err := s.Play(t.Context(), frames); err != nil {
			t.Fatal(err)
		}
		// Frame 0 goes out at the first tick after Play (up to 20 ms
		// later), frame 9 nine ticks after that.
		if took := time.Since(start); took < 9*FrameInterval || took > 10*FrameInterval {
			t.Errorf("Play took %v (synthetic time), want 180–200 ms", took)
		}
		time.Sleep(60 * time.Millisecond)
		s.Close()
		if !errors.Is(s.Err(), ErrSessionClosed) {
			t.Errorf("Err = %v", s.Err())
		}
		pkts := drain(t, b)
		checkStream(t, pkts, 0)
		// silence…, frames 0–9, silence…
		i := 0
		for ; i < len(pkts) && !isFrame(pkts[i].Payload, 0); i++ {
			if pkts[i].Payload[0] != 0xFF {
				t.Fatalf("packet %d before the prompt is not silence: % x", i, pkts[i].Payload[:4])
			}
		}
		if i < 2 {
			t.Errorf("%d silence packets before the prompt, want ≥ 2", i)
		}
		for k := range frames {
			if i+k >= len(pkts) || !isFrame(pkts[i+k].Payload, k) {
				t.Fatalf("packet %d is not frame %d", i+k, k)
			}
		}
		rest := pkts[i+len(frames):]
		if len(rest) < 2 {
			t.Errorf("%d packets after the prompt, want ≥ 2", len(rest))
		}
		for _, p := range rest {
			if p.Payload[0] != 0xFF {
				t.Fatalf("packet after the prompt is not silence")
			}
		}
		st := s.Stats()
		if st.PacketsSent != int64(len(pkts)) || st.BytesSent != int64(len(pkts))*(12+160) {
			t.Errorf("stats %+v, far end got %d packets", st, len(pkts))
		}
		t.Logf("%d packets: %d silence, %d prompt, %d silence", len(pkts), i, len(frames), len(rest))
	})
}

func TestSessionPCMASilenceAndPT(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMA, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		s.Close()
		pkts := drain(t, b)
		checkStream(t, pkts, 8)
		for _, p := range pkts {
			if p.Payload[0] != 0xD5 {
				t.Fatalf("A-law silence byte % x", p.Payload[0])
			}
		}
	})
}

func TestSessionPlayCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		frames := testFrames(50)
		ctx, cancel := context.WithTimeout(t.Context(), 105*time.Millisecond)
		defer cancel()
		if err := s.Play(ctx, frames); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Play = %v, want the context's error", err)
		}
		time.Sleep(100 * time.Millisecond)
		pkts := drain(t, b)
		checkStream(t, pkts, 0)
		played := 0
		for _, p := range pkts {
			if isFrame(p.Payload, played) {
				played++
			} else if p.Payload[0] != 0xFF {
				t.Fatalf("unexpected payload % x", p.Payload[:4])
			}
		}
		if played < 5 || played > 7 {
			t.Errorf("%d frames played before the 105 ms cancel, want 5–7", played)
		}
		// A second Play after a barge-in starts from its own first frame.
		if err := s.Play(t.Context(), frames[:2]); err != nil {
			t.Fatal(err)
		}
		pkts = drain(t, b)
		n := 0
		for _, p := range pkts {
			if isFrame(p.Payload, n) {
				n++
			}
		}
		if n != 2 {
			t.Errorf("second Play sent %d frames, want 2", n)
		}
	})
}

func TestSessionPlayInvalid(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Play(t.Context(), [][]byte{make([]byte, 80)}); !errors.Is(err, ErrBadFrame) {
			t.Errorf("short frame: %v", err)
		}
		if err := s.Play(t.Context(), nil); err != nil {
			t.Errorf("no frames: %v", err)
		}
		if err := s.SendKey(t.Context(), '#', RFC4733, 100*time.Millisecond); !errors.Is(err, ErrNoTelephoneEvent) {
			t.Errorf("RFC 4733 without EventPT: %v", err)
		}
		if err := s.SendKey(t.Context(), 'x', Inband, 100*time.Millisecond); !errors.Is(err, dtmf.ErrInvalidKey) {
			t.Errorf("bad key: %v", err)
		}
		s.Close()
		s.Close()
		if err := s.Play(t.Context(), testFrames(1)); !errors.Is(err, ErrSessionClosed) {
			t.Errorf("Play after Close: %v", err)
		}
		if err := s.SendKey(t.Context(), '#', Inband, 100*time.Millisecond); !errors.Is(err, ErrSessionClosed) {
			t.Errorf("SendKey after Close: %v", err)
		}
	})
	for name, cfg := range map[string]SessionConfig{
		"no conn":     {Remote: netip.MustParseAddrPort("127.0.0.1:4000"), Codec: KindPCMU},
		"no remote":   {Codec: KindPCMU},
		"codec":       {Remote: netip.MustParseAddrPort("127.0.0.1:4000"), Codec: KindTelephoneEvent},
		"PT conflict": {Remote: netip.MustParseAddrPort("127.0.0.1:4000"), Codec: KindPCMU, PayloadType: 101, EventPT: 101},
	} {
		if name != "no conn" {
			a, _ := mediatest.Pipe()
			cfg.Conn = a
		}
		if _, err := NewSession(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: %v, want ErrConfig", name, err)
		}
	}
}

// sessionPair returns two sessions over a pipe, each sending to the other,
// each with a KeyChan (keysOf).
func sessionPair(t testing.TB, codec PayloadKind, eventPT uint8) (a, b *Session) {
	ca, cb := mediatest.Pipe()
	a, err := NewSession(SessionConfig{Conn: ca, Remote: cb.LocalAddrPort(), Codec: codec, EventPT: eventPT, MediaTimeout: -1, KeySink: newKeyChan()})
	if err != nil {
		t.Fatal(err)
	}
	b, err = NewSession(SessionConfig{Conn: cb, Remote: ca.LocalAddrPort(), Codec: codec, EventPT: eventPT, MediaTimeout: -1, KeySink: newKeyChan()})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// newKeyChan is a session's KeySink in tests: read it with keysOf.
func newKeyChan() mediatest.KeyChan[Key] { return make(mediatest.KeyChan[Key], 64) }

// keysOf returns the KeyChan a test session was given.
func keysOf(s *Session) mediatest.KeyChan[Key] { return s.cfg.KeySink.(mediatest.KeyChan[Key]) }

// collectKeys returns the keys s has delivered and the test not yet read.
func collectKeys(s *Session) []Key {
	var out []Key
	for {
		select {
		case k := <-keysOf(s):
			out = append(out, k)
		default:
			return out
		}
	}
}

func keyString(keys []Key) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k.Key.String())
		if k.Source == dtmf.SourceRFC4733 {
			b.WriteString("(4733)")
		} else {
			b.WriteString("(tone)")
		}
	}
	return b.String()
}

func TestSessionKeys(t *testing.T) {
	for _, codec := range []PayloadKind{KindPCMU, KindPCMA} {
		for _, ev := range []uint8{101, 96} {
			t.Run(codec.String()+"/"+string(rune('0'+ev%10)), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					a, b := sessionPair(t, codec, ev)
					ctx := t.Context()
					time.Sleep(100 * time.Millisecond)
					if err := b.SendKey(ctx, '#', RFC4733, 100*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					time.Sleep(200 * time.Millisecond)
					for _, k := range []dtmf.Key{'*', '#'} {
						if err := b.SendKey(ctx, k, Inband, 100*time.Millisecond); err != nil {
							t.Fatal(err)
						}
					}
					time.Sleep(300 * time.Millisecond)
					b.Close()
					a.Close()
					got := collectKeys(a)
					if s := keyString(got); s != "#(4733)*(tone)#(tone)" {
						t.Errorf("keys %s, want #(4733)*(tone)#(tone): %v", s, got)
					}
					if n := len(collectKeys(b)); n != 0 {
						t.Errorf("b got %d keys from a's silence", n)
					}
					if st := a.Stats(); st.Garbage != 0 || st.Foreign != 0 || st.Learned || st.KeysRefused != 0 {
						t.Errorf("a: %+v", st)
					}
				})
			})
		}
	}
}

// A key pressed in-band while a prompt plays is mixed into the prompt and
// still detected (barge-in as the far end would send it).
func TestSessionInbandOverPrompt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessionPair(t, KindPCMU, 101)
		prompt := speechLike(2 * time.Second)
		done := make(chan error, 1)
		go func() { done <- b.Play(t.Context(), prompt) }()
		time.Sleep(500 * time.Millisecond)
		if err := b.SendKey(t.Context(), '5', Inband, 120*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
		b.Close()
		a.Close()
		if s := keyString(collectKeys(a)); s != "5(tone)" {
			t.Errorf("keys %s, want 5(tone)", s)
		}
	})
}

// speechLike returns μ-law frames of a quiet vowel-like signal (harmonics
// of 140 Hz, amplitude-modulated at 4 Hz), nothing like a DTMF pair.
func speechLike(d time.Duration) [][]byte {
	n := int(d / FrameInterval)
	frames := make([][]byte, n)
	pcm := make([]int16, FrameSamples)
	for f := range frames {
		for i := range pcm {
			t := float64(f*FrameSamples+i) / 8000
			env := 0.5 + 0.5*math.Sin(2*math.Pi*4*t)
			v := 0.0
			for h := 1; h <= 6; h++ {
				v += math.Sin(2*math.Pi*140*float64(h)*t) / float64(h)
			}
			pcm[i] = int16(1500 * env * v)
		}
		frames[f] = make([]byte, FrameSamples)
		audio.EncodeULawTo(frames[f], pcm)
	}
	return frames
}

func TestSessionRFC4733Packets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, EventPT: 100, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
		if err := s.SendKey(t.Context(), '#', RFC4733, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
		s.Close()
		pkts := drain(t, b)
		// audio…, events (4 updates + 3 END), audio…
		var ev []rxPacket
		firstEv, lastEv := -1, -1
		for i, p := range pkts {
			if i > 0 && p.SequenceNumber != pkts[i-1].SequenceNumber+1 {
				t.Fatalf("seq gap at %d", i)
			}
			if p.PayloadType == 100 {
				if firstEv < 0 {
					firstEv = i
				}
				lastEv = i
				ev = append(ev, p)
			} else if p.PayloadType != 0 {
				t.Fatalf("pt %d", p.PayloadType)
			}
		}
		if len(ev) != 7 || lastEv-firstEv != 6 {
			t.Fatalf("%d event packets at %d–%d, want 7 in a row", len(ev), firstEv, lastEv)
		}
		before, after := pkts[firstEv-1], pkts[lastEv+1]
		start := before.Timestamp + FrameSamples
		wantDur := []uint16{160, 320, 480, 640, 800, 800, 800}
		for i, p := range ev {
			var pl dtmf.EventPayload
			if err := pl.Unmarshal(p.Payload); err != nil {
				t.Fatal(err)
			}
			if p.Timestamp != start || p.Marker != (i == 0) || pl.Code != 11 || pl.Duration != wantDur[i] || pl.End != (i >= 4) {
				t.Errorf("event %d: ts %d (want %d) marker %v payload %+v", i, p.Timestamp, start, p.Marker, pl)
			}
		}
		// Audio resumes on the timeline as if it had never stopped, with
		// the marker (a new talkspurt after a hole in the audio).
		if after.Timestamp != start+7*FrameSamples || !after.Marker {
			t.Errorf("audio after the event: ts %d marker %v, want ts %d and the marker", after.Timestamp, after.Marker, start+7*FrameSamples)
		}
		if before.Marker && firstEv != 1 {
			t.Errorf("marker on audio before the event")
		}
	})
}

// far is a hand-driven far end on a MemNet: it sends RTP to the session.
type far struct {
	t    testing.TB
	c    *mediatest.MemConn
	to   netip.AddrPort
	seq  uint16
	ts   uint32
	ssrc uint32
}

func (f *far) send(pt uint8, payload []byte) {
	f.t.Helper()
	p := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: pt, SequenceNumber: f.seq, Timestamp: f.ts, SSRC: f.ssrc}, Payload: payload}
	b, err := p.Marshal()
	if err != nil {
		f.t.Fatal(err)
	}
	f.seq++
	f.ts += FrameSamples
	if _, err := f.c.WriteToUDPAddrPort(b, f.to); err != nil {
		f.t.Fatal(err)
	}
}

func TestSessionMediaTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := mediatest.NewMemNet()
		local := netip.MustParseAddrPort("127.0.0.1:30000")
		remote := netip.MustParseAddrPort("127.0.0.1:30002")
		conn, _ := n.Listen(local)
		fc, _ := n.Listen(remote)
		start := time.Now()
		s, err := NewSession(SessionConfig{Conn: conn, Remote: remote, Codec: KindPCMU, MediaTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		playErr := make(chan error, 1)
		go func() { playErr <- s.Play(context.Background(), testFrames(100)) }() // 2 s prompt
		f := &far{t: t, c: fc, to: local}
		for i := range 25 { // 500 ms of RTP, then the far end goes silent
			if i > 0 {
				time.Sleep(FrameInterval)
			}
			f.send(0, make([]byte, 160))
		}
		last := time.Since(start)
		<-s.Done()
		took := time.Since(start)
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Errorf("Err = %v", s.Err())
		}
		if err := <-playErr; !errors.Is(err, ErrMediaTimeout) {
			t.Errorf("Play = %v", err)
		}
		// The last packet is seen at the next tick; the timeout fires at
		// the first tick a second after that.
		if want := last + time.Second; took < want || took > want+2*FrameInterval {
			t.Errorf("ended after %v (synthetic), want %v (last packet at %v + 1 s timeout)", took, want, last)
		}
		// The socket is closed: the port is free again.
		if _, err := n.Listen(local); err != nil {
			t.Errorf("port still in use after the timeout: %v", err)
		}
	})
}

// The media timeout with an injected clock and no RTP at all.
func TestSessionMediaTimeoutInjectedClock(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		var now time.Time = time.Date(2026, 4, 1, 9, 0, 0, 0, time.UTC)
		clock := make(chan time.Time, 1)
		clock <- now
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: 5 * time.Second,
			Now: func() time.Time { t := <-clock; clock <- t; return t }})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		time.Sleep(time.Second)
		select {
		case <-s.Done():
			t.Fatal("ended before the injected clock moved")
		default:
		}
		<-clock
		clock <- now.Add(5 * time.Second)
		time.Sleep(2 * FrameInterval)
		select {
		case <-s.Done():
		default:
			t.Fatal("did not end when the injected clock passed the timeout")
		}
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Errorf("Err = %v", s.Err())
		}
	})
}

func TestSessionSharedPacer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := NewPacer(PacerConfig{NormalPriority: true}) // synctest: runtime timers
		n := mediatest.NewMemNet()
		sink, _ := n.Listen(netip.MustParseAddrPort("127.0.0.1:50000"))
		var ss []*Session
		for i := range 20 {
			c, _ := n.Listen(netip.AddrPortFrom(loopback4, uint16(30000+2*i)))
			s, err := NewSession(SessionConfig{Conn: c, Remote: sink.LocalAddrPort(), Codec: KindPCMU, Pacer: p, MediaTimeout: -1})
			if err != nil {
				t.Fatal(err)
			}
			ss = append(ss, s)
		}
		if p.Len() != 20 {
			t.Fatalf("Len = %d", p.Len())
		}
		time.Sleep(time.Second)
		for _, s := range ss[:10] {
			s.Close()
		}
		if p.Len() != 10 {
			t.Fatalf("Len = %d after 10 closed", p.Len())
		}
		st := p.Stats()
		t.Logf("%+v", struct{ Ticks, Frames, Skipped, Late int64 }{st.Ticks, st.Frames, st.Skipped, st.Late})
		if st.Ticks < 50 || st.Ticks > 51 || st.Skipped != 0 || st.Late != 0 {
			t.Errorf("ticks %d skipped %d late %d in 1 s", st.Ticks, st.Skipped, st.Late)
		}
		p.Close()
		for _, s := range ss[10:] {
			<-s.Done()
			if !errors.Is(s.Err(), ErrPacerClosed) {
				t.Errorf("Err = %v", s.Err())
			}
			s.Close()
		}
		if _, err := NewSession(SessionConfig{Conn: sink, Remote: sink.LocalAddrPort(), Codec: KindPCMU, Pacer: p}); !errors.Is(err, ErrPacerClosed) {
			t.Errorf("NewSession on a closed pacer: %v", err)
		}
	})
}

// lockedWriter makes a strings.Builder safe for the session's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func testLogger(b *strings.Builder) *slog.Logger {
	return slog.New(slog.NewTextHandler(&lockedWriter{b: b}, nil))
}

// Close races with Play, SendKey, Stats and another Close; everything
// returns and no goroutine is left (synctest fails the test otherwise).
func TestSessionCloseConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessionPair(t, KindPCMU, 101)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		wg.Go(func() { errs <- a.Play(t.Context(), testFrames(500)) })
		wg.Go(func() { errs <- a.SendKey(t.Context(), '1', RFC4733, time.Second) })
		wg.Go(func() { errs <- b.SendKey(t.Context(), '2', Inband, time.Second) })
		wg.Go(func() { errs <- b.Play(t.Context(), testFrames(500)) })
		time.Sleep(100 * time.Millisecond)
		for range 3 {
			wg.Go(func() { a.Stats(); a.Close(); b.Close() })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if !errors.Is(err, ErrSessionClosed) {
				t.Errorf("after Close: %v", err)
			}
		}
	})
}

// Keys reach the KeySink with Began on the session's clock: an RFC 4733
// key about when its press started, and a key still held when the session
// ends (an in-band key waiting for an RFC 4733 twin that never comes) is
// handed over before Close returns. This is the read goroutine's path;
// TestSessionPolled covers the pacer's.
func TestSessionKeySink(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := sessionPair(t, KindPCMU, 101)
		defer b.Close()
		time.Sleep(100 * time.Millisecond)
		pressed := time.Now()
		if err := b.SendKey(t.Context(), '1', RFC4733, 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		select {
		case k := <-keysOf(a):
			// The first event packet leaves at b's next tick and says 20 ms
			// of the press have passed.
			if k.Key != '1' || k.Began.Before(pressed.Add(-FrameInterval)) || k.Began.After(pressed.Add(FrameInterval)) {
				t.Errorf("key %v began at %v, want within a frame of %v", k, k.Began, pressed)
			}
		default:
			t.Fatal("no key after the press")
		}
		a.Close()

		n := mediatest.NewMemNet()
		local, remote := netip.MustParseAddrPort("127.0.0.1:30000"), netip.MustParseAddrPort("127.0.0.1:30002")
		conn, _ := n.Listen(local)
		fc, _ := n.Listen(remote)
		s, err := NewSession(SessionConfig{Conn: conn, Remote: remote, Codec: KindPCMU, EventPT: 101, MediaTimeout: -1, KeySink: newKeyChan()})
		if err != nil {
			t.Fatal(err)
		}
		f := &far{t: t, c: fc, to: local, ssrc: 5}
		pcm := make([]int16, FrameSamples)
		frame := make([]byte, FrameSamples)
		tone := dtmf.Tone{Key: '#', Level: -10, Duration: 8000}
		// A key counts only if it began after the answer, in a stream
		// already heard (see Session): silence first.
		time.Sleep(100 * time.Millisecond)
		audio.EncodeULawTo(frame, pcm)
		f.send(0, frame)
		time.Sleep(FrameInterval)
		for i := range 2 { // 40 ms of tone: the detector accepts it, the merger holds it
			clear(pcm)
			tone.AddTo(pcm, i*FrameSamples)
			audio.EncodeULawTo(frame, pcm)
			f.send(0, frame)
			time.Sleep(FrameInterval)
		}
		synctest.Wait()
		if ks := collectKeys(s); len(ks) != 0 {
			t.Fatalf("keys before Close: %v (the in-band key should wait for a twin)", ks)
		}
		closed := time.Now()
		s.Close()
		ks := collectKeys(s)
		if len(ks) != 1 || ks[0].Key != '#' || ks[0].Source != dtmf.SourceInband {
			t.Fatalf("keys handed over at Close: %v, want the in-band #", ks)
		}
		// Heard: from the key's Start to the end of the audio received
		// (the jitter buffer held it), the tone's two packets.
		heard := ks[0].Stream.SSRC
		reached, _ := s.recv.reached(heard)
		if want := closed.Add(-samplesToDuration(reached - ks[0].Start)); !ks[0].Began.Equal(want) {
			t.Errorf("Began %v, want %v: the hand-over less the %d samples heard", ks[0].Began, want, reached-ks[0].Start)
		}
		if d := closed.Sub(ks[0].Began); d < 35*time.Millisecond || d > 45*time.Millisecond {
			t.Errorf("Began %v before the hand-over, want about the 40 ms of tone sent", d)
		}
	})
}
