package media

import (
	"testing"

	"denwa/audio"
	"denwa/dtmf"
)

// How long after a tone ends its key is reported depends on the merger's
// hold: dtmf's default waits 500 ms for an RFC 4733 twin (right for
// captures, where the label matters), a live session without
// telephone-events waits for nothing. Counted in 20 ms packets of stream
// time, so the test needs no clock.
func TestReceiverMergeHoldLatency(t *testing.T) {
	cases := []struct {
		name     string
		merge    dtmf.MergerConfig
		min, max int // packets after the tone's last one until the key
	}{
		{"capture default", dtmf.MergerConfig{}, 25, 30},
		{"live with telephone-event", dtmf.MergerConfig{Hold: LiveMergeHold}, 3, 6},
		{"live without telephone-event", dtmf.MergerConfig{Hold: -1}, 1, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []Key
			r, err := NewReceiver(ReceiverConfig{Merge: c.merge}, KeySinkFunc(func(k Key) { got = append(got, k) }))
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
					after := n - 14
					if got[0].Key != '#' || after < c.min || after > c.max {
						t.Fatalf("key %s reported %d packets after the tone; want %d–%d", got[0].Key, after, c.min, c.max)
					}
					return
				}
			}
			t.Fatal("key never reported")
		})
	}
}
