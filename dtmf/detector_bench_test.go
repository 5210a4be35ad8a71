package dtmf

import (
	"syscall"
	"testing"
	"time"

	"github.com/zaf/g711"
)

// benchULaw is a benchmark input as μ-law bytes: "mixed" is the mixed test
// signal (33 s: 120 keys, pauses, line noise, quiet speech), "speech" the
// Japanese speech file (no keys: the common case during a prompt).
func benchULaw(b *testing.B, input string) []byte {
	var x []int16
	if input == "mixed" {
		x, _ = mixedSignal(b)
	} else {
		x = readULaw(b, "ja-male.ulaw")
	}
	u := make([]byte, len(x))
	for i, v := range x {
		u[i] = g711.EncodeUlawFrame(v)
	}
	return u
}

// BenchmarkDetector: μ-law in 160-sample (20 ms) packets, decoded through a
// 256-entry table, then Process — the receive path of one call.
func BenchmarkDetector(b *testing.B) {
	for _, bc := range []struct {
		name  string
		input string
		corr  func(out []bins, x []int16, t *corrTable)
	}{
		{"input=mixed/kernel=best", "mixed", corrBest},
		{"input=mixed/kernel=go", "mixed", corrGo},
		{"input=speech/kernel=best", "speech", corrBest},
		{"input=speech/kernel=go", "speech", corrGo},
	} {
		b.Run(bc.name, func(b *testing.B) {
			var dec [256]int16
			for i := range dec {
				dec[i] = g711.DecodeUlawFrame(uint8(i))
			}
			u := benchULaw(b, bc.input)
			d := mustDetector(Config{})
			d.corr = bc.corr
			var pcm [160]int16
			ev := make([]Event, 0, 16)
			var keys int
			b.ReportAllocs()
			b.SetBytes(160) // one μ-law byte per sample
			pos := 0
			cpu0 := cpuTime(b)
			for b.Loop() {
				if pos+160 > len(u) {
					pos = 0
				}
				for i, c := range u[pos : pos+160] {
					pcm[i] = dec[c]
				}
				ev = d.Process(ev[:0], pcm[:])
				keys += len(ev)
				pos += 160
			}
			cpu := cpuTime(b) - cpu0
			sps := float64(b.N) * 160 / b.Elapsed().Seconds()
			b.ReportMetric(sps, "samples/s")
			b.ReportMetric(sps/SampleRate, "x-realtime")
			// The same per CPU second, as spandsp's harness counts it, so a
			// busy machine does not tilt the comparison (BenchmarkSpandsp).
			b.ReportMetric(float64(b.N)*160/SampleRate/cpu.Seconds(), "x-realtime-cpu")
			_ = keys
		})
	}
}

// cpuTime is the CPU time (user + system) the process has used: during a
// zero-allocation benchmark loop, that of the loop itself.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
