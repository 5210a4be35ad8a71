package dtmf

import (
	"math"
	"math/rand/v2"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// corrTol bounds the rounding error of one float32 sum of subBlock
// products relative to the sum of the magnitudes of its terms
// (n·2⁻²⁴ for n terms). For re and im that magnitude is
// Σ|x[j]·t[j][k]| ≤ Σ|x[j]| ≤ √(subBlock·energy) (Cauchy–Schwarz), for the
// energy it is the energy itself. Two kernels may each be off by that
// much, in opposite directions, so they agree within twice the bound.
const corrTol = subBlock * 0x1p-24

// corrRef is the definition, in float64, for x of at most subBlock samples.
func corrRef(x []int16) (re, im [8]float64, energy float64) {
	for j, s := range x {
		v := float64(s)
		energy += v * v
		for k := range freqs {
			re[k] += v * refCos[j][k]
			im[k] += v * refSin[j][k]
		}
	}
	return re, im, energy
}

// refCos[j][k], refSin[j][k]: cos(ω_k j) and sin(ω_k j) in float64.
var refCos, refSin = func() (c, s [subBlock][8]float64) {
	for j := range subBlock {
		for k, f := range freqs {
			w := 2 * math.Pi * f / SampleRate * float64(j)
			c[j][k], s[j][k] = math.Cos(w), math.Sin(w)
		}
	}
	return c, s
}()

// corrInput returns n samples of sub-blocks of several kinds: uniform
// random over all of int16, full-scale constants (−32768, 32767),
// alternating extremes, silence, and a quiet random signal.
func corrInput(r *rand.Rand, n int) []int16 {
	x := make([]int16, n)
	for b := 0; b < n; b += subBlock {
		kind := r.IntN(6)
		for i := b; i < min(b+subBlock, n); i++ {
			switch kind {
			case 0, 1:
				x[i] = int16(r.Uint32())
			case 2:
				x[i] = math.MinInt16
			case 3:
				x[i] = math.MaxInt16
			case 4:
				x[i] = [2]int16{math.MinInt16, math.MaxInt16}[i%2]
			case 5:
				x[i] = int16(r.IntN(21) - 10)
			}
		}
	}
	return x
}

var corrLens = []int{0, 1, 39, 40, 45, 80, 120, 160, 4000, 4039}

// sentinel marks bins a kernel must not write.
var sentinel = bins{re: [8]float32{-1.5, -1.5, -1.5, -1.5, -1.5, -1.5, -1.5, -1.5}, energy: -7}

func TestCorrKernels(t *testing.T) {
	tab := newCorrTable()
	r := rand.New(rand.NewPCG(4733, 23))
	for _, k := range corrKernels() {
		t.Run(k.name, func(t *testing.T) {
			for _, n := range corrLens {
				for range 3 {
					x := corrInput(r, n)
					nb := n / subBlock
					out := make([]bins, nb+3)
					want := make([]bins, nb+3)
					for i := range out {
						out[i], want[i] = sentinel, sentinel
					}
					k.fn(out, x, tab)
					corrGo(want, x, tab)
					for b := range nb {
						checkBins(t, k.name, n, b, out[b], want[b], x[b*subBlock:(b+1)*subBlock], tab)
					}
					for b := nb; b < len(out); b++ {
						if out[b] != sentinel {
							t.Fatalf("%s, len %d: out[%d] written beyond the %d complete sub-blocks: %v", k.name, n, b, nb, out[b])
						}
					}
				}
			}
		})
	}
}

func checkBins(t *testing.T, name string, n, b int, got, goRes bins, x []int16, tab *corrTable) {
	t.Helper()
	re, im, e := corrRef(x)
	mag := math.Sqrt(subBlock * e)
	near := func(what string, k int, got, goRes float32, ref, mag float64) {
		if d := math.Abs(float64(got) - ref); d > corrTol*mag {
			t.Errorf("%s, len %d, sub-block %d: %s[%d] = %g, float64 reference %g: off by %g > %g",
				name, n, b, what, k, got, ref, d, corrTol*mag)
		}
		if d := math.Abs(float64(got) - float64(goRes)); d > 2*corrTol*mag {
			t.Errorf("%s, len %d, sub-block %d: %s[%d] = %g, corrGo %g: off by %g > %g",
				name, n, b, what, k, got, goRes, d, 2*corrTol*mag)
		}
	}
	for k := range 8 {
		near("re", k, got.re[k], goRes.re[k], re[k], mag)
		near("im", k, got.im[k], goRes.im[k], im[k], mag)
	}
	near("energy", 0, got.energy, goRes.energy, e, e)
	if got.peak != peakOf(&got) {
		t.Errorf("%s, len %d, sub-block %d: peak = %g, peakOf its own results %g", name, n, b, got.peak, peakOf(&got))
	}
	if got.tonal != tonalOf(&got) {
		t.Errorf("%s, len %d, sub-block %d: tonal = %d, tonalOf its own results %d", name, n, b, got.tonal, tonalOf(&got))
	}
}

// A sub-block's result must not depend on where it lies in x (the
// assembly has a two-sub-block main loop and a one-sub-block tail).
func TestCorrPositionIndependent(t *testing.T) {
	tab := newCorrTable()
	r := rand.New(rand.NewPCG(1, 2))
	x := corrInput(r, 5*subBlock)
	for _, k := range corrKernels() {
		var out [5]bins
		k.fn(out[:], x, tab)
		for b := range 5 {
			var one [1]bins
			k.fn(one[:], x[b*subBlock:(b+1)*subBlock], tab)
			if one[0] != out[b] {
				t.Errorf("%s: sub-block %d alone = %v, within 5 = %v", k.name, b, one[0], out[b])
			}
		}
	}
}

func TestCorrShortOutPanics(t *testing.T) {
	tab := newCorrTable()
	x := make([]int16, 3*subBlock)
	for _, k := range corrKernels() {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic with len(out) < len(x)/subBlock", k.name)
				}
			}()
			k.fn(make([]bins, 2), x, tab)
		}()
	}
}

func TestCorrAllocs(t *testing.T) {
	tab := newCorrTable()
	x := corrInput(rand.New(rand.NewPCG(3, 4)), 4000)
	out := make([]bins, 100)
	for _, k := range corrKernels() {
		if a := testing.AllocsPerRun(100, func() { k.fn(out, x, tab) }); a != 0 {
			t.Errorf("%s: %v allocations per call, want 0", k.name, a)
		}
	}
}

// On this machine the CPU's features, as the Linux kernel reports them,
// decide which kernel corrBest must be, so a broken CPUID/XGETBV check or
// selection order fails here rather than silently running corrGo.
func TestCorrBestSelection(t *testing.T) {
	ks := corrKernels()
	if ks[len(ks)-1].name != "go" {
		t.Errorf("last kernel is %q, want the portable \"go\"", ks[len(ks)-1].name)
	}
	if reflect.ValueOf(corrBest).Pointer() != reflect.ValueOf(ks[0].fn).Pointer() {
		t.Errorf("corrBest is not the first kernel, %q", ks[0].name)
	}
	if runtime.GOARCH != "amd64" || runtime.GOOS != "linux" {
		t.Skipf("feature check needs /proc/cpuinfo on amd64; kernels: %v", kernelNames(ks))
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		t.Skip(err)
	}
	var flags []string
	for line := range strings.Lines(string(cpuinfo)) {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "flags" {
			flags = strings.Fields(value)
			break
		}
	}
	has := func(f string) bool { return slices.Contains(flags, f) }
	want := []string{"go"}
	if has("avx") && has("avx2") && has("fma") {
		want = []string{"avx2", "go"}
	}
	if got := kernelNames(ks); !slices.Equal(got, want) {
		t.Errorf("kernels = %v, want %v for CPU flags avx=%v avx2=%v fma=%v",
			got, want, has("avx"), has("avx2"), has("fma"))
	}
}

func kernelNames(ks []corrKernel) []string {
	var names []string
	for _, k := range ks {
		names = append(names, k.name)
	}
	return names
}
