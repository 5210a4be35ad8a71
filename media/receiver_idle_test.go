package media

import (
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
)

// A far end that suppresses silence stops sending when the tone stops: the
// key must still come out once the session says the line went quiet
// (Receiver.Idle), for an in-band key and for an RFC 4733 key whose END
// packets were all lost; and nothing comes out twice.
func TestReceiverIdle(t *testing.T) {
	var got []Key
	r, err := NewReceiver(ReceiverConfig{Merge: dtmf.MergerConfig{Hold: LiveMergeHold}, PayloadTypes: func() PayloadTypes {
		p := DefaultPayloadTypes()
		p[101] = KindTelephoneEvent
		return p
	}()}, KeySinkFunc(func(k Key) { got = append(got, k) }))
	if err != nil {
		t.Fatal(err)
	}
	pkt := make([]byte, 12+160)
	send := func(ssrc byte, n int, pt byte, payload []byte) {
		pkt[0], pkt[1], pkt[2], pkt[3] = 0x80, pt, byte(n>>8), byte(n)
		ts := uint32(n * 160)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[9], pkt[10], pkt[11] = 0, 0, 0, ssrc
		copy(pkt[12:], payload)
		if err := r.HandlePacket(pkt[:12+len(payload)]); err != nil {
			t.Fatal(err)
		}
	}
	// Stream 1: 100 ms of silence, then # in-band for 120 ms, then nothing.
	pcm := make([]int16, 160)
	ulaw := make([]byte, 160)
	tone := dtmf.Tone{Key: '#', Level: -10, Duration: 960}
	for n := range 11 {
		clear(pcm)
		if n >= 5 {
			tone.AddTo(pcm, (n-5)*160)
		}
		audio.EncodeULawTo(ulaw, pcm)
		send(1, n, 0, ulaw)
	}
	// Stream 2: RFC 4733 '5' without END (every END lost), then nothing.
	for n := range 6 {
		ev, _ := dtmf.AppendEventPayload(nil, '5', false, 10, uint16(160*(n+1)))
		pkt[1] = 101
		pkt[0], pkt[2], pkt[3] = 0x80, 0, byte(n)
		pkt[4], pkt[5], pkt[6], pkt[7] = 0, 0, 0x10, 0 // one event: one timestamp
		pkt[8], pkt[9], pkt[10], pkt[11] = 0, 0, 0, 2
		copy(pkt[12:], ev)
		if err := r.HandlePacket(pkt[:16]); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 0 {
		t.Fatalf("keys before the line went quiet: %v", got)
	}
	r.Idle(100 * time.Millisecond)
	if len(got) != 1 || got[0].Key != '#' || got[0].Source != dtmf.SourceInband {
		t.Fatalf("after 100 ms of quiet: %v, want the in-band #", got)
	}
	r.Idle(500 * time.Millisecond) // past the RFC 4733 decoder's 300 ms after the press's last reported end
	if len(got) != 2 || got[1].Key != '5' || got[1].Source != dtmf.SourceRFC4733 {
		t.Fatalf("after 500 ms of quiet: %v, want # then the RFC 4733 5", got)
	}
	r.Idle(time.Second)
	r.Flush()
	if len(got) != 2 {
		t.Fatalf("keys came out twice: %v", got)
	}
}
