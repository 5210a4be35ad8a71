package media

import (
	"testing"
	"testing/synctest"
	"time"

	"denwa/dtmf"
	"denwa/media/mediatest"
)

// TestSessionSendEvents: packets go out as given — a quirk of a sender
// that sends no marker, pauses a tick between updates, changes the
// timestamp of its END and sends it once — each at its tick from the
// press's start (tick 0, which sends nothing here), nothing sent in the
// ticks between, and audio resumes with the marker on the timeline.
func TestSessionSendEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, b := mediatest.Pipe()
		s, err := NewSession(SessionConfig{Conn: a, Remote: b.LocalAddrPort(), Codec: KindPCMU, EventPT: 101, MediaTimeout: -1})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(40 * time.Millisecond)
		evs := []dtmf.EventPacket{
			{Time: 160, Payload: dtmf.EventPayload{Code: 5, Volume: 20, Duration: 160}},
			{Time: 480, Payload: dtmf.EventPayload{Code: 5, Volume: 20, Duration: 480}},
			{Time: 480, Timestamp: 160, Payload: dtmf.EventPayload{Code: 5, End: true, Volume: 20, Duration: 640}},
		}
		if err := s.SendEvents(t.Context(), 0, evs); err != nil {
			t.Fatal(err)
		}
		press := s.SendTimeline().Press
		frame := make([]byte, FrameSamples)
		if err := s.Play(t.Context(), [][]byte{frame, frame}); err != nil {
			t.Fatal(err)
		}
		tl := s.SendTimeline()
		time.Sleep(40 * time.Millisecond)
		s.Close()
		pkts := drain(t, b)
		first := -1
		for i, p := range pkts {
			if p.PayloadType == 101 {
				first = i
				break
			}
		}
		if first < 1 || len(pkts) < first+4 {
			t.Fatalf("event packets at %d of %d", first, len(pkts))
		}
		// Tick 0 (the press's start) sends nothing: the audio before the
		// first packet is two frames back.
		start := pkts[first-1].Timestamp + FrameSamples
		got := pkts[first : first+4]
		// Ticks: 1 the first, 3 the second, 4 the END (due at 3, delayed
		// a tick), then audio at tick 5.
		want := []struct {
			seq    uint16
			ts     uint32
			dur    uint16
			end    bool
			marker bool
		}{
			{0, start, 160, false, false},
			{1, start, 480, false, false},
			{2, start + 160, 640, true, false},
		}
		for i, w := range want {
			p := got[i]
			var pl dtmf.EventPayload
			if err := pl.Unmarshal(p.Payload); err != nil {
				t.Fatal(err)
			}
			if p.PayloadType != 101 || p.SequenceNumber != got[0].SequenceNumber+w.seq || p.Timestamp != w.ts || p.Marker != w.marker ||
				pl.Duration != w.dur || pl.End != w.end || pl.Volume != 20 || pl.Code != 5 {
				t.Errorf("packet %d: pt %d seq %d ts %d marker %v %+v; want %+v", i, p.PayloadType, p.SequenceNumber, p.Timestamp, p.Marker, pl, w)
			}
		}
		if after := got[3]; after.PayloadType != 0 || after.Timestamp != start+5*FrameSamples || !after.Marker {
			t.Errorf("audio after: pt %d ts %d marker %v; want 0, %d, marker", after.PayloadType, after.Timestamp, after.Marker, start+5*FrameSamples)
		}
		if press != start || tl.Play < start+5*FrameSamples || tl.Next != tl.Play+2*FrameSamples || tl.First != pkts[0].Timestamp {
			t.Errorf("timeline %+v, press %d: want press %d, play after it, next two frames on, first %d", tl, press, start, pkts[0].Timestamp)
		}
		var played bool
		for _, p := range pkts {
			played = played || p.Timestamp == tl.Play && p.PayloadType == 0
		}
		if !played {
			t.Errorf("no audio packet at the Play's timestamp %d", tl.Play)
		}
		if st := s.Stats(); st.PacketsSent != int64(len(pkts)) {
			t.Errorf("sent %d, received %d", st.PacketsSent, len(pkts))
		}
	})
}
