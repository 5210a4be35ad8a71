package dtmf

import "math"

// The in-band detector's inner loop: complex correlations of the 8 DTMF
// frequencies over fixed sub-blocks of subBlock samples, plus the energy.

// subBlock is the number of samples one correlation covers (5 ms).
const subBlock = 40

// freqs are the DTMF frequencies of ITU-T Q.23: the low group then the high group.
var freqs = [8]float64{697, 770, 852, 941, 1209, 1336, 1477, 1633}

// corrTable holds, for sample j of a sub-block, cos(ω_k j) in [j][0:8] and
// sin(ω_k j) in [j][8:16], ω_k = 2π freqs[k]/8000.
type corrTable [subBlock][16]float32

// bins is one sub-block's result: re[k] = Σ x[j]·cos(ω_k j),
// im[k] = Σ x[j]·sin(ω_k j), energy = Σ x[j]², and tonal = tonalOf of
// those. Its layout (72 bytes: re at 0, im at 32, energy at 64, tonal at
// 68) is relied on by the assembly kernels.
type bins struct {
	re, im [8]float32
	energy float32
	tonal  uint32 // 1: passed the pre-filter (see tonalOf), else 0
}

// tonalOf is the detector's per-sub-block pre-filter (see
// Detector.analyse): 1 when the strongest low-group and the strongest
// high-group correlation together carry at least tonalShare of the
// sub-block's energy, |C|² ≥ tonalShare·(subBlock/2)·energy for a pure
// tone pair, and the energy is not 0; else 0. Every kernel writes it,
// computed from its own re, im and energy exactly as here: each power
// rounded as re² then im² then their sum (the conversions forbid fusing
// them into an FMA), the maxima, their sum, and the bound, all in float32.
//
// The powers are never negative or NaN, and the bits of such float32s
// order as their values do: an integer max is the float max, without a
// float compare chain.
func tonalOf(b *bins) uint32 {
	pow := func(k int) uint32 {
		return math.Float32bits(float32(b.re[k]*b.re[k]) + float32(b.im[k]*b.im[k]))
	}
	pl := max(max(pow(0), pow(1)), max(pow(2), pow(3)))
	ph := max(max(pow(4), pow(5)), max(pow(6), pow(7)))
	if math.Float32frombits(pl)+math.Float32frombits(ph) >= tonalShare*subBlock/2*b.energy && b.energy > 0 {
		return 1
	}
	return 0
}

func newCorrTable() *corrTable {
	var t corrTable
	for j := range subBlock {
		for k, f := range freqs {
			w := 2 * math.Pi * f / SampleRate
			t[j][k] = float32(math.Cos(w * float64(j)))
			t[j][8+k] = float32(math.Sin(w * float64(j)))
		}
	}
	return &t
}

// corrGo is the portable kernel: for each complete sub-block of x it writes
// one bins (correlations, energy and pre-filter verdict) to out, which must hold at least len(x)/subBlock; a last partial
// sub-block is ignored.
//
// It converts a sub-block once, then makes four passes over it, each
// summing four of the 16 table columns (the first also the energy): four
// accumulators stay in registers, where 16 or 8 would spill and put
// store-to-load forwarding into their dependency chains (docs/dtmf.md has
// the measurements). Each sum adds its terms in sample order.
func corrGo(out []bins, x []int16, t *corrTable) {
	for b := 0; b+subBlock <= len(x); b += subBlock {
		blk := (*[subBlock]int16)(x[b : b+subBlock])
		var xf [subBlock]float32
		for j, s := range blk {
			xf[j] = float32(s)
		}
		o := &out[b/subBlock]
		o.re[0], o.re[1], o.re[2], o.re[3], o.energy = corr4Energy(&xf, t)
		o.re[4], o.re[5], o.re[6], o.re[7] = corr4(&xf, t, 4)
		o.im[0], o.im[1], o.im[2], o.im[3] = corr4(&xf, t, 8)
		o.im[4], o.im[5], o.im[6], o.im[7] = corr4(&xf, t, 12)
		o.tonal = tonalOf(o)
	}
}

// corr4 returns Σ xf[j]·t[j][k0+i] for i = 0..3.
func corr4(xf *[subBlock]float32, t *corrTable, k0 int) (a0, a1, a2, a3 float32) {
	for j, v := range xf {
		row := (*[4]float32)(t[j][k0 : k0+4])
		a0 += v * row[0]
		a1 += v * row[1]
		a2 += v * row[2]
		a3 += v * row[3]
	}
	return a0, a1, a2, a3
}

// corr4Energy is corr4(xf, t, 0) plus Σ xf[j]².
func corr4Energy(xf *[subBlock]float32, t *corrTable) (a0, a1, a2, a3, e float32) {
	for j, v := range xf {
		row := &t[j]
		e += v * v
		a0 += v * row[0]
		a1 += v * row[1]
		a2 += v * row[2]
		a3 += v * row[3]
	}
	return a0, a1, a2, a3, e
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
