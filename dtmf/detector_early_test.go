package dtmf

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"denwa/dtmf/dtmftest"
)

// Config.Early reports a key when it goes down. These tests hold it to its
// promise: the same keys, with the same Start, as the normal mode, over
// every kind of material the other detector tests use (talk-off above
// all), and each key reported once, 35–45 ms into its tone.

// earlyKey is a key reported in early mode and the detector position
// (samples consumed) at which Process appended it.
type earlyKey struct {
	Event
	at int64
}

// runEarly runs an early detector over x in blocks, then flushes, and
// returns the keys with the position each came out at.
func runEarly(cfg Config, x []int16, block int) []earlyKey {
	cfg.Early = true
	d := mustDetector(cfg)
	var out []earlyKey
	var ev []Event
	for len(x) > 0 {
		n := min(block, len(x))
		ev = d.Process(ev[:0], x[:n])
		for _, e := range ev {
			out = append(out, earlyKey{e, d.Pos()})
		}
		x = x[n:]
	}
	for _, e := range d.Flush(ev[:0]) {
		out = append(out, earlyKey{e, -1}) // never: Flush reports nothing in early mode
	}
	return out
}

// ident is what must not differ between the modes: key, source, start.
func ident(e Event) string { return fmt.Sprintf("%c/%s/%d", e.Key, e.Source, e.Start) }

// checkSameKeys compares the early and the normal mode on one signal and
// returns the number of keys.
func checkSameKeys(t *testing.T, name string, x []int16) int {
	t.Helper()
	normal := detect(Config{}, x)
	early := runEarly(Config{}, x, 160)
	if len(early) != len(normal) {
		t.Errorf("%s: early mode gave %d keys, normal %d:\nearly  %v\nnormal %v", name, len(early), len(normal), early, normal)
		return len(normal)
	}
	for i, n := range normal {
		e := early[i]
		switch {
		case ident(e.Event) != ident(n):
			t.Errorf("%s: key %d: early %v, normal %v", name, i, e.Event, n)
		case e.at < 0:
			t.Errorf("%s: key %d: %v came out of Flush, not at key-down", name, i, e.Event)
		case e.End <= e.Start || e.End > n.End+subBlock || e.End > e.at:
			// The early End is the end of the window that was accepted:
			// inside the tone (the normal End is refined to ±12 samples),
			// and audio the detector has seen.
			t.Errorf("%s: key %d: early End %d (reported at %d), normal %v", name, i, e.End, e.at, n)
		}
	}
	return len(normal)
}

// TestDetectorEarlySameKeys: over the speech, music, echo and barge-in
// material (talk-off) and the synthetic key material, the early mode
// yields exactly the keys (key, source, start) of the normal mode: a talk-off
// key is no more likely, a real key no less.
func TestDetectorEarlySameKeys(t *testing.T) {
	keys := 0
	// Real speech at levels from loud to quiet, and our prompt's echo over
	// line noise: no key in either mode.
	for _, f := range speechFiles {
		src := readULaw(t, f)
		for _, g := range []float64{+3, 0, -6, -12, -20} {
			x := append([]int16(nil), src...)
			dtmftest.Scale(x, g)
			keys += checkSameKeys(t, fmt.Sprintf("%s at %+v dB", f, g), viaULaw(x))
		}
	}
	echo := readULaw(t, "prompt-greeting.ulaw")
	for _, g := range []float64{-6, -12, -20} {
		for i, noise := range []float64{0, -45} {
			x := make([]int16, len(echo))
			dtmftest.Mix(x, echo, g)
			if noise != 0 {
				a := Amplitude(noise)
				dtmftest.NewNoise(uint64(i), a*a/2).AddTo(x)
			}
			keys += checkSameKeys(t, fmt.Sprintf("echo %v dB, noise %v", g, noise), viaULaw(x))
		}
	}
	// The harsh speech model, where the normal mode does find talk-off
	// keys: the early mode must find exactly those, no more.
	talkoff := 0
	for seed := range uint64(20) {
		x := make([]int16, 30*SampleRate)
		dtmftest.NewSpeech(seed, -15).AddTo(x)
		talkoff += checkSameKeys(t, fmt.Sprintf("synthetic speech seed %d", seed), viaULaw(x))
	}
	if talkoff == 0 {
		t.Error("synthetic speech gave no talk-off key: the comparison proves less than it should")
	}
	// Music, sweeps, barge-in over echo, keys at the Q.24 limits, short
	// tones, breaks, pauses, noise: the comparison with spandsp's material.
	for _, c := range comparisonCategories(t) {
		for i, x := range c.signals {
			keys += checkSameKeys(t, fmt.Sprintf("%s #%d", c.name, i), x)
		}
	}
	// A minute of 120 keys with noise and speech.
	x, want := mixedSignal(t)
	if n := checkSameKeys(t, "mixed", x); n != len(want) {
		t.Errorf("mixed: %d keys, want %d", n, len(want))
	}
	// Noise at 12 and 6 dB SNR.
	for seed := range uint64(20) {
		r := rand.New(rand.NewPCG(seed, 5))
		var ps []press
		at := 800
		for i := range 16 {
			tn := Tone{Key: Keys[i], Level: -20, Duration: (40 + r.IntN(40)) * ms, LowPhase: 6 * r.Float64()}
			ps = append(ps, press{tn, at})
			at += tn.Duration + 60*ms
		}
		x := render(at+800, ps...)
		dtmftest.NewNoise(seed, pairPower(-20, 0)/[]float64{16, 4}[seed%2]).AddTo(x)
		keys += checkSameKeys(t, fmt.Sprintf("noise seed %d", seed), viaULaw(x))
	}
	t.Logf("%d keys, %d of them talk-off in synthetic speech: the same in both modes", keys+talkoff+len(want), talkoff)
}

// TestDetectorEarlyBlocks: the early keys, and where each comes out, do
// not depend on how the stream is cut into blocks.
func TestDetectorEarlyBlocks(t *testing.T) {
	x, _ := mixedSignal(t)
	ref := runEarly(Config{}, x, 160)
	for _, block := range []int{1, 7, 40, 41, 159, 320, 1281} {
		got := runEarly(Config{}, x, block)
		if len(got) != len(ref) {
			t.Fatalf("%d-sample blocks: %d keys, want %d", block, len(got), len(ref))
		}
		for i := range got {
			// A key comes out in the block holding the sub-block that
			// accepted it: at most block−1 samples after that sub-block.
			if got[i].Event != ref[i].Event || got[i].at < got[i].End || got[i].at >= got[i].End+int64(block) {
				t.Errorf("%d-sample blocks: key %d %v at %d, want %v (at %d with 160)", block, i, got[i].Event, got[i].at, ref[i].Event, ref[i].at)
			}
		}
	}
}

// TestDetectorEarlyTiming: a key goes down 32–40 ms into its tone, on the
// sample timeline (one sample at a time, so the position is exact),
// whatever the tone's alignment to the 5 ms sub-blocks and however long it
// lasts; it comes out once, and Flush adds nothing.
func TestDetectorEarlyTiming(t *testing.T) {
	lo, hi := int64(1<<62), int64(0)
	for _, dur := range []int{40, 45, 60, 100, 1000} {
		for off := 0; off < subBlock; off++ {
			start := 800 + off
			x := viaULaw(render(start+dur*ms+800, press{Tone{Key: '#', Level: -10, Duration: dur * ms, LowPhase: float64(off)}, start}))
			got := runEarly(Config{}, x, 1)
			if len(got) != 1 || got[0].Key != '#' || got[0].at < 0 {
				t.Errorf("%d ms at %d: got %v, want one # at key-down", dur, start, got)
				continue
			}
			k := got[0]
			if abs64(k.Start-int64(start)) > 12 {
				t.Errorf("%d ms at %d: Start %d", dur, start, k.Start)
			}
			// Down with the fourth hit window, 35 ms after the first whose
			// sub-blocks are all (at least 55 %: test 6) filled with tone:
			// 32.5–40 ms of tone. The window ends on a sub-block boundary,
			// where the key comes out.
			tone := k.at - int64(start)
			if tone < 32*ms || tone > 40*ms {
				t.Errorf("%d ms at %d: reported after %.1f ms of tone, want 32–40", dur, start, float64(tone)/ms)
			}
			lo, hi = min(lo, tone), max(hi, tone)
			if k.End != k.at {
				t.Errorf("%d ms at %d: End %d, reported at %d", dur, start, k.End, k.at)
			}
		}
	}
	t.Logf("reported after %.1f–%.1f ms of tone", float64(lo)/ms, float64(hi)/ms)
}

// TestDetectorEarlyFlushReset: Flush ends a key reported at key-down
// without reporting it again; the tone going on after Flush is a new key,
// as in the normal mode; Reset keeps the mode.
func TestDetectorEarlyFlushReset(t *testing.T) {
	x := viaULaw(render(4000, press{Tone{Key: '5', Level: -10, Duration: 3000}, 500}))
	d := mustDetector(Config{Early: true})
	ev := d.Process(nil, x[:1000])
	if len(ev) != 1 || ev[0].Key != '5' {
		t.Fatalf("500 samples into the tone: %v, want 5", ev)
	}
	if ev := d.Flush(nil); len(ev) != 0 {
		t.Fatalf("Flush after key-down: %v", ev)
	}
	n := mustDetector(Config{})
	want := n.Flush(n.Process(n.Flush(n.Process(nil, x[:1000])), x[1000:]))
	ev = d.Process(nil, x[1000:])
	if len(ev) != 1 || len(want) != 2 || ident(ev[0]) != ident(want[1]) {
		t.Fatalf("tone after Flush: early %v, normal %v", ev, want)
	}
	d.Reset()
	if ev := d.Process(nil, x[:1000]); len(ev) != 1 {
		t.Fatalf("after Reset: %v, want the key at key-down", ev)
	}
}

func TestDetectorEarlyAllocs(t *testing.T) {
	x, _ := mixedSignal(t)
	d := mustDetector(Config{Early: true})
	ev := make([]Event, 0, 256)
	pos, keys := 0, 0
	allocs := testing.AllocsPerRun(5000, func() {
		if pos+160 > len(x) {
			pos = 0
			d.Reset()
		}
		ev = d.Process(ev[:0], x[pos:pos+160])
		keys += len(ev)
		pos += 160
	})
	if allocs != 0 {
		t.Errorf("Process (Early) allocates %v times per call", allocs)
	}
	if keys == 0 {
		t.Error("no key in the run")
	}
}
