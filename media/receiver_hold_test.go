package media

import (
	"testing"
	"time"

	"denwa/audio"
	"denwa/dtmf"
)

// When a key is reported depends on the mode and the merger's hold: a
// capture reports it after the tone, then waits dtmf's default 500 ms for
// an RFC 4733 twin (the label matters there); a live session reports it
// when it goes down (35 ms into the tone, in the tone's second packet) and
// then waits LiveMergeHold (one packet) when telephone-events were
// negotiated, nothing otherwise. The jitter buffer holds the audio its
// depth longer (40 ms by default: two packets), which covers the hold.
// Counted in 20 ms packets of stream time, so the test needs no clock.
func TestReceiverMergeHoldLatency(t *testing.T) {
	cases := []struct {
		name     string
		cfg      ReceiverConfig
		min, max int // packets after the tone's first one until the key
	}{
		{"capture default", ReceiverConfig{}, 4 + 25, 4 + 30},
		{"live with telephone-event", ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: LiveMergeHold}}, 1 + 2, 1 + 2},
		{"live without telephone-event", ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: -1}}, 1 + 2, 1 + 2},
		{"live, fixed 60 ms buffer", ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: -1}, Jitter: JitterConfig{Min: 60 * time.Millisecond}}, 1 + 3, 1 + 3},
		{"live with telephone-event, no buffer", ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: LiveMergeHold}, Jitter: JitterConfig{Off: true}}, 2, 2},
		{"live without telephone-event, no buffer", ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: -1}, Jitter: JitterConfig{Off: true}}, 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []Key
			r, err := NewReceiver(c.cfg, KeySinkFunc(func(k Key) { got = append(got, k) }))
			if err != nil {
				t.Fatal(err)
			}
			pcm := make([]int16, 160)
			pkt := make([]byte, 12+160)
			tone := dtmf.Tone{Key: '#', Level: -10, Duration: 800} // 100 ms: packets 10–14
			for n := range 60 {
				clear(pcm)
				if n >= 10 && n < 15 {
					tone.AddTo(pcm, (n-10)*160)
				}
				pkt[0], pkt[1], pkt[2], pkt[3] = 0x80, 0, byte(n>>8), byte(n)
				ts := uint32(n * 160)
				pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
				pkt[8], pkt[11] = 0x11, 0x22
				audio.EncodeULawTo(pkt[12:], pcm)
				if err := r.HandlePacket(pkt); err != nil {
					t.Fatal(err)
				}
				if len(got) > 0 {
					after := n - 10
					if got[0].Key != '#' || after < c.min || after > c.max {
						t.Fatalf("key %s reported %d packets after the tone's first; want %d–%d", got[0].Key, after, c.min, c.max)
					}
					return
				}
			}
			t.Fatal("key never reported")
		})
	}
}
