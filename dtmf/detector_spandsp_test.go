package dtmf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"denwa/dtmf/dtmftest"
)

// The side-by-side comparison with spandsp's dtmf_rx, the detector most
// telephony engines measure themselves against. spandsp is only run, as a
// separate program: testdata/spandsp/dtmf_rx.c, a small harness on spandsp's
// public API, which the test compiles with gcc against Debian's
// libspandsp-dev. Nothing of spandsp is linked into denwa or copied.

// spandspHarness compiles testdata/spandsp/dtmf_rx.c into a temporary
// directory and returns the program's path. It skips (fails with
// DENWA_REQUIRE_INTEROP=1) when gcc or spandsp's headers are missing.
func spandspHarness(t testing.TB) string {
	t.Helper()
	need := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if os.Getenv("DENWA_REQUIRE_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg + " (set DENWA_REQUIRE_INTEROP=1 to make this a failure)")
	}
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		need("spandsp comparison: gcc not found (apt-get install gcc libspandsp-dev)")
	}
	// Debian installs spandsp.h under the multiarch include directory and
	// the rest under /usr/include/spandsp/.
	found := false
	for _, h := range []string{"/usr/include/spandsp/dtmf.h", "/usr/local/include/spandsp/dtmf.h"} {
		if _, err := os.Stat(h); err == nil {
			found = true
		}
	}
	if !found {
		need("spandsp comparison: spandsp headers not found (apt-get install libspandsp-dev)")
	}
	bin := filepath.Join(t.TempDir(), "dtmf_rx")
	src := filepath.Join("testdata", "spandsp", "dtmf_rx.c")
	if b, err := exec.Command(gcc, "-O2", "-Wall", "-o", bin, src, "-lspandsp", "-lm").CombinedOutput(); err != nil {
		t.Fatalf("spandsp comparison: gcc %s: %v\n%s", src, err, b)
	}
	return bin
}

// writeWAV writes x as a 16-bit PCM mono 8 kHz RIFF WAV file.
func writeWAV(t testing.TB, path string, x []int16) {
	t.Helper()
	var b bytes.Buffer
	n := uint32(2 * len(x))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, [4]uint32{16, 1 | 1<<16, SampleRate, 2 * SampleRate})
	binary.Write(&b, binary.LittleEndian, [2]uint16{2, 16})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)
	binary.Write(&b, binary.LittleEndian, x)
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// lcs is the length of the longest common subsequence of a and b: the keys
// of want found, in order, in got.
func lcs(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := range a {
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(cur[j], prev[j+1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// category is a set of signals with the keys each should yield.
type category struct {
	name    string
	signals [][]int16
	want    []string
}

func (c *category) add(x []int16, want string) {
	c.signals = append(c.signals, viaULaw(x))
	c.want = append(c.want, want)
}

// sequence renders presses of keys (dur ms each, gap ms apart) with a
// modifier applied to each Tone.
func sequence(keys string, dur, gap int, mod func(i int, t *Tone)) []int16 {
	var ps []press
	at := 200 * ms
	for i := range len(keys) {
		tn := Tone{Key: Key(keys[i]), Level: -10, Duration: dur * ms, LowPhase: float64(i), HighPhase: float64(2 * i)}
		if mod != nil {
			mod(i, &tn)
		}
		ps = append(ps, press{tn, at})
		at += tn.Duration + gap*ms
	}
	return render(at+200*ms, ps...)
}

const allKeys = "0123456789*#ABCD"

func comparisonCategories(t *testing.T) []*category {
	var cs []*category
	cat := func(name string) *category {
		c := &category{name: name}
		cs = append(cs, c)
		return c
	}
	c := cat("freq dev ±1.5%")
	for _, dv := range [][2]float64{{0.015, 0}, {-0.015, 0}, {0, 0.015}, {0, -0.015}, {0.015, 0.015}, {-0.015, -0.015}, {0.015, -0.015}, {-0.015, 0.015}} {
		c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.LowDev, t.HighDev = dv[0], dv[1] }), allKeys)
	}
	c = cat("freq dev ±3.5% (reject)")
	for _, dv := range [][2]float64{{0.035, 0}, {-0.035, 0}, {0, 0.035}, {0, -0.035}} {
		c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.LowDev, t.HighDev = dv[0], dv[1] }), "")
	}
	c = cat("twist -8…+5 dB")
	for tw := -8; tw <= 5; tw++ {
		c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.Level, t.Twist = -12, float64(tw) }), allKeys)
	}
	c = cat("twist -12/+9 dB (reject)")
	for _, tw := range []float64{-12, 9} {
		c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.Level, t.Twist = -12, tw }), "")
	}
	c = cat("level -36…0 dBm0")
	for _, l := range []float64{-36, -33, -30, -24, -18, -12, -6, -3, 0} {
		c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.Level = l }), allKeys)
	}
	c = cat("level -50 dBm0 (reject)")
	c.add(sequence(allKeys, 60, 100, func(_ int, t *Tone) { t.Level = -50 }), "")
	for _, snr := range []float64{12, 6} {
		c = cat(fmt.Sprintf("SNR %v dB", snr))
		for seed := range uint64(10) {
			r := rand.New(rand.NewPCG(seed, 9))
			x := sequence(allKeys, 50, 100, func(_ int, t *Tone) { t.Level = -12; t.LowPhase = 6 * r.Float64() })
			dtmftest.NewNoise(seed, pairPower(-12, 0)/math.Pow(10, snr/10)).AddTo(x)
			c.add(x, allKeys)
		}
	}
	c = cat("40 ms tones")
	for off := 0; off < 40; off += 5 {
		c.add(append(make([]int16, off), sequence(allKeys, 40, 100, nil)...), allKeys)
	}
	c = cat("tones ≤25 ms (reject)")
	for _, d := range []int{10, 15, 20, 23, 25} {
		c.add(sequence(allKeys, d, 100, nil), "")
	}
	c = cat("breaks 1–10 ms")
	for brk := 1; brk <= 10; brk++ {
		var ps []press
		at := 1600
		var want strings.Builder
		for i := range 16 {
			k := Key(allKeys[i])
			ps = append(ps, press{Tone{Key: k, Level: -10, Duration: 60 * ms}, at},
				press{Tone{Key: k, Level: -10, Duration: 60 * ms, LowPhase: 1, HighPhase: 2}, at + 60*ms + brk*ms})
			want.WriteByte(byte(k))
			at += 120*ms + brk*ms + 150*ms
		}
		c.add(render(at+1600, ps...), want.String())
	}
	c = cat("40 ms pauses")
	c.add(sequence("1122334455667788", 40, 40, nil), "1122334455667788")
	c.add(sequence("99**##00AABBCCDD", 50, 40, nil), "99**##00AABBCCDD")
	c = cat("talk-off speech+music+echo")
	for _, f := range speechFiles {
		c.add(readULaw(t, f), "")
	}
	for seed := range uint64(6) {
		x := make([]int16, 30*SampleRate)
		dtmftest.Music(x, seed, -10)
		c.add(x, "")
	}
	src := readULaw(t, "prompt-greeting.ulaw")
	for _, g := range []float64{-6, -12, -20} {
		x := make([]int16, len(src))
		dtmftest.Mix(x, src, g)
		c.add(x, "")
	}
	c = cat("barge-in (15 dB over echo)")
	level := activeLevel(src) - 10 + 15 - 3
	for _, k := range "#*01" {
		x := make([]int16, len(src))
		dtmftest.Mix(x, src, -10)
		tn := Tone{Key: Key(k), Level: level, Duration: 60 * ms}
		for i := range 6 {
			tn.AddTo(x[8000+i*len(src)/7:], 0)
		}
		c.add(x, strings.Repeat(string(k), 6))
	}
	return cs
}

type score struct{ want, found, extra int }

func (s score) errors() int { return s.want - s.found + s.extra }

func (s score) String() string {
	if s.want == 0 {
		return fmt.Sprintf("%d false", s.extra)
	}
	return fmt.Sprintf("%d/%d, %d extra", s.found, s.want, s.extra)
}

func (s *score) add(want, got string) {
	f := lcs(want, got)
	s.want += len(want)
	s.found += f
	s.extra += len(got) - f
}

func TestCompareSpandsp(t *testing.T) {
	bin := spandspHarness(t)
	dir := t.TempDir()
	var table strings.Builder
	fmt.Fprintf(&table, "\n%-28s %-22s %-22s\n", "category", "denwa", "spandsp")
	for _, c := range comparisonCategories(t) {
		var ours, theirs score
		for i, x := range c.signals {
			ours.add(c.want[i], keysOf(detect(Config{}, x)))
			path := filepath.Join(dir, fmt.Sprintf("%s-%d.wav", strings.Map(func(r rune) rune {
				if r < 'a' || r > 'z' {
					return '_'
				}
				return r
			}, c.name), i))
			writeWAV(t, path, x)
			out, err := exec.Command(bin, path).Output()
			if err != nil {
				t.Fatalf("%s %s: %v", bin, path, err)
			}
			theirs.add(c.want[i], strings.Join(strings.Fields(string(out)), ""))
		}
		fmt.Fprintf(&table, "%-28s %-22s %-22s\n", c.name, ours, theirs)
		if ours.errors() > theirs.errors() {
			t.Errorf("%s: denwa %v is worse than spandsp %v", c.name, ours, theirs)
		}
	}
	t.Log(table.String())
}

// BenchmarkSpandsp runs spandsp's dtmf_rx loop (the harness's -b mode, its
// own timing of the detector loop alone, file in memory) over the same
// signals BenchmarkDetector uses, repeated to 1,000 s so its timer has
// something to measure, and reports its speed as x-realtime — so one
//
//	go test ./dtmf -run '^$' -bench 'Detector|Spandsp' -count 5
//
// puts both detectors side by side on this machine, in one run.
func BenchmarkSpandsp(b *testing.B) {
	bin := spandspHarness(b)
	for _, input := range []string{"mixed", "speech"} {
		b.Run("input="+input, func(b *testing.B) {
			var x []int16
			if input == "mixed" {
				x, _ = mixedSignal(b)
			} else {
				x = readULaw(b, "ja-male.ulaw")
			}
			long := make([]int16, 0, 1000*SampleRate+len(x))
			for len(long) < 1000*SampleRate {
				long = append(long, x...)
			}
			wav := filepath.Join(b.TempDir(), input+".wav")
			writeWAV(b, wav, long)
			re := regexp.MustCompile(`([0-9.]+) x realtime`)
			var sum float64
			n := 0
			for b.Loop() {
				var stderr bytes.Buffer
				cmd := exec.Command(bin, "-b", wav)
				cmd.Stderr = &stderr
				if err := cmd.Run(); err != nil {
					b.Fatalf("%v: %s", err, stderr.String())
				}
				m := re.FindStringSubmatch(stderr.String())
				if m == nil {
					b.Fatalf("no speed in %q", stderr.String())
				}
				v, _ := strconv.ParseFloat(m[1], 64)
				sum += v
				n++
			}
			b.ReportMetric(sum/float64(n), "x-realtime")
		})
	}
}
