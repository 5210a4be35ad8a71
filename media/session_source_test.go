package media

import (
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"denwa/media/mediatest"
)

// The tests of where a session takes media from (see Session, "Trusting
// the source"): the SDP address only, nothing queued before the answer, no
// key that began before it, learning on purpose only.

// hashPresses returns packets of SSRC ssrc pressing # every way an
// attacker would: RFC 4733 on payload types 101, 96, 100 and 127, and an
// in-band tone as PCMU, each press with silence around it.
func hashPresses(ssrc uint32) [][]byte {
	s := &mediatest.Synth{SSRC: ssrc, Seq: 100, TS: 8000}
	s.Silence(40)
	for _, pt := range []uint8{101, 96, 100, 127} {
		s.Press(pt, '#', 120)
		s.Silence(60)
	}
	tone := make([]int16, 8*200)
	mediatest.ToneTo(tone, 0, '#', -8, -6)
	s.Audio(tone)
	s.Silence(100)
	return s.Packets
}

// sendEach writes every packet from c to to, one 20 ms apart when paced.
func sendEach(t *testing.T, c *mediatest.MemConn, to netip.AddrPort, pkts [][]byte, paced bool) {
	t.Helper()
	for _, p := range pkts {
		if _, err := c.WriteToUDPAddrPort(p, to); err != nil {
			t.Fatal(err)
		}
		if paced {
			time.Sleep(FrameInterval)
		}
	}
}

// sourceFixture is a session on a MemNet at 127.0.0.1:30000 whose SDP
// named the phone at 127.0.0.1:41000, with an attacker on another host
// and one on the phone's host but another port.
type sourceFixture struct {
	net                   *mediatest.MemNet
	local                 netip.AddrPort
	phone, other, sibling *mediatest.MemConn
	logs                  strings.Builder
}

func newSourceFixture(t *testing.T) *sourceFixture {
	f := &sourceFixture{net: mediatest.NewMemNet(), local: netip.MustParseAddrPort("127.0.0.1:30000")}
	f.phone, _ = f.net.Listen(netip.MustParseAddrPort("127.0.0.1:41000"))
	f.other, _ = f.net.Listen(netip.MustParseAddrPort("127.0.0.2:41000"))
	f.sibling, _ = f.net.Listen(netip.MustParseAddrPort("127.0.0.1:41002"))
	return f
}

func (f *sourceFixture) session(t *testing.T, conn *mediatest.MemConn, cfg SessionConfig) *Session {
	t.Helper()
	cfg.Conn, cfg.Codec, cfg.EventPT, cfg.MediaTimeout = conn, KindPCMU, 101, -1
	if !cfg.Remote.IsValid() {
		cfg.Remote = f.phone.LocalAddrPort()
	}
	cfg.KeySink, cfg.Logger = newKeyChan(), testLogger(&f.logs)
	s, err := NewSession(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Media only from the SDP address: # pressed every way from another host
// and from the phone's host on another port is dropped, counted and
// logged once; the phone's own # counts.
func TestSessionSDPSourceOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		conn, _ := f.net.Listen(f.local)
		s := f.session(t, conn, SessionConfig{})
		defer s.Close()
		time.Sleep(100 * time.Millisecond)

		spray := hashPresses(7)
		phone := &mediatest.Synth{SSRC: 9, Seq: 1, TS: 160}
		phone.Silence(20 * len(spray))
		for i := range spray {
			sendEach(t, f.other, f.local, spray[i:i+1], false)
			sendEach(t, f.sibling, f.local, spray[i:i+1], false)
			f.other.WriteToUDPAddrPort([]byte("garbage from afar"), f.local)
			sendEach(t, f.phone, f.local, phone.Packets[i:i+1], true)
		}
		synctest.Wait()
		if ks := collectKeys(s); len(ks) != 0 {
			t.Fatalf("keys from foreign sources: %s", keyString(ks))
		}
		st := s.Stats()
		if want := int64(3 * len(spray)); st.Foreign != want || st.PacketsReceived != int64(len(spray)) || st.Learned ||
			st.Remote != f.phone.LocalAddrPort() || st.Garbage != 0 {
			t.Errorf("stats %+v, want %d foreign and %d received from the phone", st, want, len(spray))
		}
		if n := len(drain(t, f.other)) + len(drain(t, f.sibling)); n != 0 {
			t.Errorf("the attackers got %d of our packets", n)
		}
		if n := strings.Count(f.logs.String(), "foreign source"); n != 1 {
			t.Errorf("%d foreign-source log lines in %v, want 1 (rate-limited):\n%s", n, 3*len(spray), f.logs.String())
		}

		// The phone's own #, while the attackers go on.
		phone.Press(101, '#', 120)
		phone.Silence(100)
		for _, p := range phone.Packets[len(spray):] {
			sendEach(t, f.other, f.local, spray[:1], false)
			sendEach(t, f.phone, f.local, [][]byte{p}, true)
		}
		synctest.Wait()
		if ks := keyString(collectKeys(s)); ks != "#(4733)" {
			t.Errorf("keys %q, want the phone's #(4733)", ks)
		}
	})
}

// What the socket holds when the session starts arrived before the answer:
// it is dropped unread, even from the SDP address, and a key still
// sounding from before the answer does not count.
func TestSessionDrainsBeforeAnswer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		conn, _ := f.net.Listen(f.local)
		// While the phone rings: # from everywhere, the phone's address
		// included, and a long press that has begun there.
		queued := 0
		for _, c := range []*mediatest.MemConn{f.phone, f.other, f.sibling} {
			sendEach(t, c, f.local, hashPresses(1), false)
			queued += len(hashPresses(1))
		}
		long := &mediatest.Synth{SSRC: 9, Seq: 1, TS: 160}
		long.Silence(40)
		start := long.TS
		for d := uint16(160); d <= 1600; d += 160 { // 200 ms of a press
			sendEach(t, f.phone, f.local, [][]byte{mediatest.RTP(9, 101, long.Seq, start, d == 160, mediatest.Event('#', false, d))}, false)
			long.Seq++
			queued++
		}
		sendEach(t, f.phone, f.local, long.Packets, false)
		queued += len(long.Packets)

		s := f.session(t, conn, SessionConfig{})
		defer s.Close()
		if st := s.Stats(); st.Drained != int64(queued) || st.PacketsReceived != 0 {
			t.Fatalf("stats %+v, want %d drained", st, queued)
		}
		// The press goes on after the answer: its packets say it began
		// long before, and its END comes.
		for d := uint16(1760); d <= 8000; d += 160 {
			sendEach(t, f.phone, f.local, [][]byte{mediatest.RTP(9, 101, long.Seq, start, false, mediatest.Event('#', false, d))}, true)
			long.Seq++
		}
		for range 3 {
			sendEach(t, f.phone, f.local, [][]byte{mediatest.RTP(9, 101, long.Seq, start, false, mediatest.Event('#', true, 8160))}, false)
			long.Seq++
		}
		long.TS = start + 8160
		long.Silence(200)
		sendEach(t, f.phone, f.local, long.Packets[2:], true)
		synctest.Wait()
		if ks := collectKeys(s); len(ks) != 0 {
			t.Fatalf("keys pressed before the answer: %s", keyString(ks))
		}
		if st := s.Stats(); st.KeysRefused != 1 {
			t.Errorf("stats %+v, want the long press refused", st)
		}
		// A stream that starts in the middle of a tone (the first packet
		// the session hears of it already sounds) does not count either.
		tone := make([]int16, 8*200)
		mediatest.ToneTo(tone, 0, '#', -8, -6)
		mid := &mediatest.Synth{SSRC: 10, Seq: 1, TS: 160}
		mid.Audio(tone)
		mid.Silence(100)
		sendEach(t, f.phone, f.local, mid.Packets, true)
		synctest.Wait()
		if ks := collectKeys(s); len(ks) != 0 {
			t.Fatalf("key from a stream that began mid-tone: %s", keyString(ks))
		}
		// The phone presses # after the answer: it counts.
		mid.Press(101, '#', 120)
		mid.Silence(100)
		sendEach(t, f.phone, f.local, mid.Packets[len(tone)/160+5:], true)
		synctest.Wait()
		if ks := keyString(collectKeys(s)); ks != "#(4733)" {
			t.Errorf("keys %q, want #(4733)", ks)
		}
		if st := s.Stats(); st.KeysRefused != 2 || st.Foreign != 0 {
			t.Errorf("stats %+v", st)
		}
	})
}

// A socket the pacer polls (a UDP socket on Linux) is drained too.
func TestSessionDrainsUDP(t *testing.T) {
	f := newPollFixture(t)
	c, err := f.pool.Acquire()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := f.far.WriteToUDPAddrPort(mediatest.RTP(1, 101, uint16(i), 0, false, mediatest.Event('#', false, 160)), c.LocalAddrPort()); err != nil {
			t.Fatal(err)
		}
	}
	s, err := NewSession(SessionConfig{Conn: c, Remote: f.far.LocalAddr().(*net.UDPAddr).AddrPort(), Codec: KindPCMU,
		EventPT: 101, Pacer: f.pacer, MediaTimeout: -1, KeySink: newKeyChan()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Drained != 50 {
		t.Errorf("drained %d of the 50 datagrams queued before the session", st.Drained)
	}
}

// Learning (SessionConfig.Learn): a source is learned only after Learn
// packets in a row of one SSRC, in sequence, with nothing from another
// candidate in between; only one is learned; RTP from the SDP address
// takes the stream back for good.
func TestSessionLearn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		sdp, _ := f.net.Listen(netip.MustParseAddrPort("192.0.2.1:5000")) // silent until the end
		conn, _ := f.net.Listen(f.local)
		s := f.session(t, conn, SessionConfig{Remote: sdp.LocalAddrPort(), Learn: 5})
		defer s.Close()
		time.Sleep(100 * time.Millisecond)
		nat := &mediatest.Synth{SSRC: 5, Seq: 1, TS: 160}
		nat.Silence(600)
		other := &mediatest.Synth{SSRC: 6, Seq: 1, TS: 160}
		other.Silence(2000)
		np, op := nat.Packets, other.Packets
		send := func(c *mediatest.MemConn, pkts ...[]byte) { sendEach(t, c, f.local, pkts, true) }
		notLearned := func(step string) {
			t.Helper()
			synctest.Wait()
			if st := s.Stats(); st.Learned || st.Remote != sdp.LocalAddrPort() || st.PacketsReceived != 0 {
				t.Fatalf("%s: learned: %+v", step, st)
			}
		}
		send(f.phone, np[0:4]...) // 4 in a row
		notLearned("4 packets")
		send(f.phone, np[5:9]...) // a gap, then 4 in a row
		notLearned("a gap")
		send(f.phone, np[10:13]...)
		send(f.sibling, op[0]) // another candidate between
		send(f.phone, np[13:16]...)
		notLearned("another source between")
		send(f.phone, mediatest.RTP(5, 13, 17, 0, false, []byte{0x40})) // comfort noise (not negotiated) as np[16]
		send(f.phone, np[17:21]...)
		notLearned("a payload type not negotiated")
		send(f.phone, mediatest.RTP(77, 0, 22, 0, false, make([]byte, 160))) // another SSRC as np[21]
		send(f.phone, np[22:26]...)
		notLearned("another SSRC")
		if n := len(drain(t, f.phone)); n != 0 {
			t.Fatalf("the candidate got %d packets before it was learned", n)
		}

		send(f.phone, np[26]) // the fifth in a row: learned
		synctest.Wait()
		if st := s.Stats(); !st.Learned || st.Remote != f.phone.LocalAddrPort() || st.PacketsReceived != 1 {
			t.Fatalf("after 5 in a row: %+v", st)
		}
		time.Sleep(60 * time.Millisecond)
		if n := len(drain(t, f.phone)); n < 2 {
			t.Errorf("the learned source got %d packets", n)
		}
		// Its key counts; another source, however long it sends, is not
		// learned over it.
		nat.Press(101, '#', 120)
		nat.Silence(60)
		foreign := s.Stats().Foreign
		for i, p := range nat.Packets[27:] {
			send(f.phone, p)
			send(f.sibling, op[10+i])
		}
		synctest.Wait()
		if ks := keyString(collectKeys(s)); ks != "#(4733)" {
			t.Errorf("keys %q from the learned source, want #(4733)", ks)
		}
		st := s.Stats()
		if !st.Learned || st.Remote != f.phone.LocalAddrPort() || st.Foreign-foreign != int64(len(nat.Packets)-27) {
			t.Errorf("with a second source: %+v", st)
		}
		// The SDP address sends: media comes from it again, for good.
		rx := st.PacketsReceived
		send(sdp, mediatest.RTP(8, 0, 1, 160, false, make([]byte, 160)))
		n := len(nat.Packets)
		nat.Silence(200)
		send(f.phone, nat.Packets[n:]...)
		synctest.Wait()
		st = s.Stats()
		if st.Learned || st.Remote != sdp.LocalAddrPort() || st.PacketsReceived != rx+1 {
			t.Errorf("after the SDP address sent: %+v", st)
		}
		logs := f.logs.String()
		if strings.Count(logs, "learned it") != 1 || strings.Count(logs, "taking media from it again") != 1 {
			t.Errorf("logs:\n%s", logs)
		}
	})
}

// MediaNetworks bound where media may come from: a Remote outside them
// fails NewSession, a candidate outside them is never learned.
func TestSessionMediaNetworks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		nets := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("127.0.0.2/32")}
		conn, _ := f.net.Listen(f.local)
		_, err := NewSession(SessionConfig{Conn: conn, Remote: f.phone.LocalAddrPort(), Codec: KindPCMU, MediaNetworks: nets})
		if !errors.Is(err, ErrForeignRemote) {
			t.Fatalf("Remote outside the media networks: %v, want ErrForeignRemote", err)
		}
		conn, _ = f.net.Listen(f.local) // NewSession closed it
		s := f.session(t, conn, SessionConfig{Remote: netip.MustParseAddrPort("10.0.0.1:5000"), Learn: 5, MediaNetworks: nets})
		defer s.Close()
		time.Sleep(100 * time.Millisecond)
		syn := &mediatest.Synth{SSRC: 5, Seq: 1, TS: 160}
		syn.Silence(400)
		sendEach(t, f.phone, f.local, syn.Packets[:10], true) // 127.0.0.1: outside
		synctest.Wait()
		if st := s.Stats(); st.Learned || st.Foreign != 10 {
			t.Fatalf("a candidate outside the media networks: %+v", st)
		}
		sendEach(t, f.other, f.local, syn.Packets[10:15], true) // 127.0.0.2: inside
		synctest.Wait()
		if st := s.Stats(); !st.Learned || st.Remote != f.other.LocalAddrPort() {
			t.Errorf("a candidate inside the media networks: %+v", st)
		}
	})
}

// An Early session (a 183's media) hands no key over until Answered; the
// keys that begin after that count. Nothing is learned before it either.
func TestSessionEarlyKeys(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		conn, _ := f.net.Listen(f.local)
		s := f.session(t, conn, SessionConfig{Early: true, Learn: 3})
		defer s.Close()
		time.Sleep(100 * time.Millisecond)
		syn := &mediatest.Synth{SSRC: 5, Seq: 1, TS: 160}
		syn.Silence(100)
		syn.Press(101, '#', 120)
		syn.Silence(100)
		sendEach(t, f.phone, f.local, syn.Packets, true)
		sendEach(t, f.sibling, f.local, syn.Packets, true) // a candidate in early media
		synctest.Wait()
		if st := s.Stats(); len(collectKeys(s)) != 0 || st.KeysRefused != 1 || st.Learned {
			t.Fatalf("early media: %+v", st)
		}
		s.Answered()
		time.Sleep(100 * time.Millisecond)
		n := len(syn.Packets)
		syn.Press(101, '#', 120)
		syn.Silence(100)
		sendEach(t, f.phone, f.local, syn.Packets[n:], true)
		synctest.Wait()
		if ks := keyString(collectKeys(s)); ks != "#(4733)" {
			t.Errorf("keys after Answered: %q, want #(4733)", ks)
		}
	})
}

// In a live session the source check adds no allocation to a packet:
// neither from the far end nor from a foreign source nor from a learning
// candidate.
func TestSessionSourceAllocs(t *testing.T) {
	remote := netip.MustParseAddrPort("192.0.2.7:40000")
	s := benchSession(t, remote)
	s.cfg.Learn = 1 << 30 // never reached: every candidate packet counts
	s.keysFrom.Store(0)
	pkt := mediatest.RTP(0x1234, 0, 0, 0, false, make([]byte, 160))
	other := netip.MustParseAddrPort("198.51.100.9:40000")
	n := 0
	for _, from := range []netip.AddrPort{remote, other} {
		if a := testing.AllocsPerRun(200, func() {
			setSeqTS(pkt, uint16(n), uint32(n*FrameSamples))
			s.handleDatagram(pkt, from)
			n++
		}); a != 0 {
			t.Errorf("from %v: %v allocations per packet", from, a)
		}
	}
	if st := s.Stats(); st.Foreign != 201 || st.Learned {
		t.Errorf("stats %+v", st)
	}
}
