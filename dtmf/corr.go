package dtmf

import "math"

// The in-band detector's inner loop: complex correlations of the 8 DTMF
// frequencies over fixed sub-blocks of subBlock samples, plus the energy.

// subBlock is the number of samples one correlation covers (5 ms).
const subBlock = 40

// freqs are the DTMF frequencies of ITU-T Q.23: the low group then the high group.
var freqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// The correlation is folded about the middle of the sub-block, c = 19.5:
// sample 39−j sits as far after c as sample j sits before it, so
//
//	Σ_j x[j]·e^{iω(j−c)} = Σ_{j<20} (x[j]+x[39−j])·cos(ω(j−c)) + i·(x[j]−x[39−j])·sin(ω(j−c))
//
// and C = e^{iωc}·that: 20 steps of two products instead of 40, and the
// sums and differences of two int16 are exact in float32.

// half is the number of folded steps.
const half = subBlock / 2

// corrTable holds, for folded step j, cos(ω_k(j−c)) in fold[j][0:8] and
// sin(ω_k(j−c)) in fold[j][8:16], and cos(ω_k c), sin(ω_k c) in mid[0:8]
// and mid[8:16]; ω_k = 2π freqs[k]/8000, c = (subBlock−1)/2. Its layout is
// relied on by the assembly kernels (row j at 64·j, mid at 1280).
type corrTable struct {
	fold [half][16]float32
	mid  [16]float32
}

// bins is one sub-block's result: re[k] = Σ x[j]·cos(ω_k j),
// im[k] = Σ x[j]·sin(ω_k j), energy = Σ x[j]², and from those peak =
// peakOf and tonal = tonalOf. Its layout (76 bytes: re at 0, im at 32,
// energy at 64, tonal at 68, peak at 72) is relied on by the assembly
// kernels.
type bins struct {
	re, im [8]float32
	energy float32
	tonal  uint32  // 1: passed the pre-filter (see tonalOf), else 0
	peak   float32 // the strongest low-group plus the strongest high-group power
}

// peakOf returns max_k |C_k|² over the low group plus max_k |C_k|² over
// the high group. Every kernel writes it, computed from its own re and im
// exactly as here: each power rounded as re² then im² then their sum (the
// conversions forbid fusing them into an FMA), the maxima, their sum, all
// in float32.
//
// The powers are never negative or NaN, and the bits of such float32s
// order as their values do: an integer max is the float max, without a
// float compare chain.
func peakOf(b *bins) float32 {
	pow := func(k int) uint32 {
		return math.Float32bits(float32(b.re[k]*b.re[k]) + float32(b.im[k]*b.im[k]))
	}
	pl := max(max(pow(0), pow(1)), max(pow(2), pow(3)))
	ph := max(max(pow(4), pow(5)), max(pow(6), pow(7)))
	return math.Float32frombits(pl) + math.Float32frombits(ph)
}

// tonalOf is the detector's per-sub-block pre-filter (see
// Detector.analyse): 1 when the strongest low-group and the strongest
// high-group correlation together carry at least tonalShare of the
// sub-block's energy, peak ≥ tonalShare·(subBlock/2)·energy (|C|² of a pure
// tone pair), and the energy is not 0; else 0. Every kernel writes it, from
// its own peak and energy, in float32 as here.
func tonalOf(b *bins) uint32 {
	if b.peak >= tonalShare*subBlock/2*b.energy && b.energy > 0 {
		return 1
	}
	return 0
}

func newCorrTable() *corrTable {
	var t corrTable
	const c = (subBlock - 1) / 2.0
	for k, f := range freqs {
		w := 2 * math.Pi * f / SampleRate
		for j := range half {
			t.fold[j][k] = float32(math.Cos(w * (float64(j) - c)))
			t.fold[j][8+k] = float32(math.Sin(w * (float64(j) - c)))
		}
		t.mid[k] = float32(math.Cos(w * c))
		t.mid[8+k] = float32(math.Sin(w * c))
	}
	return &t
}

// corrGo is the portable kernel: for each complete sub-block of x it writes
// one bins (correlations, energy and pre-filter verdict) to out, which must
// hold at least len(x)/subBlock; a last partial sub-block is ignored.
//
// It folds a sub-block once (see corrTable), then makes four passes over
// the 20 folded steps, each summing four of the 16 table columns: four
// accumulators stay in registers, where 16 or 8 would spill and put
// store-to-load forwarding into their dependency chains (docs/dtmf.md has
// the measurements). Each sum adds its terms in step order; the energy
// adds the squares in sample order.
func corrGo(out []bins, x []int16, t *corrTable) {
	for b := 0; b+subBlock <= len(x); b += subBlock {
		blk := (*[subBlock]int16)(x[b : b+subBlock])
		var sum, dif [half]float32
		var e float32
		for j := range half {
			u, v := float32(blk[j]), float32(blk[subBlock-1-j])
			sum[j], dif[j] = u+v, u-v
		}
		for _, s := range blk {
			v := float32(s)
			e += float32(v * v)
		}
		var re, im [8]float32
		re[0], re[1], re[2], re[3] = corr4(&sum, t, 0)
		re[4], re[5], re[6], re[7] = corr4(&sum, t, 4)
		im[0], im[1], im[2], im[3] = corr4(&dif, t, 8)
		im[4], im[5], im[6], im[7] = corr4(&dif, t, 12)
		o := &out[b/subBlock]
		for k := range 8 {
			c, s := t.mid[k], t.mid[8+k]
			o.re[k] = float32(re[k]*c) - float32(im[k]*s)
			o.im[k] = float32(re[k]*s) + float32(im[k]*c)
		}
		o.energy = e
		o.peak = peakOf(o)
		o.tonal = tonalOf(o)
	}
}

// corr4 returns Σ v[j]·t.fold[j][k0+i] for i = 0..3.
func corr4(v *[half]float32, t *corrTable, k0 int) (a0, a1, a2, a3 float32) {
	for j, x := range v {
		row := (*[4]float32)(t.fold[j][k0 : k0+4])
		a0 += x * row[0]
		a1 += x * row[1]
		a2 += x * row[2]
		a3 += x * row[3]
	}
	return a0, a1, a2, a3
}

// corrKernel names one implementation of the correlation. Every kernel has
// corrGo's contract and results within float32 rounding of it.
type corrKernel struct {
	name string
	fn   func(out []bins, x []int16, t *corrTable)
}

// corrBest is the fastest kernel this CPU can run: the first of
// corrKernels, which is defined per architecture (corr_amd64.go,
// corr_other.go) and lists the usable kernels fastest first, corrGo last.
var corrBest = corrKernels()[0].fn
