package media

import (
	"bytes"
	"context"
	"errors"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"denwa/audio"
	"denwa/media/mediatest"
)

// Held (recvonly) longer than the media timeout: nothing is sent, the
// prompt waits, the session lives on; resumed, the prompt goes on where it
// stopped with the next sequence number, the timestamp advanced by the
// hold and the marker bit, and the media timeout runs again from there.
func TestSessionHold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sf := newSourceFixture(t)
		conn, _ := sf.net.Listen(sf.local)
		fc := sf.phone
		s, err := NewSession(SessionConfig{Conn: conn, Remote: fc.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		f := &far{t: t, c: fc, to: sf.local}
		f.send(0, make([]byte, 160))
		frames := testFrames(50)
		played := make(chan error, 1)
		go func() { played <- s.Play(context.Background(), frames) }()
		time.Sleep(10*FrameInterval + FrameInterval/2)
		if err := s.SetDirection(RecvOnly); err != nil {
			t.Fatal(err)
		}
		before := drain(t, fc)
		time.Sleep(3 * time.Second) // three media timeouts, the far end silent
		if held := drain(t, fc); len(held) != 0 {
			t.Fatalf("%d packets sent while held", len(held))
		}
		select {
		case <-s.Done():
			t.Fatalf("held session ended: %v", s.Err())
		case err := <-played:
			t.Fatalf("Play returned while held: %v", err)
		default:
		}
		if got := s.Direction(); got != RecvOnly {
			t.Errorf("Direction = %q", got)
		}
		s.SetDirection(SendRecv)
		if err := <-played; err != nil {
			t.Fatalf("Play after the hold: %v", err)
		}
		after := drain(t, fc)
		all := append(before, after...)
		var audio []rxPacket
		for _, p := range all {
			if p.Payload[0] != 0xFF {
				audio = append(audio, p)
			}
		}
		if len(audio) != len(frames) {
			t.Fatalf("%d prompt frames arrived, want %d", len(audio), len(frames))
		}
		for i, p := range audio {
			if !isFrame(p.Payload, i) {
				t.Fatalf("prompt frame %d out of order", i)
			}
		}
		last, first := before[len(before)-1], after[0]
		if first.SequenceNumber != last.SequenceNumber+1 {
			t.Errorf("seq %d after %d across the hold", first.SequenceNumber, last.SequenceNumber)
		}
		if gap := first.Timestamp - last.Timestamp; gap < 3*8000 || gap > 3*8000+10*FrameSamples || gap%FrameSamples != 0 {
			t.Errorf("timestamp advanced %d across a 3 s hold", gap)
		}
		if !first.Marker {
			t.Error("first packet after the hold has no marker")
		}
		start := time.Now()
		<-s.Done()
		if !errors.Is(s.Err(), ErrMediaTimeout) {
			t.Errorf("Err = %v", s.Err())
		}
		if took := time.Since(start); took > time.Second+2*FrameInterval {
			t.Errorf("media timeout %v after the resumed prompt", took)
		}
	})
}

// pipeSession is a PCMU session without media timeout sending over a
// pipe to far, closed at the test's end.
func pipeSession(t *testing.T) (s *Session, far *mediatest.MemConn) {
	a, far := mediatest.Pipe()
	s, err := NewSession(SessionConfig{Conn: a, Remote: far.LocalAddrPort(), Codec: KindPCMU, MediaTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, far
}

func TestSessionSetDirectionInvalid(t *testing.T) {
	s, _ := pipeSession(t)
	if err := s.SetDirection("sideways"); !errors.Is(err, ErrConfig) {
		t.Errorf("SetDirection(sideways) = %v", err)
	}
	if err := s.Update(Answer{Codec: KindTelephoneEvent}); !errors.Is(err, ErrConfig) {
		t.Errorf("Update(no codec) = %v", err)
	}
	if s.Direction() != SendRecv {
		t.Errorf("Direction = %q after refused changes", s.Direction())
	}
}

// The far end moves its media: RTP goes to the new address, keys from it
// count, and the old address is now foreign.
func TestSessionUpdateRemote(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newSourceFixture(t)
		conn, _ := f.net.Listen(f.local)
		moved := f.sibling.LocalAddrPort()
		s := f.session(t, conn, SessionConfig{})
		t.Cleanup(func() { s.Close() })
		time.Sleep(5 * FrameInterval)
		if len(drain(t, f.phone)) == 0 {
			t.Fatal("nothing sent to the SDP address")
		}
		if err := s.Update(Answer{Remote: moved, Codec: KindPCMU, EventPT: 101}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		if n := len(drain(t, f.phone)); n > 1 {
			t.Errorf("%d packets still sent to the old address", n)
		}
		if len(drain(t, f.sibling)) == 0 {
			t.Fatal("nothing sent to the new address")
		}
		sendEach(t, f.phone, f.local, hashPresses(1), true)
		time.Sleep(100 * time.Millisecond)
		if keys := collectKeys(s); len(keys) != 0 {
			t.Fatalf("keys from the old address counted: %s", keyString(keys))
		}
		if s.Stats().Foreign == 0 {
			t.Error("old address's packets not counted foreign")
		}
		sendEach(t, f.sibling, f.local, hashPresses(2), true)
		time.Sleep(100 * time.Millisecond)
		if keys := collectKeys(s); len(keys) == 0 {
			t.Fatal("no key from the new address")
		}
		if st := s.Stats(); st.Remote != moved {
			t.Errorf("Stats.Remote = %v", st.Remote)
		}
		// An RFC 2543 hold keeps the address and sends nothing.
		if err := s.Update(Answer{Remote: netip.MustParseAddrPort("0.0.0.0:41002"), Codec: KindPCMU, EventPT: 101}); err != nil {
			t.Fatal(err)
		}
		if s.Direction() != Inactive || s.Stats().Remote != moved {
			t.Errorf("c=0.0.0.0: direction %q remote %v", s.Direction(), s.Stats().Remote)
		}
	})
}

// A codec change converts the frames Play is given (still in the codec
// the session started with) and sends with the new payload type.
func TestSessionUpdateCodec(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s, b := pipeSession(t)
		if err := s.Update(Answer{Remote: b.LocalAddrPort(), Codec: KindPCMA, PayloadType: 8}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * FrameInterval)
		drain(t, b)
		pcm := make([]int16, FrameSamples)
		for i := range pcm {
			pcm[i] = int16(i * 100)
		}
		ulaw := make([]byte, FrameSamples)
		audio.EncodeULawTo(ulaw, pcm)
		if err := s.Play(t.Context(), [][]byte{ulaw}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(FrameInterval)
		var want [FrameSamples]byte
		var dec [FrameSamples]int16
		audio.DecodeULawTo(dec[:], ulaw)
		audio.EncodeALawTo(want[:], dec[:])
		found := false
		for _, p := range drain(t, b) {
			if p.PayloadType != 8 {
				t.Fatalf("payload type %d after the change to PCMA", p.PayloadType)
			}
			found = found || bytes.Equal(p.Payload, want[:])
		}
		if !found {
			t.Error("the PCMU frame did not arrive as PCMA")
		}
	})
}
