package dtmf

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"denwa/dtmf/dtmftest"
)

// detectLost runs a fresh detector over x in 160-sample frames, telling it
// that the frames whose index lost reports are missing instead of passing
// them, then flushes.
func detectLost(cfg Config, x []int16, lost func(i int) bool) []Event {
	d := mustDetector(cfg)
	var ev []Event
	for i := 0; len(x) > 0; i++ {
		n := min(160, len(x))
		if lost(i) {
			ev = d.Missing(ev, n)
		} else {
			ev = d.Process(ev, x[:n])
		}
		x = x[n:]
	}
	return d.Flush(ev)
}

// TestDetectorMissingInTone: a tone of 100 ms or more stays one key when
// any one 20 ms frame of it is missing, or any two in a row, wherever the
// tone starts within a frame; and the key keeps its edges when the loss is
// inside it.
func TestDetectorMissingInTone(t *testing.T) {
	for _, k := range []Key{'*', '#', '1', 'D'} {
		for _, dur := range []int{100, 120, 200} {
			for _, burst := range []int{1, 2} {
				t.Run(fmt.Sprintf("%c/%dms/burst%d", k, dur, burst), func(t *testing.T) {
					for off := 0; off < 160; off += 13 {
						at := 800 + off
						x := viaULaw(render(at+dur*ms+800, press{Tone{Key: k, Level: -10, Duration: dur * ms}, at}))
						for first := at / 160; first*160 < at+dur*ms; first++ {
							lost := func(i int) bool { return i >= first && i < first+burst }
							ev := detectLost(Config{}, x, lost)
							if keysOf(ev) != string(k) {
								t.Errorf("offset %d, frames %d–%d lost: got %v, want one %c", off, first, first+burst-1, ev, k)
								continue
							}
							// Edges: exact unless the loss takes them.
							if first*160 > at+160 && (first+burst)*160 < at+dur*ms-160 {
								checkOne(t, ev, k, int64(at), int64(at+dur*ms), 12)
							}
						}
					}
				})
			}
		}
	}
}

// TestDetectorMissingEarly: with Early, a loss inside a tone gives the same
// single key, reported once.
func TestDetectorMissingEarly(t *testing.T) {
	x := viaULaw(render(800+120*ms+800, press{Tone{Key: '#', Level: -10, Duration: 120 * ms}, 800}))
	for first := 5; first < 11; first++ {
		ev := detectLost(Config{Early: true}, x, func(i int) bool { return i == first })
		if keysOf(ev) != "#" {
			t.Errorf("frame %d lost: got %v, want one #", first, ev)
		}
	}
}

// TestDetectorMissingInPause: two presses of the same key 40 ms or more
// apart stay two keys when a 20 ms frame in or next to the pause is
// missing, as long as some of the pause is heard; and a lost frame never
// merges them when the keys differ.
func TestDetectorMissingInPause(t *testing.T) {
	for _, pair := range []string{"##", "**", "*#"} {
		for _, tone := range []int{60, 80, 120} {
			for _, pause := range []int{40, 50, 60} {
				for off := 0; off < 160; off += 20 {
					a, b := Key(pair[0]), Key(pair[1])
					at1 := 800 + off
					at2 := at1 + (tone+pause)*ms
					x := viaULaw(render(at2+tone*ms+800, press{Tone{Key: a, Level: -10, Duration: tone * ms}, at1},
						press{Tone{Key: b, Level: -10, Duration: tone * ms, LowPhase: 1, HighPhase: 2}, at2}))
					end1 := at1 + tone*ms
					for f := end1/160 - 1; f*160 < at2+160; f++ {
						// Frames that cover the whole pause hide it: skip those.
						if f*160 <= end1 && (f+1)*160 >= at2 {
							continue
						}
						ev := detectLost(Config{}, x, func(i int) bool { return i == f })
						// A lost frame inside a 60 ms tone can leave it
						// under 40 ms heard; it must then vanish, not merge.
						got := keysOf(ev)
						if got != pair && !(tone == 60 && (got == pair[:1] || got == pair[1:])) {
							t.Errorf("%s tone %d pause %d offset %d, frame %d lost: got %v", pair, tone, pause, off, f, ev)
						}
					}
				}
			}
		}
	}
}

// TestDetectorMissingAlone: missing audio makes no key: on its own, after
// silence, or next to a tone of 25 ms or less, which Q.24 says to reject
// (a 30 ms tone cut by a loss may have gone on in it: it counts, as a
// 30–40 ms tone may).
func TestDetectorMissingAlone(t *testing.T) {
	d := mustDetector(Config{})
	var ev []Event
	ev = d.Missing(ev, 8000)
	ev = d.Process(ev, make([]int16, 800))
	ev = d.Missing(ev, 480)
	if ev = d.Flush(ev); len(ev) != 0 {
		t.Errorf("missing audio alone: got %v", ev)
	}
	if d.Pos() != 8000+800+480 {
		t.Errorf("Pos %d, want %d", d.Pos(), 8000+800+480)
	}
	for _, dur := range []int{15, 20, 25} {
		for _, lostMs := range []int{20, 40, 60, 100} {
			for off := 0; off < subBlock; off += 7 {
				x := viaULaw(render(800+off+dur*ms, press{Tone{Key: '5', Level: -10, Duration: dur * ms}, 800 + off}))
				d := mustDetector(Config{})
				ev := d.Process(nil, x)
				ev = d.Missing(ev, lostMs*ms)
				ev = d.Process(ev, make([]int16, 800))
				if ev = d.Flush(ev); len(ev) != 0 {
					t.Errorf("%d ms tone at offset %d, then %d ms missing: got %v", dur, off, lostMs, ev)
				}
				// And the other way round: missing, then the tone.
				d.Reset()
				ev = d.Missing(nil, lostMs*ms)
				ev = d.Process(ev, x[800:])
				ev = d.Process(ev, make([]int16, 800))
				if ev = d.Flush(ev); len(ev) != 0 {
					t.Errorf("%d ms missing, then a %d ms tone at offset %d: got %v", lostMs, dur, off, ev)
				}
			}
		}
	}
}

// TestDetectorMissingTalkOff: speech, our prompt and music with 10% or 20%
// of their 20 ms frames missing (seeded) are still never keys; the harsh
// synthetic speech model gives about as many talk-off keys as without
// loss.
func TestDetectorMissingTalkOff(t *testing.T) {
	lossy := func(seed uint64, p float64) func(int) bool {
		rng := rand.New(rand.NewPCG(seed, 9))
		return func(int) bool { return rng.Float64() < p }
	}
	for _, p := range []float64{0.1, 0.2} {
		for i, f := range speechFiles {
			src := readULaw(t, f)
			for j, g := range []float64{+3, -6, -20} {
				x := append([]int16(nil), src...)
				dtmftest.Scale(x, g)
				if ev := detectLost(Config{}, viaULaw(x), lossy(uint64(10*i+j), p)); len(ev) != 0 {
					t.Errorf("%s at %+v dB, %.0f%% lost: got %v", f, g, 100*p, ev)
				}
			}
		}
		for seed := range uint64(10) {
			x := make([]int16, 30*SampleRate)
			dtmftest.Music(x, seed, -6)
			if ev := detectLost(Config{}, viaULaw(x), lossy(seed, p)); len(ev) != 0 {
				t.Errorf("music seed %d, %.0f%% lost: got %v", seed, 100*p, ev)
			}
		}
	}
	var clean, lost int
	for seed := range uint64(20) {
		x := make([]int16, 30*SampleRate)
		dtmftest.NewSpeech(seed, -15).AddTo(x)
		x = viaULaw(x)
		clean += len(detect(Config{}, x))
		lost += len(detectLost(Config{}, x, lossy(seed, 0.1)))
	}
	t.Logf("synthetic speech, 600 s: %d talk-off keys, %d with 10%% of frames missing", clean, lost)
	if lost > clean+3 {
		t.Errorf("synthetic speech: %d talk-off keys with 10%% missing, %d without", lost, clean)
	}
}

// TestDetectorMissingLong: a loss longer than 60 ms inside a tone is a
// pause: the press splits rather than bridging any gap.
func TestDetectorMissingLong(t *testing.T) {
	x := viaULaw(render(800+300*ms+800, press{Tone{Key: '9', Level: -10, Duration: 300 * ms}, 800}))
	ev := detectLost(Config{}, x, func(i int) bool { return i >= 10 && i < 14 }) // 80 ms
	if keysOf(ev) != "99" {
		t.Errorf("80 ms lost inside a 300 ms tone: got %v, want 99", ev)
	}
}

// TestDetectorMissingBlocks: the result does not depend on how missing
// and present samples are cut into blocks.
func TestDetectorMissingBlocks(t *testing.T) {
	x := viaULaw(render(800+120*ms+800, press{Tone{Key: '*', Level: -10, Duration: 120 * ms}, 800}))
	want := detectLost(Config{}, x, func(i int) bool { return i == 9 })
	for _, block := range []int{1, 7, 40, 55, 333} {
		d := mustDetector(Config{})
		var ev []Event
		for i := 0; i < len(x); i += block {
			j := min(i+block, len(x))
			// Samples 1440–1599 (frame 9) are missing.
			for a := i; a < j; {
				b := j
				gone := a >= 1440 && a < 1600
				if gone {
					b = min(b, 1600)
				} else if a < 1440 {
					b = min(b, 1440)
				}
				if gone {
					ev = d.Missing(ev, b-a)
				} else {
					ev = d.Process(ev, x[a:b])
				}
				a = b
			}
		}
		ev = d.Flush(ev)
		if fmt.Sprint(ev) != fmt.Sprint(want) {
			t.Errorf("blocks of %d: got %v, want %v", block, ev, want)
		}
	}
}

func TestDetectorMissingAllocs(t *testing.T) {
	d := mustDetector(Config{})
	ev := make([]Event, 0, 4)
	x := viaULaw(render(160, press{Tone{Key: '1', Level: -10, Duration: 160}, 0}))
	if n := testing.AllocsPerRun(200, func() {
		ev = d.Process(ev[:0], x)
		ev = d.Missing(ev[:0], 160)
	}); n != 0 {
		t.Errorf("%v allocs per Process+Missing, want 0", n)
	}
}
