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
// im[k] = Σ x[j]·sin(ω_k j), energy = Σ x[j]². Its layout (68 bytes) is
// relied on by the assembly kernels.
type bins struct {
	re, im [8]float32
	energy float32
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

// corrGo is the portable kernel: for each complete sub-block of x (len(x)
// must be a multiple of subBlock and len(out) ≥ len(x)/subBlock) it writes
// one bins to out.
func corrGo(out []bins, x []int16, t *corrTable) {
	for b := 0; b+subBlock <= len(x); b += subBlock {
		var o bins
		for j, s := range x[b : b+subBlock] {
			v := float32(s)
			o.energy += v * v
			for k := range 8 {
				o.re[k] += v * t[j][k]
				o.im[k] += v * t[j][8+k]
			}
		}
		out[b/subBlock] = o
	}
}

// corrBest is the fastest kernel for this CPU.
var corrBest = corrGo
