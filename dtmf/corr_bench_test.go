package dtmf

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// BenchmarkCorr measures every kernel usable on this CPU over one 20 ms
// packet (160 samples, four sub-blocks) and one second (8000 samples) of
// 8 kHz audio. x-realtime is how many 8 kHz channels one core could serve
// with this kernel alone.
func BenchmarkCorr(b *testing.B) {
	t := newCorrTable()
	for _, k := range corrKernels() {
		for _, n := range []int{160, 8000} {
			b.Run(k.name+"/n="+strconv.Itoa(n), func(b *testing.B) {
				r := rand.New(rand.NewPCG(1, uint64(n)))
				x := make([]int16, n)
				for i := range x {
					x[i] = int16(r.IntN(1 << 16))
				}
				out := make([]bins, n/subBlock)
				b.ReportAllocs()
				b.SetBytes(int64(2 * n))
				for b.Loop() {
					k.fn(out, x, t)
				}
				sps := float64(b.N) * float64(n) / b.Elapsed().Seconds()
				b.ReportMetric(sps/1e6, "Msamples/s")
				b.ReportMetric(sps/SampleRate, "x-realtime")
			})
		}
	}
}
