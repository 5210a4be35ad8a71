package dtmf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"denwa/dtmf/dtmftest"
)

// The fastest kernel (corrBest, AVX2 where the CPU has it) and the portable
// one (corrGo) agree within float32 rounding, not bit for bit; these tests
// check that the detector finds the same keys, at the same times, with
// either, on signals that sit on every decision's edge.

// pathSignals returns named test signals: the mixed signal, speech, music,
// synthetic speech (which makes a few talk-off keys, so both paths must
// agree on those too), noise, and tones at the edges of level, twist,
// frequency offset and duration.
func pathSignals(t testing.TB) map[string][]int16 {
	sig := map[string][]int16{}
	sig["mixed"], _ = mixedSignal(t)
	for _, f := range speechFiles {
		src := readULaw(t, f)
		for _, g := range []float64{+3, -20} {
			x := make([]int16, len(src))
			dtmftest.Mix(x, src, g)
			sig[fmt.Sprintf("%s%+gdB", f, g)] = viaULaw(x)
		}
	}
	for seed := range uint64(2) {
		x := make([]int16, 20*SampleRate)
		dtmftest.Music(x, seed, -10)
		sig[fmt.Sprint("music", seed)] = viaULaw(x)
		y := make([]int16, 30*SampleRate)
		dtmftest.NewSpeech(seed, -15).AddTo(y)
		sig[fmt.Sprint("synthetic-speech", seed)] = viaULaw(y)
	}
	noise := make([]int16, 10*SampleRate)
	dtmftest.NewNoise(1, pairPower(-20, 0)).AddTo(noise)
	sig["noise"] = viaULaw(noise)
	edge := func(name string, mod func(i int, t *Tone)) {
		sig[name] = viaULaw(sequence(allKeys, 45, 60, mod))
	}
	for _, l := range []float64{-36, -42, -44, -45, -46, -50, 0, 3} {
		edge(fmt.Sprint("level", l), func(_ int, t *Tone) { t.Level = l })
	}
	for _, tw := range []float64{-11, -10, -9, 6, 7, 8} {
		edge(fmt.Sprint("twist", tw), func(_ int, t *Tone) { t.Level, t.Twist = -20, tw })
	}
	for _, dv := range []float64{0.015, 0.019, 0.02, 0.021, 0.025, 0.035} {
		for _, sign := range []float64{1, -1} {
			edge(fmt.Sprint("dev", sign*dv), func(i int, t *Tone) {
				if i%2 == 0 {
					t.LowDev = sign * dv
				} else {
					t.HighDev = sign * dv
				}
			})
		}
	}
	for _, ms := range []int{23, 25, 28, 30, 33, 35, 38, 40} {
		sig[fmt.Sprint("duration", ms)] = viaULaw(sequence(allKeys, ms, 60, nil))
	}
	x := sequence(allKeys, 45, 45, func(_ int, t *Tone) { t.Level = -20 })
	dtmftest.NewNoise(2, pairPower(-20, 0)/math.Pow(10, 6.0/10)).AddTo(x)
	sig["snr6"] = viaULaw(x)
	return sig
}

func TestKernelPathsSameKeys(t *testing.T) {
	if corrKernels()[0].name == "go" {
		t.Skip("this CPU runs only the portable kernel")
	}
	for name, x := range pathSignals(t) {
		for _, block := range []int{160, 1 << 15} {
			fast := runBlocks(mustDetector(Config{}), x, block)
			d := mustDetector(Config{})
			d.corr = corrGo
			slow := runBlocks(d, x, block)
			if fmt.Sprint(fast) != fmt.Sprint(slow) {
				t.Errorf("%s, blocks of %d: %s: %v\ngo: %v", name, block, corrKernels()[0].name, fast, slow)
			}
		}
	}
}

// TestKernelPathsBins: on the same signals, every sub-block's correlations
// and energy from each kernel lie within float32 rounding of the portable
// kernel's, and each kernel's peak and tonal are those of its own sums.
func TestKernelPathsBins(t *testing.T) {
	tab := newCorrTable()
	for name, x := range pathSignals(t) {
		n := len(x) / subBlock
		want := make([]bins, n)
		corrGo(want, x, tab)
		for _, k := range corrKernels() {
			got := make([]bins, n)
			k.fn(got, x, tab)
			for b := range n {
				checkBins(t, k.name+"/"+name, len(x), b, got[b], want[b], x[b*subBlock:(b+1)*subBlock], tab)
			}
			if t.Failed() {
				return
			}
		}
	}
}

// TestDetectorAllocsPaths: Process allocates nothing per call with either
// kernel, in 20 ms packets and in the 32768-sample blocks of `denwa
// detect`, and neither does Missing.
func TestDetectorAllocsPaths(t *testing.T) {
	x, _ := mixedSignal(t)
	for _, k := range corrKernels() {
		for _, block := range []int{160, 1 << 15} {
			d := mustDetector(Config{})
			d.corr = k.fn
			ev := make([]Event, 0, 256)
			pos := 0
			allocs := testing.AllocsPerRun(200, func() {
				if pos+block > len(x) {
					pos = 0
					d.Reset()
				}
				ev = d.Process(ev[:0], x[pos:pos+block])
				ev = d.Missing(ev[:0], 80)
				pos += block
			})
			if allocs != 0 {
				t.Errorf("%s, blocks of %d: %v allocations per call", k.name, block, allocs)
			}
		}
	}
}

// FuzzCorrKernels: on any samples, every kernel agrees with the float64
// definition and with the portable kernel within float32 rounding, and
// writes no more than the complete sub-blocks.
func FuzzCorrKernels(f *testing.F) {
	r := rand.New(rand.NewPCG(5, 5))
	for _, n := range []int{40, 80, 120, 400} {
		x := corrInput(r, n)
		b := make([]byte, 2*len(x))
		for i, v := range x {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
		f.Add(b)
	}
	tab := newCorrTable()
	f.Fuzz(func(t *testing.T, b []byte) {
		x := make([]int16, len(b)/2)
		for i := range x {
			x[i] = int16(binary.LittleEndian.Uint16(b[2*i:]))
		}
		n := len(x) / subBlock
		want := make([]bins, n)
		corrGo(want, x, tab)
		for _, k := range corrKernels() {
			got := make([]bins, n+1)
			got[n] = sentinel
			k.fn(got, x, tab)
			for i := range n {
				checkBins(t, k.name, len(x), i, got[i], want[i], x[i*subBlock:(i+1)*subBlock], tab)
			}
			if got[n] != sentinel {
				t.Fatalf("%s: wrote past the %d complete sub-blocks", k.name, n)
			}
		}
	})
}
