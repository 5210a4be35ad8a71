package media

import (
	"errors"
	"math/rand/v2"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"
)

func TestJitterConfig(t *testing.T) {
	ms := time.Millisecond
	for _, c := range []struct {
		cfg    JitterConfig
		lo, hi int64
		str    string
	}{
		{JitterConfig{}, 320, 480, "40ms–60ms"},
		{JitterConfig{Min: 60 * ms}, 480, 480, "60ms"},
		{JitterConfig{Min: 60 * ms, Max: 60 * ms}, 480, 480, "60ms"},
		{JitterConfig{Max: 20 * ms}, 160, 160, "20ms"},
		{JitterConfig{Min: 20 * ms, Max: 100 * ms}, 160, 800, "20ms–100ms"},
		{JitterConfig{Off: true, Min: 40 * ms}, 0, 0, "off"},
	} {
		lo, hi, err := c.cfg.depths()
		if err != nil || lo != c.lo || hi != c.hi || c.cfg.String() != c.str {
			t.Errorf("%+v: %d–%d %q %v, want %d–%d %q", c.cfg, lo, hi, c.cfg.String(), err, c.lo, c.hi, c.str)
		}
	}
	for _, bad := range []JitterConfig{{Min: -ms}, {Max: -ms}, {Min: 80 * ms, Max: 40 * ms}, {Max: MaxJitterDepth + ms}} {
		if err := bad.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", bad, err)
		}
		if _, err := NewReceiver(ReceiverConfig{Jitter: bad}, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("NewReceiver with %+v: %v, want ErrConfig", bad, err)
		}
	}
}

// feedTS sends silent PCMU packets of n samples with the given timestamps
// (in packets of n) to r.
func feedTS(t *testing.T, r *Receiver, n int, idx ...int) {
	t.Helper()
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = 0xff
	}
	for _, i := range idx {
		if err := r.HandlePacket(mediatest.RTP(9, 0, uint16(i), uint32(i*n), false, payload)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestJitterDepthAdapts: the depth rises at once to a packet overtaken by
// two, no further than Max, and comes back down after 5 s in order, a
// packet's worth at a time.
func TestJitterDepthAdapts(t *testing.T) {
	r, _ := newTestReceiver(t, ReceiverConfig{Jitter: JitterConfig{Max: 100 * time.Millisecond}})
	depth := func() time.Duration { return r.Streams()[0].Stats.Depth }
	feedTS(t, r, 160, 0, 1, 2, 3)
	if d := depth(); d != 40*time.Millisecond {
		t.Fatalf("depth %v at start, want 40ms", d)
	}
	feedTS(t, r, 160, 5, 6, 4) // 4 overtaken by two
	if d := depth(); d != 60*time.Millisecond {
		t.Fatalf("depth %v after a packet overtaken by two, want 60ms", d)
	}
	feedTS(t, r, 160, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36)
	feedTS(t, r, 160, 30) // a duplicate: no lag
	if d := depth(); d != 60*time.Millisecond {
		t.Fatalf("depth %v, want 60ms still", d)
	}
	// 37–39 come behind 40–44: their place went to the detector (as
	// missing audio) when 43 came; late, and the depth goes to Max.
	feedTS(t, r, 160, 40, 41, 42, 43, 44, 37, 38, 39)
	st := r.Streams()[0].Stats
	if st.Depth != 100*time.Millisecond || st.Late != 3 || st.Concealed != 3 || st.Duplicates != 1 || st.Reordered != 1 {
		t.Fatalf("after packets overtaken by five: %+v, want depth 100ms, 3 late and concealed, 1 duplicate, 1 reordered", st)
	}
	// 5 s in order: one step down; 15 s: back to Min.
	next := 45
	for range 250 {
		feedTS(t, r, 160, next)
		next++
	}
	if d := depth(); d != 80*time.Millisecond {
		t.Errorf("depth %v after 5 s in order, want 80ms", d)
	}
	for range 1000 {
		feedTS(t, r, 160, next)
		next++
	}
	if d := depth(); d != 40*time.Millisecond {
		t.Errorf("depth %v after 25 s in order, want 40ms", d)
	}
}

// TestJitterIdleReleases: a far end that stops sending after a key leaves
// the key's last audio in the buffer; Idle hands it to the detector, and
// the key comes out.
func TestJitterIdleReleases(t *testing.T) {
	var keys []Key
	r, err := NewReceiver(liveKeys, KeySinkFunc(func(k Key) { keys = append(keys, k) }))
	if err != nil {
		t.Fatal(err)
	}
	// 40 ms of silence, then a 40 ms tone that goes down only once its
	// second packet reaches the detector, and nothing more.
	x := make([]int16, 640)
	tn := dtmf.Tone{Key: '7', Level: -10, Duration: 320}
	tn.AddTo(x[320:], 0)
	for _, p := range packetize(x) {
		if err := r.HandlePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	if len(keys) != 0 {
		t.Fatalf("keys before the buffer let the tone go: %v", keys)
	}
	r.Idle(100 * time.Millisecond)
	if len(keys) != 1 || keys[0].Key != '7' {
		t.Fatalf("after Idle: %v, want the 7", keys)
	}
}

// TestJitterSmallPackets: 5 ms packets fill the buffer's slots before the
// depth is reached; the oldest then go early, and the keys are the same.
func TestJitterSmallPackets(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	x, _ := callAudio(rng, 0, starHash)
	s := mediatest.Synth{SSRC: 3}
	var got string
	r, err := NewReceiver(ReceiverConfig{Jitter: JitterConfig{Min: 300 * time.Millisecond}},
		KeySinkFunc(func(k Key) { got += string(k.Key) }))
	if err != nil {
		t.Fatal(err)
	}
	for len(x) > 0 {
		n := min(40, len(x))
		b := make([]byte, n)
		if _, err := mediatest.EncodeTo(b, x[:n], mediatest.PCMU); err != nil {
			t.Fatal(err)
		}
		if err := r.HandlePacket(mediatest.RTP(s.SSRC, 0, s.Seq, s.TS, false, b)); err != nil {
			t.Fatal(err)
		}
		s.Seq++
		s.TS += uint32(n)
		x = x[n:]
	}
	r.Flush()
	if st := r.Streams()[0].Stats; got != "*#" || st.Gaps+st.Late+st.Concealed != 0 {
		t.Errorf("keys %q, stats %+v; want *# and no gap", got, st)
	}
}

// TestJitterTotals: the session-wide totals add the streams' counters.
func TestJitterTotals(t *testing.T) {
	r, _ := newTestReceiver(t, ReceiverConfig{})
	feedTS(t, r, 160, 0, 2, 1, 1, 3, 5, 6, 7, 8, 9)
	payload := make([]byte, 160)
	for i := range 3 {
		if err := r.HandlePacket(mediatest.RTP(10, 0, uint16(i), uint32(i*160), false, payload)); err != nil {
			t.Fatal(err)
		}
	}
	r.Flush()
	tot := r.Totals()
	if tot.Packets != 13 || tot.Audio != 12 || tot.Reordered != 1 || tot.Duplicates != 1 || tot.Concealed != 1 || tot.Gaps != 1 || tot.Depth != 40*time.Millisecond {
		t.Errorf("totals %+v", tot)
	}
}

// TestJitterAllocs: the receive path with the jitter buffer, through loss,
// reordering and duplicates, allocates nothing once a stream's buffers
// have grown.
func TestJitterAllocs(t *testing.T) {
	r, _ := newTestReceiver(t, ReceiverConfig{Early: true})
	frames := benchFrames(50)
	order := []int{0, 2, 1, 3, 3, 5, 6, 4, 7, 9, 10, 11, 12, 14, 13, 15}
	n := 0 // 8 is lost, 4 overtaken by two, 3 duplicated, 13 overtaken by one
	bufs := make([][]byte, len(order))
	round := func() {
		for k, i := range order {
			b := bufs[k]
			if b == nil {
				b = mediatest.RTP(0x1234, 0, 0, 0, false, frames[i])
				bufs[k] = b
			}
			setSeqTS(b, uint16(n+i), uint32((n+i)*160))
			if err := r.HandlePacket(b); err != nil {
				t.Fatal(err)
			}
		}
		n += 16
	}
	round()
	round()
	if a := testing.AllocsPerRun(100, round); a != 0 {
		t.Errorf("%v allocations per %d packets, want 0", a, len(order))
	}
	if st := r.Streams()[0].Stats; st.Reordered == 0 || st.Duplicates == 0 || st.Concealed == 0 {
		t.Errorf("stats %+v: want reordering, duplicates and concealment exercised", st)
	}
}

// TestSessionJitter: a live session puts a reordered packet of a key's
// tone back in place, conceals a lost one, delivers the key once, and
// reports it all in Stats().Receive.
func TestSessionJitter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		n := mediatest.NewMemNet()
		local, remote := netip.MustParseAddrPort("127.0.0.1:30000"), netip.MustParseAddrPort("127.0.0.1:30002")
		conn, _ := n.Listen(local)
		fc, _ := n.Listen(remote)
		s, err := NewSession(SessionConfig{Conn: conn, Remote: remote, Codec: KindPCMU, MediaTimeout: -1, KeySink: newKeyChan()})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		// 200 ms of silence, a 160 ms # whose packets 2 and 3 swap places
		// and whose packet 5 is lost, 200 ms of silence.
		x := make([]int16, 1600+1280+1600)
		tn := dtmf.Tone{Key: '#', Level: -10, Duration: 1280}
		tn.AddTo(x[1600:], 0)
		frames := make([][]byte, len(x)/FrameSamples)
		for i := range frames {
			frames[i] = make([]byte, FrameSamples)
			if _, err := mediatest.EncodeTo(frames[i], x[i*FrameSamples:(i+1)*FrameSamples], mediatest.PCMU); err != nil {
				t.Fatal(err)
			}
		}
		order := make([]int, 0, len(frames))
		for i := range frames {
			switch i {
			case 12:
				order = append(order, 13, 12)
			case 13:
			case 15:
			default:
				order = append(order, i)
			}
		}
		f := &far{t: t, c: fc, to: local, ssrc: 5}
		time.Sleep(100 * time.Millisecond)
		for _, i := range order {
			f.seq, f.ts = uint16(i), uint32(i*FrameSamples)
			f.send(0, frames[i])
			time.Sleep(FrameInterval)
		}
		time.Sleep(200 * time.Millisecond) // the media goes quiet: Idle
		synctest.Wait()
		if ks := collectKeys(s); len(ks) != 1 || ks[0].Key != '#' {
			t.Fatalf("keys %v, want one #", ks)
		}
		st := s.Stats().Receive
		if st.Reordered != 1 || st.Concealed != 1 || st.Late != 0 || st.Lost != 1 || st.Depth != 40*time.Millisecond {
			t.Errorf("receive stats %+v, want 1 reordered, 1 lost and concealed, depth 40ms", st)
		}
	})
}

// TestJitterRFC4733Immediate: RFC 4733 keys do not wait in the jitter
// buffer: with it on, a key still comes with the first packet of its
// event, as TestReceiverEarlyRFC4733 has it without.
func TestJitterRFC4733Immediate(t *testing.T) {
	var w wire
	w.silentAudio(0, 4800)
	w.press(t, '#', 1600, 800, 0)
	pkts, meta := w.packets(t)
	first := -1
	for i, p := range meta {
		if p.pt == 101 {
			first = i
			break
		}
	}
	cfg := earlyLive
	cfg.Jitter = JitterConfig{Min: 60 * time.Millisecond}
	got := feedOne(t, cfg, pkts)
	if len(got) != 1 || got[0].Key.Key != '#' || got[0].Source != dtmf.SourceRFC4733 || got[0].at != first {
		t.Fatalf("got %v, want one RFC 4733 # with packet %d", got, first)
	}
}

// TestJitterStall: a network that stalls for 200 ms in the middle of a
// press, then delivers what it held, makes the session report the line
// quiet (Idle) meanwhile; the press is still one key, live, since its
// timestamps go on without a hole.
func TestJitterStall(t *testing.T) {
	var got []Key
	r, err := NewReceiver(liveKeys, KeySinkFunc(func(k Key) { got = append(got, k) }))
	if err != nil {
		t.Fatal(err)
	}
	x := make([]int16, 1600+1600+1600)
	tn := dtmf.Tone{Key: '#', Level: -10, Duration: 1600}
	tn.AddTo(x[1600:], 0)
	for i, p := range packetize(x) {
		if i == 14 { // 80 ms into the tone
			r.Idle(200 * time.Millisecond)
		}
		if err := r.HandlePacket(p); err != nil {
			t.Fatal(err)
		}
	}
	r.Idle(200 * time.Millisecond)
	r.Flush()
	if len(got) != 1 || got[0].Key != '#' {
		t.Errorf("keys %v, want one #", got)
	}
}

// TestJitterSenderPause: a sender that sends nothing in the pause between
// two presses of one key (silence suppression: timestamps jump, sequence
// numbers do not) leaves a hole that is silence, not loss: two keys.
func TestJitterSenderPause(t *testing.T) {
	for _, pause := range []int{40, 50, 60} {
		var got string
		r, err := NewReceiver(liveKeys, KeySinkFunc(func(k Key) { got += string(k.Key) }))
		if err != nil {
			t.Fatal(err)
		}
		tn := dtmf.Tone{Key: '#', Level: -10, Duration: 800}
		x := make([]int16, 800)
		tn.AddTo(x, 0)
		s := mediatest.Synth{SSRC: 4}
		s.Silence(100)
		s.Audio(x)
		s.TS += uint32(8 * pause) // nothing sent in the pause
		s.Audio(x)
		s.Silence(100)
		for _, p := range s.Packets {
			if err := r.HandlePacket(p); err != nil {
				t.Fatal(err)
			}
		}
		r.Flush()
		if st := r.Streams()[0].Stats; got != "##" || st.Concealed != 0 || st.Gaps != 1 {
			t.Errorf("%d ms pause with nothing sent: keys %q, stats %+v; want ## and a gap of silence", pause, got, st)
		}
	}
}
