package capture

import (
	"bytes"
	"os"
	"testing"
	"time"

	"denwa/media/mediatest"
)

// loadCapture writes n streams of d each (mediatest.LoadStreams) as one
// pcap in memory.
func loadCapture(t testing.TB, n int, d time.Duration, keys int) ([]byte, []mediatest.Stream) {
	t.Helper()
	streams := mediatest.LoadStreams(n, d, keys, 1)
	var buf bytes.Buffer
	if _, err := mediatest.WriteStreams(&buf, mediatest.CaptureOptions{}, streams); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), streams
}

// The scale requirement: 100 concurrent streams of 60 s detected in under
// 2 s on the 2-core build machine. Skipped with -short; the time limit is
// not enforced under the race detector, which slows everything tenfold, or
// when DENWA_NO_TIMING is set (a loaded machine).
func TestDetectScale(t *testing.T) {
	if testing.Short() {
		t.Skip("generates a 60 MB capture")
	}
	in, streams := loadCapture(t, 100, 60*time.Second, 6)
	start := time.Now()
	res, err := Detect(bytes.NewReader(in), Options{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d streams, %.1f MB capture, detected in %v", len(res.Streams), float64(len(in))/1e6, took)
	if len(res.Streams) != len(streams) {
		t.Fatalf("%d streams, want %d", len(res.Streams), len(streams))
	}
	if !raceEnabled && os.Getenv("DENWA_NO_TIMING") == "" && took > 2*time.Second {
		t.Errorf("took %v, want under 2 s", took)
	}
	// Keys (needs the real dtmf package).
	bad := 0
	for i, s := range res.Streams {
		var got, want []byte
		for _, k := range s.Keys {
			got = append(got, byte(k.Key))
		}
		for _, p := range streams[i].Presses {
			want = append(want, byte(p.Key))
		}
		if string(got) != string(want) {
			if bad++; bad <= 5 {
				t.Errorf("stream %d (%v): keys %q, want %q", i, s.ID, got, want)
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d streams with wrong keys", bad, len(streams))
	}
}

func BenchmarkDetect(b *testing.B) {
	in, _ := loadCapture(b, 20, 20*time.Second, 4)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Detect(bytes.NewReader(in), Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
