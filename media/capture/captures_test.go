package capture

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"denwa/dtmf"
	"denwa/media"
)

// capturesDir holds recorded and synthetic captures with their expected
// keys (testdata/captures/README.md, written by media/mediatest).
const capturesDir = "../testdata/captures"

// digits renders a result like the .digits files: one line per stream in
// order of first packet, holding its keys.
func digits(res *Result) string {
	if res == nil {
		return ""
	}
	var b strings.Builder
	for _, s := range res.Streams {
		for _, k := range s.Keys {
			b.WriteByte(byte(k.Key))
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// TestDetectFiles runs Detect on every capture in
// testdata/captures and compares the keys with its .digits file. Files
// with a .error describe a broken capture: not-a-capture must fail with
// ErrFormat, corrupt-start with ErrCorrupt and no keys, truncated with
// ErrTruncated after the keys before the cut. media.Key detection needs the real
// dtmf package.
func TestDetectFiles(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.digits"))
	if len(files) == 0 {
		t.Skipf("no captures in %s", capturesDir)
	}
	for _, df := range files {
		name := strings.TrimSuffix(filepath.Base(df), ".digits")
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(df)
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(filepath.Join(capturesDir, name))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := Detect(f, Options{})
			switch name {
			case "not-a-capture.pcap":
				if !errors.Is(err, ErrFormat) || res != nil {
					t.Fatalf("err = %v, want ErrFormat", err)
				}
				return
			case "corrupt-start.pcap":
				if !errors.Is(err, ErrCorrupt) || digits(res) != "" {
					t.Fatalf("err = %v, keys %q; want ErrCorrupt and no keys", err, digits(res))
				}
				return
			case "truncated.pcap":
				if !errors.Is(err, ErrTruncated) {
					t.Errorf("err = %v, want ErrTruncated", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := digits(res); got != string(want) {
				t.Errorf("keys %q, want %q", got, want)
				for _, s := range res.Streams {
					t.Logf("stream %v sdp=%v pts=%s stats=%+v", s.ID, s.FromSDP, s.PayloadTypes.String(), s.Stats)
					for _, k := range s.Keys {
						t.Logf("  %v", k)
					}
				}
			}
		})
	}
}

// TestDetectFilesEarly: every capture through the early mode of
// live calls (with a live session's hold) gives the keys the normal mode
// gives — the same keys, sources and Start — so recorded field traffic
// (END-only senders, lost ENDs, both ways at once, jitter bursts) is no
// different for a live call. denwa detect itself keeps the normal mode.
func TestDetectFilesEarly(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(capturesDir, "*.digits"))
	if len(files) == 0 {
		t.Skipf("no captures in %s", capturesDir)
	}
	detect := func(t *testing.T, path string, rc media.ReceiverConfig) *Result {
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, _ := Detect(f, Options{Receiver: rc}) // errors: TestDetectFiles
		return res
	}
	n := 0
	for _, df := range files {
		path := strings.TrimSuffix(df, ".digits")
		t.Run(filepath.Base(path), func(t *testing.T) {
			normal := detect(t, path, media.ReceiverConfig{})
			early := detect(t, path, media.ReceiverConfig{Early: true, Merge: dtmf.MergerConfig{Hold: media.LiveMergeHold}})
			if (normal == nil) != (early == nil) || normal != nil && len(normal.Streams) != len(early.Streams) {
				t.Fatalf("streams: normal %v, early %v", normal, early)
			}
			if normal == nil {
				return
			}
			for i, s := range normal.Streams {
				e := early.Streams[i]
				same := len(e.Keys) == len(s.Keys)
				for j := 0; same && j < len(s.Keys); j++ {
					a, b := s.Keys[j], e.Keys[j]
					same = a.Event.Key == b.Event.Key && a.Source == b.Source && a.Start == b.Start
				}
				if !same {
					t.Errorf("stream %v:\nnormal %v\nearly  %v", s.ID, s.Keys, e.Keys)
				}
				n += len(s.Keys)
			}
		})
	}
	t.Logf("%d keys in %d captures: the same in both modes", n, len(files))
}
