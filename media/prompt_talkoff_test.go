package media

import (
	"fmt"
	"testing"

	"denwa/audio"
	"denwa/dtmf"
	"denwa/dtmf/dtmftest"
)

// Our own prompts echo back from the far end while we wait for a key: the
// shipped prompts, as they come back through G.711 at −6 to −20 dB, must never
// be taken for a key (talk-off), while a key pressed over that echo must be
// heard exactly once (barge-in). This runs the real catalog through the same
// Receiver that live calls use, in both modes: the early mode of live
// calls must give exactly the keys (key, source, start) of the normal one.
func TestShippedPromptsTalkOffAndBargeIn(t *testing.T) {
	cat, err := audio.LoadCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range cat.Names() {
		p, err := cat.Get(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, codec := range []audio.Codec{audio.PCMU, audio.PCMA} {
			for _, echo := range []float64{-6, -10, -14, -20} {
				t.Run(fmt.Sprintf("%s/%s/%gdB", name, codec, echo), func(t *testing.T) {
					x := append([]int16(nil), p.Samples()...)
					dtmftest.Scale(x, echo)
					for _, early := range []bool{false, true} {
						if keys := receiveAudio(t, x, codec, early); len(keys) != 0 {
							t.Fatalf("talk-off (early %v): the %s prompt's echo at %g dB gave keys %v", early, name, echo, keys)
						}
					}
					// Barge-in: # at −10 dBm0 per tone for 100 ms, a second into the echo
					// (into the last 100 ms of a digit prompt, shorter than a second).
					tone := dtmf.Tone{Key: '#', Level: -10, Duration: 800}
					at := min(8000, len(x)-800)
					tone.AddTo(x[at:at+800], 0)
					keys := receiveAudio(t, x, codec, false)
					if len(keys) != 1 || keys[0].Key != '#' || keys[0].Source != dtmf.SourceInband {
						t.Fatalf("barge-in over the %s prompt's echo at %g dB: keys %v, want one in-band #", name, echo, keys)
					}
					early := receiveAudio(t, x, codec, true)
					if len(early) != 1 || early[0].Key != '#' || early[0].Source != dtmf.SourceInband || early[0].Start != keys[0].Start {
						t.Fatalf("barge-in over the %s prompt's echo at %g dB, early mode: keys %v, want %v", name, echo, early, keys)
					}
				})
			}
		}
	}
}

// receiveAudio sends x as one RTP stream of 20 ms G.711 frames into a Receiver
// (in early mode if early) and returns the keys it reports.
func receiveAudio(t *testing.T, x []int16, codec audio.Codec, early bool) []Key {
	t.Helper()
	var keys []Key
	r, err := NewReceiver(ReceiverConfig{Early: early}, KeySinkFunc(func(k Key) { keys = append(keys, k) }))
	if err != nil {
		t.Fatal(err)
	}
	pt, encode := uint8(0), audio.EncodeULawTo
	if codec == audio.PCMA {
		pt, encode = 8, audio.EncodeALawTo
	}
	frame := make([]byte, 12+160)
	for i := 0; i+160 <= len(x); i += 160 {
		n := i / 160
		frame[0], frame[1] = 0x80, pt
		frame[2], frame[3] = byte(n>>8), byte(n)
		ts := uint32(i)
		frame[4], frame[5], frame[6], frame[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		frame[8], frame[9], frame[10], frame[11] = 0xde, 0x6e, 0x0a, 0x01
		if _, err := encode(frame[12:], x[i:i+160]); err != nil {
			t.Fatal(err)
		}
		if err := r.HandlePacket(frame); err != nil {
			t.Fatal(err)
		}
	}
	r.Flush()
	return keys
}
