package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"denwa/audio"
	"denwa/dtmf"
)

// readDetect runs detect's read path over a PCM16 WAV file (pcm16Reader,
// never mapped), as a reference for the mapped path.
func readDetect(t *testing.T, path string) (*fileResult, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	wr, err := audio.NewWAVReader(br)
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	res, err := detectAudio(readBlocks(newPCM16Reader(wr, br, f).Read), &stderr, path)
	if err != nil {
		t.Fatal(err)
	}
	return res, stderr.String()
}

func keyTimes(r *fileResult) string {
	var b strings.Builder
	for _, k := range r.keys {
		fmt.Fprintf(&b, "%c@%d-%d ", k.key.Key, k.key.Start, k.key.End)
	}
	return b.String()
}

// TestDetectPCM16Paths: a PCM16 WAV file large enough to be mapped gives
// the keys, times and warnings the read path gives, whole and cut short
// (mid-sample too), and the keys pressed.
func TestDetectPCM16Paths(t *testing.T) {
	const keys = "159#*0D"
	x := make([]int16, 2*mapMin/2)
	for i := range len(keys) {
		tn := dtmf.Tone{Key: dtmf.Key(keys[i]), Level: -12, Duration: 600}
		tn.AddTo(x[4000+i*len(x)/len(keys):], 0)
	}
	var b bytes.Buffer
	if err := audio.WriteWAV(&b, audio.FormatPCM16, x); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, c := range []struct {
		name string
		size int
		want string
	}{
		{"whole.wav", b.Len(), keys},
		{"cut.wav", b.Len() * 6 / 10, keys[:5]},
		{"odd.wav", b.Len()*6/10 + 1, keys[:5]},
	} {
		path := filepath.Join(dir, c.name)
		if err := os.WriteFile(path, b.Bytes()[:c.size], 0o644); err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		got, err := detectFile(path, &stderr)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		want, wantErr := readDetect(t, path)
		if keyTimes(got) != keyTimes(want) || stderr.String() != wantErr {
			t.Errorf("%s: mapped %s, stderr %q\nread %s, stderr %q", c.name, keyTimes(got), stderr.String(), keyTimes(want), wantErr)
		}
		if k := string(got.streams[0].keys); k != c.want {
			t.Errorf("%s: keys %q, want %q", c.name, k, c.want)
		}
		if (c.size < b.Len()) != strings.Contains(stderr.String(), "warning") {
			t.Errorf("%s: stderr %q", c.name, stderr.String())
		}
	}
}

// TestDetectPCM16Allocs: reading and detecting allocates per file, not per
// block: a file of twice the length costs no more allocations.
func TestDetectPCM16Allocs(t *testing.T) {
	dir := t.TempDir()
	var paths []string
	for _, secs := range []int{200, 400} {
		var b bytes.Buffer
		if err := audio.WriteWAV(&b, audio.FormatPCM16, make([]int16, secs*dtmf.SampleRate)); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprint(secs, ".wav"))
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	var allocs []float64
	for _, p := range paths {
		allocs = append(allocs, testing.AllocsPerRun(5, func() {
			if _, err := detectFile(p, io.Discard); err != nil {
				t.Fatal(err)
			}
		}))
	}
	if allocs[1] > allocs[0] {
		t.Errorf("allocations: %v for 200 s, %v for 400 s", allocs[0], allocs[1])
	}
}
