package dtmf

import (
	"math"
	"testing"
)

func TestAmplitude(t *testing.T) {
	if a := Amplitude(3.17); math.Abs(a-32124) > 0.01 {
		t.Errorf("Amplitude(+3.17) = %v, want 32124 (full-scale μ-law sine)", a)
	}
	if a := Amplitude(0); math.Abs(a-22301.5) > 1 {
		t.Errorf("Amplitude(0) = %v, want ≈22301", a)
	}
	if r := Amplitude(-20) / Amplitude(0); math.Abs(r-0.1) > 1e-12 {
		t.Errorf("-20 dB ratio = %v", r)
	}
}

// TestToneLevels: each tone of the pair has the level asked for, with twist
// and deviation (measured by correlating at the tone's own frequency).
func TestToneLevels(t *testing.T) {
	cases := []struct {
		name                string
		tone                Tone
		wantLow, wantHigh   float64 // dBm0
		wantFLow, wantFHigh float64 // Hz
	}{
		// Two tones above about −3 dBm0 each clip at the int16 limits.
		{"-3dBm0", Tone{Key: '5', Level: -3, Duration: 8000}, -3, -3, 770, 1336},
		{"twist+5", Tone{Key: '#', Level: -10, Twist: 5, Duration: 8000}, -10, -5, 941, 1477},
		{"twist-8", Tone{Key: '1', Level: -10, Twist: -8, Duration: 8000}, -10, -18, 697, 1209},
		{"dev", Tone{Key: 'D', Level: -20, LowDev: 0.015, HighDev: -0.035, Duration: 8000}, -20, -20, 941 * 1.015, 1633 * 0.965},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x := make([]int16, c.tone.Duration)
			c.tone.AddTo(x, 0)
			for _, w := range []struct{ f, level float64 }{{c.wantFLow, c.wantLow}, {c.wantFHigh, c.wantHigh}} {
				var re, im float64
				for n, v := range x {
					p := 2 * math.Pi * w.f * float64(n) / SampleRate
					re += float64(v) * math.Cos(p)
					im += float64(v) * math.Sin(p)
				}
				amp := 2 * math.Hypot(re, im) / float64(len(x))
				got := 20 * math.Log10(amp/Amplitude(0))
				if math.Abs(got-w.level) > 0.05 {
					t.Errorf("%.1f Hz: %.2f dBm0, want %.2f", w.f, got, w.level)
				}
			}
		})
	}
}

// TestToneBlocks: a tone written block by block equals one written at once,
// and samples outside [0, Duration) are left alone.
func TestToneBlocks(t *testing.T) {
	tn := Tone{Key: '9', Level: -6, Twist: 2, LowDev: 0.01, LowPhase: 0.3, HighPhase: 1.1, Duration: 1234, Gap: 400}
	if tn.Len() != 1634 {
		t.Errorf("Len = %d", tn.Len())
	}
	whole := make([]int16, 2000)
	tn.AddTo(whole[100:], 0)
	for i := range 100 {
		if whole[i] != 0 {
			t.Fatal("wrote before the tone")
		}
	}
	for i := 100 + 1234; i < 2000; i++ {
		if whole[i] != 0 {
			t.Fatalf("wrote at %d, after the tone", i)
		}
	}
	for _, block := range []int{1, 7, 160, 999} {
		parts := make([]int16, 2000)
		for at := -100; at < 1900; at += block {
			end := min(at+block, 1900)
			tn.AddTo(parts[100+at:100+end], at)
		}
		for i := range whole {
			if parts[i] != whole[i] {
				t.Fatalf("block %d: sample %d = %d, want %d", block, i, parts[i], whole[i])
			}
		}
	}
}

func TestToneSaturatesAndAdds(t *testing.T) {
	x := make([]int16, 400)
	for i := range x {
		x[i] = 100
	}
	Tone{Key: '1', Level: 3, Twist: 3, Duration: 400}.addCopy(x)
	var peak int
	for _, v := range x {
		peak = max(peak, int(v))
	}
	if peak != math.MaxInt16 {
		t.Errorf("peak %d, want saturation at %d", peak, math.MaxInt16)
	}
	y := []int16{5, 5}
	(&Tone{Key: 'x', Duration: 2}).AddTo(y, 0)
	if y[0] != 5 || y[1] != 5 {
		t.Errorf("invalid key changed samples: %v", y)
	}
}

func (tn Tone) addCopy(x []int16) { tn.AddTo(x, 0) }

func TestToneAllocs(t *testing.T) {
	tn := Tone{Key: '#', Level: -10, Duration: 8000}
	x := make([]int16, 160)
	at := 0
	if a := testing.AllocsPerRun(100, func() { tn.AddTo(x, at); at += 160 }); a != 0 {
		t.Errorf("AddTo allocates %v times", a)
	}
}
