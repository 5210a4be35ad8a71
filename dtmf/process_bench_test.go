package dtmf

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"denwa/dtmf/dtmftest"
)

// The whole-process comparison with spandsp (issue 15, part 5): `denwa
// detect FILE` against the spandsp harness (testdata/spandsp/dtmf_rx.c),
// each a separate process over the same hour of mixed audio, CPU time
// (user + system) of the whole process, both in the same run.

// hourMinutes is the length of mixedHour.
const hourMinutes = 60

// mixedHour returns an hour of telephone audio, μ-law coded and decoded,
// and the keys pressed in it. Each minute holds 20 s of keys (40–120 ms,
// 45–345 ms apart, −5 to −20 dBm0, twist ±4 dB) over line noise and the
// echo of a recording, 15 s of one of the project's speech recordings
// (testdata/speech) at 0 to −12 dB, 15 s of music (dtmftest.Music) and
// 10 s of line noise, half of it under synthetic speech. It is generated
// (deterministically, about 57 MB as PCM16), never committed.
func mixedHour(tb testing.TB) ([]int16, string) {
	tb.Helper()
	const minute = 60 * SampleRate
	var rec [][]int16
	for _, f := range speechFiles {
		rec = append(rec, readULaw(tb, f))
	}
	// loop adds src, repeated, into dst at gain dB.
	loop := func(dst, src []int16, gain float64, from int) {
		for len(dst) > 0 {
			s := src[from%len(src):]
			n := min(len(dst), len(s))
			dtmftest.Mix(dst[:n], s[:n], gain)
			dst, from = dst[n:], 0
		}
	}
	x := make([]int16, hourMinutes*minute)
	var want strings.Builder
	r := rand.New(rand.NewPCG(15, 5))
	for m := range hourMinutes {
		y := x[m*minute : (m+1)*minute]
		keys, speech, music, noise := y[:20*SampleRate], y[20*SampleRate:35*SampleRate], y[35*SampleRate:50*SampleRate], y[50*SampleRate:]
		for at := 400; ; {
			k := Keys[r.IntN(16)]
			tn := Tone{Key: k, Level: -5 - 15*r.Float64(), Twist: 4 - 8*r.Float64(), Duration: (40 + r.IntN(80)) * ms, LowPhase: 6 * r.Float64(), HighPhase: 6 * r.Float64()}
			if at+tn.Duration+400 > len(keys) {
				break
			}
			tn.AddTo(keys[at:], 0)
			want.WriteByte(byte(k))
			at += tn.Duration + (45+r.IntN(300))*ms
		}
		dtmftest.NewNoise(uint64(m), pairPower(-30, 0)).AddTo(keys)
		loop(keys, rec[m%len(rec)], -30, r.IntN(1000))
		loop(speech, rec[(m+1)%len(rec)], -6*float64(r.IntN(3)), r.IntN(1000))
		dtmftest.Music(music, uint64(m), -10-10*r.Float64())
		dtmftest.NewNoise(uint64(100+m), pairPower(-25-15*r.Float64(), 0)).AddTo(noise)
		if m%2 == 0 {
			dtmftest.NewSpeech(uint64(m), -15).AddTo(noise)
		}
	}
	return viaULaw(x), want.String()
}

// hour is mixedHour, made once per test binary run.
var hour = sync.OnceValues(func() ([]int16, string) { return mixedHour(panicTB{}) })

// panicTB lets mixedHour run in a sync.Once shared by benchmarks: any
// failure panics.
type panicTB struct{ testing.TB }

func (panicTB) Helper()                           {}
func (panicTB) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (panicTB) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// buildDenwa builds cmd/denwa into a temporary directory, or returns
// $DENWA_BIN when set (to measure another build).
func buildDenwa(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("DENWA_BIN"); bin != "" {
		return bin
	}
	bin := filepath.Join(tb.TempDir(), "denwa")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/denwa").CombinedOutput(); err != nil {
		tb.Fatalf("go build ../cmd/denwa: %v\n%s", err, out)
	}
	return bin
}

// runCPU runs a command and returns its stdout and the CPU time (user +
// system) the process used.
func runCPU(tb testing.TB, name string, args ...string) (string, time.Duration) {
	tb.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// BenchmarkProcessHour runs, in each iteration, `denwa detect --format
// digits hour.wav` and the spandsp harness `dtmf_rx hour.wav` over the
// same hour of mixed audio (mixedHour) and reports, for each, audio
// seconds per CPU second of the whole process (start-up, reading and
// decoding the file, detection, output), and denwa's figure over
// spandsp's:
//
//	go test ./dtmf -run '^$' -bench ProcessHour -benchtime 5x -count 6 | benchstat -
//
// It checks that denwa finds every key pressed, and reports the keys each
// missed and added. It skips without
// gcc and libspandsp-dev (fails with DENWA_REQUIRE_INTEROP=1).
func BenchmarkProcessHour(b *testing.B) {
	spandsp := spandspHarness(b)
	denwa := buildDenwa(b)
	x, want := hour()
	wav := filepath.Join(b.TempDir(), "hour.wav")
	writeWAV(b, wav, x)
	const audio = hourMinutes * 60 // seconds
	var ours, theirs time.Duration
	var got, gotSpandsp string
	for b.Loop() {
		out, cpu := runCPU(b, denwa, "detect", "--format", "digits", wav)
		got = strings.TrimSpace(out)
		ours += cpu
		out, cpu = runCPU(b, spandsp, wav)
		gotSpandsp = strings.Join(strings.Fields(out), "")
		theirs += cpu
	}
	// Every key pressed must be found; the synthetic speech (a harsh
	// model, see TestDetectorTalkOffSyntheticSpeech) may add a few.
	if f := lcs(want, got); f != len(want) {
		b.Fatalf("denwa found %d of the %d keys pressed", f, len(want))
	}
	var ds, ss score
	ds.add(want, got)
	ss.add(want, gotSpandsp)
	b.ReportMetric(float64(ds.want-ds.found), "denwa-missed")
	b.ReportMetric(float64(ds.extra), "denwa-extra")
	b.ReportMetric(float64(ss.want-ss.found), "spandsp-missed")
	b.ReportMetric(float64(ss.extra), "spandsp-extra")
	b.ReportMetric(audio*float64(b.N)/ours.Seconds(), "denwa-x-realtime-cpu")
	b.ReportMetric(audio*float64(b.N)/theirs.Seconds(), "spandsp-x-realtime-cpu")
	b.ReportMetric(theirs.Seconds()/ours.Seconds(), "denwa/spandsp")
}

// BenchmarkDetectorHour is the detector alone (in this process, no file,
// no decoding) over mixedHour in blocks of 32768 samples, as `denwa
// detect` feeds it, with the fastest kernels and with the portable ones.
// x-realtime-cpu counts audio seconds per CPU second of this process.
func BenchmarkDetectorHour(b *testing.B) {
	x, want := hour()
	for _, k := range []struct {
		name string
		corr func(out []bins, x []int16, t *corrTable)
	}{{"best", corrBest}, {"go", corrGo}} {
		b.Run("kernel="+k.name, func(b *testing.B) {
			var ev []Event
			b.ReportAllocs()
			cpu0 := cpuTime(b)
			for b.Loop() {
				d := mustDetector(Config{})
				d.corr = k.corr
				ev = runBlocks(d, x, 1<<15)
			}
			cpu := cpuTime(b) - cpu0
			if lcs(want, keysOf(ev)) != len(want) {
				b.Fatalf("found %d of the %d keys pressed", lcs(want, keysOf(ev)), len(want))
			}
			b.ReportMetric(hourMinutes*60*float64(b.N)/cpu.Seconds(), "x-realtime-cpu")
		})
	}
}
