package dtmf

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"denwa/dtmf/dtmftest"

	"github.com/zaf/g711"
)

// Every signal here is synthesized (STYLE practice 12), then passed through
// G.711 μ-law as it would be on a call, unless a test says otherwise.

const ms = SampleRate / 1000 // samples per millisecond

// press is one tone placed at sample at of a signal.
type press struct {
	tone Tone
	at   int
}

// render returns n samples holding the presses (not yet μ-law coded).
func render(n int, ps ...press) []int16 {
	x := make([]int16, n)
	for _, p := range ps {
		if p.at < n {
			p.tone.AddTo(x[p.at:], 0)
		}
	}
	return x
}

// ulawTables: decode from zaf/g711, encode through it once per value.
var ulawDecode = func() (t [256]int16) {
	for i := range t {
		t[i] = g711.DecodeUlawFrame(uint8(i))
	}
	return t
}()

// viaULaw codes x to μ-law and back, in place, and returns it.
func viaULaw(x []int16) []int16 {
	for i, v := range x {
		x[i] = ulawDecode[g711.EncodeUlawFrame(v)]
	}
	return x
}

// detect runs a fresh detector (default config and kernel unless cfg says
// otherwise) over x in 160-sample blocks, then flushes.
func detect(cfg Config, x []int16) []Event {
	d := mustDetector(cfg)
	return runBlocks(d, x, 160)
}

func runBlocks(d *Detector, x []int16, block int) []Event {
	var ev []Event
	for len(x) > 0 {
		n := min(block, len(x))
		ev = d.Process(ev, x[:n])
		x = x[n:]
	}
	return d.Flush(ev)
}

func keysOf(ev []Event) string {
	var b strings.Builder
	for _, e := range ev {
		b.WriteByte(byte(e.Key))
	}
	return b.String()
}

// pairPower is the mean square of a tone pair at level (low tone) and twist.
func pairPower(level, twist float64) float64 {
	al, ah := Amplitude(level), Amplitude(level+twist)
	return (al*al + ah*ah) / 2
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// checkOne asserts that ev is exactly one press of key k spanning about
// [start, end) (within tol samples; tol < 0 skips the timing check).
func checkOne(t *testing.T, ev []Event, k Key, start, end, tol int64) {
	t.Helper()
	if len(ev) != 1 || ev[0].Key != k || ev[0].Source != SourceInband {
		t.Fatalf("got %v, want one %c", ev, k)
	}
	if tol >= 0 && (abs64(ev[0].Start-start) > tol || abs64(ev[0].End-end) > tol) {
		t.Fatalf("got %v, want %c [%d,%d) ±%d", ev[0], k, start, end, tol)
	}
}

func TestKeyFreqs(t *testing.T) {
	// ITU-T Q.23, Table 1.
	cases := []struct {
		key       Key
		low, high float64
	}{
		{'1', 697, 1209}, {'2', 697, 1336}, {'3', 697, 1477}, {'A', 697, 1633},
		{'4', 770, 1209}, {'5', 770, 1336}, {'6', 770, 1477}, {'B', 770, 1633},
		{'7', 852, 1209}, {'8', 852, 1336}, {'9', 852, 1477}, {'C', 852, 1633},
		{'*', 941, 1209}, {'0', 941, 1336}, {'#', 941, 1477}, {'D', 941, 1633},
	}
	for _, c := range cases {
		l, h, ok := KeyFreqs(c.key)
		if !ok || l != c.low || h != c.high {
			t.Errorf("KeyFreqs(%c) = %v, %v, %v; want %v, %v", c.key, l, h, ok, c.low, c.high)
		}
	}
	if _, _, ok := KeyFreqs('E'); ok {
		t.Error("KeyFreqs('E') ok")
	}
}

// TestDetectorKeys: all 16 keys, durations from the shortest that must be
// accepted (40 ms) up, at every alignment to the 40-sample sub-block grid.
func TestDetectorKeys(t *testing.T) {
	for _, k := range Keys {
		for _, dur := range []int{40, 45, 60, 100, 500} {
			t.Run(fmt.Sprintf("%c/%dms", k, dur), func(t *testing.T) {
				for off := range subBlock {
					at := 1000 + off
					x := viaULaw(render(at+dur*ms+1000, press{Tone{Key: k, Level: -10, Duration: dur * ms, LowPhase: float64(off), HighPhase: 2 * float64(off)}, at}))
					ev := detect(Config{}, x)
					checkOne(t, ev, k, int64(at), int64(at+dur*ms), 12)
				}
			})
		}
	}
}

// TestDetectorShortTones: tones of 25 ms and less are not keys (Q.24).
func TestDetectorShortTones(t *testing.T) {
	for _, k := range Keys {
		for _, dur := range []int{5, 10, 15, 20, 23, 25} {
			for off := range subBlock {
				x := viaULaw(render(3000, press{Tone{Key: k, Level: -6, Duration: dur * ms, LowPhase: float64(off)}, 1000 + off}))
				if ev := detect(Config{}, x); len(ev) != 0 {
					t.Errorf("%c %d ms at offset %d: got %v, want nothing", k, dur, off, ev)
				}
			}
		}
	}
}

// TestDetectorPause: a 40 ms pause between two presses separates them, even
// for the same key and the shortest tones.
func TestDetectorPause(t *testing.T) {
	for _, pair := range []string{"11", "##", "*#", "0D", "55"} {
		for _, tone := range []int{40, 60} {
			for _, pause := range []int{40, 50, 80} {
				for off := 0; off < subBlock; off += 3 {
					a, b := Key(pair[0]), Key(pair[1])
					t1 := Tone{Key: a, Level: -10, Duration: tone * ms}
					t2 := Tone{Key: b, Level: -10, Duration: tone * ms, LowPhase: 1, HighPhase: 2}
					at2 := 800 + off + (tone+pause)*ms
					x := viaULaw(render(at2+tone*ms+800, press{t1, 800 + off}, press{t2, at2}))
					ev := detect(Config{}, x)
					if keysOf(ev) != pair {
						t.Errorf("%s tone %d ms pause %d ms offset %d: got %v", pair, tone, pause, off, ev)
					}
				}
			}
		}
	}
}

// TestDetectorBreak: a break of up to 10 ms inside a tone does not split the
// press, with or without a phase jump after the break.
func TestDetectorBreak(t *testing.T) {
	for _, k := range []Key{'1', '5', '9', '#', '*', 'D'} {
		for brk := 1; brk <= 10; brk++ {
			for _, jump := range []bool{false, true} {
				t.Run(fmt.Sprintf("%c/%dms/jump=%v", k, brk, jump), func(t *testing.T) {
					for off := 0; off < subBlock; off += 2 {
						first := Tone{Key: k, Level: -10, Duration: 60 * ms}
						second := first
						second.Duration = 60 * ms
						at2 := 800 + off + 60*ms + brk*ms
						if jump {
							second.LowPhase, second.HighPhase = 2.1, -1.3
						} else {
							// continue the phase as if the tone had not stopped
							second.LowPhase, second.HighPhase = 0, 0
							fl, fh, _ := KeyFreqs(k)
							d := float64(at2 - 800 - off)
							second.LowPhase = 2 * math.Pi * fl * d / SampleRate
							second.HighPhase = 2 * math.Pi * fh * d / SampleRate
						}
						x := viaULaw(render(at2+60*ms+800, press{first, 800 + off}, press{second, at2}))
						ev := detect(Config{}, x)
						checkOne(t, ev, k, int64(800+off), int64(at2+60*ms), 12)
					}
				})
			}
		}
	}
}

// TestDetectorFreqDeviation: Q.24 — each tone may be 1.5 % off in either
// direction and must still count; 3.5 % off must not.
func TestDetectorFreqDeviation(t *testing.T) {
	type dev struct {
		name     string
		low, hi  float64
		detected bool
	}
	var cases []dev
	for _, s := range []float64{1, -1} {
		cases = append(cases,
			dev{fmt.Sprintf("low%+.1f%%", 1.5*s), 0.015 * s, 0, true},
			dev{fmt.Sprintf("high%+.1f%%", 1.5*s), 0, 0.015 * s, true},
			dev{fmt.Sprintf("low%+.1f%%", 3.5*s), 0.035 * s, 0, false},
			dev{fmt.Sprintf("high%+.1f%%", 3.5*s), 0, 0.035 * s, false},
			dev{fmt.Sprintf("both%+.1f%%", 1.5*s), 0.015 * s, 0.015 * s, true},
			dev{fmt.Sprintf("opposite%+.1f%%", 1.5*s), 0.015 * s, -0.015 * s, true},
			dev{fmt.Sprintf("both%+.1f%%", 3.5*s), 0.035 * s, 0.035 * s, false},
			dev{fmt.Sprintf("low%+.1f%%high1%%", 3.5*s), 0.035 * s, 0.01, false},
		)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, k := range Keys {
				for _, dur := range []int{40, 100} {
					for off := 0; off < subBlock; off += 7 {
						tn := Tone{Key: k, Level: -10, LowDev: c.low, HighDev: c.hi, Duration: dur * ms, LowPhase: float64(off)}
						x := viaULaw(render(2400+dur*ms, press{tn, 1000 + off}))
						ev := detect(Config{}, x)
						if c.detected {
							if len(ev) != 1 || ev[0].Key != k {
								t.Errorf("%c %d ms offset %d: got %v, want one %c", k, dur, off, ev, k)
							}
						} else if len(ev) != 0 {
							t.Errorf("%c %d ms offset %d: got %v, want nothing", k, dur, off, ev)
						}
					}
				}
			}
		})
	}
}

// TestDetectorTwist: the high-group tone from 8 dB below (normal twist) to
// 5 dB above (reverse twist, NTT) the low-group tone counts; −12 and +9 dB
// do not.
func TestDetectorTwist(t *testing.T) {
	for tw := -12; tw <= 9; tw++ {
		want := tw >= -8 && tw <= 5
		if !want && tw > -12 && tw < 9 {
			continue // between the limits: either answer is right
		}
		t.Run(fmt.Sprintf("%+ddB", tw), func(t *testing.T) {
			for _, k := range Keys {
				for _, level := range []float64{-6, -20} {
					for off := 0; off < subBlock; off += 9 {
						tn := Tone{Key: k, Level: level, Twist: float64(tw), Duration: 50 * ms, LowPhase: float64(off)}
						x := viaULaw(render(3000, press{tn, 1000 + off}))
						ev := detect(Config{}, x)
						if want && (len(ev) != 1 || ev[0].Key != k) {
							t.Errorf("%c low %v dBm0 offset %d: got %v, want one %c", k, level, off, ev, k)
						}
						if !want && len(ev) != 0 {
							t.Errorf("%c low %v dBm0 offset %d: got %v, want nothing", k, level, off, ev)
						}
					}
				}
			}
		})
	}
}

// TestDetectorLevel: −36 to 0 dBm0 per tone counts; −50 dBm0 does not.
func TestDetectorLevel(t *testing.T) {
	cases := []struct {
		level float64
		want  bool
	}{
		{0, true}, {-3, true}, {-10, true}, {-20, true}, {-30, true}, {-33, true}, {-36, true},
		{-50, false}, {-55, false}, {-70, false},
	}
	for _, c := range cases {
		t.Run(fmt.Sprintf("%vdBm0", c.level), func(t *testing.T) {
			for _, k := range Keys {
				for off := 0; off < subBlock; off += 5 {
					tn := Tone{Key: k, Level: c.level, Duration: 50 * ms, LowPhase: float64(off), HighPhase: 1}
					x := viaULaw(render(3000, press{tn, 1000 + off}))
					ev := detect(Config{}, x)
					if c.want && (len(ev) != 1 || ev[0].Key != k) {
						t.Errorf("%c offset %d: got %v, want one %c", k, off, ev, k)
					}
					if !c.want && len(ev) != 0 {
						t.Errorf("%c offset %d: got %v, want nothing", k, off, ev)
					}
				}
			}
		})
	}
}

// noisyRun builds trials·16 presses (every key, durations 40–70 ms, gaps
// 50–110 ms) in band-limited noise at snr dB below the tone pair's power,
// and returns how many presses were found, and how many events were wrong
// (another key, or a second event for one press).
func noisyRun(t *testing.T, snr float64, trials int, seed uint64) (found, wrong, total int) {
	t.Helper()
	r := rand.New(rand.NewPCG(seed, 1))
	level := -12.0
	var ps []press
	at := 800
	for i := range trials * 16 {
		dur := []int{40, 50, 60, 70}[r.IntN(4)] * ms
		tn := Tone{Key: Keys[i%16], Level: level, Duration: dur, LowPhase: 6 * r.Float64(), HighPhase: 6 * r.Float64()}
		ps = append(ps, press{tn, at})
		at += dur + (50+r.IntN(60))*ms
	}
	x := render(at+800, ps...)
	dtmftest.NewNoise(seed, pairPower(level, 0)/math.Pow(10, snr/10)).AddTo(x)
	ev := detect(Config{}, viaULaw(x))
	hit := make([]bool, len(ps))
	for _, e := range ev {
		ok := false
		for i, p := range ps {
			if e.Key == p.tone.Key && e.End > int64(p.at) && e.Start < int64(p.at+p.tone.Duration) && !hit[i] {
				hit[i], ok = true, true
				break
			}
		}
		if !ok {
			wrong++
			t.Logf("SNR %v dB: unexpected %v", snr, e)
		}
	}
	for _, h := range hit {
		if h {
			found++
		}
	}
	return found, wrong, len(ps)
}

// TestDetectorNoise12dB: at 12 dB SNR every key is found, nothing else.
func TestDetectorNoise12dB(t *testing.T) {
	for seed := range uint64(8) {
		found, wrong, total := noisyRun(t, 12, 25, seed)
		if found != total || wrong != 0 {
			t.Errorf("seed %d: found %d of %d, %d wrong", seed, found, total, wrong)
		}
	}
}

// TestDetectorNoise6dB measures detection at 6 dB SNR. Missing some keys
// is expected; a wrong key is not.
func TestDetectorNoise6dB(t *testing.T) {
	var found, wrong, total int
	for seed := range uint64(8) {
		f, w, n := noisyRun(t, 6, 25, 100+seed)
		found, wrong, total = found+f, wrong+w, total+n
	}
	pct := 100 * float64(found) / float64(total)
	t.Logf("6 dB SNR: found %d of %d keys (%.1f %%), %d wrong", found, total, pct, wrong)
	if wrong != 0 {
		t.Errorf("6 dB SNR: %d wrong keys", wrong)
	}
	if pct < 85 {
		t.Errorf("6 dB SNR: found only %.1f %%", pct)
	}
}

// TestDetectorNoiseOnly: noise alone, from quiet to loud, is never a key.
func TestDetectorNoiseOnly(t *testing.T) {
	for i, level := range []float64{-50, -30, -20, -10, -3} {
		x := make([]int16, 60*SampleRate)
		a := Amplitude(level)
		dtmftest.NewNoise(uint64(i), a*a/2).AddTo(x)
		if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
			t.Errorf("noise at %v dBm0: got %v", level, ev)
		}
	}
}

// readULaw reads a headerless μ-law file from testdata/speech.
func readULaw(t testing.TB, name string) []int16 {
	t.Helper()
	b, err := os.ReadFile("../testdata/speech/" + name)
	if err != nil {
		t.Fatal(err)
	}
	x := make([]int16, len(b))
	for i, c := range b {
		x[i] = ulawDecode[c]
	}
	return x
}

var speechFiles = []string{"prompt-greeting.ulaw", "ja-male.ulaw", "ja-female.ulaw", "ja-child.ulaw", "en-male.ulaw", "en-female.ulaw"}

// TestDetectorTalkOffSpeech: Japanese and English speech (testdata/speech)
// at levels from loud to quiet is never a key.
func TestDetectorTalkOffSpeech(t *testing.T) {
	for _, f := range speechFiles {
		src := readULaw(t, f)
		for _, g := range []float64{+3, 0, -6, -12, -20} {
			x := append([]int16(nil), src...)
			dtmftest.Scale(x, g)
			if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
				t.Errorf("%s at %+v dB: got %v", f, g, ev)
			}
		}
	}
}

// TestDetectorTalkOffMusic: chords, arpeggios, glides and harmonic-rich
// tones are never keys.
func TestDetectorTalkOffMusic(t *testing.T) {
	total := 0
	for seed := range uint64(10) {
		for _, level := range []float64{-6, -20} {
			x := make([]int16, 30*SampleRate)
			dtmftest.Music(x, seed, level)
			total += len(x)
			if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
				t.Errorf("music seed %d at %v dBm0: got %v", seed, level, ev)
			}
		}
	}
	// Sweeps through the whole DTMF band, pure and with harmonics.
	for i, h := range [][]float64{nil, {0.7, 0.3, 0.2}, {0.5, 0, 0.4}} {
		for _, span := range [][2]float64{{600, 1700}, {1700, 600}, {300, 3400}} {
			x := make([]int16, 4*SampleRate)
			dtmftest.Sweep(x, span[0], span[1], -10, h)
			total += len(x)
			if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
				t.Errorf("sweep %d %v: got %v", i, span, ev)
			}
		}
	}
	// Single notes with harmonics whose fundamental or harmonics sit on
	// DTMF frequencies, and triads of harmonic-rich notes.
	for m := 60; m <= 96; m++ {
		x := make([]int16, SampleRate/2)
		dtmftest.Chord(x, 0, -10, dtmftest.Note{Freq: dtmftest.EqualTempered(m), Harmonics: []float64{0.6, 0.3, 0.2, 0.1}})
		dtmftest.Chord(x, 0, -14, dtmftest.Note{Freq: dtmftest.EqualTempered(m - 12), Harmonics: []float64{0.5, 0.4, 0.3, 0.2}},
			dtmftest.Note{Freq: dtmftest.EqualTempered(m - 8), Harmonics: []float64{0.5, 0.4, 0.3, 0.2}},
			dtmftest.Note{Freq: dtmftest.EqualTempered(m - 5), Harmonics: []float64{0.5, 0.4, 0.3, 0.2}})
		total += len(x)
		if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
			t.Errorf("note %d: got %v", m, ev)
		}
	}
	t.Logf("%.0f s of music-like signals: no key", float64(total)/SampleRate)
}

// TestDetectorTalkOffSyntheticSpeech measures talk-off on dtmftest.Speech,
// a deliberately harsh speech model (impulse-excited narrow formants whose
// harmonics can sit exactly on a DTMF pair for tens of milliseconds). It
// guards against regressions; real speech (TestDetectorTalkOffSpeech) must
// give none.
func TestDetectorTalkOffSyntheticSpeech(t *testing.T) {
	var n, secs int
	for seed := range uint64(20) {
		x := make([]int16, 30*SampleRate)
		dtmftest.NewSpeech(seed, -15).AddTo(x)
		ev := detect(Config{}, viaULaw(x))
		n += len(ev)
		secs += 30
		for _, e := range ev {
			t.Logf("seed %d: %v", seed, e)
		}
	}
	t.Logf("synthetic speech: %d talk-off keys in %d s", n, secs)
	if n > 15 {
		t.Errorf("synthetic speech: %d talk-off keys in %d s (was 12 when written)", n, secs)
	}
}

// TestDetectorPromptEcho: our own greeting echoing back at −6 to −20 dB,
// over line noise, is never a key.
func TestDetectorPromptEcho(t *testing.T) {
	src := readULaw(t, "prompt-greeting.ulaw")
	for _, g := range []float64{-6, -8, -10, -12, -14, -16, -18, -20} {
		for i, noise := range []float64{0, -55, -45} {
			x := make([]int16, len(src))
			dtmftest.Mix(x, src, g)
			if noise != 0 {
				a := Amplitude(noise)
				dtmftest.NewNoise(uint64(i), a*a/2).AddTo(x)
			}
			if ev := detect(Config{}, viaULaw(x)); len(ev) != 0 {
				t.Errorf("echo at %v dB, noise %v dBm0: got %v", g, noise, ev)
			}
		}
	}
}

// activeLevel is the power of x in dBm0 over the 20 ms frames where it is
// active (above −50 dBm0): a simple stand-in for ITU-T P.56's active speech
// level.
func activeLevel(x []int16) float64 {
	var sum float64
	var n int
	a := Amplitude(0)
	for i := 0; i+160 <= len(x); i += 160 {
		p := dtmftest.Power(x[i : i+160])
		if p > a*a/2*1e-5 {
			sum += p
			n++
		}
	}
	return 10 * math.Log10(sum/float64(n)/(a*a/2))
}

// TestDetectorBargeIn: a key pressed while the prompt echoes back is found
// exactly once when it is 15–20 dB above the echo's active level, and
// nearly always at 10 dB (where the loudest syllables come within 5 dB).
func TestDetectorBargeIn(t *testing.T) {
	src := readULaw(t, "prompt-greeting.ulaw")
	speech := activeLevel(src)
	t.Logf("prompt: active level %.1f dBm0, average %.1f dBm0", speech, dtmftest.PowerDBm0(src))
	for _, above := range []float64{10, 15, 20} {
		var n, found int
		for _, g := range []float64{-6, -10, -14, -20} {
			// The pair's power is 3 dB above each tone's.
			level := min(-3, speech+g+above-3)
			for _, k := range []Key{'#', '*', '0', '1'} {
				for i := range 30 {
					at := 4000 + i*len(src)/32
					dur := []int{40, 60, 100}[i%3] * ms
					x := make([]int16, len(src))
					dtmftest.Mix(x, src, g)
					tn := Tone{Key: k, Level: level, Duration: dur, LowPhase: float64(i)}
					tn.AddTo(x[at:], 0)
					ev := detect(Config{}, viaULaw(x))
					n++
					if len(ev) == 1 && ev[0].Key == k && ev[0].End > int64(at) && ev[0].Start < int64(at+dur) {
						found++
						continue
					}
					if len(ev) > 1 || len(ev) == 1 && ev[0].Key != k || above > 10 {
						t.Errorf("echo %v dB, key %c at %.1f dBm0 (%v dB above echo), %d ms at %d: got %v", g, k, level, above, dur/ms, at, ev)
					}
				}
			}
		}
		pct := 100 * float64(found) / float64(n)
		t.Logf("key %v dB above the echo: %d of %d found (%.1f %%)", above, found, n, pct)
		if pct < 90 {
			t.Errorf("key %v dB above the echo: found only %.1f %% (was 95 %% when written)", above, pct)
		}
	}
}

// mixedSignal is a minute of keys, pauses, breaks, noise and speech.
func mixedSignal(t testing.TB) ([]int16, string) {
	r := rand.New(rand.NewPCG(7, 7))
	var ps []press
	var want strings.Builder
	at := 400
	for i := range 120 {
		k := Keys[r.IntN(16)]
		dur := (40 + r.IntN(80)) * ms
		ps = append(ps, press{Tone{Key: k, Level: -5 - 15*r.Float64(), Twist: 4 - 8*r.Float64(), Duration: dur, LowPhase: float64(i)}, at})
		want.WriteByte(byte(k))
		at += dur + (45+r.IntN(300))*ms
	}
	x := render(at+2000, ps...)
	dtmftest.NewNoise(3, pairPower(-30, 0)).AddTo(x)
	sp := readULaw(t, "ja-male.ulaw")
	dtmftest.Mix(x, sp, -30)
	return viaULaw(x), want.String()
}

// TestDetectorBlocks: events do not depend on how the stream is cut.
func TestDetectorBlocks(t *testing.T) {
	x, want := mixedSignal(t)
	ref := detect(Config{}, x)
	if keysOf(ref) != want {
		t.Fatalf("160-sample blocks: got %q, want %q", keysOf(ref), want)
	}
	for _, block := range []int{1, 2, 7, 39, 40, 41, 80, 159, 161, 320, 1000, 1279, 1280, 1281, 7919, len(x)} {
		d := mustDetector(Config{})
		if got := runBlocks(d, x, block); fmt.Sprint(got) != fmt.Sprint(ref) {
			t.Errorf("%d-sample blocks: got %v\nwant %v", block, got, ref)
		}
	}
	// Random block lengths.
	r := rand.New(rand.NewPCG(1, 2))
	d := mustDetector(Config{})
	var got []Event
	for y := x; len(y) > 0; {
		n := min(len(y), 1+r.IntN(500))
		got = d.Process(got, y[:n])
		y = y[n:]
	}
	got = d.Flush(got)
	if fmt.Sprint(got) != fmt.Sprint(ref) {
		t.Errorf("random blocks: got %v\nwant %v", got, ref)
	}
	if d.Pos() != int64(len(x)) {
		t.Errorf("Pos = %d, want %d", d.Pos(), len(x))
	}
}

// TestDetectorKernels: the portable kernel and the fastest one find the same
// keys at the same times.
func TestDetectorKernels(t *testing.T) {
	x, _ := mixedSignal(t)
	d := mustDetector(Config{})
	d.corr = corrGo
	slow := runBlocks(d, x, 160)
	fast := detect(Config{}, x)
	if fmt.Sprint(slow) != fmt.Sprint(fast) {
		t.Errorf("corrGo: %v\ncorrBest: %v", slow, fast)
	}
}

func TestDetectorAllocs(t *testing.T) {
	x, _ := mixedSignal(t)
	d := mustDetector(Config{})
	ev := make([]Event, 0, 256)
	pos := 0
	allocs := testing.AllocsPerRun(2000, func() {
		if pos+160 > len(x) {
			pos = 0
			d.Reset()
		}
		ev = d.Process(ev[:0], x[pos:pos+160])
		pos += 160
	})
	if allocs != 0 {
		t.Errorf("Process allocates %v times per call", allocs)
	}
	odd := testing.AllocsPerRun(1000, func() { ev = d.Process(ev[:0], x[:7]) })
	if odd != 0 {
		t.Errorf("Process of 7 samples allocates %v times per call", odd)
	}
}

// TestDetectorFlushReset: a key still sounding at the end comes out of
// Flush, once; Reset restarts the timeline.
func TestDetectorFlushReset(t *testing.T) {
	x := viaULaw(render(2000, press{Tone{Key: '#', Level: -10, Duration: 1000}, 1000}))
	d := mustDetector(Config{})
	ev := d.Process(nil, x)
	if len(ev) != 0 {
		t.Fatalf("Process: got %v before the tone ended", ev)
	}
	ev = d.Flush(ev)
	checkOne(t, ev, '#', 1000, 2000, 12)
	if ev = d.Flush(nil); len(ev) != 0 {
		t.Errorf("second Flush: got %v", ev)
	}
	d.Reset()
	if d.Pos() != 0 {
		t.Errorf("Pos after Reset = %d", d.Pos())
	}
	ev = d.Flush(d.Process(nil, x))
	checkOne(t, ev, '#', 1000, 2000, 12)
	// Nothing pending: Flush is a no-op.
	if ev := d.Flush(nil); len(ev) != 0 {
		t.Errorf("Flush of an idle detector: got %v", ev)
	}
}

// TestDetectorEventTiming: a key is reported once the tone has been gone for
// the hangover time, not before and not much later.
func TestDetectorEventTiming(t *testing.T) {
	x := viaULaw(render(4000, press{Tone{Key: '5', Level: -10, Duration: 800}, 1000}))
	d := mustDetector(Config{})
	for i := range x {
		ev := d.Process(nil, x[i:i+1])
		if len(ev) == 0 {
			continue
		}
		checkOne(t, ev, '5', 1000, 1800, 12)
		if i < 1800 || i > 1800+60*ms {
			t.Errorf("reported at sample %d; tone ended at 1800", i)
		}
		return
	}
	t.Fatal("never reported")
}

func TestConfigValidate(t *testing.T) {
	cases := []struct {
		name  string
		cfg   Config
		field string
	}{
		{"zero", Config{}, ""},
		{"tuned", Config{MinLevel: -40, NormalTwist: 8, ReverseTwist: 5, MaxFreqDev: 0.02, RelEnergy: 0.8, MinHits: 5, MinMisses: 10}, ""},
		{"level", Config{MinLevel: 4}, "MinLevel"},
		{"twist", Config{NormalTwist: -1}, "NormalTwist"},
		{"reverse", Config{ReverseTwist: 31}, "ReverseTwist"},
		{"dev", Config{MaxFreqDev: 0.06}, "MaxFreqDev"},
		{"rel", Config{RelEnergy: 1.5}, "RelEnergy"},
		{"spread", Config{MaxSpread: -1}, "MaxSpread"},
		{"hits", Config{MinHits: -1}, "MinHits"},
		{"misses", Config{MinMisses: 65}, "MinMisses"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			if c.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if _, err := NewDetector(c.cfg); err != nil {
					t.Fatalf("NewDetector: %v", err)
				}
				return
			}
			var ce *ConfigError
			if !errors.As(err, &ce) || ce.Field != c.field || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate = %v, want a ConfigError for %s", err, c.field)
			}
			if d, err := NewDetector(c.cfg); d != nil || !errors.As(err, &ce) || ce.Field != c.field {
				t.Errorf("NewDetector = %v, %v; want nil and the ConfigError", d, err)
			}
		})
	}
}

// mustDetector is NewDetector for configurations known to be valid.
func mustDetector(cfg Config) *Detector {
	d, err := NewDetector(cfg)
	if err != nil {
		panic(err)
	}
	return d
}
